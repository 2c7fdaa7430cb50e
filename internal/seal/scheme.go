package seal

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/rotor-ci/rotor/internal/rotation"
	"github.com/rotor-ci/rotor/internal/token"
)

// Scheme is how a sealed blob was made. Every blob begins with its scheme's
// header, which SchemeOf reads.
type Scheme string

const (
	// SchemeAge is an age file sealed to the key file's recipient. Its header
	// is age's own ("age-encryption.org/v1"), so the versions sealed before
	// rotor knew other schemes are age blobs as they are.
	SchemeAge Scheme = "age"
	// SchemeAWSKMS is rotor's envelope around a data key from AWS KMS
	// (see envelope.go).
	SchemeAWSKMS Scheme = "awskms"
)

// ageHeader is the first line of every age file (age's format spec).
const ageHeader = "age-encryption.org/v1\n"

// maxToken bounds what Open will decrypt; GitHub tokens are well under 1 KiB.
const maxToken = 64 << 10

var (
	// ErrWrongKey means the sealed bytes were sealed with another key (of
	// this scheme or another): a Keyring then tries its next key.
	ErrWrongKey = errors.New("sealed with another key")
	// ErrEmpty is returned when asked to seal the empty token.
	ErrEmpty = errors.New("refusing to seal an empty token")
	// ErrContext means the seal context is incomplete or does not match the
	// token: the blob belongs to another credential or version.
	ErrContext = errors.New("sealed token and its credential and version do not match")
	// ErrUnknownScheme is returned for bytes no scheme of rotor's made.
	ErrUnknownScheme = errors.New("not a sealed token (no known scheme's header)")
)

// SchemeOf reads the scheme from sealed's header.
func SchemeOf(sealed []byte) (Scheme, error) {
	switch {
	case bytes.HasPrefix(sealed, []byte(ageHeader)):
		return SchemeAge, nil
	case bytes.HasPrefix(sealed, []byte(envelopeMagic)):
		return SchemeAWSKMS, nil
	}
	return "", ErrUnknownScheme
}

// checkContext refuses a context that names no credential or no version:
// binding a blob to nothing would bind it to every row.
func checkContext(sc rotation.SealContext) error {
	if sc.Credential == "" || sc.Fingerprint == "" {
		return fmt.Errorf("%w: the seal context needs a credential and a fingerprint, got %q and %q", ErrContext, sc.Credential, sc.Fingerprint)
	}
	return nil
}

// checkSeal is what every key checks before sealing tok for sc.
func checkSeal(sc rotation.SealContext, tok token.Token) error {
	if tok.IsZero() {
		return ErrEmpty
	}
	if err := checkContext(sc); err != nil {
		return err
	}
	if fp := tok.Fingerprint(); fp != sc.Fingerprint {
		return fmt.Errorf("%w: the token is %s, the context names %s", ErrContext, fp, sc.Fingerprint)
	}
	return nil
}

// checkOpened is what every key checks of a token it opened: the version
// the row names is the one that was sealed. For age, which has no
// associated data, this is what keeps a blob copied to another version's
// row from opening as that version.
func checkOpened(sc rotation.SealContext, plain []byte) (token.Token, error) {
	if len(plain) == 0 {
		return token.Token{}, errors.New("open sealed token: it holds an empty token")
	}
	tok := token.New(string(plain))
	if fp := tok.Fingerprint(); fp != sc.Fingerprint {
		return token.Token{}, fmt.Errorf("open sealed token: %w: it holds %s, the row names %s", ErrContext, fp, sc.Fingerprint)
	}
	return tok, nil
}
