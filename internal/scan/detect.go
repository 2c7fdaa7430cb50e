package scan

import (
	"bytes"
	"slices"

	"github.com/rotor-ci/rotor/internal/token"
)

// match is a token-shaped string in a file's bytes: [start, end).
type match struct {
	start, end int
	kind       token.Kind
	checksum   Checksum
}

var (
	ghPrefix      = []byte("gh")
	fineGrained   = []byte("github_pat_")
	oauthTokenKey = []byte("OAuthToken")
)

// findTokens returns every token-shaped string in data, in order. It is the
// prefilter too: everything it looks at is found by bytes.Index on a short
// literal ("gh", "github_pat_"), which is vectorised, so a file with no
// prefix costs two passes of memchr-speed search and no regexp at all.
func findTokens(data []byte) []match {
	var out []match
	for i := 0; i < len(data); {
		j := bytes.Index(data[i:], ghPrefix)
		if j < 0 {
			break
		}
		at := i + j
		if m, ok := classicAt(data, at); ok {
			out = append(out, m)
			i = m.end
			continue
		}
		i = at + 2
	}
	for i := 0; i < len(data); {
		j := bytes.Index(data[i:], fineGrained)
		if j < 0 {
			break
		}
		at := i + j
		if m, ok := fineGrainedAt(data, at); ok {
			out = append(out, m)
			i = m.end
			continue
		}
		i = at + len(fineGrained)
	}
	sortMatches(out)
	return out
}

// classicAt recognises the gh?_ kinds at data[at:], which starts with "gh".
func classicAt(data []byte, at int) (match, bool) {
	if at+4 > len(data) || data[at+3] != '_' || !leftBoundary(data, at) {
		return match{}, false
	}
	var kind token.Kind
	switch data[at+2] {
	case 'p':
		kind = token.KindClassicPAT
	case 'o':
		kind = token.KindOAuth
	case 'u':
		kind = token.KindAppUser
	case 'r':
		kind = token.KindAppRefresh
	case 's':
		kind = token.KindInstallation
	default:
		return match{}, false
	}
	body := at + 4
	if kind == token.KindInstallation {
		// ghs_ is 40 characters, or the stateless JWT form (hundreds of
		// characters with dots); no public checksum for either.
		end := body
		for end < len(data) && end-at < token.MaxInstallationLen && isInstallationByte(data[end]) {
			end++
		}
		for end > body && data[end-1] == '.' { // a sentence's full stop
			end--
		}
		if end-body < 36 || (end < len(data) && isWordByte(data[end])) {
			return match{}, false
		}
		return match{start: at, end: end, kind: kind, checksum: ChecksumNone}, true
	}
	end := at + 40
	if end > len(data) || !isAlnum(data[body:end]) || (end < len(data) && isWordByte(data[end])) {
		return match{}, false
	}
	m := match{start: at, end: end, kind: kind, checksum: ChecksumValid}
	if token.Checksum(string(data[body:body+30])) != string(data[body+30:end]) {
		m.checksum = ChecksumInvalid
	}
	return m, true
}

// fineGrainedAt recognises github_pat_ + 22 + "_" + 59 at data[at:].
func fineGrainedAt(data []byte, at int) (match, bool) {
	const n = 11 + 22 + 1 + 59
	end := at + n
	if end > len(data) || !leftBoundary(data, at) || (end < len(data) && isWordByte(data[end])) {
		return match{}, false
	}
	b := data[at+11 : end]
	if !isAlnum(b[:22]) || b[22] != '_' || !isAlnum(b[23:]) {
		return match{}, false
	}
	return match{start: at, end: end, kind: token.KindFineGrained, checksum: ChecksumNone}, true
}

// leftBoundary: a token starts a word. "xghp_…" is some other identifier.
func leftBoundary(data []byte, at int) bool {
	return at == 0 || !isAlnumByte(data[at-1])
}

func isAlnum(b []byte) bool {
	for _, c := range b {
		if !isAlnumByte(c) {
			return false
		}
	}
	return true
}

func isAlnumByte(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z'
}

func isWordByte(c byte) bool { return c == '_' || isAlnumByte(c) }

func isInstallationByte(c byte) bool { return c == '.' || isWordByte(c) }

// sortMatches orders by start; the two searches never overlap
// (github_pat_ does not start with "gh").
func sortMatches(ms []match) {
	slices.SortFunc(ms, func(a, b match) int { return a.start - b.start })
}

// isBinary uses git's rule: a NUL byte in the first 8000 bytes.
func isBinary(data []byte) bool {
	return bytes.IndexByte(data[:min(len(data), 8000)], 0) >= 0
}

// checksumOf classifies a value found by a structural rule (an OAuthToken),
// which may be any string.
func checksumOf(kind token.Kind, value string) Checksum {
	if !kind.HasChecksum() {
		return ChecksumNone
	}
	if len(value) != 40 || !isAlnum([]byte(value[4:])) || token.Checksum(value[4:34]) != value[34:] {
		return ChecksumInvalid
	}
	return ChecksumValid
}
