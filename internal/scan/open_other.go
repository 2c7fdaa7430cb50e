//go:build !unix

package scan

import (
	"bytes"
	"io"
	"os"
)

func readRegular(name string, max int64, buf []byte) ([]byte, readStatus, error) {
	fi, err := os.Lstat(name)
	if err != nil {
		return nil, 0, err
	}
	switch {
	case fi.Mode()&os.ModeSymlink != 0:
		return nil, readSymlink, nil
	case !fi.Mode().IsRegular():
		return nil, readSpecial, nil
	case fi.Size() > max:
		return nil, readTooLarge, nil
	}
	f, err := os.Open(name)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	b := bytes.NewBuffer(buf[:0])
	if _, err := b.ReadFrom(io.LimitReader(f, max+1)); err != nil {
		return nil, 0, err
	}
	if int64(b.Len()) > max {
		return nil, readTooLarge, nil
	}
	return b.Bytes(), readOK, nil
}
