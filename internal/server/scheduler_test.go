package server

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rotor-ci/rotor/internal/alert"
	"github.com/rotor-ci/rotor/internal/config"
	"github.com/rotor-ci/rotor/internal/rotation"
	"github.com/rotor-ci/rotor/internal/status"
)

func TestServer_tick_rotatesWhenDue(t *testing.T) {
	h := newHarness(t, cred("app", config.SourceGitHubApp))
	v1 := h.adopt("app")
	s := h.server(Options{})
	ctx := context.Background()

	s.tick(ctx)
	s.jobs.Wait()
	if runs := h.runs("app"); len(runs) != 0 {
		t.Fatalf("rotated a fresh token: %d runs", len(runs))
	}

	h.clock.Advance(61 * time.Minute)
	s.tick(ctx)
	s.jobs.Wait()
	runs := h.runs("app")
	if len(runs) != 1 || runs[0].Status != rotation.RunSucceeded || runs[0].Trigger != "schedule" {
		t.Fatalf("runs = %+v, want one succeeded scheduled run", runs)
	}
	versions, _ := h.st.Versions(ctx, "app")
	if versions[0].State != rotation.VersionCurrent || versions[1].Seq != v1.Seq || versions[1].State != rotation.VersionPrevious {
		t.Fatalf("versions = %+v", versions)
	}

	// After the grace period, the next look retires version 1.
	h.clock.Advance(11 * time.Minute)
	s.tick(ctx)
	s.jobs.Wait()
	versions, _ = h.st.Versions(ctx, "app")
	if versions[1].State != rotation.VersionRetired {
		t.Errorf("version 1 is %s after its grace, want retired", versions[1].State)
	}
	if len(h.gh.revoked) != 1 || h.gh.revoked[0] != v1.Fingerprint {
		t.Errorf("revoked %v, want [%s]", h.gh.revoked, v1.Fingerprint)
	}
}

func TestServer_tick_rollbackAlerts(t *testing.T) {
	h := newHarness(t, cred("app", config.SourceGitHubApp))
	h.adopt("app")
	s := h.server(Options{})
	h.deliverAlerts(s)
	h.tgts["app"].failNext = true
	h.clock.Advance(2 * time.Hour)
	s.tick(context.Background())
	s.jobs.Wait()

	a := h.alerts.wait(t, alert.EventRolledBack)
	runs := h.runs("app")
	if a.Credential != "app" || a.RunID != runs[0].ID || a.Severity != alert.Warning || !strings.Contains(a.Message, "ApplyFailed") {
		t.Errorf("alert = %+v", a)
	}
	if runs[0].Status != rotation.RunRolledBack {
		t.Errorf("run status %s", runs[0].Status)
	}
	// The failure backs the credential off: the next tick does nothing.
	s.tick(context.Background())
	s.jobs.Wait()
	if n := len(h.runs("app")); n != 1 {
		t.Errorf("%d runs after a tick inside the backoff, want 1", n)
	}
	// Past the backoff it tries again, and succeeds.
	h.clock.Advance(2 * time.Minute)
	s.tick(context.Background())
	s.jobs.Wait()
	if runs := h.runs("app"); len(runs) != 2 || runs[0].Status != rotation.RunSucceeded {
		t.Errorf("runs = %+v", runs)
	}
}

func TestServer_tick_personalTokenDue(t *testing.T) {
	h := newHarness(t, cred("pat", config.SourcePersonalToken))
	h.adopt("pat")
	s := h.server(Options{})
	h.deliverAlerts(s)
	h.clock.Advance(2 * time.Hour)
	s.tick(context.Background())
	s.jobs.Wait()
	a := h.alerts.wait(t, alert.EventPersonalTokenDue)
	if !strings.Contains(a.Message, "`rotor rotate pat`") {
		t.Errorf("reminder lacks the command: %s", a.Message)
	}
	if runs := h.runs("pat"); len(runs) != 0 {
		t.Errorf("the daemon started a run of a personal token: %+v", runs)
	}
	if cs := s.snapshot("pat"); cs.Remind != ReasonPersonalTokenDue {
		t.Errorf("Remind = %q", cs.Remind)
	}
}

