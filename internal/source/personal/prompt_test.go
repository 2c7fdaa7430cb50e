package personal

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/rotor-ci/rotor/internal/rotation"
	"github.com/rotor-ci/rotor/internal/token"
)

func TestPromptReader(t *testing.T) {
	tok := token.Generate(token.KindClassicPAT)
	need := Need{Credential: "cp", Scopes: []string{"admin:repo_hook", "repo"}, Repositories: []string{"alice/test-repo"}, MinValidity: 7 * 24 * time.Hour}
	tests := []struct {
		name    string
		in      string
		tty     bool
		want    token.Token
		wantErr error
		rest    string // what must be left unread
	}{
		{name: "one line", in: tok.Reveal() + "\n", want: tok},
		{name: "no newline", in: tok.Reveal(), want: tok},
		{name: "CRLF and spaces", in: "  " + tok.Reveal() + " \r\nnext", want: tok, rest: "next"},
		{name: "tty asked but not a terminal reads a line", in: tok.Reveal() + "\n", tty: true, want: tok},
		{name: "empty", in: "", wantErr: rotation.ErrNoToken},
		{name: "blank line", in: "\n", wantErr: rotation.ErrNoToken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := strings.NewReader(tt.in)
			var out strings.Builder
			got, err := PromptReader(in, &out, tt.tty)(WithNeed(context.Background(), need))
			if !errors.Is(err, tt.wantErr) || (err == nil) != (tt.wantErr == nil) {
				t.Fatalf("read error = %v, want %v", err, tt.wantErr)
			}
			if !got.Equal(tt.want) {
				t.Errorf("read %v, want %v", got, tt.want)
			}
			rest, _ := io.ReadAll(in)
			if string(rest) != tt.rest {
				t.Errorf("left %q unread, want %q", rest, tt.rest)
			}
			o := out.String()
			for _, want := range []string{"Generate new token", `Do not choose "Regenerate"`, "admin:repo_hook, repo", "alice/test-repo", "7 days", "rotor cp"} {
				if !strings.Contains(o, want) {
					t.Errorf("prompt does not say %q:\n%s", want, o)
				}
			}
			if strings.Contains(o, tok.Reveal()) {
				t.Fatal("the prompt echoes the token")
			}
		})
	}
}

func TestPromptReader_canceled(t *testing.T) {
	r, w := io.Pipe() // never written: the read blocks
	defer w.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := PromptReader(r, io.Discard, false)(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("read = %v, want context.Canceled", err)
	}
}

func TestExplain_Expiration(t *testing.T) {
	day := 24 * time.Hour
	for _, tt := range []struct {
		name string
		need Need
		want string
	}{
		{"renew_before only", Need{MinValidity: 7 * day}, "Expiration:    more than 7 days from now\n"},
		{"with a maximum lifetime", Need{MinValidity: 7 * day, MaxLifetime: 90 * day}, "Expiration:    more than 7 days and at most 90 days from now (the organisation's maximum lifetime)\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := Explain(tt.need); !strings.Contains(got, tt.want) {
				t.Errorf("Explain = %q, want it to hold %q", got, tt.want)
			}
		})
	}
}
