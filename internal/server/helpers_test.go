package server

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rotor-ci/rotor/internal/alert"
	"github.com/rotor-ci/rotor/internal/config"
	"github.com/rotor-ci/rotor/internal/rotation"
	"github.com/rotor-ci/rotor/internal/seal/sealtest"
	"github.com/rotor-ci/rotor/internal/status"
	"github.com/rotor-ci/rotor/internal/store"
	"github.com/rotor-ci/rotor/internal/token"
)

// clock is a fake clock the test moves by hand.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)} }
func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// github is what the fake source and targets agree GitHub accepts.
type github struct {
	mu      sync.Mutex
	live    map[string]bool // fingerprint → accepted
	revoked []string
}

func newGitHub() *github { return &github{live: map[string]bool{}} }

func (g *github) accept(t token.Token) { g.mu.Lock(); g.live[t.Fingerprint()] = true; g.mu.Unlock() }
func (g *github) kill(fp string)       { g.mu.Lock(); g.live[fp] = false; g.mu.Unlock() }
func (g *github) ok(t token.Token) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.live[t.Fingerprint()]
}

// source is a fake Source: an app (mints) or a personal token (cannot).
type source struct {
	typ string
	gh  *github
}

func (s *source) Type() string { return s.typ }
func (s *source) Mint(ctx context.Context, _ rotation.Requirements) (rotation.Minted, error) {
	if s.typ == config.SourcePersonalToken {
		return rotation.Minted{}, rotation.ErrNoToken
	}
	t := token.Generate(token.KindInstallation)
	s.gh.accept(t)
	return rotation.Minted{Token: t, ByRotor: true}, nil
}
func (s *source) Check(ctx context.Context, t token.Token, _ rotation.Requirements) (rotation.Identity, error) {
	if !s.gh.ok(t) {
		return rotation.Identity{}, fmt.Errorf("%w: GitHub says Bad credentials", rotation.ErrRejected)
	}
	return rotation.Identity{Login: "octocat", Scopes: []string{"repo"}}, nil
}
func (s *source) Revoke(ctx context.Context, t token.Token) error {
	s.gh.mu.Lock()
	defer s.gh.mu.Unlock()
	s.gh.live[t.Fingerprint()] = false
	s.gh.revoked = append(s.gh.revoked, t.Fingerprint())
	return nil
}

// target is a fake Target with one binding per name in ids. It can fail
// Apply, block in Apply until released, and report drift through Inspect.
type target struct {
	mu       sync.Mutex
	ids      []string
	holds    map[string]string   // binding → fingerprint
	failNext bool                // the next Apply fails
	refuse   map[string]bool     // binding → Apply refuses it, leaving it unchanged (a 4xx)
	stops    map[string][]string // binding → executions Apply stops (in_flight: interrupt)
	block    chan struct{}       // if set, Apply waits for it to close
	entered  chan struct{}       // if set, Apply signals it on entry
	drift    map[string]string   // binding → Inspect error
	inspect  func()              // if set, Inspect calls it first (another process acting meanwhile)
	busy     map[string]bool     // binding → its pipeline runs a deployment (ApplyWaiting leaves it waiting)
	aliases  map[string][]string
	attrs    map[string]map[string]string // binding → Attrs (account and region, as a codepipeline fleet's)
}

// ApplyWaiting leaves busy bindings waiting, as the codepipeline target
// does for a pipeline running a deployment.
func (t *target) ApplyWaiting(ctx context.Context, tok token.Token, bs []rotation.Binding, _ rotation.WaitBounds, report func(rotation.Result)) {
	var idle []rotation.Binding
	for _, b := range bs {
		t.mu.Lock()
		busy := t.busy[b.ID]
		t.mu.Unlock()
		if busy {
			report(rotation.Result{BindingID: b.ID, Waiting: "pipeline of " + b.ID + " is running execution e-1"})
			continue
		}
		idle = append(idle, b)
	}
	if len(idle) > 0 {
		t.Apply(ctx, tok, idle, report)
	}
}

var _ rotation.Waiter = (*target)(nil)

func newTarget(ids ...string) *target { return &target{ids: ids, holds: map[string]string{}} }

