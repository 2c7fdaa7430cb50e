package secretsmanager

import (
	"errors"
	"testing"
)

// ReadBack (rotor adopt) accepts the token AWSCURRENT holds and refuses
// another, by fingerprint.
func testTarget_ReadBack(t *testing.T, ep string) {
	c := client(t, ep)
	old, other := newToken(t), newToken(t)
	tg := newTestTarget(t, ep, Config{SecretID: createSecret(t, c, old.Reveal(), "")})
	bs := discover(t, tg)
	if err := run(t, tg.ReadBack, old, bs); err != nil {
		t.Errorf("ReadBack(the token it holds) = %v", err)
	}
	if err := run(t, tg.ReadBack, other, bs); !errors.Is(err, ErrMismatch) {
		t.Errorf("ReadBack(another token) = %v, want ErrMismatch", err)
	}
}
