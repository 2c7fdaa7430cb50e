package config

import (
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rotor-ci/rotor/internal/token"
)

// reTokenish is anything shaped like a GitHub token.
var reTokenish = regexp.MustCompile(`(ghp|gho|ghu|ghr|ghs)_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{50,}`)

// FuzzParse: Parse never panics; what it refuses it refuses with Errors
// whose every entry names the file and, when the file has lines at all, a
// line in it; and no error quotes a token-shaped value of the input.
func FuzzParse(f *testing.F) {
	f.Add(full)
	f.Add(Example())
	f.Add("")
	f.Add("store: [")
	f.Add("credentials:\n  - name: x\n    source: {type: personal-token}\n    targets: [{type: file, path: /tmp/t}]\n")
	f.Add("credentials:\n  - name: " + token.Generate(token.KindClassicPAT).Reveal() + "\n")
	f.Add("github:\n  api_url: " + token.Generate(token.KindFineGrained).Reveal() + "\n")
	f.Add("credentials:\n  - &a {name: a}\n  - <<: *a\n    name: b\n")
	f.Add("\t\x00\xff: [}\n")
	f.Fuzz(func(t *testing.T, src string) {
		var cfg *Config
		var err error
		done := make(chan struct{})
		go func() {
			defer close(done)
			cfg, err = Parse([]byte(src), "fuzz.yaml")
		}()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatalf("Parse did not return within 5s on %q", src)
		}
		if err == nil {
			if cfg == nil {
				t.Fatal("Parse returned neither a config nor an error")
			}
			return
		}
		var es Errors
		if !errors.As(err, &es) || len(es) == 0 {
			t.Fatalf("Parse error is %T, not Errors: %v", err, err)
		}
		// YAML breaks lines at \n, \r and \r\n.
		lines := strings.Count(strings.ReplaceAll(src, "\r\n", "\n"), "\n") + strings.Count(strings.ReplaceAll(src, "\r\n", "\n"), "\r") + 1
		for _, e := range es {
			if e.File != "fuzz.yaml" {
				t.Errorf("error does not name the file: %q", e.Error())
			}
			if strings.TrimSpace(src) != "" && (e.Line < 1 || e.Line > lines) {
				t.Errorf("error names line %d of a %d-line file: %q", e.Line, lines, e.Error())
			}
		}
		for _, m := range reTokenish.FindAllString(err.Error(), -1) {
			if strings.Contains(src, m) {
				t.Errorf("the error quotes a token-shaped value of the config: %q", err.Error())
			}
		}
	})
}

// The fuzzer found an error without a line: an alias of an anchor that
// does not exist is refused by the YAML library without a position.
func TestParse_UnknownAliasNamesALine(t *testing.T) {
	for _, tc := range []struct {
		name, src string
		line      int
	}{
		{"merge of an unknown anchor", "credentials000000<<: *00", 1},
		{"alias on a later line", "store: sqlite:rotor.db\nkey: *nope\n", 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.src), "rotor.yaml")
			var es Errors
			if !errors.As(err, &es) || len(es) == 0 {
				t.Fatalf("Parse(%q) = %v, want Errors", tc.src, err)
			}
			if es[0].Line != tc.line {
				t.Errorf("Parse(%q): line %d (%q), want %d", tc.src, es[0].Line, es[0].Error(), tc.line)
			}
		})
	}
}
