package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rotor-ci/rotor/internal/emulator"
	"github.com/rotor-ci/rotor/internal/emulator/conformance"
)

// tokenLike finds every GitHub token value in the emulators' own state.
var tokenLike = regexp.MustCompile(`(ghp|gho|ghu|ghr|ghs)_[A-Za-z0-9._]{36,}|github_pat_[A-Za-z0-9_]{82}`)

// TestDemo runs both demos through the CLI and greps their output and every
// file they wrote for every token the emulators ever issued (I6).
func TestDemo(t *testing.T) {
	for _, args := range [][]string{{"demo"}, {"demo", "--regenerate", "--human-delay", "300ms"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			var secrets []string
			var files []string
			inspect = func(sb *emulator.Sandbox, dir string) {
				for _, snap := range []func() ([]byte, error){sb.GitHub.Snapshot, sb.CodePipeline.Snapshot} {
					b, err := snap()
					if err != nil {
						t.Error(err)
					}
					secrets = append(secrets, tokenLike.FindAllString(string(b), -1)...)
				}
				_ = filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
					if err == nil && !fi.IsDir() {
						b, _ := os.ReadFile(p)
						files = append(files, string(b))
					}
					return nil
				})
			}
			t.Cleanup(func() { inspect = nil })
			var out bytes.Buffer
			start := time.Now()
			code := Main(emulator.WithCheck(context.Background(), conformance.For(t)), args, IO{In: strings.NewReader(""), Out: &out, Err: &out})
			if code != 0 {
				t.Fatalf("exit %d\n%s", code, out.String())
			}
			for _, want := range []string{"Succeeded", "Could not access the GitHub repository", "audit chain ok"} {
				if args[len(args)-1] == "demo" && !strings.Contains(out.String(), want) {
					t.Errorf("demo output lacks %q", want)
				}
			}
			// Both end as the README promises: rotor status, then rotor audit verify.
			if i, j := strings.LastIndex(out.String(), "CREDENTIAL"), strings.LastIndex(out.String(), "audit chain ok"); i < 0 || j < i {
				t.Errorf("%s does not end with status and audit verify:\n%s", args, out.String())
			}
			if len(secrets) < 3 {
				t.Fatalf("found only %d tokens in the emulators' state", len(secrets))
			}
			for _, s := range secrets {
				if strings.Contains(out.String(), s) {
					t.Fatal("I6: the demo printed a token value")
				}
				for _, f := range files {
					if strings.Contains(f, s) {
						t.Fatal("I6: a token value is in a file rotor wrote")
					}
				}
			}
			t.Logf("%s took %s", args, time.Since(start).Round(time.Millisecond))
		})
	}
}
