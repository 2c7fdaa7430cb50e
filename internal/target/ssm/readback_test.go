package ssm

import (
	"context"
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/rotor-ci/rotor/internal/rotation"
	"github.com/rotor-ci/rotor/internal/token"
)

// ReadBack (rotor adopt) accepts the token the parameter holds and refuses
// another, by fingerprint.
func testTarget_ReadBack(t *testing.T, ep string) {
	c := client(t, ep)
	old, other := token.Generate(token.KindClassicPAT), token.Generate(token.KindClassicPAT)
	tg := newTestTarget(t, ep, Config{Name: createParam(t, c, param{typ: types.ParameterTypeSecureString, value: old.Reveal()})})
	bs, err := tg.Discover(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	readBack := func(tok token.Token) (out error) {
		tg.ReadBack(context.Background(), tok, bs, func(r rotation.Result) { out = r.Err })
		return out
	}
	if err := readBack(old); err != nil {
		t.Errorf("ReadBack(the token it holds) = %v", err)
	}
	if err := readBack(other); !errors.Is(err, ErrMismatch) {
		t.Errorf("ReadBack(another token) = %v, want ErrMismatch", err)
	}
}
