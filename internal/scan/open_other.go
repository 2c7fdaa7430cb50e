//go:build !unix

package scan

import "os"

func openNoFollow(name string) (*os.File, error) { return os.Open(name) }
