//go:build unix

package scan

import (
	"os"
	"syscall"
)

// openNoFollow opens a file for reading without following a final symbolic
// link and without blocking on a FIFO that took a file's place.
func openNoFollow(name string) (*os.File, error) {
	return os.OpenFile(name, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
}
