package rotation_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/rotor-ci/rotor/internal/rotation"
	"github.com/rotor-ci/rotor/internal/token"
)

// leakyTarget fails Verify with a message that quotes a token the session
// never held (a target that echoed what it found, say).
type leakyTarget struct {
	*fakeTarget
	quoted token.Token
}

func (t *leakyTarget) Verify(_ context.Context, _ token.Token, bs []rotation.Binding, report func(rotation.Result)) {
	for _, b := range bs {
		report(rotation.Result{BindingID: b.ID, Err: fmt.Errorf("%s: found %s instead", b.ID, t.quoted.Reveal())})
	}
}

// Every free-text field the engine stores (the run's error, each binding's
// error, audit details) passes through token.RedactText: a token-shaped
// value in it is stored as its fingerprint.
func TestEngine_storedTextRedacted(t *testing.T) {
	h := newHarness(t, true, 1)
	canary := token.Generate(token.KindClassicPAT)
	h.cred.Targets = []rotation.Target{&leakyTarget{fakeTarget: h.tgts[0], quoted: canary}}
	run, err := h.engine().Rotate(context.Background(), h.cred, rotation.Options{Trigger: "manual"})
	if !errors.Is(err, rotation.ErrRolledBack) {
		t.Fatalf("Rotate = %v, want a rollback", err)
	}
	stored := []string{run.Error, err.Error()}
	states, err := h.store.Bindings(context.Background(), run.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range states {
		stored = append(stored, st.Error)
	}
	recs, _, err := h.store.Audit(context.Background(), 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		stored = append(stored, r.Detail)
	}
	all := strings.Join(stored, "\n")
	if strings.Contains(all, canary.Reveal()[4:]) {
		t.Fatalf("the store holds the quoted token:\n%s", token.RedactText(all))
	}
	if !strings.Contains(run.Error, canary.Fingerprint()) {
		t.Errorf("run error %q does not name the quoted token by fingerprint", run.Error)
	}
}
