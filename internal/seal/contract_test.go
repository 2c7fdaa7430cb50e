package seal

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/rotor-ci/rotor/internal/rotation"
	"github.com/rotor-ci/rotor/internal/token"
)

// keys is what the contract needs of one scheme: a key, another key of the
// same scheme, and a key of another scheme.
type keys struct {
	key, sibling, foreign Key
}

func contextOf(cred string, tok token.Token) rotation.SealContext {
	return rotation.SealContext{Credential: cred, Fingerprint: tok.Fingerprint()}
}

// testKeyContract checks what every Key promises: each scheme's tests run
// it (age always; KMS against a fake and against moto_server).
func testKeyContract(t *testing.T, k keys) {
	ctx := context.Background()
	t.Run("round trip", func(t *testing.T) {
		for _, kind := range token.Kinds {
			tok := token.Generate(kind)
			sc := contextOf("app", tok)
			sealed, err := k.key.Seal(ctx, sc, tok)
			if err != nil {
				t.Fatalf("%s: %v", kind, err)
			}
			if bytes.Contains(sealed, []byte(tok.Reveal())) {
				t.Fatalf("%s: sealed bytes contain the plaintext token", kind)
			}
			if s, err := SchemeOf(sealed); err != nil || s != k.key.Scheme() {
				t.Errorf("%s: SchemeOf = %q, %v; want %q", kind, s, err, k.key.Scheme())
			}
			got, err := k.key.Open(ctx, sc, sealed)
			if err != nil {
				t.Fatalf("%s: %v", kind, err)
			}
			if !got.Equal(tok) {
				t.Errorf("%s: Open(Seal(tok)) = %v, want %v", kind, got, tok)
			}
			again, err := k.key.Seal(ctx, sc, tok)
			if err != nil || bytes.Equal(again, sealed) {
				t.Errorf("%s: sealing twice gave the same bytes (%v): sealing must be randomised", kind, err)
			}
		}
	})

	t.Run("seal refuses", func(t *testing.T) {
		tok := token.Generate(token.KindClassicPAT)
		for _, tc := range []struct {
			name string
			sc   rotation.SealContext
			tok  token.Token
			want error
		}{
			{"empty token", rotation.SealContext{Credential: "app", Fingerprint: "sha256:000000000000"}, token.Token{}, ErrEmpty},
			{"no credential", rotation.SealContext{Fingerprint: tok.Fingerprint()}, tok, ErrContext},
			{"no fingerprint", rotation.SealContext{Credential: "app"}, tok, ErrContext},
			{"another version's fingerprint", contextOf("app", token.Generate(token.KindClassicPAT)), tok, ErrContext},
		} {
			if _, err := k.key.Seal(ctx, tc.sc, tc.tok); !errors.Is(err, tc.want) {
				t.Errorf("%s: Seal = %v, want %v", tc.name, err, tc.want)
			}
		}
	})

	t.Run("open refuses", func(t *testing.T) {
		tok := token.Generate(token.KindFineGrained)
		sc := contextOf("app", tok)
		sealed, err := k.key.Seal(ctx, sc, tok)
		if err != nil {
			t.Fatal(err)
		}
		foreign, err := k.foreign.Seal(ctx, sc, tok)
		if err != nil {
			t.Fatal(err)
		}
		flip := func(i int) []byte {
			b := bytes.Clone(sealed)
			b[i] ^= 0x01
			return b
		}
		for _, tc := range []struct {
			name   string
			opener Key
			sc     rotation.SealContext
			in     []byte
			want   error // nil: any error
		}{
			{"another key of the scheme", k.sibling, sc, sealed, ErrWrongKey},
			{"another scheme's blob", k.key, sc, foreign, ErrWrongKey},
			{"moved to another credential", k.key, rotation.SealContext{Credential: "other-app", Fingerprint: sc.Fingerprint}, sealed, ErrContext},
			{"moved to another version", k.key, contextOf("app", token.Generate(token.KindFineGrained)), sealed, ErrContext},
			{"no context", k.key, rotation.SealContext{}, sealed, ErrContext},
			{"tampered payload", k.key, sc, flip(len(sealed) - 5), nil},
			{"tampered middle", k.key, sc, flip(len(sealed) / 2), nil},
			{"tampered header", k.key, sc, flip(30), nil},
			{"truncated", k.key, sc, sealed[:len(sealed)-10], nil},
			{"empty", k.key, sc, nil, ErrUnknownScheme},
			{"garbage", k.key, sc, []byte("not a sealed token"), ErrUnknownScheme},
		} {
			t.Run(tc.name, func(t *testing.T) {
				got, err := tc.opener.Open(ctx, tc.sc, tc.in)
				if err == nil {
					if tc.name == "moved to another credential" && tc.opener.Scheme() == SchemeAge {
						// age has no associated data; the same token under
						// another credential is the same secret. Only the
						// version (fingerprint) check applies.
						return
					}
					t.Fatalf("Open succeeded with %v, want an error", got)
				}
				if tc.want != nil && !errors.Is(err, tc.want) {
					t.Errorf("Open = %v, want %v", err, tc.want)
				}
				if strings.Contains(err.Error(), tok.Reveal()) || strings.Contains(err.Error(), tok.Reveal()[11:25]) {
					t.Errorf("error %q contains plaintext", err)
				}
			})
		}
	})

	t.Run("concurrent", func(t *testing.T) {
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				for range 10 {
					tok := token.Generate(token.KindInstallation)
					sc := contextOf("app", tok)
					sealed, err := k.key.Seal(ctx, sc, tok)
					if err != nil {
						t.Error(err)
						return
					}
					got, err := k.key.Open(ctx, sc, sealed)
					if err != nil || !got.Equal(tok) {
						t.Errorf("round trip failed: %v", err)
						return
					}
				}
			})
		}
		wg.Wait()
	})
}

// newAgeKey writes a fresh key file and opens it.
func newAgeKey(t *testing.T) *AgeKey {
	t.Helper()
	dir := t.TempDir()
	if err := Generate(filepath.Join(dir, "rotor.key")); err != nil {
		t.Fatal(err)
	}
	k, err := Open("file:rotor.key", dir)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestAgeKey_contract(t *testing.T) {
	fake := newFakeKMS()
	testKeyContract(t, keys{key: newAgeKey(t), sibling: newAgeKey(t), foreign: fake.key(t, "eu-west-1")})
}

func TestAgeKey_describes(t *testing.T) {
	k := newAgeKey(t)
	if !strings.HasPrefix(k.Recipient(), "age1") {
		t.Errorf("Recipient() = %q, want age1…", k.Recipient())
	}
	if !strings.HasPrefix(k.Spec(), "file:/") || !strings.HasSuffix(k.Spec(), "/rotor.key") {
		t.Errorf("Spec() = %q, want file: and an absolute path", k.Spec())
	}
}
