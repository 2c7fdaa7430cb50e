package ghtoken

import (
	"crypto/rand"
	"errors"
	"hash/crc32"
	"strings"
)

// Kind is a token kind as GitHub names it by its prefix, without the "_".
// The values are stable: the emulator's state file stores them.
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

// byPrefix is every kind with its literal prefix. "github_pat_" shares no
// prefix with the others, so the order does not matter for matching.
var byPrefix = []struct {
	prefix string
	kind   Kind
	name   string
}{
	{"ghp_", KindClassicPAT, "classic personal access token"},
	{"github_pat_", KindFineGrained, "fine-grained personal access token"},
	{"gho_", KindOAuth, "OAuth app token"},
	{"ghu_", KindAppUser, "GitHub App user token"},
	{"ghr_", KindAppRefresh, "GitHub App refresh token"},
	{"ghs_", KindInstallation, "GitHub App installation token"},
}

// KindOf classifies a value by its prefix alone.
func KindOf(v string) Kind {
	for _, p := range byPrefix {
		if strings.HasPrefix(v, p.prefix) {
			return p.kind
		}
	}
	return KindUnknown
}

// Prefix is the kind's literal prefix ("ghp_"); "?" for an unknown kind.
func (k Kind) Prefix() string {
	for _, p := range byPrefix {
		if p.kind == k {
			return p.prefix
		}
	}
	return "?"
}

// Describe names the kind for people.
func (k Kind) Describe() string {
	for _, p := range byPrefix {
		if p.kind == k {
			return p.name
		}
	}
	return "unrecognised token"
}

// checksummed reports whether the kind has the 40-character form with a
// CRC32 checksum: ghp_, gho_, ghu_, ghr_. Installation tokens (ghs_) have no
// public checksum, fine-grained tokens none at all.
func (k Kind) checksummed() bool {
	switch k {
	case KindClassicPAT, KindOAuth, KindAppUser, KindAppRefresh:
		return true
	}
	return false
}

// The published format's lengths.
const (
	randomLen   = 30  // random characters of a 40-character token
	checksumLen = 6   // base62 CRC32 after them
	maxLen      = 255 // GitHub: "support tokens up to 255 characters"
	// The stateless installation-token form (2026) is about 520
	// characters; allow twice that.
	maxInstallationLen = 1024
)

// alphabet is base62 in GitHub's order: digits, upper case, lower case.
const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// Errors of Check. None contains any part of the value.
var (
	ErrUnknownKind = errors.New("no GitHub token prefix")
	ErrShape       = errors.New("not the shape GitHub gives tokens of this kind")
	ErrChecksum    = errors.New("checksum does not match")
)

// Check tells whether v is a value GitHub could have issued: its kind, and
// an error when the shape or the checksum is wrong. Unlike a client, it
// trims nothing: GitHub compares the header value as sent.
func Check(v string) (Kind, error) {
	k := KindOf(v)
	if k == KindUnknown {
		return k, ErrUnknownKind
	}
	rest := v[len(k.Prefix()):]
	switch {
	case k.checksummed():
		if len(rest) != randomLen+checksumLen || !only(rest, alphabet) {
			return k, ErrShape
		}
		if Checksum(rest[:randomLen]) != rest[randomLen:] {
			return k, ErrChecksum
		}
	case k == KindFineGrained:
		// github_pat_ + 22 alphanumerics + "_" + 59 alphanumerics.
		if len(rest) != 22+1+59 || rest[22] != '_' || !only(rest[:22], alphabet) || !only(rest[23:], alphabet) {
			return k, ErrShape
		}
	case k == KindInstallation:
		if len(v) > maxInstallationLen || len(rest) < 36 || !only(rest, alphabet+"._") {
			return k, ErrShape
		}
	}
	if k != KindInstallation && len(v) > maxLen {
		return k, ErrShape
	}
	return k, nil
}

func only(s, set string) bool {
	for i := 0; i < len(s); i++ {
		if strings.IndexByte(set, s[i]) < 0 {
			return false
		}
	}
	return true
}

// Checksum is the last six characters of a 40-character token: the CRC32
// (IEEE) of its 30 random characters, written in base62 and left-padded
// with '0'.
func Checksum(random string) string {
	var out [checksumLen]byte
	n := crc32.ChecksumIEEE([]byte(random))
	// A uint32 is below 62^6, so six digits always suffice.
	for i := checksumLen - 1; i >= 0; i-- {
		out[i] = alphabet[n%62]
		n /= 62
	}
	return string(out[:])
}

// Generate makes a fresh value of kind k, with a valid checksum where the
// kind has one. It panics on KindUnknown: a caller bug.
func Generate(k Kind) Token {
	switch {
	case k.checksummed():
		r := random(randomLen)
		return New(k.Prefix() + r + Checksum(r))
	case k == KindFineGrained:
		return New(k.Prefix() + random(22) + "_" + random(59))
	case k == KindInstallation:
		return New(k.Prefix() + random(36))
	}
	panic("ghtoken.Generate: unknown kind " + string(k))
}

// random draws n base62 characters without modulo bias: bytes at or above
// 248 (= 4·62) are drawn again.
func random(n int) string {
	out := make([]byte, 0, n)
	buf := make([]byte, 2*n)
	for len(out) < n {
		_, _ = rand.Read(buf) // crypto/rand.Read never fails
		for _, b := range buf {
			if b < 248 && len(out) < n {
				out = append(out, alphabet[b%62])
			}
		}
	}
	return string(out)
}
