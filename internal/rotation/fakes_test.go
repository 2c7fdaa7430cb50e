package rotation_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/rotor-ci/rotor/internal/rotation"
	"github.com/rotor-ci/rotor/internal/token"
)

// world is GitHub and every target as the fakes see them. After every change
// it checks I1: each binding holds a token that GitHub accepts.
type world struct {
	mu         sync.Mutex
	live       map[string]bool   // fingerprint → accepted by GitHub
	minted     map[string]bool   // fingerprints the source minted by itself
	holds      map[string]string // binding ID → fingerprint
	violations []string
	revokes    int
	lastWrite  time.Time       // when a target last wrote a token
	afterWrite []time.Duration // per revocation: how long after that write
}

func newWorld() *world {
	return &world{live: map[string]bool{}, minted: map[string]bool{}, holds: map[string]string{}}
}

func (w *world) checkI1(event string) {
	for b, fp := range w.holds {
		if !w.live[fp] {
			w.violations = append(w.violations, fmt.Sprintf("after %s: binding %s holds dead token %s", event, b, fp))
		}
	}
}

// orphans are live tokens the source minted that no binding holds (I3).
func (w *world) orphans() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	held := map[string]bool{}
	for _, fp := range w.holds {
		held[fp] = true
	}
	var out []string
	for fp := range w.minted {
		if w.live[fp] && !held[fp] {
			out = append(out, fp)
		}
	}
	return out
}

func (w *world) holding() map[string]string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := map[string]string{}
	for k, v := range w.holds {
		out[k] = v
	}
	return out
}

// fakeSource mints tokens of one kind. Person-created kinds come from next.
type fakeSource struct {
	w        *world
	byRotor  bool
	next     []token.Token // for a person's source: the tokens "typed in"
	login    string
	mintErr  error
	checkErr error
	// expires is what Check says of every token's expiry (zero: none).
	expires time.Time
	// revokeFails makes the next n Revoke calls fail.
	revokeFails int
	manual      bool // Revoke answers ErrManualRevocation
	// onMint runs after a token was minted, before Mint returns (a
	// shutdown arriving while GitHub answers).
	onMint func()
}

func (s *fakeSource) Type() string { return "fake" }

func (s *fakeSource) Mint(ctx context.Context, _ rotation.Requirements) (rotation.Minted, error) {
	if s.mintErr != nil {
		return rotation.Minted{}, s.mintErr
	}
	s.w.mu.Lock()
	defer s.w.mu.Unlock()
	var t token.Token
	if s.byRotor {
		t = token.Generate(token.KindInstallation)
		s.w.minted[t.Fingerprint()] = true
	} else {
		if len(s.next) == 0 {
			return rotation.Minted{}, rotation.ErrNoToken
		}
		t, s.next = s.next[0], s.next[1:]
	}
	s.w.live[t.Fingerprint()] = true
	if s.onMint != nil {
		s.onMint()
	}
	return rotation.Minted{Token: t, ByRotor: s.byRotor}, nil
}

func (s *fakeSource) Check(ctx context.Context, t token.Token, _ rotation.Requirements) (rotation.Identity, error) {
	if s.checkErr != nil {
		return rotation.Identity{}, fmt.Errorf("%w: %v", rotation.ErrRejected, s.checkErr)
	}
	s.w.mu.Lock()
	defer s.w.mu.Unlock()
	if !s.w.live[t.Fingerprint()] {
		return rotation.Identity{}, fmt.Errorf("%w: bad credentials", rotation.ErrRejected)
	}
	return rotation.Identity{Login: s.login, ExpiresAt: s.expires}, nil
}

func (s *fakeSource) Revoke(ctx context.Context, t token.Token) error {
	s.w.mu.Lock()
	defer s.w.mu.Unlock()
	if s.revokeFails > 0 {
		s.revokeFails--
		return errors.New("github unreachable")
	}
	if s.manual {
		return fmt.Errorf("%w: delete token %s in GitHub settings", rotation.ErrManualRevocation, t.Fingerprint())
	}
	s.w.live[t.Fingerprint()] = false
	s.w.revokes++
	s.w.afterWrite = append(s.w.afterWrite, time.Since(s.w.lastWrite))
	s.w.checkI1("revoke " + t.Fingerprint())
	return nil
}

