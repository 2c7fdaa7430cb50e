package file

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/rotor-ci/rotor/internal/rotation"
	"github.com/rotor-ci/rotor/internal/token"
)

// Type is the target's name in rotor.yaml.
const Type = "file"

// DefaultMode is the mode rotor writes a token file with unless the config
// gives another.
const DefaultMode fs.FileMode = 0o600

// maxSize bounds what is read back: a token file holds one token.
const maxSize = 64 << 10

// Refusals callers and tests branch on. Their messages name the file and
// say what to do; none holds any of the file's contents.
var (
	// ErrSymlink: a component of the path, or the file, is a symbolic link.
	ErrSymlink = errors.New("symbolic link in a file target's path")
	// ErrSharedDir: the directory may be written by other users.
	ErrSharedDir = errors.New("directory writable by other users")
	// ErrNotToken: the file holds something other than one GitHub token.
	ErrNotToken = errors.New("the file holds something other than one GitHub token")
	// ErrUnknownToken: the file holds a token rotor does not know.
	ErrUnknownToken = errors.New("the file holds a GitHub token rotor does not know")
	// ErrMissing: the file does not exist and create is not set.
	ErrMissing = errors.New("the file does not exist")
)

// Known reports whether fingerprint is a version of the target's credential
// (current, previous, pending…): a token rotor put there, or one adopted.
type Known func(ctx context.Context, fingerprint string) (bool, error)

// Config is one file target.
type Config struct {
	Path string
	// Create lets rotor create the file when it does not exist. Without
	// it a missing file is an error, so a mistyped path is caught.
	Create bool
	// Owner and Group (a name or a numeric id) and Mode (default 0600) are
	// given to each new file before the token is written into it.
	Owner, Group string
	Mode         fs.FileMode
	// Known tells the tokens rotor may replace. Nil: no existing file is
	// replaced (only Discover and Verify work).
	Known Known
}

// Target keeps a token in one file. Safe for concurrent use; concurrent
// Applies of different tokens to the same file leave one of them whole.
//
// What it refuses, and why (docs/reliability.md, "host safety"):
//   - a symbolic link anywhere in the path: rotor would write where the
//     link points, which someone else may choose;
//   - a directory that users other than root and rotor's may write, unless
//     it is sticky (like /tmp) and owned by root or rotor's user: anyone who
//     can write the directory can replace the file or pre-create it;
//   - a file that holds anything but exactly one GitHub token, or a token
//     rotor does not know for this credential: the path is probably wrong,
//     and replacing the file would destroy what it holds;
//   - a missing file, unless create: true.
//
// Every write is a new inode (temporary file, rename over), owned by
// rotor's user, or by the config's owner and group, with its mode set
// before the token is written. In a directory only root or rotor's user
// can write, a file's existing owner and group are kept (a consumer
// running as that user still reads it).
type Target struct {
	path, dir, name string
	create          bool
	uid, gid        int // -1: not configured
	mode            fs.FileMode
	known           Known
}

var (
	_ rotation.Target     = (*Target)(nil)
	_ rotation.ReadBacker = (*Target)(nil)
)

// New returns a target for c.Path; a relative path is made absolute against
// the working directory (the config resolves paths against its own
// directory before this). Owner and group are looked up here.
func New(c Config) (*Target, error) {
	path := c.Path
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	path = filepath.Clean(path)
	t := &Target{path: path, dir: filepath.Dir(path), name: filepath.Base(path), create: c.Create, uid: -1, gid: -1, mode: c.Mode, known: c.Known}
	if t.mode == 0 {
		t.mode = DefaultMode
	}
	var err error
	if c.Owner != "" {
		if t.uid, err = lookupID(c.Owner, user.Lookup, func(u *user.User) string { return u.Uid }); err != nil {
			return nil, fmt.Errorf("file target %s: owner: %w", path, err)
		}
	}
	if c.Group != "" {
		if t.gid, err = lookupID(c.Group, func(n string) (*user.Group, error) { return user.LookupGroup(n) }, func(g *user.Group) string { return g.Gid }); err != nil {
			return nil, fmt.Errorf("file target %s: group: %w", path, err)
		}
	}
	return t, nil
}

// lookupID resolves a user or group name, or takes a number as it is.
func lookupID[T any](name string, lookup func(string) (*T, error), id func(*T) string) (int, error) {
	if n, err := strconv.Atoi(name); err == nil && n >= 0 {
		return n, nil
	}
	v, err := lookup(name)
	if err != nil {
		return -1, fmt.Errorf("%q: %w", name, err)
	}
	return strconv.Atoi(id(v))
}

// Type implements rotation.Target.
func (t *Target) Type() string { return Type }

// Path is the file's absolute path.
func (t *Target) Path() string { return t.path }

// BindingID is the one binding's ID.
func (t *Target) BindingID() string { return "file:" + t.path }

