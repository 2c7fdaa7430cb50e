// Package sealtest gives tests a sealing key of their own: the embedded
// default's age key file, generated in the test's temporary directory.
package sealtest

import (
	"path/filepath"
	"testing"

	"github.com/rotor-ci/rotor/internal/seal"
)

// Key generates rotor.key in a new temporary directory and opens it as the
// config's "key: file:rotor.key" would.
func Key(t testing.TB) *seal.AgeKey {
	t.Helper()
	dir := t.TempDir()
	if err := seal.Generate(filepath.Join(dir, "rotor.key")); err != nil {
		t.Fatal(err)
	}
	key, err := seal.Open("file:rotor.key", dir)
	if err != nil {
		t.Fatal(err)
	}
	return key
}
