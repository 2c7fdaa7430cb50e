package github

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
)

func tarballDir(rp *repo, sha string) string {
	return fmt.Sprintf("%s-%s-%s", rp.Owner, rp.Name, sha[:7])
}

// tarball is a small real gzip tar laid out as GitHub's: a pax global header
// carrying the commit, then one directory named owner-repo-sha7. Cached by
// commit, since it never changes.
func (s *Server) tarball(rp *repo, sha string) ([]byte, error) {
	if b, ok := s.tarballs.Load(sha); ok {
		return b.([]byte), nil
	}
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	dir := tarballDir(rp, sha) + "/"
	mod := rp.CreatedAt.UTC().Truncate(1e9)
	files := []struct{ name, body string }{
		{"README.md", fmt.Sprintf("# %s\n\nServed by rotor's GitHub emulator: %s at %s.\n", rp.Name, rp.fullName(), sha)},
		{"buildspec.yml", "version: 0.2\nphases:\n  build:\n    commands:\n      - echo hello\n"},
	}
	hdrs := []*tar.Header{
		{Typeflag: tar.TypeXGlobalHeader, Name: "pax_global_header", PAXRecords: map[string]string{"comment": sha}, Format: tar.FormatPAX},
		{Typeflag: tar.TypeDir, Name: dir, Mode: 0o775, ModTime: mod, Format: tar.FormatPAX},
	}
	for _, f := range files {
		hdrs = append(hdrs, &tar.Header{Typeflag: tar.TypeReg, Name: dir + f.name, Mode: 0o664, Size: int64(len(f.body)), ModTime: mod, Format: tar.FormatPAX})
	}
	for n, h := range hdrs {
		if err := tw.WriteHeader(h); err != nil {
			return nil, fmt.Errorf("tarball: %w", err)
		}
		if h.Typeflag == tar.TypeReg {
			if _, err := io.WriteString(tw, files[n-2].body); err != nil {
				return nil, fmt.Errorf("tarball: %w", err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("tarball: %w", err)
	}
	if err := gz.Close(); err != nil {
		return nil, fmt.Errorf("tarball: %w", err)
	}
	b := buf.Bytes()
	s.tarballs.Store(sha, b)
	return b, nil
}
