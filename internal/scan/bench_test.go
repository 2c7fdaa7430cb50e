package scan

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rotor-ci/rotor/internal/token"
)

// benchTree writes n small text files (about 1 KiB each, 100 to a
// directory, two levels deep, a token in one file of 1000, a .gitignore at
// the top) under dir, inside a git work tree.
func benchTree(b *testing.B, dir string, n int) {
	b.Helper()
	if err := os.MkdirAll(filepath.Join(dir, ".git"), 0o755); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, ".gitignore"), []byte("*.o\n/build/\nnode_modules/\n"), 0o644); err != nil {
		b.Fatal(err)
	}
	// Text with plenty of "gh" in it, so the prefilter has work to do.
	para := strings.Repeat("the night was high and light; ghosts and thoughts, enough weight to fight. key: value\n", 12)
	for i := range n {
		d := filepath.Join(dir, fmt.Sprintf("m%02d", i/10000), fmt.Sprintf("p%03d", i/100%100))
		if i%100 == 0 {
			if err := os.MkdirAll(d, 0o755); err != nil {
				b.Fatal(err)
			}
		}
		body := fmt.Sprintf("// file %d\n%s", i, para)
		if i%1000 == 0 {
			body += "GITHUB_TOKEN=" + gen(token.KindClassicPAT) + "\n"
		}
		if err := os.WriteFile(filepath.Join(d, fmt.Sprintf("f%05d.txt", i)), []byte(body), 0o644); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkScan measures a warm-cache scan of a 100,000-file tree. Rerun
// with:
//
//	go test -run '^$' -bench BenchmarkScan -benchtime 5x ./internal/scan/
//
// Generating the tree takes a while; it happens once per run.
func BenchmarkScan(b *testing.B) {
	const files = 100_000
	dir := b.TempDir()
	benchTree(b, dir, files)
	for _, workers := range []int{1, 2, 0} {
		name := fmt.Sprintf("workers=%d", workers)
		if workers == 0 {
			name = "workers=default"
		}
		b.Run(name, func(b *testing.B) {
			var res Result
			for b.Loop() {
				var err error
				res, err = Scan(context.Background(), []string{dir}, Options{Workers: workers})
				if err != nil {
					b.Fatal(err)
				}
			}
			if res.Stats.Files != files+1 || len(res.Findings) != files/1000 {
				b.Fatalf("scanned %d files, %d findings; want %d, %d", res.Stats.Files, len(res.Findings), files+1, files/1000)
			}
			b.ReportMetric(float64(files)*float64(b.N)/b.Elapsed().Seconds(), "files/s")
			b.SetBytes(res.Stats.Bytes)
		})
	}
}
