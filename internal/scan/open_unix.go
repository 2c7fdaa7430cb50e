//go:build unix

package scan

import (
	"io/fs"
	"syscall"
)

// readRegular reads a regular file of at most max bytes into buf[:0] with
// four system calls (open, fstat, read, close): on a tree of small files
// the walk is made of little else, and os.File adds a poller registration
// and a finalizer per file. The open follows no final symbolic link and
// does not block on a FIFO that took a file's place.
func readRegular(name string, max int64, buf []byte) ([]byte, readStatus, error) {
	var fd int
	var err error
	for {
		fd, err = syscall.Open(name, syscall.O_RDONLY|syscall.O_CLOEXEC|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
		if err != syscall.EINTR {
			break
		}
	}
	if err == syscall.ELOOP {
		return nil, readSymlink, nil
	}
	if err != nil {
		return nil, 0, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	defer syscall.Close(fd)
	var st syscall.Stat_t
	if err := syscall.Fstat(fd, &st); err != nil {
		return nil, 0, &fs.PathError{Op: "stat", Path: name, Err: err}
	}
	if st.Mode&syscall.S_IFMT != syscall.S_IFREG {
		return nil, readSpecial, nil
	}
	if st.Size > max {
		return nil, readTooLarge, nil
	}
	// Read one byte more than fstat promised: a file that grew past max
	// while we read it is caught below, and a file that did not ends with
	// a short read and no extra call.
	want := int(st.Size) + 1
	if cap(buf) < want {
		buf = make([]byte, 0, want+want/4)
	}
	buf = buf[:0]
	for {
		n, err := syscall.Read(fd, buf[len(buf):cap(buf)])
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return nil, 0, &fs.PathError{Op: "read", Path: name, Err: err}
		}
		buf = buf[:len(buf)+n]
		if int64(len(buf)) > max {
			return nil, readTooLarge, nil
		}
		if n == 0 || len(buf) < cap(buf) && int64(len(buf)) >= st.Size {
			return buf, readOK, nil
		}
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
	}
}
