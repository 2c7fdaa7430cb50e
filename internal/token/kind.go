package token

import (
	"crypto/rand"
	"errors"
	"fmt"
	"hash/crc32"
	"math/big"
	"strings"
)

// Kind is a GitHub token kind, named by its prefix.
type Kind string

const (
	KindUnknown      Kind = ""
	KindClassicPAT   Kind = "ghp"        // classic personal access token
	KindFineGrained  Kind = "github_pat" // fine-grained personal access token
	KindOAuth        Kind = "gho"        // OAuth app user token
	KindAppUser      Kind = "ghu"        // GitHub App user-to-server token
	KindAppRefresh   Kind = "ghr"        // GitHub App refresh token
	KindInstallation Kind = "ghs"        // GitHub App installation token
)

// Prefix is the literal prefix of the kind's tokens ("ghp_", "github_pat_").
func (k Kind) Prefix() string {
	if k == KindUnknown {
		return "?"
	}
	return string(k) + "_"
}

// Describe names the kind for people.
func (k Kind) Describe() string {
	switch k {
	case KindClassicPAT:
		return "classic personal access token"
	case KindFineGrained:
		return "fine-grained personal access token"
	case KindOAuth:
		return "OAuth app token"
	case KindAppUser:
		return "GitHub App user token"
	case KindAppRefresh:
		return "GitHub App refresh token"
	case KindInstallation:
		return "GitHub App installation token"
	}
	return "unrecognised token"
}

// HasChecksum reports whether tokens of this kind carry a CRC32 checksum.
func (k Kind) HasChecksum() bool {
	switch k {
	case KindClassicPAT, KindOAuth, KindAppUser, KindAppRefresh:
		return true
	}
	return false
}

// Kinds lists every known kind, longest prefix first so that prefix matching
// is unambiguous.
var Kinds = []Kind{KindFineGrained, KindClassicPAT, KindOAuth, KindAppUser, KindAppRefresh, KindInstallation}

// KindOf classifies a value by prefix alone.
func KindOf(v string) Kind {
	for _, k := range Kinds {
		if strings.HasPrefix(v, k.Prefix()) {
			return k
		}
	}
	return KindUnknown
}

// Errors returned by Parse. They never contain the value.
var (
	ErrEmpty       = errors.New("token is empty")
	ErrUnknownKind = errors.New("not a GitHub token: no known prefix (ghp_, github_pat_, gho_, ghu_, ghr_, ghs_)")
	ErrMalformed   = errors.New("token is malformed")
	ErrChecksum    = errors.New("token checksum does not match (a character was lost or changed in copying)")
)

// MaxLen is the longest token rotor accepts: GitHub's advice is to support
// 255 characters, but the stateless installation-token form (ghs_, since 2026)
// is about 520, so rotor allows up to MaxInstallationLen for that kind.
const (
	MaxLen             = 255
	MaxInstallationLen = 1024
)

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// Parse checks a value's shape and, for the checksummed kinds, its checksum.
// Surrounding white space (a newline from stdin) is trimmed. The returned
// error never contains any part of the value.
func Parse(value string) (Token, Kind, error) {
	v := strings.TrimSpace(value)
	if v == "" {
		return Token{}, KindUnknown, ErrEmpty
	}
	k := KindOf(v)
	if limit := maxLenOf(k); len(v) > limit {
		return Token{}, k, fmt.Errorf("%w: %d characters, at most %d", ErrMalformed, len(v), limit)
	}
	if k == KindUnknown {
		return Token{}, k, ErrUnknownKind
	}
	if err := validate(k, v); err != nil {
		return Token{}, k, err
	}
	return Token{v: v}, k, nil
}

func validate(k Kind, v string) error {
	body := v[len(k.Prefix()):]
	switch {
	case k.HasChecksum():
		if len(v) != 40 || !isAlnum(body) {
			return fmt.Errorf("%w: a %s is %s followed by 36 letters and digits", ErrMalformed, k.Describe(), k.Prefix())
		}
		if Checksum(body[:30]) != body[30:] {
			return ErrChecksum
		}
	case k == KindFineGrained:
		parts := strings.Split(body, "_")
		if len(parts) != 2 || len(parts[0]) != 22 || len(parts[1]) != 59 || !isAlnum(parts[0]) || !isAlnum(parts[1]) {
			return fmt.Errorf("%w: a fine-grained token is github_pat_, 22 letters and digits, _, and 59 more", ErrMalformed)
		}
	case k == KindInstallation:
		// Installation tokens come in the classic 40-character form and, since
		// 2026, a stateless JWT-like form with dots; neither has a public checksum.
		if len(body) < 36 || strings.Trim(body, base62+"._") != "" {
			return fmt.Errorf("%w: an installation token is ghs_ followed by at least 36 of [A-Za-z0-9._]", ErrMalformed)
		}
	}
	return nil
}

func maxLenOf(k Kind) int {
	if k == KindInstallation {
		return MaxInstallationLen
	}
	return MaxLen
}

func isAlnum(s string) bool { return strings.Trim(s, base62) == "" }

// Checksum is GitHub's checksum of the 30 random characters of a 40-character
// token: CRC32 (IEEE), base62, left-padded with '0' to 6 characters.
func Checksum(random string) string {
	n := new(big.Int).SetUint64(uint64(crc32.ChecksumIEEE([]byte(random))))
	var out []byte
	base := big.NewInt(62)
	mod := new(big.Int)
	for n.Sign() > 0 {
		n.DivMod(n, base, mod)
		out = append([]byte{base62[mod.Int64()]}, out...)
	}
	s := string(out)
	for len(s) < 6 {
		s = "0" + s
	}
	return s
}

// Generate makes a fresh random token of a kind, with a valid checksum where
// the kind has one. The emulators and tests use it; rotor itself never invents
// tokens that GitHub would have to accept.
func Generate(k Kind) Token {
	switch {
	case k.HasChecksum():
		r := randomAlnum(30)
		return Token{v: k.Prefix() + r + Checksum(r)}
	case k == KindFineGrained:
		return Token{v: k.Prefix() + randomAlnum(22) + "_" + randomAlnum(59)}
	case k == KindInstallation:
		return Token{v: k.Prefix() + randomAlnum(36)}
	}
	panic("token.Generate: unknown kind " + string(k))
}

func randomAlnum(n int) string {
	b := make([]byte, n)
	max := big.NewInt(int64(len(base62)))
	for i := range b {
		x, err := rand.Int(rand.Reader, max)
		if err != nil {
			panic(err) // crypto/rand does not fail on supported platforms
		}
		b[i] = base62[x.Int64()]
	}
	return string(b)
}
