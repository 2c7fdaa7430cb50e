package github

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// CodeloadPrefix is where the emulator serves what GitHub serves on its
// download host, codeload.github.com: the tarball a 302 from
// GET /repos/{owner}/{repo}/tarball/{ref} points to.
const CodeloadPrefix = "/_codeload/"

// downloadTTL is how long a download URL works, like codeload's tokens.
const downloadTTL = 5 * time.Minute

// codeloadPath is the download URL's path and query for owner/repo at sha:
// the token in it is an HMAC of the path and its expiry, so it needs no
// state and cannot be forged for another repository.
func (s *Server) codeloadPath(owner, name, sha string) string {
	p := CodeloadPrefix + owner + "/" + name + "/legacy.tar.gz/" + sha
	exp := strconv.FormatInt(s.now().Add(downloadTTL).Unix(), 10)
	return p + "?token=" + exp + "." + s.downloadMAC(p, exp)
}

func (s *Server) downloadMAC(path, exp string) string {
	m := hmac.New(sha256.New, s.downloadKey)
	m.Write([]byte(path + "|" + exp))
	return hex.EncodeToString(m.Sum(nil))[:40]
}

// serveCodeload serves a tarball download URL made by codeloadPath.
func (s *Server) serveCodeload(w http.ResponseWriter, r *http.Request) {
	notFound := func() { http.Error(w, "404: Not Found", http.StatusNotFound) }
	exp, mac, _ := strings.Cut(r.URL.Query().Get("token"), ".")
	n, err := strconv.ParseInt(exp, 10, 64)
	if r.Method != http.MethodGet || err != nil || !hmac.Equal([]byte(mac), []byte(s.downloadMAC(r.URL.Path, exp))) || !s.now().Before(time.Unix(n, 0)) {
		notFound()
		return
	}
	parts := strings.Split(strings.TrimPrefix(r.URL.Path, CodeloadPrefix), "/")
	if len(parts) != 4 {
		notFound()
		return
	}
	s.mu.Lock()
	var snapshot repo
	rp := s.st.repo(parts[0], parts[1])
	if rp != nil {
		snapshot = *rp
	}
	s.mu.Unlock()
	if rp == nil {
		notFound()
		return
	}
	sha := parts[3]
	body, err := s.tarball(&snapshot, sha)
	if err != nil {
		http.Error(w, "500: Internal Server Error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/x-gzip")
	h.Set("Content-Disposition", "attachment; filename="+tarballDir(&snapshot, sha)+".tar.gz")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("ETag", `"`+sha+`"`)
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

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
