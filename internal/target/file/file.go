package file

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/rotor-ci/rotor/internal/rotation"
	"github.com/rotor-ci/rotor/internal/token"
)

// Type is the target's name in rotor.yaml.
const Type = "file"

// mode is the only mode rotor writes a token file with.
const mode fs.FileMode = 0o600

// maxSize bounds what Verify reads: a token file holds one token.
const maxSize = 64 << 10

// Target keeps a token in one file. Safe for concurrent use; concurrent
// Applies of different tokens to the same file leave one of them whole.
type Target struct {
	path string
}

var _ rotation.Target = (*Target)(nil)

// New returns a target for path; a relative path is made absolute against
// the working directory (the config resolves paths against its own
// directory before this).
func New(path string) *Target {
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	return &Target{path: filepath.Clean(path)}
}

// Type implements rotation.Target.
func (t *Target) Type() string { return Type }

// Path is the file's absolute path.
func (t *Target) Path() string { return t.path }

// BindingID is the one binding's ID.
func (t *Target) BindingID() string { return "file:" + t.path }

// Discover returns the one binding, after checking that the file can be
// written safely: its directory exists, and the path is not a directory or
// a symbolic link (replacing a link would cut it, not update its target).
// A file that does not exist yet is fine: Apply creates it.
func (t *Target) Discover(ctx context.Context) ([]rotation.Binding, error) {
	dir := filepath.Dir(t.path)
	if fi, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("file target %s: directory: %w", t.path, err)
	} else if !fi.IsDir() {
		return nil, fmt.Errorf("file target %s: %s is not a directory", t.path, dir)
	}
	fi, err := os.Lstat(t.path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("file target %s: %w", t.path, err)
	case fi.Mode()&fs.ModeSymlink != 0:
		return nil, fmt.Errorf("file target %s is a symbolic link: name the file it points to instead", t.path)
	case !fi.Mode().IsRegular():
		return nil, fmt.Errorf("file target %s is not a regular file", t.path)
	}
	return []rotation.Binding{{ID: t.BindingID(), Target: Type, Resource: t.path}}, nil
}

// Apply writes tok into the file: a temporary file in the same directory
// (mode 0600, synced), renamed over the old one, then the directory synced,
// so that after a crash the file holds the old token or the new one. The
// file keeps its owner where the process may set it. Writing the token the
// file already holds changes nothing.
func (t *Target) Apply(ctx context.Context, tok token.Token, bindings []rotation.Binding, report func(rotation.Result)) {
	for _, b := range bindings {
		report(rotation.Result{BindingID: b.ID, Err: t.each(ctx, b, func() error { return t.write(tok) })})
	}
}

// Verify reads the file back and compares fingerprints; it never shows
// either value or fingerprint.
func (t *Target) Verify(ctx context.Context, tok token.Token, bindings []rotation.Binding, report func(rotation.Result)) {
	for _, b := range bindings {
		report(rotation.Result{BindingID: b.ID, Err: t.each(ctx, b, func() error { return t.holds(tok) })})
	}
}

func (t *Target) each(ctx context.Context, b rotation.Binding, fn func() error) error {
	if b.ID != t.BindingID() {
		return fmt.Errorf("binding %s does not belong to file target %s", b.ID, t.path)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("file %s: %w", t.path, err)
	}
	return fn()
}

func (t *Target) write(tok token.Token) error {
	if tok.IsZero() {
		return fmt.Errorf("write %s: refusing to write an empty token", t.path)
	}
	old, statErr := os.Lstat(t.path)
	if statErr == nil && old.Mode().Perm() == mode && t.holds(tok) == nil {
		return nil
	}
	if statErr == nil && !old.Mode().IsRegular() {
		return fmt.Errorf("write %s: not a regular file", t.path)
	}
	dir := filepath.Dir(t.path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(t.path)+".rotor-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", t.path, err)
	}
	done := false
	defer func() {
		if !done {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err := tmp.Chmod(mode); err != nil {
		return fmt.Errorf("write %s: %w", t.path, err)
	}
	if statErr == nil {
		keepOwner(tmp, old)
	}
	if _, err := io.WriteString(tmp, tok.Reveal()); err != nil {
		return fmt.Errorf("write %s: %w", t.path, err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("write %s: %w", t.path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", t.path, err)
	}
	if err := os.Rename(tmp.Name(), t.path); err != nil {
		return fmt.Errorf("write %s: %w", t.path, err)
	}
	done = true
	// The rename is durable only once the directory is synced.
	if d, err := os.Open(dir); err == nil {
		err = d.Sync()
		d.Close()
		if err != nil && !errors.Is(err, syscall.EINVAL) { // some filesystems cannot sync a directory
			return fmt.Errorf("write %s: sync directory: %w", t.path, err)
		}
	}
	return nil
}

// keepOwner gives the new file the old one's owner and group, so that a
// consumer running as that user can still read it. Only a privileged
// process may do so; otherwise the file belongs to rotor's user.
func keepOwner(f *os.File, old fs.FileInfo) {
	st, ok := old.Sys().(*syscall.Stat_t)
	if !ok {
		return
	}
	if int(st.Uid) == os.Geteuid() && int(st.Gid) == os.Getegid() {
		return
	}
	_ = f.Chown(int(st.Uid), int(st.Gid))
}

// holds reports whether the file holds tok, allowing one trailing newline
// (a person or another tool may have written it with one).
func (t *Target) holds(tok token.Token) error {
	f, err := os.Open(t.path)
	if err != nil {
		return fmt.Errorf("verify %s: %w", t.path, err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxSize+1))
	if err != nil {
		return fmt.Errorf("verify %s: %w", t.path, err)
	}
	defer clear(data)
	if len(data) > maxSize {
		return fmt.Errorf("verify %s: the file is larger than any token", t.path)
	}
	got := strings.TrimSuffix(strings.TrimSuffix(string(data), "\n"), "\r")
	if token.Fingerprint(got) != tok.Fingerprint() {
		return fmt.Errorf("verify %s: the file does not hold the expected token", t.path)
	}
	return nil
}
