package token

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
)

// Token is a secret value. Its zero value is the empty token.
//
// Every printing path redacts; Reveal is the one explicit way to the value,
// used only where the value must reach GitHub, a target or the sealer.
type Token struct {
	v string
}

// New wraps a secret value. It does not validate it; use Parse for that.
func New(value string) Token { return Token{v: value} }

// Reveal returns the plaintext value. Call it only to hand the value to the
// place that needs it (an HTTP header, a target's API, the sealer).
func (t Token) Reveal() string { return t.v }

// IsZero reports whether the token is empty.
func (t Token) IsZero() bool { return t.v == "" }

// Equal compares two tokens without revealing either.
func (t Token) Equal(o Token) bool { return t.v == o.v }

// Fingerprint identifies a value without revealing it: "sha256:" and the first
// 12 hex digits of its SHA-256. Stable across processes, so rotor scan and the
// store can match a value they never hold in the clear.
func (t Token) Fingerprint() string { return Fingerprint(t.v) }

// Fingerprint of a raw value; see Token.Fingerprint.
func Fingerprint(value string) string {
	sum := sha256.Sum256([]byte(value))
	return "sha256:" + hex.EncodeToString(sum[:6])
}

// Redacted is how a token appears in any output: its kind's prefix and its
// fingerprint, never a character of the secret part.
func (t Token) Redacted() string {
	if t.v == "" {
		return "[empty token]"
	}
	return fmt.Sprintf("[%s… %s]", KindOf(t.v).Prefix(), t.Fingerprint())
}

func (t Token) String() string   { return t.Redacted() }
func (t Token) GoString() string { return "token.Token" + t.Redacted() }

// Format makes every verb (%s %v %q %x %d …) print the redacted form.
func (t Token) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(t.Redacted())) }

func (t Token) MarshalJSON() ([]byte, error) { return []byte(`"` + t.Redacted() + `"`), nil }
func (t Token) MarshalText() ([]byte, error) { return []byte(t.Redacted()), nil }
func (t Token) LogValue() slog.Value         { return slog.StringValue(t.Redacted()) }

var (
	_ fmt.Formatter  = Token{}
	_ fmt.GoStringer = Token{}
	_ slog.LogValuer = Token{}
)
