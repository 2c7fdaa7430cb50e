package store_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/rotor-ci/rotor/internal/audit"
	"github.com/rotor-ci/rotor/internal/rotation"
	"github.com/rotor-ci/rotor/internal/seal/sealtest"
	"github.com/rotor-ci/rotor/internal/token"
)

// I6: what reaches the database file is sealed; the token value is not in
// the file, its WAL, or anything read back.
func TestStore_noPlaintext(t *testing.T) {
	dir := t.TempDir()
	sealer := sealtest.Key(t)
	s := openT(t, "sqlite:"+filepath.Join(dir, "rotor.db"))
	tok := token.Generate(token.KindClassicPAT)
	sealed, err := sealer.Seal(context.Background(), rotation.SealContext{Credential: "c", Fingerprint: tok.Fingerprint()}, tok)
	if err != nil {
		t.Fatal(err)
	}
	mustTx(t, s, func(tx rotation.Tx) error {
		v, err := tx.AddVersion(rotation.Version{Credential: "c", Fingerprint: tok.Fingerprint(), Kind: token.KindClassicPAT, Sealed: sealed})
		if err != nil {
			return err
		}
		_, err = tx.AppendAudit(audit.Record{Credential: "c", Event: "minted", Detail: `{"fingerprint":"` + v.Fingerprint + `"}`})
		return err
	})
	vs, err := s.Versions(context.Background(), "c")
	if err != nil {
		t.Fatal(err)
	}
	got, err := sealer.Open(context.Background(), vs[0].SealContext(), vs[0].Sealed)
	if err != nil || !got.Equal(tok) {
		t.Fatalf("the sealed version does not open to the token: %v", err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "rotor.db*"))
	if len(files) == 0 {
		t.Fatal("no database files found")
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(b, []byte(tok.Reveal())) {
			t.Errorf("%s contains the token in plaintext", filepath.Base(f))
		}
	}
}
