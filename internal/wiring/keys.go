package wiring

import (
	"context"
	"fmt"

	"github.com/rotor-ci/rotor/internal/config"
	"github.com/rotor-ci/rotor/internal/seal"
	"github.com/rotor-ci/rotor/internal/store"
)

// The sealing keys, as rotor init and rotor migrate-key handle them.
type Key = seal.Key

// KeyFilePrefix starts the spec of a key file (file:PATH).
const KeyFilePrefix = seal.SpecPrefix

var (
	// ErrKeyExists: GenerateKey found a key file already there.
	ErrKeyExists = seal.ErrKeyExists
	// ErrWrongKey: a key opened a version sealed with another key.
	ErrWrongKey = seal.ErrWrongKey
)

// GenerateKey writes a new key file at path (mode 0600); it never
// replaces one (ErrKeyExists).
func GenerateKey(path string) error { return seal.Generate(path) }

// OpenKey opens the key spec names (file:PATH relative to the config, or
// awskms:ARN through the config's aws section).
func OpenKey(ctx context.Context, cfg *config.Config, spec string, opts ...Option) (Key, error) {
	return seal.OpenKey(ctx, spec, newOptions(opts).sealOptions(cfg))
}

// CheckInstallation opens cfg's sealing key and its store, creating the
// store (and its schema) when it does not exist yet (rotor init).
func CheckInstallation(ctx context.Context, cfg *config.Config) error {
	if _, err := seal.Open(cfg.Key, cfg.Dir()); err != nil {
		return err
	}
	st, err := store.Open(ctx, cfg.Store, store.Options{})
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	if err := st.Close(); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	return nil
}
