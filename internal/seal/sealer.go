package seal

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"filippo.io/age"

	"github.com/rotor-ci/rotor/internal/rotation"
	"github.com/rotor-ci/rotor/internal/token"
)

// maxToken bounds what Open will decrypt; GitHub tokens are well under 1 KiB.
const maxToken = 64 << 10

var (
	// ErrWrongKey means the sealed bytes were sealed to another key.
	ErrWrongKey = errors.New("sealed with another key")
	// ErrEmpty is returned when asked to seal the empty token.
	ErrEmpty = errors.New("refusing to seal an empty token")
)

// Sealer encrypts tokens to one age recipient and decrypts them with the
// matching identity. Safe for concurrent use.
type Sealer struct {
	identity  age.Identity
	recipient age.Recipient
	display   string
}

var _ rotation.Sealer = (*Sealer)(nil)

// Open loads the key named by spec ("file:PATH"; relative to configDir). It
// refuses a key file that group or others can access, a missing file and a
// malformed one, each with an error naming the file and the fix.
func Open(spec, configDir string) (*Sealer, error) {
	path, err := keyPath(spec, configDir)
	if err != nil {
		return nil, err
	}
	id, rcpt, err := readIdentity(path)
	if err != nil {
		return nil, err
	}
	return &Sealer{identity: id, recipient: rcpt, display: fmt.Sprint(rcpt)}, nil
}

// Recipient is the public half of the key ("age1…"), safe to display.
func (s *Sealer) Recipient() string { return s.display }

// Seal encrypts tok. The result is an age file (binary, not armored).
func (s *Sealer) Seal(tok token.Token) ([]byte, error) {
	if tok.IsZero() {
		return nil, ErrEmpty
	}
	var out bytes.Buffer
	w, err := age.Encrypt(&out, s.recipient)
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
// is for another key, and with an error for anything altered or truncated.
func (s *Sealer) Open(sealed []byte) (token.Token, error) {
	r, err := age.Decrypt(bytes.NewReader(sealed), s.identity)
	if err != nil {
		var nomatch *age.NoIdentityMatchError
		if errors.As(err, &nomatch) {
			return token.Token{}, fmt.Errorf("open sealed token: %w", ErrWrongKey)
		}
		return token.Token{}, fmt.Errorf("open sealed token: %v", err)
	}
	b, err := io.ReadAll(io.LimitReader(r, maxToken+1))
	if err != nil {
		// age authenticates each chunk before releasing it; the error text
		// never carries plaintext, and b is discarded.
		return token.Token{}, fmt.Errorf("open sealed token: %v", err)
	}
	if len(b) > maxToken {
		return token.Token{}, fmt.Errorf("open sealed token: larger than %d bytes", maxToken)
	}
	if len(b) == 0 {
		return token.Token{}, errors.New("open sealed token: it holds an empty token")
	}
	return token.New(string(b)), nil
}
