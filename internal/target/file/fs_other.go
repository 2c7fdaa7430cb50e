//go:build !unix

package file

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// dir is the portable fallback where there is no openat: each component
// is checked with Lstat before use, and operations go by path. A link
// swapped in between the check and the write is not caught here; on unix
// the fd-based version is used instead.
type dir struct{ path string }

func openDir(path string) (*dir, error) {
	vol := filepath.VolumeName(path)
	for p := path; len(p) > len(vol)+1; p = filepath.Dir(p) {
		fi, err := os.Lstat(p)
		if err != nil {
			return nil, fmt.Errorf("directory %s: %w", path, err)
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			return nil, fmt.Errorf("%w: %s is a symbolic link; rotor follows no link anywhere in a target's path", ErrSymlink, p)
		}
		if !fi.IsDir() {
			return nil, fmt.Errorf("%s is not a directory", p)
		}
	}
	return &dir{path: path}, nil
}

func (d *dir) close() {}

// info knows no owner or mode bits that mean the same here: the
// directory checks are skipped.
func (d *dir) info() (dirInfo, error) { return dirInfo{}, nil }

func infoOf(fi fs.FileInfo) fileInfo {
	return fileInfo{regular: fi.Mode().IsRegular(), symlink: fi.Mode()&fs.ModeSymlink != 0, perm: fi.Mode().Perm(), size: fi.Size()}
}

func (d *dir) lstat(name string) (fileInfo, bool, error) {
	fi, err := os.Lstat(filepath.Join(d.path, name))
	if os.IsNotExist(err) {
		return fileInfo{}, false, nil
	}
	if err != nil {
		return fileInfo{}, false, err
	}
	return infoOf(fi), true, nil
}

func (d *dir) read(name string, max int64) ([]byte, fileInfo, error) {
	p := filepath.Join(d.path, name)
	fi, ok, err := d.lstat(name)
	switch {
	case err != nil:
		return nil, fi, err
	case !ok:
		return nil, fi, &fs.PathError{Op: "open", Path: p, Err: fs.ErrNotExist}
	case fi.symlink:
		return nil, fi, fmt.Errorf("%w: %s is a symbolic link", ErrSymlink, p)
	case !fi.regular:
		return nil, fi, fmt.Errorf("%s is not a regular file", p)
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, fi, err
	}
	defer f.Close()
	data, err := readMax(f, max)
	return data, fi, err
}

func (d *dir) replace(name string, data []byte, own ownership) error {
	f, err := os.CreateTemp(d.path, "."+name+".rotor-*")
	if err != nil {
		return err
	}
	renamed := false
	defer func() {
		if !renamed {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if err := f.Chmod(own.mode); err != nil {
		return err
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
	if err := os.Rename(f.Name(), filepath.Join(d.path, name)); err != nil {
		return err
	}
	renamed = true
	return nil
}

func processOwner() (uid, gid int) { return -1, -1 }
