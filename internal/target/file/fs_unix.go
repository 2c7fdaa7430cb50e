//go:build unix

package file

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// dir is an open directory that every operation on the token file goes
// through (openat, renameat, fsync): once the directory was reached
// without following a symbolic link, nothing that changes the path after
// that moment can redirect a read or a write elsewhere.
type dir struct {
	fd   int
	path string
}

// openDir opens path, a clean absolute directory path, following no
// symbolic link in any component. openat2's RESOLVE_NO_SYMLINKS does that
// in one call where the kernel has it (Linux 5.6+); elsewhere, or where a
// seccomp filter refuses it, openComponents walks the path one O_NOFOLLOW
// open at a time.
func openDir(path string) (*dir, error) {
	fd, err := openNoSymlinks(path)
	if err != nil {
		return nil, describeOpenErr(path, err)
	}
	return &dir{fd: fd, path: path}, nil
}

// openComponents opens path from / one component at a time, each with
// O_NOFOLLOW|O_DIRECTORY, so that a symbolic link anywhere fails the walk.
// The golang.org/x/sys/unix calls are the whole of it: no library offers a
// "no symlink anywhere" open (os.Root and securejoin resolve links inside
// a root instead of refusing them).
func openComponents(path string) (int, error) {
	if !filepath.IsAbs(path) {
		return -1, fmt.Errorf("%s: not an absolute path", path)
	}
	fd, err := unix.Open("/", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	for _, c := range strings.Split(strings.Trim(path, "/"), "/") {
		if c == "" {
			continue
		}
		next, err := openat(fd, c, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		unix.Close(fd)
		if err != nil {
			return -1, err
		}
		fd = next
	}
	return fd, nil
}

// describeOpenErr turns the open's errno into a message that names the
// component at fault: a symbolic link (ELOOP, or ENOTDIR on systems that
// report a link opened with O_DIRECTORY|O_NOFOLLOW so), a file where a
// directory should be, a missing directory.
func describeOpenErr(path string, err error) error {
	if errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENOTDIR) {
		for p := path; p != "/" && p != "."; p = filepath.Dir(p) {
			fi, lerr := os.Lstat(p)
			if lerr != nil {
				continue
			}
			if fi.Mode()&fs.ModeSymlink != 0 {
				return fmt.Errorf("%w: %s is a symbolic link; rotor follows no link anywhere in a target's path (name the real path%s)", ErrSymlink, p, realPathHint(path))
			}
			if !fi.IsDir() {
				return fmt.Errorf("%s is not a directory", p)
			}
		}
		return fmt.Errorf("%w: a component of %s is a symbolic link or not a directory", ErrSymlink, path)
	}
	if errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("directory %s: %w", path, fs.ErrNotExist)
	}
	return &fs.PathError{Op: "open directory", Path: path, Err: err}
}

func realPathHint(path string) string {
	if real, err := filepath.EvalSymlinks(path); err == nil && real != path {
		return ": " + real
	}
	return ""
}

func (d *dir) close() { unix.Close(d.fd) }

// info describes the directory itself.
func (d *dir) info() (dirInfo, error) {
	var st unix.Stat_t
	if err := unix.Fstat(d.fd, &st); err != nil {
		return dirInfo{}, &fs.PathError{Op: "stat", Path: d.path, Err: err}
	}
	return dirInfo{known: true, perm: fs.FileMode(st.Mode) & fs.ModePerm, sticky: st.Mode&unix.S_ISVTX != 0, uid: int(st.Uid)}, nil
}

// lstat describes name in the directory without following a link; ok is
// false when it does not exist.
func (d *dir) lstat(name string) (fileInfo, bool, error) {
	var st unix.Stat_t
	err := unix.Fstatat(d.fd, name, &st, unix.AT_SYMLINK_NOFOLLOW)
	if errors.Is(err, unix.ENOENT) {
		return fileInfo{}, false, nil
	}
	if err != nil {
		return fileInfo{}, false, &fs.PathError{Op: "stat", Path: filepath.Join(d.path, name), Err: err}
	}
	return statInfo(&st), true, nil
}