// dirInfo is what the safety rules need of the directory. known is false
// where the platform has no owner and mode bits to check.
type dirInfo struct {
	known  bool
	perm   fs.FileMode
	sticky bool
	uid    int
}

// fileInfo is what they need of the file.
type fileInfo struct {
	regular, symlink bool
	perm             fs.FileMode
	uid, gid         int
	size             int64
	owned            bool // uid and gid are meaningful
}

// ownership is what a new file gets before the token is written.
type ownership struct {
	chown    bool
	uid, gid int
	mode     fs.FileMode
}

// checkDir applies the directory rule. private reports a directory that
// only its owner (and root) can write: there, a file's owner was set by one
// of them and may be kept.
func checkDir(path string, di dirInfo) (private bool, err error) {
	if !di.known {
		return false, nil
	}
	euid, _ := processOwner()
	trusted := di.uid == 0 || di.uid == euid
	switch {
	case di.perm&0o022 == 0:
		return true, nil
	case di.sticky && trusted:
		return false, nil
	}
	how := "group or others may write it"
	if di.sticky {
		how = fmt.Sprintf("it is sticky but owned by uid %d, who can replace any file in it", di.uid)
	}
	return false, fmt.Errorf("%w: %s has mode %04o (%s): whoever can write it can replace the token file or create it first and read the token; "+
		"use a directory only root or rotor's user can write (chmod go-w %s), or a sticky one owned by root, like /tmp", ErrSharedDir, path, di.perm|stickyBit(di.sticky), how, path)
}

func stickyBit(s bool) fs.FileMode {
	if s {
		return 0o1000
	}
	return 0
}

// tokenIn returns the fingerprint of the one GitHub token data holds (a
// trailing newline allowed), or ErrNotToken. The error never holds any of
// data.
func (t *Target) tokenIn(data []byte) (string, error) {
	v := strings.TrimSuffix(strings.TrimSuffix(string(data), "\n"), "\r")
	if _, _, err := token.Parse(v); err != nil || strings.TrimSpace(v) != v {
		return "", fmt.Errorf("%w: %s (%d bytes): rotor replaces only a file that holds exactly one GitHub token it knows; check the path, or move the file away and set create: true",
			ErrNotToken, t.path, len(data))
	}
	return token.Fingerprint(v), nil
}

// inspect opens the directory without following any link, applies the
// directory rule, and reads the file if it exists (never through a link).
// The caller closes the directory and clears data.
func (t *Target) inspect() (d *dir, private bool, fi fileInfo, data []byte, exists bool, err error) {
	d, err = openDir(t.dir)
	if err != nil {
		return nil, false, fi, nil, false, fmt.Errorf("file target %s: %w", t.path, err)
	}
	defer func() {
		if err != nil {
			d.close()
			clear(data)
			d, data = nil, nil
		}
	}()
	di, err := d.info()
	if err != nil {
		return d, false, fi, nil, false, err
	}
	if private, err = checkDir(t.dir, di); err != nil {
		return d, false, fi, nil, false, fmt.Errorf("file target %s: %w", t.path, err)
	}
	if _, exists, err = d.lstat(t.name); err != nil || !exists {
		return d, private, fi, nil, false, err
	}
	data, fi, err = d.read(t.name, maxSize)
	if err != nil {
		return d, private, fi, nil, true, fmt.Errorf("file target %s: %w", t.path, err)
	}
	return d, private, fi, data, true, nil
}

// Discover returns the one binding after checking that the file can be
// replaced safely (see Target). A token rotor does not know yet is a
// warning here (rotor adopt is how it learns it) and a refusal in Apply.
func (t *Target) Discover(ctx context.Context) ([]rotation.Binding, error) {
	b := rotation.Binding{ID: t.BindingID(), Target: Type, Resource: t.path}
	d, _, _, data, exists, err := t.inspect()
	if err != nil {
		return nil, err
	}
	d.close()
	defer clear(data)
	if err := t.canOwn(); err != nil {
		return nil, err
	}
	if !exists {
		if !t.create {
			return nil, t.missing()
		}
		return []rotation.Binding{b}, nil
	}
	fp, err := t.tokenIn(data)
	if err != nil {
		return nil, err
	}
	if t.known != nil {
		ok, err := t.known(ctx, fp)
		if err != nil {
			return nil, fmt.Errorf("file target %s: %w", t.path, err)
		}
		if !ok {
			b.Warnings = append(b.Warnings, t.unknown(fp).Error())
		}
	}
	return []rotation.Binding{b}, nil
}

func (t *Target) missing() error {
	return fmt.Errorf("%w: %s: rotor creates a token file only with create: true, so that a mistyped path is an error and not a new file", ErrMissing, t.path)
}

