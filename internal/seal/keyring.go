package seal

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/rotor-ci/rotor/internal/awsx"
	"github.com/rotor-ci/rotor/internal/rotation"
	"github.com/rotor-ci/rotor/internal/token"
)

// Key is one sealing key: an age key file (AgeKey) or an AWS KMS key
// (KMSKey). Open fails with ErrWrongKey for a blob another key sealed.
type Key interface {
	rotation.Sealer
	// Spec names the key as rotor.yaml does: file:/abs/path or awskms:ARN.
	Spec() string
	Scheme() Scheme
}

// Options is what opening a key needs besides its spec.
type Options struct {
	// Dir is what a relative file: path is relative to (the config's
	// directory).
	Dir string
	// AWS reaches awskms: keys: endpoint, profile, credentials. The region
	// is each key's own, from its ARN.
	AWS awsx.Config
}

// OpenKey opens the key spec names: file:PATH or awskms:ARN.
func OpenKey(ctx context.Context, spec string, o Options) (Key, error) {
	switch {
	case strings.HasPrefix(spec, SpecPrefix):
		return Open(spec, o.Dir)
	case strings.HasPrefix(spec, KMSSpecPrefix):
		return OpenKMS(ctx, strings.TrimPrefix(spec, KMSSpecPrefix), o.AWS)
	}
	return nil, fmt.Errorf("key spec %q: want %sPATH (an age key file) or %sARN (an AWS KMS key)", spec, SpecPrefix, KMSSpecPrefix)
}

// Keyring seals with one key and opens with it or any of the others: the
// configured key and those a key migration leaves behind (previous_keys).
// Each blob is tried only by keys of its scheme; a KMS blob only by the key
// it names. Safe for concurrent use.
type Keyring struct {
	keys []Key // keys[0] seals
}

var _ rotation.Sealer = (*Keyring)(nil)

// NewKeyring seals with sealWith and opens with it and previous.
func NewKeyring(sealWith Key, previous ...Key) *Keyring {
	return &Keyring{keys: append([]Key{sealWith}, previous...)}
}

// OpenKeyring opens the key spec (it seals) and every one of previous (they
// only open).
func OpenKeyring(ctx context.Context, spec string, previous []string, o Options) (*Keyring, error) {
	var keys []Key
	for i, s := range append([]string{spec}, previous...) {
		k, err := OpenKey(ctx, s, o)
		if err != nil {
			if i > 0 {
				return nil, fmt.Errorf("previous_keys: %w", err)
			}
			return nil, err
		}
		keys = append(keys, k)
	}
	return NewKeyring(keys[0], keys[1:]...), nil
}

// Sealer is the key that seals.
func (r *Keyring) Sealer() Key { return r.keys[0] }

// Seal seals with the keyring's first key.
func (r *Keyring) Seal(ctx context.Context, sc rotation.SealContext, tok token.Token) ([]byte, error) {
	return r.keys[0].Seal(ctx, sc, tok)
}

// Open opens sealed with whichever of the keyring's keys sealed it. If none
// did, the error (ErrWrongKey) names the key the blob needs.
func (r *Keyring) Open(ctx context.Context, sc rotation.SealContext, sealed []byte) (token.Token, error) {
	for _, k := range r.keys {
		tok, err := k.Open(ctx, sc, sealed)
		if errors.Is(err, ErrWrongKey) {
			continue
		}
		return tok, err
	}
	if _, err := SchemeOf(sealed); err != nil {
		return token.Token{}, fmt.Errorf("open sealed token: %w", err)
	}
	specs := make([]string, len(r.keys))
	for i, k := range r.keys {
		specs[i] = k.Spec()
	}
	return token.Token{}, fmt.Errorf("open sealed token: %w: it needs %s, and this installation has %s (key: and previous_keys:)",
		ErrWrongKey, sealedWith(sealed), strings.Join(specs, ", "))
}

// sealedWith names the key a blob needs, as far as the blob tells.
func sealedWith(b []byte) string {
	switch s, _ := SchemeOf(b); s {
	case SchemeAge:
		return "an age key file (another file: key)"
	case SchemeAWSKMS:
		if env, err := parseEnvelope(b); err == nil {
			return KMSSpecPrefix + env.keyARN
		}
		return "an AWS KMS key"
	}
	return "an unknown scheme"
}
