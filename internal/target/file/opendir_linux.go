package file

import (
	"errors"

	"golang.org/x/sys/unix"
)

// openNoSymlinks uses openat2 with RESOLVE_NO_SYMLINKS, which refuses a
// symbolic link in any component in one system call, and falls back to
// the component walk where the kernel lacks openat2 (ENOSYS, before 5.6)
// or a seccomp filter refuses it (EPERM), or an old kernel rejects the
// struct (E2BIG).
func openNoSymlinks(path string) (int, error) {
	how := &unix.OpenHow{Flags: unix.O_RDONLY | unix.O_DIRECTORY | unix.O_CLOEXEC, Resolve: unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS}
	for {
		fd, err := unix.Openat2(unix.AT_FDCWD, path, how)
		switch {
		case err == nil:
			return fd, nil
		case errors.Is(err, unix.EINTR), errors.Is(err, unix.EAGAIN):
			continue
		case errors.Is(err, unix.ENOSYS), errors.Is(err, unix.EPERM), errors.Is(err, unix.E2BIG):
			return openComponents(path)
		}
		return -1, err
	}
}