func (t *target) Type() string { return "file" }
func (t *target) Discover(ctx context.Context) ([]rotation.Binding, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []rotation.Binding
	for _, id := range t.ids {
		out = append(out, rotation.Binding{ID: id, Target: "file", Resource: id, Repositories: []string{"octo/app"}, Aliases: t.aliases[id], Attrs: t.attrs[id]})
	}
	return out, nil
}
func (t *target) Apply(ctx context.Context, tok token.Token, bs []rotation.Binding, report func(rotation.Result)) {
	t.mu.Lock()
	block, entered, fail := t.block, t.entered, t.failNext
	t.failNext = false
	t.mu.Unlock()
	if entered != nil {
		entered <- struct{}{}
	}
	if block != nil {
		<-block
	}
	for _, b := range bs {
		if fail {
			report(rotation.Result{BindingID: b.ID, Err: fmt.Errorf("write %s: injected failure", b.ID)})
			continue
		}
		t.mu.Lock()
		refused := t.refuse[b.ID]
		t.mu.Unlock()
		if refused {
			report(rotation.Result{BindingID: b.ID, Err: fmt.Errorf("write %s: refused", b.ID), Unchanged: true})
			continue
		}
		t.mu.Lock()
		t.holds[b.ID] = tok.Fingerprint()
		stopped := t.stops[b.ID]
		t.mu.Unlock()
		report(rotation.Result{BindingID: b.ID, Interrupted: stopped})
	}
}
func (t *target) Verify(ctx context.Context, tok token.Token, bs []rotation.Binding, report func(rotation.Result)) {
	for _, b := range bs {
		report(rotation.Result{BindingID: b.ID})
	}
}
func (t *target) Inspect(ctx context.Context, bs []rotation.Binding, report func(rotation.Result)) {
	if t.inspect != nil {
		t.inspect()
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, b := range bs {
		var err error
		if msg, ok := t.drift[b.ID]; ok {
			err = fmt.Errorf("%s", msg)
		}
		report(rotation.Result{BindingID: b.ID, Err: err})
	}
}

var _ rotation.Inspector = (*target)(nil)

// receiver is a local alert webhook.
type receiver struct {
	srv *httptest.Server
	mu  sync.Mutex
	got []alert.Alert
	ch  chan alert.Alert
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{ch: make(chan alert.Alert, 64)}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		var a alert.Alert
		if err := json.NewDecoder(req.Body).Decode(&a); err != nil {
			t.Errorf("alert body: %v", err)
		}
		r.mu.Lock()
		r.got = append(r.got, a)
		r.mu.Unlock()
		r.ch <- a
	}))
	t.Cleanup(r.srv.Close)
	return r
}

// wait returns the first alert of event, failing after a generous bound.
func (r *receiver) wait(t *testing.T, event string) alert.Alert {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		select {
		case a := <-r.ch:
			if a.Event == event {
				return a
			}
		case <-deadline:
			t.Fatalf("no %s alert arrived", event)
		}
	}
}

// Store is the store as the tests hold it: what the engine writes and the
// daemon reads.
type Store interface {
	rotation.Store
	status.Reader
}

// harness is one daemon over a real SQLite store and sealer with fake
// sources and targets.
type harness struct {
	t      *testing.T
	dir    string
	clock  *clock
	gh     *github
	cfg    *config.Config
	st     Store
	sealer rotation.Sealer
	eng    *rotation.Engine
	srcs   map[string]*source
	tgts   map[string]*target
	alerts *receiver
	token  string
	credFn func(ctx context.Context, cc *config.Credential) (rotation.Credential, error)
}

const testToken = "test-api-token-0123456789abcdefghijklmnop"

