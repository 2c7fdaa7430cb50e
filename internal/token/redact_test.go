package token

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

func TestRedactText(t *testing.T) {
	classic := Generate(KindClassicPAT)
	fine := Generate(KindFineGrained)
	inst := New("ghs_" + strings.Repeat("a", 36) + ".part.two")
	tests := []struct {
		name   string
		in     string
		secret []string // must not survive
		keep   string   // must survive
	}{
		{name: "plain", in: "please rotate, old one was " + classic.Reveal(), secret: []string{classic.Reveal()}, keep: "please rotate, old one was [ghp_… " + classic.Fingerprint() + "]"},
		{name: "glued after a word character", in: "x_" + classic.Reveal() + "y", secret: []string{classic.Reveal()[4:]}},
		{name: "fine-grained in JSON", in: `{"reason":"` + fine.Reveal() + `"}`, secret: []string{fine.Reveal()[11:]}},
		{name: "stateless installation token", in: "token=" + inst.Reveal(), secret: []string{inst.Reveal()[4:]}},
		{name: "one character short still redacted", in: classic.Reveal()[:39], secret: []string{classic.Reveal()[4:39]}},
		{name: "two tokens", in: classic.Reveal() + " and " + fine.Reveal(), secret: []string{classic.Reveal(), fine.Reveal()}, keep: " and "},
		{name: "nothing token-shaped", in: "ghp_short and github_pat_ and sha256:abc", keep: "ghp_short and github_pat_ and sha256:abc"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := RedactText(tt.in)
			for _, s := range tt.secret {
				if strings.Contains(got, s) {
					t.Errorf("RedactText(…) = %q still holds %q", got, s)
				}
			}
			if !strings.Contains(got, tt.keep) {
				t.Errorf("RedactText(…) = %q, want it to hold %q", got, tt.keep)
			}
			if HasTokenShaped(got) {
				t.Errorf("the result %q is still token-shaped", got)
			}
			if (len(tt.secret) > 0) != HasTokenShaped(tt.in) {
				t.Errorf("HasTokenShaped(%q) = %v", tt.in, HasTokenShaped(tt.in))
			}
		})
	}
}

type stringer string

func (s stringer) String() string { return string(s) }

func TestRedactAttr(t *testing.T) {
	tok := Generate(KindAppUser)
	for _, h := range []func(*bytes.Buffer) slog.Handler{
		func(b *bytes.Buffer) slog.Handler {
			return slog.NewTextHandler(b, &slog.HandlerOptions{ReplaceAttr: RedactAttr})
		},
		func(b *bytes.Buffer) slog.Handler {
			return slog.NewJSONHandler(b, &slog.HandlerOptions{ReplaceAttr: RedactAttr})
		},
	} {
		var buf bytes.Buffer
		log := slog.New(h(&buf))
		log.Info("message "+tok.Reveal(), "s", tok.Reveal(), "err", fmt.Errorf("wrapped: %w", errors.New(tok.Reveal())),
			"str", stringer(tok.Reveal()), slog.Group("g", "inner", tok.Reveal()), "n", 3)
		out := buf.String()
		if strings.Contains(out, tok.Reveal()[4:]) {
			t.Fatalf("log holds the token: %s", out)
		}
		if got := strings.Count(out, tok.Fingerprint()); got != 5 {
			t.Errorf("the fingerprint appears %d times, want 5 (message, string, error, Stringer, group): %s", got, out)
		}
	}
}
