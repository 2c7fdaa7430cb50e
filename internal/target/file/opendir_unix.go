//go:build unix && !linux

package file

// openNoSymlinks walks the path one O_NOFOLLOW open at a time: only Linux
// has openat2.
func openNoSymlinks(path string) (int, error) { return openComponents(path) }
