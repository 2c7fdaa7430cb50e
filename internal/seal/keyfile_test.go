package seal

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestGenerate(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "rotor.key")
	if err := Generate(path); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != 0o600 {
		t.Errorf("mode = %04o, want 0600", got)
	}
	before, _ := os.ReadFile(path)
	if err := Generate(path); !errors.Is(err, ErrKeyExists) {
		t.Errorf("second Generate = %v, want ErrKeyExists", err)
	}
	after, _ := os.ReadFile(path)
	if !bytes.Equal(before, after) {
		t.Error("second Generate changed the key file")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries, want only the key (temp file left behind?)", len(entries))
	}
}

func TestOpen_refuses(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.key")
	if err := Generate(good); err != nil {
		t.Fatal(err)
	}
	write := func(name, content string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	key, _ := os.ReadFile(good)
	loose := write("loose.key", string(key), 0o644)
	groupRead := write("group.key", string(key), 0o640)
	malformed := write("bad.key", "AGE-SECRET-KEY-1NOTAKEY\n", 0o600)
	two := write("two.key", string(key)+string(key), 0o600)
	emptyFile := write("empty.key", "# nothing here\n", 0o600)

	tests := []struct {
		name string
		spec string
		want []string // substrings of the error
	}{
		{"world readable", "file:" + loose, []string{loose, "0644", "chmod 600 " + loose}},
		{"group readable", "file:group.key", []string{groupRead, "0640", "chmod 600 " + groupRead}},
		{"missing", "file:nope.key", []string{filepath.Join(dir, "nope.key"), "rotor init"}},
		{"malformed", "file:bad.key", []string{malformed, "malformed"}},
		{"two identities", "file:two.key", []string{two, "2 identities"}},
		{"no identity", "file:empty.key", []string{emptyFile, "malformed"}},
		{"unknown scheme", "kms:alias/rotor", []string{"kms:alias/rotor", "file:PATH"}},
		{"empty spec", "", []string{"file:PATH"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Open(tt.spec, dir)
			if err == nil {
				t.Fatal("Open succeeded, want an error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "AGE-SECRET-KEY-1") || strings.Contains(err.Error(), "NOTAKEY") {
				t.Errorf("error %q contains key material", err)
			}
		})
	}
	if _, err := Open("file:"+good, "/elsewhere"); err != nil {
		t.Errorf("absolute path: %v", err)
	}
}
