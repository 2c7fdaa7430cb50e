package server

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/rotor-ci/rotor/internal/secretfile"
)

// ErrAuthToken marks a missing or unsafe API token file.
var ErrAuthToken = errors.New("API auth token")

// minTokenLen keeps guessable tokens out.
const minTokenLen = 32

// LoadAuthToken reads the API's bearer token from path and returns its
// SHA-256 (compared in constant time; the token itself is not kept). It
// refuses a missing file, one that group or others may read, and a token
// shorter than 32 characters, each with a message saying how to fix it.
func LoadAuthToken(path string) ([]byte, error) {
	howto := "create one with 'rotor serve --init-token' (it writes 32 random bytes, mode 0600)"
	if path == "" {
		return nil, fmt.Errorf("%w: server.auth_token_file is not set in the config: set it (e.g. auth_token_file: rotor-api.token) and %s", ErrAuthToken, howto)
	}
	b, err := secretfile.Read(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s does not exist: %s", ErrAuthToken, path, howto)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrAuthToken, err)
	}
	defer clear(b)
	tok := strings.TrimSpace(string(b))
	if len(tok) < minTokenLen {
		return nil, fmt.Errorf("%w: %s holds %d characters; use at least %d random ones: %s", ErrAuthToken, path, len(tok), minTokenLen, howto)
	}
	sum := sha256.Sum256([]byte(tok))
	return sum[:], nil
}

// InitAuthToken writes a new random API token to path (mode 0600, created
// exclusively) unless the file exists. It reports whether it wrote one.
func InitAuthToken(path string) (bool, error) {
	if path == "" {
		return false, fmt.Errorf("%w: server.auth_token_file is not set in the config", ErrAuthToken)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return false, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	buf := make([]byte, 32)
	_, _ = rand.Read(buf)
	if _, err := f.WriteString(base64.RawURLEncoding.EncodeToString(buf) + "\n"); err != nil {
		f.Close()
		os.Remove(path)
		return false, err
	}
	return true, f.Close()
}

// authed admits requests that carry the bearer token and answers 401 to
// every other one, before the handler sees it.
func (s *Server) authed(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !s.authorized(r) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="rotor"`)
			writeError(w, http.StatusUnauthorized, "unauthorized: send the token from server.auth_token_file as 'Authorization: Bearer TOKEN'")
			return
		}
		h(w, r)
	}
}

func (s *Server) authorized(r *http.Request) bool {
	scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	// Hashing first makes the comparison constant-time in the length too.
	sum := sha256.Sum256([]byte(strings.TrimSpace(tok)))
	return subtle.ConstantTimeCompare(sum[:], s.auth) == 1
}
