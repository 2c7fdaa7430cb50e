//go:build unix

package file

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/rotor-ci/rotor/internal/rotation"
	"github.com/rotor-ci/rotor/internal/token"
)

// nobody is another user: the attacks come from someone who is neither
// root nor rotor's user.
const nobody = 65534

// snapshot is everything about a file that a refusal must leave alone.
type snapshot struct {
	data        string
	mode        os.FileMode
	uid, gid    uint32
	ino         uint64
	dirEntries  int
	dirMode     os.FileMode
	dirUID      uint32
	exists      bool
	parentNames []string
}

func snap(t *testing.T, path string) snapshot {
	t.Helper()
	var s snapshot
	if fi, err := os.Lstat(path); err == nil {
		st := fi.Sys().(*syscall.Stat_t)
		b, _ := os.ReadFile(path)
		s.data, s.mode, s.uid, s.gid, s.ino, s.exists = string(b), fi.Mode(), st.Uid, st.Gid, st.Ino, true
	}
	dir := filepath.Dir(path)
	entries, _ := os.ReadDir(dir)
	s.dirEntries = len(entries)
	for _, e := range entries {
		s.parentNames = append(s.parentNames, e.Name())
	}
	if fi, err := os.Stat(dir); err == nil {
		s.dirMode, s.dirUID = fi.Mode(), fi.Sys().(*syscall.Stat_t).Uid
	}
	return s
}

func requireUnchanged(t *testing.T, path string, before snapshot) {
	t.Helper()
	if after := snap(t, path); after.data != before.data || after.mode != before.mode || after.uid != before.uid || after.gid != before.gid ||
		after.ino != before.ino || after.dirEntries != before.dirEntries || after.exists != before.exists {
		t.Fatalf("the refusal changed something:\nbefore %+v\nafter  %+v", before, after)
	}
}

// attempt runs Discover and then Apply (whatever Discover said: a resumed
// run applies to bindings discovered earlier, so Apply must refuse on its
// own) and returns both errors.
func attempt(t *testing.T, tg *Target, tok token.Token) (discoverErr, applyErr error) {
	t.Helper()
	ctx := context.Background()
	_, discoverErr = tg.Discover(ctx)
	applyErr = run(t, tg.Apply, ctx, tok, []rotation.Binding{{ID: tg.BindingID(), Target: Type, Resource: tg.Path()}})[tg.BindingID()]
	return discoverErr, applyErr
}

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("SKIP: needs root to create files and directories owned by another user")
	}
}

// Attack 1: a target pointed at a file that holds something else (a 0644
// file of passwd-style lines) was overwritten with a token, mode 0600, and
// validate and plan said nothing. Now Discover (what validate and plan
// show) and Apply refuse it, and the file keeps its contents, owner and
// mode. The same for a token rotor does not know, and for a missing file
// without create: true.
func TestTarget_refusesAFileThatIsNotItsToken(t *testing.T) {
	adopted := token.Generate(token.KindClassicPAT)
	stranger := token.Generate(token.KindFineGrained)
	tests := []struct {
		name     string
		content  string // "" with absent: no file
		absent   bool
		mode     os.FileMode
		want     error
		discover bool // Discover refuses too (else: a warning there)
	}{
		{name: "passwd-style lines", content: "root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n", mode: 0o644, want: ErrNotToken, discover: true},
		{name: "a token and more", content: "GITHUB_TOKEN=" + adopted.Reveal() + "\n", mode: 0o600, want: ErrNotToken, discover: true},
		{name: "a token rotor does not know", content: stranger.Reveal() + "\n", mode: 0o600, want: ErrUnknownToken},
		{name: "a missing file without create", absent: true, want: ErrMissing, discover: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "passwd")
			if !tt.absent {
				if err := os.WriteFile(path, []byte(tt.content), tt.mode); err != nil {
					t.Fatal(err)
				}
				if err := os.Chmod(path, tt.mode); err != nil {
					t.Fatal(err)
				}
			}
			before := snap(t, path)
			next := token.Generate(token.KindClassicPAT)
			tg := newTarget(t, Config{Path: path, Known: known(adopted, next)})
			dErr, aErr := attempt(t, tg, next)
			if tt.discover && !errors.Is(dErr, tt.want) {
				t.Errorf("Discover = %v, want %v", dErr, tt.want)
			}
			if !errors.Is(aErr, tt.want) || !strings.Contains(aErr.Error(), path) {
				t.Errorf("Apply = %v, want %v naming %s", aErr, tt.want, path)
			}
			requireNoSecret(t, aErr, next)
			if strings.Contains(aErr.Error(), "root:x") {
				t.Errorf("the refusal quotes the file: %v", aErr)
			}
			requireUnchanged(t, path, before)
		})
	}
}

