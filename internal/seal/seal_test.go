package seal

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/rotor-ci/rotor/internal/token"
)

func newSealer(t *testing.T) (*Sealer, string) {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "rotor.key")
	if err := Generate(path); err != nil {
		t.Fatal(err)
	}
	s, err := Open("file:rotor.key", dir)
	if err != nil {
		t.Fatal(err)
	}
	return s, path
}

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

func TestSealer_roundTrip(t *testing.T) {
	s, _ := newSealer(t)
	if !strings.HasPrefix(s.Recipient(), "age1") {
		t.Errorf("Recipient() = %q, want age1…", s.Recipient())
	}
	for _, k := range token.Kinds {
		t.Run(string(k), func(t *testing.T) {
			tok := token.Generate(k)
			sealed, err := s.Seal(tok)
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Contains(sealed, []byte(tok.Reveal())) {
				t.Fatal("sealed bytes contain the plaintext token")
			}
			got, err := s.Open(sealed)
			if err != nil {
				t.Fatal(err)
			}
			if !got.Equal(tok) {
				t.Errorf("Open(Seal(tok)) = %v, want %v", got, tok)
			}
		})
	}
}

func TestSealer_Seal_empty(t *testing.T) {
	s, _ := newSealer(t)
	if _, err := s.Seal(token.Token{}); !errors.Is(err, ErrEmpty) {
		t.Errorf("Seal(empty) = %v, want ErrEmpty", err)
	}
}

func TestSealer_Open_failures(t *testing.T) {
	s, _ := newSealer(t)
	other, _ := newSealer(t)
	tok := token.Generate(token.KindClassicPAT)
	sealed, err := s.Seal(tok)
	if err != nil {
		t.Fatal(err)
	}
	flip := func(i int) []byte {
		b := bytes.Clone(sealed)
		b[i] ^= 0x01
		return b
	}
	tests := []struct {
		name    string
		opener  *Sealer
		in      []byte
		wantErr error
	}{
		{"wrong key", other, sealed, ErrWrongKey},
		{"tampered payload", s, flip(len(sealed) - 5), nil},
		{"tampered header", s, flip(40), nil},
		{"truncated", s, sealed[:len(sealed)-10], nil},
		{"empty", s, nil, nil},
		{"garbage", s, []byte("not an age file"), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.opener.Open(tt.in)
			if err == nil {
				t.Fatalf("Open succeeded with %v, want an error", got)
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("Open = %v, want %v", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), tok.Reveal()) || strings.Contains(err.Error(), tok.Reveal()[4:14]) {
				t.Errorf("error %q contains plaintext", err)
			}
		})
	}
}

func TestSealer_concurrent(t *testing.T) {
	s, _ := newSealer(t)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 20 {
				tok := token.Generate(token.KindFineGrained)
				sealed, err := s.Seal(tok)
				if err != nil {
					t.Error(err)
					return
				}
				got, err := s.Open(sealed)
				if err != nil || !got.Equal(tok) {
					t.Errorf("round trip failed: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
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
