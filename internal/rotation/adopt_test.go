package rotation_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rotor-ci/rotor/internal/rotation"
	"github.com/rotor-ci/rotor/internal/store"
	"github.com/rotor-ci/rotor/internal/token"
)

// readableTarget is a fake target that can be read back: each binding
// holds the token of the fingerprint in holds.
type readableTarget struct {
	*fakeTarget
}

func (t readableTarget) Type() string { return "readable" }

func (t readableTarget) ReadBack(_ context.Context, tok token.Token, bs []rotation.Binding, report func(rotation.Result)) {
	for _, b := range bs {
		t.w.mu.Lock()
		held := t.w.holds[b.ID]
		t.w.mu.Unlock()
		var err error
		if held != tok.Fingerprint() {
			err = fmt.Errorf("holds %s", held)
		}
		report(rotation.Result{BindingID: b.ID, Err: err})
	}
}

var _ rotation.ReadBacker = readableTarget{}

// Attack 3: adopt accepted a token no target held, so the first rotation's
// retirement revoked it — possibly another credential's live token. Each
// refusal leaves the store without a version for the credential.
func TestEngine_Adopt_checks(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "rotor.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	w := newWorld()
	eng := &rotation.Engine{Store: st, Sealer: &boxSealer{}, Holder: "test", LeaseTTL: time.Minute}
	src := &fakeSource{w: w, login: "MyGitHubUserName"}
	cred := func(name string, targets ...rotation.Target) rotation.Credential {
		return rotation.Credential{Name: name, Source: src, Targets: targets}
	}
	live := func() token.Token {
		tok := token.Generate(token.KindClassicPAT)
		w.live[tok.Fingerprint()] = true
		return tok
	}
	// "first" holds tokA in a readable target, and adopts it.
	tokA := live()
	first := readableTarget{&fakeTarget{w: w, name: "first", n: 1}}
	w.holds["first/0"] = tokA.Fingerprint()
	if _, err := eng.Adopt(ctx, cred("first", first), tokA, rotation.AdoptOptions{}); err != nil {
		t.Fatalf("adopting the token its target holds: %v", err)
	}

	tokB := live()
	tests := []struct {
		name    string
		setup   func() rotation.Credential
		tok     token.Token
		opts    rotation.AdoptOptions
		want    error
		wantMsg string
	}{
		{name: "a readable target holds another token", tok: tokB, want: rotation.ErrNotHeld, wantMsg: "targets[1] (readable) b/0",
			setup: func() rotation.Credential {
				a := readableTarget{&fakeTarget{w: w, name: "a", n: 1}}
				b := readableTarget{&fakeTarget{w: w, name: "b", n: 1}}
				w.holds["a/0"], w.holds["b/0"] = tokB.Fingerprint(), tokA.Fingerprint()
				return cred("second", a, b)
			}},
		{name: "another credential's current token, held here too", tok: tokA, want: rotation.ErrOtherCredential, wantMsg: "credential first",
			setup: func() rotation.Credential {
				c := readableTarget{&fakeTarget{w: w, name: "c", n: 1}}
				w.holds["c/0"] = tokA.Fingerprint()
				return cred("second", c)
			}},
		{name: "a target that cannot be read back, unconfirmed", tok: tokB, want: rotation.ErrUnverifiable, wantMsg: "--confirm-unverifiable",
			setup: func() rotation.Credential {
				w.holds["d/0"] = tokB.Fingerprint()
				return cred("second", &fakeTarget{w: w, name: "d", n: 1})
			}},
		{name: "unconfirmed, even with a readable target that matches", tok: tokB, want: rotation.ErrUnverifiable, wantMsg: "targets[1] (fake)",
			setup: func() rotation.Credential {
				e := readableTarget{&fakeTarget{w: w, name: "e", n: 1}}
				w.holds["e/0"], w.holds["f/0"] = tokB.Fingerprint(), tokB.Fingerprint()
				return cred("second", e, &fakeTarget{w: w, name: "f", n: 1})
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.setup()
			_, err := eng.Adopt(ctx, c, tt.tok, tt.opts)
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.wantMsg) {
				t.Fatalf("Adopt = %v, want %v saying %q", err, tt.want, tt.wantMsg)
			}
			if strings.Contains(err.Error(), tt.tok.Reveal()) {
				t.Fatal("the refusal holds the token")
			}
			if vs, _ := st.Versions(ctx, "second"); len(vs) != 0 {
				t.Fatalf("a refused adopt stored %d versions", len(vs))
			}
		})
	}
	// Confirmed, a pipeline-like target is accepted as the person says.
	w.holds["g/0"] = tokB.Fingerprint()
	if _, err := eng.Adopt(ctx, cred("second", &fakeTarget{w: w, name: "g", n: 1}), tokB, rotation.AdoptOptions{ConfirmUnverifiable: true}); err != nil {
		t.Fatalf("confirmed: %v", err)
	}
}
