package scan

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rotor-ci/rotor/internal/token"
)

// Token-shaped strings are made at test time, never committed: a committed
// one trips every secret scanner, including this one.

// gen returns a fresh token value of kind k with a valid checksum.
func gen(k token.Kind) string { return token.Generate(k).Reveal() }

// badChecksum is a classic-shaped token whose checksum does not match.
func badChecksum(k token.Kind) string {
	v := gen(k)
	last := v[len(v)-1]
	repl := byte('A')
	if last == 'A' {
		repl = 'B'
	}
	return v[:len(v)-1] + string(repl)
}

// stateless is a ghs_ token of the 2026 stateless (JWT-like) form.
func stateless() string {
	return "ghs_" + strings.Repeat("eyJhbGciOiJSUzI1NiJ9", 5) + "." + gen(token.KindFineGrained)[11:] + "." + gen(token.KindClassicPAT)[4:]
}

// writeTree writes files (path relative to dir, "/"-separated) and returns dir.
func writeTree(t testing.TB, dir string, files map[string]string) string {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// scanDir scans dir with opts, displaying paths relative to dir.
func scanDir(t *testing.T, dir string, opts Options) Result {
	t.Helper()
	t.Chdir(dir)
	res, err := Scan(context.Background(), []string{"."}, opts)
	if err != nil {
		t.Fatalf("Scan: %v", err)
	}
	return res
}

// brief is a finding reduced to what most tests compare.
type brief struct {
	Path     string
	Line     int
	Rule     Rule
	Kind     token.Kind
	Checksum Checksum
	Known    Known
}

func briefs(fs []Finding) []brief {
	out := make([]brief, 0, len(fs))
	for _, f := range fs {
		out = append(out, brief{f.Path, f.Line, f.Rule, f.Kind, f.Checksum, f.Known})
	}
	return out
}
