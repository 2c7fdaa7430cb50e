package ghtoken

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
)

// Token holds a token value the emulators issue or store. Every way of
// printing it redacts; Reveal is the one way to the value. Its zero value
// is the empty token.
type Token struct{ v string }

// New wraps a value without checking it (see Check).
func New(v string) Token { return Token{v} }

// Reveal returns the value, for the places that must send or compare it.
func (t Token) Reveal() string { return t.v }

// IsZero reports whether the token is empty.
func (t Token) IsZero() bool { return t.v == "" }

// Equal compares two tokens without revealing either.
func (t Token) Equal(o Token) bool { return t.v == o.v }

// Fingerprint names a value without revealing it: "sha256:" and the first
// 12 hex digits of its SHA-256, the form rotor's documentation gives, so
// the emulators' records and rotor's output can be compared.
func (t Token) Fingerprint() string { return Fingerprint(t.v) }

// Fingerprint of a raw value; see Token.Fingerprint.
func Fingerprint(v string) string {
	sum := sha256.Sum256([]byte(v))
	return "sha256:" + hex.EncodeToString(sum[:6])
}

// redacted is how a token prints: its kind and fingerprint.
func (t Token) redacted() string {
	if t.v == "" {
		return "[empty token]"
	}
	return "[" + KindOf(t.v).Prefix() + "… " + t.Fingerprint() + "]"
}

func (t Token) String() string               { return t.redacted() }
func (t Token) GoString() string             { return "ghtoken.Token" + t.redacted() }
func (t Token) Format(f fmt.State, _ rune)   { _, _ = f.Write([]byte(t.redacted())) }
func (t Token) MarshalJSON() ([]byte, error) { return []byte(`"` + t.redacted() + `"`), nil }
func (t Token) MarshalText() ([]byte, error) { return []byte(t.redacted()), nil }
func (t Token) LogValue() slog.Value         { return slog.StringValue(t.redacted()) }

var (
	_ fmt.Formatter  = Token{}
	_ fmt.GoStringer = Token{}
	_ slog.LogValuer = Token{}
)