// fakeTarget has n bindings and can fail, or crash, on chosen ones.
type fakeTarget struct {
	w          *world
	name       string
	n          int
	failApply  map[int]bool
	failVerify map[int]bool
	// crashAfter panics after this many successful applies (0: never).
	crashAfter int
	applies    int
	// declared lets a test find out which calls were made.
	calls []string
	// onVerify runs at the start of each Verify.
	onVerify func()
}

type crash struct{}

func (t *fakeTarget) Type() string { return "fake" }

func (t *fakeTarget) id(i int) string { return fmt.Sprintf("%s/%d", t.name, i) }

func (t *fakeTarget) Discover(context.Context) ([]rotation.Binding, error) {
	var out []rotation.Binding
	for i := range t.n {
		out = append(out, rotation.Binding{ID: t.id(i), Target: "fake", Resource: t.id(i), Repositories: []string{"o/r"}, Scopes: []string{"repo"}})
	}
	return out, nil
}

func (t *fakeTarget) index(id string) int {
	var i int
	fmt.Sscanf(id[len(t.name)+1:], "%d", &i)
	return i
}

func (t *fakeTarget) Apply(ctx context.Context, tok token.Token, bs []rotation.Binding, report func(rotation.Result)) {
	for _, b := range bs {
		i := t.index(b.ID)
		t.w.mu.Lock()
		t.calls = append(t.calls, "apply "+b.ID)
		fail := t.failApply[i]
		if !fail {
			t.w.holds[b.ID] = tok.Fingerprint()
			t.w.lastWrite = time.Now()
			t.w.checkI1("apply " + b.ID)
			t.applies++
		}
		crashNow := t.crashAfter > 0 && t.applies == t.crashAfter
		t.w.mu.Unlock()
		if crashNow {
			t.crashAfter = 0
			panic(crash{})
		}
		if fail {
			report(rotation.Result{BindingID: b.ID, Err: fmt.Errorf("update %s: access denied (token %s)", b.ID, tok.Reveal()), Unchanged: true})
			continue
		}
		report(rotation.Result{BindingID: b.ID})
	}
}

func (t *fakeTarget) Verify(ctx context.Context, tok token.Token, bs []rotation.Binding, report func(rotation.Result)) {
	if t.onVerify != nil {
		t.onVerify()
	}
	for _, b := range bs {
		t.w.mu.Lock()
		held := t.w.holds[b.ID]
		fail := t.failVerify[t.index(b.ID)]
		t.w.mu.Unlock()
		switch {
		case fail:
			report(rotation.Result{BindingID: b.ID, Err: errors.New("Could not access the GitHub repository")})
		case held != tok.Fingerprint():
			report(rotation.Result{BindingID: b.ID, Err: fmt.Errorf("%s holds %s", b.ID, held)})
		default:
			report(rotation.Result{BindingID: b.ID})
		}
	}
}

// boxSealer keeps values in memory and hands out opaque handles, so that the
// store never sees a value (a stand-in for age in engine tests). Like the
// real sealers it opens a handle only for the context it was sealed for.
type boxSealer struct {
	mu  sync.Mutex
	box map[string]token.Token
	scs map[string]rotation.SealContext
}

func (s *boxSealer) Seal(_ context.Context, sc rotation.SealContext, t token.Token) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sc.Fingerprint != t.Fingerprint() {
		return nil, fmt.Errorf("seal: context names %s, the token is %s", sc.Fingerprint, t.Fingerprint())
	}
	if s.box == nil {
		s.box, s.scs = map[string]token.Token{}, map[string]rotation.SealContext{}
	}
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	h := hex.EncodeToString(b)
	s.box[h], s.scs[h] = t, sc
	return []byte(h), nil
}

func (s *boxSealer) Open(_ context.Context, sc rotation.SealContext, b []byte) (token.Token, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.box[string(b)]
	switch {
	case !ok:
		return token.Token{}, errors.New("unknown handle")
	case s.scs[string(b)] != sc:
		return token.Token{}, fmt.Errorf("open: sealed for %+v, opened as %+v", s.scs[string(b)], sc)
	}
	return t, nil
}
