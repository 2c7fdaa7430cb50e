package token

import (
	"log/slog"
	"regexp"
)

// shaped matches anything shaped like a GitHub token of a kind rotor knows,
// checksum or not: a value one character short, or with a typo, is still a
// secret. Installation tokens may hold dots and underscores (the stateless
// form). There is no word boundary at the start on purpose: "x_ghp_…" or
// "Bearerghp_…" must be caught too.
var shaped = regexp.MustCompile(`ghs_[A-Za-z0-9._]{20,}|gh[pour]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}`)

// RedactText replaces every token-shaped value in free text (an error
// message, a reason typed into the API, a flag value, a log attribute) with
// its redacted form: kind prefix and fingerprint. It is the one redaction
// of text in rotor: logs, stored errors and notes, alerts and CLI messages
// all pass through it.
func RedactText(s string) string {
	if !HasTokenShaped(s) {
		return s
	}
	return shaped.ReplaceAllStringFunc(s, func(v string) string { return Token{v: v}.Redacted() })
}

// HasTokenShaped reports whether s holds anything shaped like a GitHub
// token (the CLI refuses such arguments outright).
func HasTokenShaped(s string) bool { return shaped.MatchString(s) }

// RedactAttr is a slog.HandlerOptions.ReplaceAttr that runs RedactText over
// every string, error and Stringer value a log record carries, and over its
// message: the last guard that keeps a token out of the logs whatever a
// caller passes. Tokens themselves log redacted already (LogValue).
func RedactAttr(_ []string, a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		if s := v.String(); HasTokenShaped(s) {
			a.Value = slog.StringValue(RedactText(s))
		}
	case slog.KindAny:
		var s string
		switch x := v.Any().(type) {
		case error:
			s = x.Error()
		case interface{ String() string }:
			s = x.String()
		default:
			return a
		}
		if HasTokenShaped(s) {
			a.Value = slog.StringValue(RedactText(s))
		}
	}
	return a
}
