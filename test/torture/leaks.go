package torture

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/rotor-ci/rotor/internal/token"
)

// Leak is a token value found in a file.
type Leak struct {
	File        string
	Fingerprint string // of the value found; "unknown:…" for a token-shaped string GitHub never issued
	Offset      int
	ModTime     time.Time
}

// reTokenish finds anything shaped like a GitHub token.
var reTokenish = regexp.MustCompile(`(ghp|gho|ghu|ghr|ghs)_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{50,}`)

// SearchLeaks reads every file under roots (following no symlinks, skipping
// what skip rejects) and reports every token value of values found in one,
// and every token-shaped string that is none of them. Files modified
// before since are skipped (the system temp directory is shared).
func SearchLeaks(roots []string, values map[string]token.Token, since time.Time, skip func(path string) bool) ([]Leak, int, error) {
	byValue := make(map[string]string, len(values))
	for fp, v := range values {
		if !v.IsZero() {
			byValue[v.Reveal()] = fp
		}
	}
	var leaks []Leak
	files := 0
	for _, root := range roots {
		err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				if os.IsNotExist(err) || os.IsPermission(err) {
					return nil
				}
				return err
			}
			if skip != nil && skip(path) {
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
			if !d.Type().IsRegular() {
				return nil
			}
			info, err := d.Info()
			if err != nil || info.ModTime().Before(since) {
				return nil
			}
			b, err := os.ReadFile(path)
			if err != nil {
				return nil
			}
			files++
			for _, m := range reTokenish.FindAllIndex(b, -1) {
				v := string(b[m[0]:m[1]])
				fp, ok := byValue[v]
				if !ok {
					fp = longestKnown(v, byValue)
				}
				if fp == "" {
					fp = "unknown:" + token.Fingerprint(v)
				}
				leaks = append(leaks, Leak{File: path, Fingerprint: fp, Offset: m[0], ModTime: info.ModTime()})
			}
			clear(b)
			return nil
		})
		if err != nil {
			return leaks, files, err
		}
	}
	return leaks, files, nil
}

// longestKnown finds a known value inside a longer token-shaped match.
func longestKnown(s string, byValue map[string]string) string {
	for v, fp := range byValue {
		if strings.Contains(s, v) {
			return fp
		}
	}
	return ""
}
