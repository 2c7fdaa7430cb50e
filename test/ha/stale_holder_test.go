package ha

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/rotor-ci/rotor/internal/rotation"
	"github.com/rotor-ci/rotor/internal/seal"
	"github.com/rotor-ci/rotor/internal/store"
	"github.com/rotor-ci/rotor/internal/token"
)

// The HA test's failure, in miniature and without timing: replica a is
// frozen inside apply (as SIGSTOP freezes a process) past its lease; replica
// b takes the run over, finishes it and releases the lease; then a wakes.
// a must notice that it lost the lease and stop: write nothing more to the
// run, the audit chain or the binding.
func TestEngine_StaleHolderAfterPause(t *testing.T) {
	clk := &fakeClock{now: time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)}
	dir := t.TempDir()
	st, err := store.Open(t.Context(), "sqlite:"+filepath.Join(dir, "rotor.db"), store.Options{Clock: clk.Now})
	must(t, err)
	defer st.Close()
	must(t, seal.Generate(filepath.Join(dir, "rotor.key")))
	sealer, err := seal.Open("file:rotor.key", dir)
	must(t, err)

	world := &fakeBinding{}
	cred := func(tg *fakeTarget) rotation.Credential {
		return rotation.Credential{Name: "app", Source: fakeSource{}, Targets: []rotation.Target{tg}}
	}
	engine := func(holder string) *rotation.Engine {
		return &rotation.Engine{Store: st, Sealer: sealer, Holder: holder, Now: clk.Now, LeaseTTL: 30 * time.Second}
	}
	a, b := engine("replica-a"), engine("replica-b")
	first := token.Generate(token.KindInstallation)
	world.write("setup", first)
	_, err = b.Adopt(t.Context(), cred(&fakeTarget{world: world, who: "setup"}), first, rotation.AdoptOptions{ConfirmUnverifiable: true})
	must(t, err)

	// a starts a run and freezes inside Apply, after its write went out.
	frozen, thaw := make(chan struct{}), make(chan struct{})
	ta := &fakeTarget{world: world, who: "replica-a", frozen: frozen, thaw: thaw}
	aDone := make(chan error, 1)
	go func() {
		_, err := a.Rotate(context.Background(), cred(ta), rotation.Options{Trigger: "schedule"})
		aDone <- err
	}()
	<-frozen

	// a's lease lapses; b resumes the run and finishes it.
	clk.Add(31 * time.Second)
	run, resumed, err := b.Resume(t.Context(), cred(&fakeTarget{world: world, who: "replica-b"}))
	if err != nil || !resumed || run.Status != rotation.RunSucceeded {
		t.Fatalf("b resumed=%v run=%+v err=%v; want the run finished by b", resumed, run, err)
	}
	recs, _, err := st.Audit(t.Context(), 0, 0)
	must(t, err)
	takenOver := recs[len(recs)-1].Seq
	writes := len(world.log())

	// a wakes up.
	close(thaw)
	errA := <-aDone
	if errA == nil {
		t.Errorf("a's Rotate returned %v after it lost its lease to b; want an error saying so", errA)
	}
	after, _, err := st.Audit(t.Context(), takenOver, 0)
	must(t, err)
	for _, r := range after {
		if r.Actor == "replica-a" && r.RunID == run.ID {
			t.Errorf("a wrote %q (audit %d) for run %d after b had finished it", r.Event, r.Seq, run.ID)
		}
	}
	now, err := st.Run(t.Context(), run.ID)
	must(t, err)
	if now.Status != rotation.RunSucceeded || now.NewSeq != run.NewSeq || !now.UpdatedAt.Equal(run.UpdatedAt) {
		t.Errorf("run %d after a woke: %s at %s (new version %d, updated %s); b left it succeeded at %s (version %d, updated %s)",
			run.ID, now.Status, now.Step, now.NewSeq, now.UpdatedAt, run.Step, run.NewSeq, run.UpdatedAt)
	}
	for _, w := range world.log()[writes:] {
		t.Errorf("a wrote %s into the binding after b had finished the run", w)
	}
}

type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// fakeSource mints installation-shaped tokens and accepts them all.
type fakeSource struct{}

func (fakeSource) Type() string { return "github-app" }
func (fakeSource) Mint(context.Context, rotation.Requirements) (rotation.Minted, error) {
	return rotation.Minted{Token: token.Generate(token.KindInstallation), ByRotor: true}, nil
}
func (fakeSource) Check(context.Context, token.Token, rotation.Requirements) (rotation.Identity, error) {
	return rotation.Identity{Login: "app/fake/installation/1"}, nil
}
func (fakeSource) Revoke(context.Context, token.Token) error { return nil }

// fakeBinding is one pipeline's token slot with a log of who wrote what.
type fakeBinding struct {
	mu     sync.Mutex
	holds  string
	writes []string
}

func (f *fakeBinding) write(who string, tok token.Token) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.holds = tok.Fingerprint()
	f.writes = append(f.writes, who+" "+tok.Fingerprint())
}

func (f *fakeBinding) log() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.writes...)
}

// fakeTarget is one process's view of the binding. With frozen set, Apply
// writes, then signals frozen and blocks until thaw: a process stopped
// while the answer to its write was on the way.
type fakeTarget struct {
	world        *fakeBinding
	who          string
	frozen, thaw chan struct{}
	once         sync.Once
}

func (t *fakeTarget) Type() string { return "fake" }
func (t *fakeTarget) Discover(context.Context) ([]rotation.Binding, error) {
	return []rotation.Binding{{ID: "fake:pipe", Target: "fake", Resource: "pipe"}}, nil
}
func (t *fakeTarget) Apply(_ context.Context, tok token.Token, bs []rotation.Binding, report func(rotation.Result)) {
	t.world.write(t.who, tok)
	if t.frozen != nil {
		t.once.Do(func() {
			close(t.frozen)
			<-t.thaw
		})
	}
	for _, b := range bs {
		report(rotation.Result{BindingID: b.ID})
	}
}
func (t *fakeTarget) Verify(_ context.Context, tok token.Token, bs []rotation.Binding, report func(rotation.Result)) {
	t.world.mu.Lock()
	holds := t.world.holds
	t.world.mu.Unlock()
	for _, b := range bs {
		var err error
		if holds != tok.Fingerprint() {
			err = errors.New("read-back differs")
		}
		report(rotation.Result{BindingID: b.ID, Err: err})
	}
}