func newHarness(t *testing.T, creds ...config.Credential) *harness {
	t.Helper()
	dir := t.TempDir()
	h := &harness{t: t, dir: dir, clock: newClock(), gh: newGitHub(), srcs: map[string]*source{}, tgts: map[string]*target{}, token: testToken}
	h.alerts = newReceiver(t)
	tokFile := filepath.Join(dir, "api.token")
	if err := os.WriteFile(tokFile, []byte(testToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	h.cfg = &config.Config{Store: "sqlite:" + filepath.Join(dir, "rotor.db"), Server: config.Server{Listen: "127.0.0.1:0", AuthTokenFile: tokFile, WatchEvery: config.Duration(time.Hour),
		Alerts: []config.Alert{{Type: config.AlertWebhook, URL: h.alerts.srv.URL}}}, Credentials: creds}
	st, err := store.Open(t.Context(), h.cfg.Store, store.Options{Clock: h.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	h.st = st
	h.sealer = sealtest.Key(t)
	h.eng = &rotation.Engine{Store: st, Sealer: h.sealer, Now: h.clock.Now, Holder: "test/1"}
	for _, cc := range creds {
		h.srcs[cc.Name] = &source{typ: cc.Source.Type, gh: h.gh}
		h.tgts[cc.Name] = newTarget(cc.Name + ":binding-a")
	}
	h.credFn = func(ctx context.Context, cc *config.Credential) (rotation.Credential, error) {
		return rotation.Credential{Name: cc.Name, Source: h.srcs[cc.Name], Targets: []rotation.Target{h.tgts[cc.Name]}, Grace: cc.Rotate.Grace.D()}, nil
	}
	return h
}

// cred is a configured credential with a one-hour schedule.
func cred(name, source string) config.Credential {
	return config.Credential{Name: name, Source: config.Source{Type: source, Scopes: []string{"repo", "admin:repo_hook"}},
		Rotate: config.Rotate{Every: config.Duration(time.Hour), RenewBefore: config.Duration(10 * time.Minute), Grace: config.Duration(10 * time.Minute)}}
}

// adopt records a live token as the credential's current version and puts
// it in its target, as 'rotor adopt' would.
func (h *harness) adopt(name string) rotation.Version {
	h.t.Helper()
	tok := token.Generate(token.KindClassicPAT)
	h.gh.accept(tok)
	c, _ := h.credFn(h.t.Context(), &config.Credential{Name: name})
	v, err := h.eng.Adopt(h.t.Context(), c, tok, rotation.AdoptOptions{ConfirmUnverifiable: true})
	if err != nil {
		h.t.Fatal(err)
	}
	tg := h.tgts[name]
	tg.mu.Lock()
	for _, id := range tg.ids {
		tg.holds[id] = tok.Fingerprint()
	}
	tg.mu.Unlock()
	return v
}

func (h *harness) server(opts Options) *Server {
	h.t.Helper()
	opts.Now = h.clock.Now
	opts.Alert = alert.Options{Backoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond}
	notifiers, err := alert.FromConfig(h.cfg.Server.Alerts)
	if err != nil {
		h.t.Fatal(err)
	}
	s, err := New(Deps{Config: h.cfg, Store: h.st, Engine: h.eng, Credential: h.credFn, Alerts: notifiers}, opts)
	if err != nil {
		h.t.Fatal(err)
	}
	return s
}

// start runs s in the background; the returned stop cancels it and waits.
func (h *harness) start(s *Server) (stop func()) {
	h.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	select {
	case <-s.Started():
	case err := <-done:
		h.t.Fatalf("Run: %v", err)
	}
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				h.t.Errorf("Run: %v", err)
			}
		})
	}
	h.t.Cleanup(stop)
	return stop
}

// deliverAlerts runs s's alert sender in the background (tests that drive
// tick directly, without Run).
func (h *harness) deliverAlerts(s *Server) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.alert.Run(ctx, time.Second); close(done) }()
	h.t.Cleanup(func() { cancel(); <-done })
}

// runs returns a credential's runs, newest first.
func (h *harness) runs(name string) []rotation.Run {
	h.t.Helper()
	runs, err := h.st.Runs(context.Background(), name, 0)
	if err != nil {
		h.t.Fatal(err)
	}
	return runs
}

// do sends an API request with the given Authorization header value.
func do(t *testing.T, base, method, path, auth, body string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, base+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(b, &out); err != nil {
			t.Fatalf("%s %s: body %q: %v", method, path, b, err)
		}
	}
	return resp.StatusCode, out
}

// eventually polls cond until it holds, failing after a generous bound.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func ioCopy(w io.Writer, resp *http.Response) (int64, error) {
	defer resp.Body.Close()
	return io.Copy(w, resp.Body)
}
