package seal

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"

	"filippo.io/age"

	"github.com/rotor-ci/rotor/internal/rotation"
	"github.com/rotor-ci/rotor/internal/token"
)

// AgeKey encrypts tokens to one age recipient and decrypts them with the
// matching identity, read from a key file. Safe for concurrent use.
type AgeKey struct {
	path      string
	identity  age.Identity
	recipient age.Recipient
	display   string
}

var _ Key = (*AgeKey)(nil)

// Open loads the age key file named by spec ("file:PATH"; relative to
// configDir). It refuses a key file that group or others can access, a
// missing file and a malformed one, each with an error naming the file and
// the fix.
func Open(spec, configDir string) (*AgeKey, error) {
	path, err := keyPath(spec, configDir)
	if err != nil {
		return nil, err
	}
	id, rcpt, err := readIdentity(path)
	if err != nil {
		return nil, err
	}
	return &AgeKey{path: path, identity: id, recipient: rcpt, display: fmt.Sprint(rcpt)}, nil
}

// Recipient is the public half of the key ("age1…"), safe to display.
func (k *AgeKey) Recipient() string { return k.display }

// Spec is the key as rotor.yaml names it, with an absolute path.
func (k *AgeKey) Spec() string { return SpecPrefix + k.path }

// Scheme is SchemeAge.
func (k *AgeKey) Scheme() Scheme { return SchemeAge }

// Seal encrypts tok. The result is an age file (binary, not armored). age
// has no associated data: the context is checked against the token here
// and against what comes out in Open.
func (k *AgeKey) Seal(_ context.Context, sc rotation.SealContext, tok token.Token) ([]byte, error) {
	if err := checkSeal(sc, tok); err != nil {
		return nil, err
	}
	var out bytes.Buffer
	w, err := age.Encrypt(&out, k.recipient)
	if err != nil {
		return nil, fmt.Errorf("seal token: %v", err)
	}
	if _, err := io.WriteString(w, tok.Reveal()); err != nil {
		return nil, fmt.Errorf("seal token: %v", err)
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("seal token: %v", err)
	}
	return out.Bytes(), nil
}

// Open decrypts what Seal produced. It fails with ErrWrongKey when sealed
// is for another key or another scheme, with ErrContext when it holds
// another version's token, and with an error for anything altered or
// truncated.
func (k *AgeKey) Open(_ context.Context, sc rotation.SealContext, sealed []byte) (token.Token, error) {
	if err := checkContext(sc); err != nil {
		return token.Token{}, err
	}
	if s, err := SchemeOf(sealed); err != nil {
		return token.Token{}, fmt.Errorf("open sealed token: %w", err)
	} else if s != SchemeAge {
		return token.Token{}, fmt.Errorf("open sealed token: sealed with %s, not an age key: %w", s, ErrWrongKey)
	}
	r, err := age.Decrypt(bytes.NewReader(sealed), k.identity)
	if err != nil {
		var nomatch *age.NoIdentityMatchError
		if errors.As(err, &nomatch) {
			return token.Token{}, fmt.Errorf("open sealed token: %w", ErrWrongKey)
		}
		return token.Token{}, fmt.Errorf("open sealed token: %v", err)
	}
	b, err := io.ReadAll(io.LimitReader(r, maxToken+1))
	defer clear(b)
	if err != nil {
		// age authenticates each chunk before releasing it; the error text
		// never carries plaintext, and b is discarded.
		return token.Token{}, fmt.Errorf("open sealed token: %v", err)
	}
	if len(b) > maxToken {
		return token.Token{}, fmt.Errorf("open sealed token: larger than %d bytes", maxToken)
	}
	return checkOpened(sc, b)
}