// TestServer_tick_maxLifetime: a personal token the organisation's maximum
// lifetime blocks (the fake's tokens have no expiry) is due at once: the
// daemon asks a person, critically, to create one within the maximum, and
// the API and dashboard carry status's warning.
func TestServer_tick_maxLifetime(t *testing.T) {
	cc := cred("pat", config.SourcePersonalToken)
	cc.Rotate.Every = config.Duration(30 * 24 * time.Hour)
	cc.Source.MaxLifetime = config.Duration(90 * 24 * time.Hour)
	h := newHarness(t, cc)
	h.adopt("pat")
	s := h.server(Options{})
	h.deliverAlerts(s)
	s.tick(context.Background())
	s.jobs.Wait()
	a := h.alerts.wait(t, alert.EventPersonalTokenDue)
	if a.Severity != alert.Critical || !strings.Contains(a.Message, "maximum token lifetime (90d) blocks") || !strings.Contains(a.Message, "at most 90d") {
		t.Errorf("reminder = %s: %s", a.Severity, a.Message)
	}
	v, err := status.One(context.Background(), h.cfg.Credentials[0], h.st, h.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	view := s.view(h.cfg.Credentials[0], v)
	if view.DueReason != "MaxLifetime" || len(view.Warnings) != 1 || !strings.Contains(view.Warnings[0], "no expiration") || view.Health.State != StateNeedsPerson {
		t.Errorf("view: due %q, warnings %q, health %s", view.DueReason, view.Warnings, view.Health.State)
	}
}

// A run a crash left open is resumed by the next daemon, at start.
func TestServer_Run_resumesOpenRun(t *testing.T) {
	h := newHarness(t, cred("app", config.SourceGitHubApp))
	h.adopt("app")
	c, _ := h.credFn(t.Context(), &h.cfg.Credentials[0])
	crashed := *h.eng
	ctx, crash := context.WithCancel(t.Context())
	crashed.Hook = func(step string) {
		if step == "applied" {
			crash()
		}
	}
	if _, err := crashed.Rotate(ctx, c, rotation.Options{Trigger: "manual"}); !errors.Is(err, context.Canceled) {
		t.Fatalf("Rotate = %v, want the simulated crash", err)
	}
	open := h.runs("app")[0]
	if open.Status != rotation.RunRunning || open.Step != rotation.StepApplied {
		t.Fatalf("run = %+v, want open at applied", open)
	}
	// The crashed process's lease has to expire before anyone resumes.
	h.clock.Advance(time.Minute)

	s := h.server(Options{Tick: time.Hour})
	stop := h.start(s)
	eventually(t, "the open run is finished", func() bool { return h.runs("app")[0].Status != rotation.RunRunning })
	stop()
	runs := h.runs("app")
	if len(runs) != 1 || runs[0].ID != open.ID || runs[0].Status != rotation.RunSucceeded {
		t.Errorf("runs = %+v, want run %d resumed to success", runs, open.ID)
	}
}

// On shutdown, the step in flight finishes and persists; the run stops
// there and the next daemon finishes it.
func TestServer_Run_gracefulShutdown(t *testing.T) {
	h := newHarness(t, cred("app", config.SourceGitHubApp))
	h.adopt("app")
	tg := h.tgts["app"]
	tg.block, tg.entered = make(chan struct{}), make(chan struct{}, 1)
	h.clock.Advance(2 * time.Hour)

	s := h.server(Options{Tick: time.Hour})
	stop := h.start(s)
	<-tg.entered // apply is in flight
	stopped := make(chan struct{})
	go func() { stop(); close(stopped) }()
	eventually(t, "draining", s.draining.Load)
	close(tg.block) // the step in flight completes
	<-stopped

	run := h.runs("app")[0]
	if run.Status != rotation.RunRunning || run.Step != rotation.StepApplied {
		t.Fatalf("after shutdown run = %s at %s; want running, stopped right after the step in flight (applied)", run.Status, run.Step)
	}
	tg.mu.Lock()
	tg.block, tg.entered = nil, nil
	tg.mu.Unlock()
	h.clock.Advance(time.Minute) // lease released anyway; be safe
	s2 := h.server(Options{Tick: time.Hour})
	stop2 := h.start(s2)
	eventually(t, "the run is resumed", func() bool { return h.runs("app")[0].Status == rotation.RunSucceeded })
	stop2()
	if runs := h.runs("app"); len(runs) != 1 {
		t.Errorf("%d runs; the resumed run must be the same one", len(runs))
	}
}

// flakyStore fails transactions while failing is set, as a locked or
// read-only database does.
type flakyStore struct {
	Store
	failing atomic.Bool
}

func (f *flakyStore) Tx(ctx context.Context, fn func(rotation.Tx) error) error {
	if f.failing.Load() {
		return errors.New("database is locked (SQLITE_BUSY)")
	}
	return f.Store.Tx(ctx, fn)
}

func TestServer_tick_storeLocked(t *testing.T) {
	h := newHarness(t, cred("app", config.SourceGitHubApp))
	h.adopt("app")
	fs := &flakyStore{Store: h.st}
	h.st = fs
	h.eng.Store = fs
	s := h.server(Options{})
	h.deliverAlerts(s)
	h.clock.Advance(2 * time.Hour)

	fs.failing.Store(true)
	s.tick(context.Background())
	s.jobs.Wait()
	a := h.alerts.wait(t, alert.EventRotationFailed)
	if !strings.Contains(a.Message, "database is locked") {
		t.Errorf("alert = %+v", a)
	}
	cs := s.snapshot("app")
	if cs.Failures != 1 || !strings.Contains(cs.LastError, "locked") {
		t.Errorf("state = %+v", cs)
	}
	// Still locked and inside the backoff: no new attempt.
	s.tick(context.Background())
	s.jobs.Wait()
	if cs := s.snapshot("app"); cs.Failures != 1 {
		t.Errorf("retried inside the backoff: failures %d", cs.Failures)
	}
	fs.failing.Store(false)
	h.clock.Advance(2 * time.Minute)
	s.tick(context.Background())
	s.jobs.Wait()
	runs := h.runs("app")
	if len(runs) == 0 || runs[0].Status != rotation.RunSucceeded {
		t.Fatalf("runs = %+v, want a success once the store is writable", runs)
	}
	if cs := s.snapshot("app"); cs.Failures != 0 || cs.LastError != "" {
		t.Errorf("state not cleared after success: %+v", cs)
	}
}

func TestServer_rotateAPI(t *testing.T) {
	h := newHarness(t, cred("app", config.SourceGitHubApp))
	h.adopt("app")
	s := h.server(Options{Tick: time.Hour})
	h.start(s)
	base := "http://" + s.Addr()
	eventually(t, "ready", func() bool { code, _ := do(t, base, "GET", "/readyz", "", ""); return code == 200 })

	code, body := do(t, base, "POST", "/v1/credentials/app/rotate", "Bearer "+testToken, `{"reason":"test"}`)
	if code != 202 {
		t.Fatalf("rotate: %d %v", code, body)
	}
	eventually(t, "the requested run succeeded", func() bool {
		runs := h.runs("app")
		return len(runs) == 1 && runs[0].Status == rotation.RunSucceeded
	})
	run := h.runs("app")[0]
	if run.Trigger != "api" {
		t.Errorf("trigger %q, want api", run.Trigger)
	}
	if id, ok := body["run_id"].(float64); ok && int64(id) != run.ID {
		t.Errorf("run_id %v, want %d", id, run.ID)
	}
	// The store says succeeded a moment before the daemon's flags clear.
	eventually(t, "the request is cleared", func() bool { cs := s.snapshot("app"); return !cs.Requested && !cs.InFlight })
}

// While another process (a `rotor rotate` in a terminal, another replica)
// holds a credential's lease, the daemon leaves it alone until the next
// tick instead of retrying in a loop.
func TestServer_tick_leaseHeldElsewhere(t *testing.T) {
	h := newHarness(t, cred("app", config.SourceGitHubApp))
	h.adopt("app")
	h.clock.Advance(2 * time.Hour)
	if err := h.st.AcquireLease(context.Background(), "app", "someone-else/1", time.Hour); err != nil {
		t.Fatal(err)
	}
	s := h.server(Options{})
	s.tick(context.Background())
	s.jobs.Wait()
	if runs := h.runs("app"); len(runs) != 0 {
		t.Fatalf("ran under someone else's lease: %+v", runs)
	}
	select {
	case <-s.kick:
		t.Error("the scheduler was woken at once: it would spin while the lease is held")
	default:
	}
	if cs := s.snapshot("app"); cs.Failures != 0 || cs.InFlight {
		t.Errorf("a held lease is not a failure: %+v", cs)
	}
}

// TestServer_tick_movesStragglers: a binding whose pipeline runs a
// deployment keeps the old token through the run; the API and metrics show
// it; each tick moves it once idle, and only then is the old token retired.
func TestServer_tick_movesStragglers(t *testing.T) {
	h := newHarness(t, cred("app", config.SourceGitHubApp))
	v1 := h.adopt("app")
	tg := h.tgts["app"]
	tg.ids = append(tg.ids, "app:binding-b")
	tg.holds["app:binding-b"] = v1.Fingerprint
	tg.busy = map[string]bool{"app:binding-b": true}
	s := h.server(Options{})
	ctx := context.Background()

	h.clock.Advance(61 * time.Minute)
	s.tick(ctx)
	s.jobs.Wait()
	runs := h.runs("app")
	if len(runs) != 1 || runs[0].Status != rotation.RunSucceeded {
		t.Fatalf("runs = %+v, want one succeeded run", runs)
	}
	if tg.holds["app:binding-b"] != v1.Fingerprint || tg.holds["app:binding-a"] == v1.Fingerprint {
		t.Fatalf("holds = %v: want binding-b on the old token, binding-a on the new", tg.holds)
	}
	v, err := status.One(ctx, h.cfg.Credentials[0], h.st, h.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	view := s.view(h.cfg.Credentials[0], v)
	if len(view.Stragglers) != 1 || view.Stragglers[0].Binding != "app:binding-b" || view.Stragglers[0].Status != "waiting" || !view.Healthy {
		t.Fatalf("view: stragglers %+v, healthy %v; want binding-b waiting, healthy", view.Stragglers, view.Healthy)
	}
	var metrics strings.Builder
	rec := httptest.NewRecorder()
	s.m.handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	metrics.WriteString(rec.Body.String())
	for _, want := range []string{
		`rotor_bindings_waiting{credential="app",status="waiting",target="file"} 1`,
		`rotor_bindings{credential="app",state="waiting",target="file"} 1`, // the same binding, the same word
		`rotor_bindings{credential="app",state="healthy",target="file"} 1`,
		`rotor_bindings{credential="app",state="unhealthy",target="file"} 0`,
		`rotor_credential_health{credential="app",state="degraded"} 1`,
	} {
		if !strings.Contains(metrics.String(), want) {
			t.Errorf("metrics lack %s:\n%s", want, grepLines(metrics.String(), "app"))
		}
	}
	if view.Health.State != StateDegraded || view.Health.Counts[status.Waiting] != 1 || !strings.Contains(view.Health.Summary, "1 binding(s) waiting for their pipeline") {
		t.Errorf("health %+v: want degraded, one waiting", view.Health)
	}

	// Past the grace period, still busy: it stays waiting and the old
	// token is not retired.
	h.clock.Advance(11 * time.Minute)
	s.tick(ctx)
	s.jobs.Wait()
	if !h.gh.live[v1.Fingerprint] || tg.holds["app:binding-b"] != v1.Fingerprint {
		t.Fatalf("old token live %v, binding-b holds %s: want the old token kept for the straggler", h.gh.live[v1.Fingerprint], tg.holds["app:binding-b"])
	}

	// Idle: the next tick moves it, then retires the old token.
	tg.mu.Lock()
	tg.busy = nil
	tg.mu.Unlock()
	s.tick(ctx)
	s.jobs.Wait()
	if tg.holds["app:binding-b"] == v1.Fingerprint {
		t.Fatal("the straggler did not move")
	}
	// The grace period counts from the move: not yet retired.
	if !h.gh.live[v1.Fingerprint] {
		t.Fatal("the old token was revoked as soon as the last straggler moved off it")
	}
	h.clock.Advance(11 * time.Minute)
	s.tick(ctx)
	s.jobs.Wait()
	if h.gh.live[v1.Fingerprint] {
		t.Error("the old token is still live a grace period after the last straggler moved")
	}
	if v, _ := status.One(ctx, h.cfg.Credentials[0], h.st, h.clock.Now()); len(v.Stragglers) != 0 {
		t.Errorf("stragglers left: %+v", v.Stragglers)
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