func statInfo(st *unix.Stat_t) fileInfo {
	return fileInfo{
		regular: st.Mode&unix.S_IFMT == unix.S_IFREG,
		symlink: st.Mode&unix.S_IFMT == unix.S_IFLNK,
		perm:    fs.FileMode(st.Mode) & fs.ModePerm,
		uid:     int(st.Uid), gid: int(st.Gid), size: st.Size, owned: true,
	}
}

// read returns the contents of name, a regular file of at most max bytes,
// opened without following a link and without blocking on a FIFO.
func (d *dir) read(name string, max int64) ([]byte, fileInfo, error) {
	p := filepath.Join(d.path, name)
	fd, err := openat(d.fd, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if errors.Is(err, unix.ELOOP) {
		return nil, fileInfo{}, fmt.Errorf("%w: %s is a symbolic link", ErrSymlink, p)
	}
	if err != nil {
		return nil, fileInfo{}, &fs.PathError{Op: "open", Path: p, Err: errnoToFS(err)}
	}
	f := os.NewFile(uintptr(fd), p)
	defer f.Close()
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, fileInfo{}, &fs.PathError{Op: "stat", Path: p, Err: err}
	}
	fi := statInfo(&st)
	if !fi.regular {
		return nil, fi, fmt.Errorf("%s is not a regular file", p)
	}
	data, err := readMax(f, max)
	return data, fi, err
}

// replace writes data to name as a new inode: a temporary file created in
// the directory (O_EXCL, mode 0600), given its owner, group and mode
// before a byte of the token is written, synced, renamed over name, and
// the directory synced, so that after a crash name holds the old contents
// or the new, whole.
func (d *dir) replace(name string, data []byte, own ownership) (err error) {
	tmp, fd, err := d.createTemp(name)
	if err != nil {
		return err
	}
	f := os.NewFile(uintptr(fd), filepath.Join(d.path, tmp))
	renamed := false
	defer func() {
		if !renamed {
			f.Close()
			_ = unix.Unlinkat(d.fd, tmp, 0)
		}
	}()
	if own.chown {
		if err := unix.Fchown(fd, own.uid, own.gid); err != nil {
			return fmt.Errorf("give the file to %d:%d: %w", own.uid, own.gid, err)
		}
	}
	if err := unix.Fchmod(fd, uint32(own.mode)); err != nil {
		return fmt.Errorf("chmod: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := unix.Renameat(d.fd, tmp, d.fd, name); err != nil {
		return fmt.Errorf("rename over %s: %w", name, err)
	}
	renamed = true
	// The rename is durable only once the directory is synced; some
	// filesystems cannot sync a directory (EINVAL) and need not.
	if err := unix.Fsync(d.fd); err != nil && !errors.Is(err, unix.EINVAL) {
		return fmt.Errorf("sync directory: %w", err)
	}
	return nil
}

func (d *dir) createTemp(name string) (string, int, error) {
	for range 100 {
		tmp := "." + name + ".rotor-" + randomSuffix()
		fd, err := openat(d.fd, tmp, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
		if errors.Is(err, unix.EEXIST) {
			continue
		}
		if err != nil {
			return "", -1, &fs.PathError{Op: "create", Path: filepath.Join(d.path, tmp), Err: errnoToFS(err)}
		}
		return tmp, fd, nil
	}
	return "", -1, fmt.Errorf("create a temporary file in %s: too many collisions", d.path)
}

func openat(dirfd int, name string, flags int, mode uint32) (int, error) {
	for {
		fd, err := unix.Openat(dirfd, name, flags, mode)
		if err != unix.EINTR {
			return fd, err
		}
	}
}

// errnoToFS maps the errnos callers test for to their fs sentinels.
func errnoToFS(err error) error {
	switch {
	case errors.Is(err, unix.ENOENT):
		return fs.ErrNotExist
	case errors.Is(err, unix.EACCES), errors.Is(err, unix.EPERM):
		return fmt.Errorf("%w (%v)", fs.ErrPermission, err)
	}
	return err
}

// processOwner is who rotor runs as.
func processOwner() (uid, gid int) { return os.Geteuid(), os.Getegid() }