// Attack 1, second part: only the last component was checked for a
// symbolic link, so a symlinked parent directory was followed. Now a link
// anywhere in the path is refused, and the file it leads to is untouched.
func TestTarget_refusesASymlinkAnywhere(t *testing.T) {
	root := t.TempDir()
	real := filepath.Join(root, "etc")
	if err := os.Mkdir(real, 0o755); err != nil {
		t.Fatal(err)
	}
	adopted := token.Generate(token.KindClassicPAT)
	victim := filepath.Join(real, "github-token")
	if err := os.WriteFile(victim, []byte(adopted.Reveal()), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(real, filepath.Join(root, "ci")); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(root, "a", "b"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(root, "a"), filepath.Join(root, "up")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(real, filepath.Join(root, "a", "b", "deep")); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{
		filepath.Join(root, "ci", "github-token"),              // the parent is a link
		filepath.Join(root, "up", "b", "deep", "github-token"), // two links, further up
		filepath.Join(root, "a", "b", "deep", "github-token"),  // the last directory is a link
	} {
		t.Run(strings.TrimPrefix(path, root), func(t *testing.T) {
			before := snap(t, victim)
			next := token.Generate(token.KindClassicPAT)
			tg := newTarget(t, Config{Path: path, Known: known(adopted, next)})
			dErr, aErr := attempt(t, tg, next)
			for _, err := range []error{dErr, aErr} {
				if !errors.Is(err, ErrSymlink) || !strings.Contains(err.Error(), "symbolic link") {
					t.Errorf("got %v, want ErrSymlink", err)
				}
			}
			if err := run(t, tg.Verify, context.Background(), adopted, []rotation.Binding{{ID: tg.BindingID()}})[tg.BindingID()]; !errors.Is(err, ErrSymlink) {
				t.Errorf("Verify through a link = %v, want ErrSymlink", err)
			}
			requireUnchanged(t, victim, before)
		})
	}
	// Without the openat2 fast path (old kernels, seccomp), the walk
	// refuses the same links.
	for _, path := range []string{filepath.Join(root, "ci"), filepath.Join(root, "up", "b")} {
		if fd, err := openComponents(path); err == nil {
			syscall.Close(fd)
			t.Errorf("openComponents(%s) followed a link", path)
		}
	}
	if fd, err := openComponents(real); err != nil {
		t.Errorf("openComponents(%s) = %v", real, err)
	} else {
		syscall.Close(fd)
	}
}

// Attack 2: in a world-writable directory, a file created by another user
// (mode 600) kept its owner when rotor replaced it, so that user read the
// live token. Now such a directory is refused unless it is sticky and owned
// by root or rotor's user; there, the new file belongs to rotor's user.
func TestTarget_sharedDirectory(t *testing.T) {
	requireRoot(t)
	adopted := token.Generate(token.KindClassicPAT)
	tests := []struct {
		name     string
		dirMode  os.FileMode // with os.ModeSticky where sticky
		dirOwner int
		want     error // nil: Apply succeeds
	}{
		{name: "world-writable, not sticky", dirMode: 0o777, dirOwner: 0, want: ErrSharedDir},
		{name: "group-writable", dirMode: 0o775, dirOwner: 0, want: ErrSharedDir},
		{name: "sticky, owned by another user", dirMode: 0o777 | os.ModeSticky, dirOwner: nobody, want: ErrSharedDir},
		{name: "sticky, owned by root (like /tmp)", dirMode: 0o777 | os.ModeSticky, dirOwner: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "shared")
			if err := os.Mkdir(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.Chown(dir, tt.dirOwner, tt.dirOwner); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(dir, tt.dirMode); err != nil {
				t.Fatal(err)
			}
			// The other user got there first: their file, their mode 600,
			// holding the token in use (a copy they were given, or made).
			path := filepath.Join(dir, "github-token")
			if err := os.WriteFile(path, []byte(adopted.Reveal()), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chown(path, nobody, nobody); err != nil {
				t.Fatal(err)
			}
			before := snap(t, path)
			next := token.Generate(token.KindClassicPAT)
			tg := newTarget(t, Config{Path: path, Known: known(adopted, next)})
			dErr, aErr := attempt(t, tg, next)
			if tt.want != nil {
				for _, err := range []error{dErr, aErr} {
					if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), dir) {
						t.Errorf("got %v, want %v naming %s", err, tt.want, dir)
					}
				}
				requireUnchanged(t, path, before)
				return
			}
			if dErr != nil || aErr != nil {
				t.Fatalf("Discover %v, Apply %v", dErr, aErr)
			}
			after := snap(t, path)
			if after.data != next.Reveal() || after.uid != 0 || after.gid != uint32(os.Getegid()) || after.mode.Perm() != 0o600 || after.ino == before.ino {
				t.Fatalf("after Apply: %+v; want a new inode holding the new token, owned by rotor's user (0:%d), mode 0600", after, os.Getegid())
			}
		})
	}
}

