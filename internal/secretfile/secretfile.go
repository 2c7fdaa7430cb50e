// Package secretfile reads the small secret files rotor's config points to
// instead of holding secrets itself (the API's bearer token, a TLS key, an
// alert URL, a webhook signing secret). A file that group or others may
// read is refused: the config names the file, so the file is the secret.
package secretfile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"

	"github.com/rotor-ci/rotor/internal/token"
)

// MaxSize bounds what Read accepts: these files hold one short value.
const MaxSize = 64 << 10

// ErrUnsafe marks a file that is not a regular file only its owner may
// read.
var ErrUnsafe = errors.New("unsafe secret file")

// Read returns the contents of path after checking that it is a regular
// file, at most MaxSize bytes, that group and others may not access. A
// missing file is an error wrapping fs.ErrNotExist. The file is checked on
// the descriptor it is read from, so a swap between check and read cannot
// slip an unsafe file in.
func Read(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	switch {
	case !fi.Mode().IsRegular():
		return nil, fmt.Errorf("%w: %s is not a regular file", ErrUnsafe, path)
	case fi.Mode().Perm()&0o077 != 0:
		return nil, fmt.Errorf("%w: %s has mode %04o: group or others may read it; run 'chmod 600 %s'", ErrUnsafe, path, fi.Mode().Perm(), path)
	case fi.Size() > MaxSize:
		return nil, fmt.Errorf("%w: %s is larger than %d bytes", ErrUnsafe, path, MaxSize)
	}
	b, err := io.ReadAll(io.LimitReader(f, MaxSize+1))
	if err != nil {
		return nil, &fs.PathError{Op: "read", Path: path, Err: err}
	}
	if len(b) > MaxSize {
		return nil, fmt.Errorf("%w: %s is larger than %d bytes", ErrUnsafe, path, MaxSize)
	}
	return b, nil
}

// Token reads a GitHub token from path (as Read checks it), trimmed of
// surrounding white space. An empty file is an error naming it.
func Token(path string) (token.Token, error) {
	data, err := Read(path)
	if err != nil {
		return token.Token{}, err
	}
	tok := token.New(strings.TrimSpace(string(data)))
	if tok.IsZero() {
		return token.Token{}, fmt.Errorf("%s is empty: want a GitHub token", path)
	}
	return tok, nil
}
