// Package targettest is the contract every rotation.Target passes, whatever
// it writes to: run it from the target's tests against each backend it
// supports (an emulator, moto_server, a temporary directory). It checks
// what the engine relies on (DESIGN.md): Discover is read-only and names
// its bindings; Apply writes the token and is idempotent; each call reports
// once per binding; Verify tells the applied token from another; the way
// back (Rollback, or Apply of the previous token) restores it; no error
// text holds a token.
package targettest

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/rotor-ci/rotor/internal/rotation"
	"github.com/rotor-ci/rotor/internal/token"
)

// Harness is one backend for the contract.
type Harness struct {
	// New returns a target over a fresh resource that holds prev, as a
	// user set it up before rotor.
	New func(t *testing.T, prev token.Token) rotation.Target
	// Holds is the fingerprint of the token binding b holds now, read
	// from the backend, not through the target.
	Holds func(t *testing.T, b rotation.Binding) string
	// Token, if set, makes the tokens the contract writes (a backend that
	// verifies with GitHub needs live ones); nil: generated classic PATs.
	Token func(t *testing.T) token.Token
}

// Run runs the contract.
func Run(t *testing.T, h Harness) {
	ctx := context.Background()
	gen := func() token.Token { return token.Generate(token.KindClassicPAT) }
	if h.Token != nil {
		gen = func() token.Token { return h.Token(t) }
	}
	holdAll := func(t *testing.T, bs []rotation.Binding, want token.Token, when string) {
		t.Helper()
		for _, b := range bs {
			if got := h.Holds(t, b); got != want.Fingerprint() {
				t.Errorf("%s: %s holds %s, want %s", when, b.ID, got, want.Fingerprint())
			}
		}
	}
	setup := func(t *testing.T) (rotation.Target, token.Token, []rotation.Binding) {
		t.Helper()
		prev := gen()
		tg := h.New(t, prev)
		bs, err := tg.Discover(ctx)
		if err != nil {
			t.Fatalf("Discover: %v", err)
		}
		if len(bs) == 0 {
			t.Fatal("Discover found no binding")
		}
		seen := map[string]bool{}
		for _, b := range bs {
			if b.ID == "" || seen[b.ID] {
				t.Errorf("binding ID %q empty or repeated", b.ID)
			}
			seen[b.ID] = true
			if b.Target != tg.Type() {
				t.Errorf("binding %s: Target %q, want the target's Type %q", b.ID, b.Target, tg.Type())
			}
		}
		holdAll(t, bs, prev, "after Discover (read-only)")
		return tg, prev, bs
	}

	t.Run("apply then verify", func(t *testing.T) {
		tg, prev, bs := setup(t)
		next := gen()
		for id, err := range call(t, tg.Apply, next, bs, prev, next) {
			if err != nil {
				t.Errorf("Apply %s: %v", id, err)
			}
		}
		holdAll(t, bs, next, "after Apply")
		for id, err := range call(t, tg.Apply, next, bs, prev, next) {
			if err != nil {
				t.Errorf("Apply again (idempotent) %s: %v", id, err)
			}
		}
		holdAll(t, bs, next, "after a second Apply")
		for id, err := range call(t, tg.Verify, next, bs, prev, next) {
			if err != nil {
				t.Errorf("Verify of the applied token %s: %v", id, err)
			}
		}
		for id, err := range call(t, tg.Verify, prev, bs, prev, next) {
			if err == nil {
				t.Errorf("Verify of another token %s: passed", id)
			}
		}
	})

	t.Run("the way back", func(t *testing.T) {
		tg, prev, bs := setup(t)
		next := gen()
		call(t, tg.Apply, next, bs, prev, next)
		back := tg.Apply
		if rb, ok := tg.(rotation.Rollbacker); ok {
			back = rb.Rollback
		}
		for id, err := range call(t, back, prev, bs, prev, next) {
			if err != nil {
				t.Errorf("back to the previous token %s: %v", id, err)
			}
		}
		holdAll(t, bs, prev, "after the way back")
		for id, err := range call(t, tg.Verify, prev, bs, prev, next) {
			if err != nil {
				t.Errorf("Verify after the way back %s: %v", id, err)
			}
		}
	})
}

// call runs an Apply, Verify or Rollback and returns its results by
// binding: exactly one per binding, none holding a token of tokens.
func call(t *testing.T, fn func(context.Context, token.Token, []rotation.Binding, func(rotation.Result)), tok token.Token, bs []rotation.Binding, tokens ...token.Token) map[string]error {
	t.Helper()
	var mu sync.Mutex
	out := map[string]error{}
	fn(context.Background(), tok, bs, func(r rotation.Result) {
		mu.Lock()
		defer mu.Unlock()
		if _, dup := out[r.BindingID]; dup {
			t.Errorf("binding %s reported twice", r.BindingID)
		}
		out[r.BindingID] = r.Err
	})
	if len(out) != len(bs) {
		t.Fatalf("%d results for %d bindings", len(out), len(bs))
	}
	for id, err := range out {
		for _, x := range tokens {
			if err != nil && strings.Contains(err.Error(), x.Reveal()) {
				t.Errorf("%s: the error holds a token value", id)
			}
		}
	}
	return out
}