// owner, group and mode from the config are set on the new file before
// the token is written; in a private directory the old owner is kept
// (root gives a consumer's file back to the consumer).
func TestTarget_ownership(t *testing.T) {
	requireRoot(t)
	adopted := token.Generate(token.KindClassicPAT)
	tests := []struct {
		name          string
		c             Config
		oldOwner      int
		wantUID, wGID uint32
		wantMode      os.FileMode
	}{
		{name: "configured", c: Config{Owner: "65534", Group: "65534", Mode: 0o640}, oldOwner: 0, wantUID: nobody, wGID: nobody, wantMode: 0o640},
		{name: "configured by name", c: Config{Owner: "root", Group: "root", Mode: 0o400}, oldOwner: nobody, wantUID: 0, wGID: 0, wantMode: 0o400},
		{name: "kept in a private directory", oldOwner: nobody, wantUID: nobody, wGID: nobody, wantMode: 0o600},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "token")
			if err := os.WriteFile(path, []byte(adopted.Reveal()), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chown(path, tt.oldOwner, tt.oldOwner); err != nil {
				t.Fatal(err)
			}
			next := token.Generate(token.KindClassicPAT)
			c := tt.c
			c.Path, c.Known = path, known(adopted, next)
			tg := newTarget(t, c)
			if dErr, aErr := attempt(t, tg, next); dErr != nil || aErr != nil {
				t.Fatalf("Discover %v, Apply %v", dErr, aErr)
			}
			after := snap(t, path)
			if after.data != next.Reveal() || after.uid != tt.wantUID || after.gid != tt.wGID || after.mode.Perm() != tt.wantMode {
				t.Fatalf("after Apply: uid %d gid %d mode %04o; want %d %d %04o", after.uid, after.gid, after.mode.Perm(), tt.wantUID, tt.wGID, tt.wantMode)
			}
		})
	}
	if _, err := New(Config{Path: "/x", Owner: "no-such-user-here"}); err == nil || !strings.Contains(err.Error(), "owner") {
		t.Errorf("New(unknown owner) = %v", err)
	}
}