func (t *Target) unknown(fp string) error {
	return fmt.Errorf("%w: %s holds %s, which is no version of this credential: rotor will not replace it; if it is the token in use today, record it with 'rotor adopt', else check the path", ErrUnknownToken, t.path, fp)
}

// canOwn refuses an owner that this process cannot give files to.
func (t *Target) canOwn() error {
	euid, _ := processOwner()
	if t.uid >= 0 && euid >= 0 && euid != 0 && t.uid != euid {
		return fmt.Errorf("file target %s: owner: rotor runs as uid %d and cannot give files to uid %d; run it as root or drop owner", t.path, euid, t.uid)
	}
	return nil
}

// Apply writes tok into the file (see Target for what it refuses and how
// it writes). Writing the token the file already holds, with the right
// mode and owner, changes nothing.
func (t *Target) Apply(ctx context.Context, tok token.Token, bindings []rotation.Binding, report func(rotation.Result)) {
	for _, b := range bindings {
		err := t.each(ctx, b, func() error { return t.write(ctx, tok) })
		// A refusal happens before any write: the file is as it was.
		report(rotation.Result{BindingID: b.ID, Err: err, Unchanged: isRefusal(err)})
	}
}

func isRefusal(err error) bool {
	for _, e := range []error{ErrSymlink, ErrSharedDir, ErrNotToken, ErrUnknownToken, ErrMissing} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// Verify reads the file back and compares fingerprints; it never shows
// either value or fingerprint.
func (t *Target) Verify(ctx context.Context, tok token.Token, bindings []rotation.Binding, report func(rotation.Result)) {
	for _, b := range bindings {
		report(rotation.Result{BindingID: b.ID, Err: t.each(ctx, b, func() error { return t.holds(tok) })})
	}
}

// ReadBack implements rotation.ReadBacker: Verify is a read-back already.
func (t *Target) ReadBack(ctx context.Context, tok token.Token, bindings []rotation.Binding, report func(rotation.Result)) {
	t.Verify(ctx, tok, bindings, report)
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

func (t *Target) write(ctx context.Context, tok token.Token) error {
	if tok.IsZero() {
		return fmt.Errorf("write %s: refusing to write an empty token", t.path)
	}
	if err := t.canOwn(); err != nil {
		return err
	}
	d, private, old, data, exists, err := t.inspect()
	if err != nil {
		return err
	}
	defer d.close()
	defer clear(data)
	own := t.ownership(old, exists, private)
	if exists {
		fp, err := t.tokenIn(data)
		if err != nil {
			return err
		}
		if fp == tok.Fingerprint() && old.perm == own.mode && (!old.owned || old.uid == own.uid && old.gid == own.gid) {
			return nil
		}
		if fp != tok.Fingerprint() {
			ok := false
			if t.known != nil {
				if ok, err = t.known(ctx, fp); err != nil {
					return fmt.Errorf("write %s: %w", t.path, err)
				}
			}
			if !ok {
				return t.unknown(fp)
			}
		}
	} else if !t.create {
		return t.missing()
	}
	value := []byte(tok.Reveal())
	defer clear(value)
	if err := d.replace(t.name, value, own); err != nil {
		return fmt.Errorf("write %s: %w", t.path, err)
	}
	return nil
}

// ownership decides who owns the new file: the config's owner and group;
// else, in a private directory and where rotor may give files away (root),
// the old file's; else rotor's user.
func (t *Target) ownership(old fileInfo, exists, private bool) ownership {
	euid, egid := processOwner()
	uid, gid := euid, egid
	if exists && private && old.owned && euid == 0 {
		uid, gid = old.uid, old.gid
	}
	if t.uid >= 0 {
		uid = t.uid
	}
	if t.gid >= 0 {
		gid = t.gid
	}
	return ownership{chown: euid >= 0 && (uid != euid || gid != egid), uid: uid, gid: gid, mode: t.mode}
}

// holds reports whether the file holds tok, allowing one trailing newline
// (a person or another tool may have written it with one).
func (t *Target) holds(tok token.Token) error {
	d, err := openDir(t.dir)
	if err != nil {
		return fmt.Errorf("verify %s: %w", t.path, err)
	}
	defer d.close()
	data, _, err := d.read(t.name, maxSize)
	if err != nil {
		return fmt.Errorf("verify %s: %w", t.path, err)
	}
	defer clear(data)
	got := strings.TrimSuffix(strings.TrimSuffix(string(data), "\n"), "\r")
	if token.Fingerprint(got) != tok.Fingerprint() {
		return fmt.Errorf("verify %s: the file does not hold the expected token", t.path)
	}
	return nil
}

// readMax reads all of r, failing past max bytes.
func readMax(r io.Reader, max int64) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > max {
		clear(data)
		return nil, errors.New("the file is larger than any token")
	}
	return data, nil
}

// randomSuffix names a temporary file.
func randomSuffix() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
