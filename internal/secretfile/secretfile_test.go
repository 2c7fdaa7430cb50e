package secretfile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRead(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, data []byte, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name    string
		path    string
		want    string
		wantErr string
		is      error
	}{
		{name: "owner only", path: write("ok", []byte("s3cret\n"), 0o600), want: "s3cret\n"},
		{name: "owner read-only", path: write("ro", []byte("x"), 0o400), want: "x"},
		{name: "group readable", path: write("g", []byte("x"), 0o640), wantErr: "chmod 600", is: ErrUnsafe},
		{name: "world readable", path: write("w", []byte("x"), 0o604), wantErr: "mode 0604", is: ErrUnsafe},
		{name: "too large", path: write("big", make([]byte, MaxSize+1), 0o600), wantErr: "larger", is: ErrUnsafe},
		{name: "a directory", path: dir, wantErr: "not a regular file", is: ErrUnsafe},
		{name: "missing", path: filepath.Join(dir, "none"), is: fs.ErrNotExist},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Read(tt.path)
			if tt.is == nil {
				if err != nil || string(got) != tt.want {
					t.Fatalf("Read = %q, %v; want %q", got, err, tt.want)
				}
				return
			}
			if !errors.Is(err, tt.is) || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), tt.path) {
				t.Fatalf("Read = %v; want %v naming %s and saying %q", err, tt.is, tt.path, tt.wantErr)
			}
		})
	}
}
