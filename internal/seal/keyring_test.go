package seal

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rotor-ci/rotor/internal/rotation"
	"github.com/rotor-ci/rotor/internal/token"
)

// During and after a key migration a store holds versions of both schemes:
// a keyring opens each with the key that sealed it and seals with its first.
func TestKeyring_mixedSchemes(t *testing.T) {
	ctx := context.Background()
	f := newFakeKMS()
	kmsKey, ageKey := f.key(t, "eu-west-1"), newAgeKey(t)
	ring := NewKeyring(kmsKey, ageKey)

	seal := func(k rotation.Sealer) (token.Token, []byte) {
		t.Helper()
		tok := token.Generate(token.KindClassicPAT)
		b, err := k.Seal(ctx, contextOf("app", tok), tok)
		if err != nil {
			t.Fatal(err)
		}
		return tok, b
	}
	for _, k := range []rotation.Sealer{ring, kmsKey, ageKey} {
		tok, b := seal(k)
		got, err := ring.Open(ctx, contextOf("app", tok), b)
		if err != nil || !got.Equal(tok) {
			t.Errorf("keyring opening a blob of %T: %v", k, err)
		}
	}
	if _, b := seal(ring); mustScheme(t, b) != SchemeAWSKMS {
		t.Error("the keyring did not seal with its first key")
	}

	otherKMS := f.key(t, "eu-west-1")
	for _, tc := range []struct {
		name string
		key  Key
		want string
	}{
		{"another age key", newAgeKey(t), "needs an age key file"},
		{"another KMS key", otherKMS, "needs " + otherKMS.Spec()},
	} {
		tok, b := seal(tc.key)
		_, err := ring.Open(ctx, contextOf("app", tok), b)
		if !errors.Is(err, ErrWrongKey) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), ageKey.Spec()) || !strings.Contains(err.Error(), kmsKey.Spec()) {
			t.Errorf("%s: Open = %v; want ErrWrongKey saying it %s and naming this installation's keys", tc.name, err, tc.want)
		}
	}
	tok := token.Generate(token.KindClassicPAT)
	if _, err := ring.Open(ctx, contextOf("app", tok), []byte("plain text")); !errors.Is(err, ErrUnknownScheme) {
		t.Errorf("Open(garbage) = %v, want ErrUnknownScheme", err)
	}
}

func mustScheme(t *testing.T, b []byte) Scheme {
	t.Helper()
	s, err := SchemeOf(b)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestOpenKeyring(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"new.key", "old.key"} {
		if err := Generate(filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	ring, err := OpenKeyring(context.Background(), "file:new.key", []string{"file:old.key"}, Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if got := ring.Sealer().Spec(); got != "file:"+filepath.Join(dir, "new.key") {
		t.Errorf("sealing key = %s, want new.key", got)
	}
	_, err = OpenKeyring(context.Background(), "file:new.key", []string{"file:gone.key"}, Options{Dir: dir})
	if err == nil || !strings.HasPrefix(err.Error(), "previous_keys: ") || !strings.Contains(err.Error(), "gone.key") {
		t.Errorf("a missing previous key: %v, want an error naming previous_keys and the file", err)
	}
	if err := os.Chmod(filepath.Join(dir, "new.key"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err = OpenKeyring(context.Background(), "file:new.key", nil, Options{Dir: dir}); err == nil || strings.HasPrefix(err.Error(), "previous_keys") {
		t.Errorf("a loose sealing key: %v, want the key file's own error", err)
	}
}
