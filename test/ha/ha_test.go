package ha

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rotor-ci/rotor/internal/audit"
	"github.com/rotor-ci/rotor/internal/rotation"
	"github.com/rotor-ci/rotor/internal/store"
	"github.com/rotor-ci/rotor/internal/store/pgtest"
	"github.com/rotor-ci/rotor/internal/token"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// The scenario's numbers.
const (
	nCreds    = 20
	nReplicas = 3
	every     = 6 * time.Second // rotate.every of every credential
	grace     = 2 * time.Second
	tick      = "200ms"
	workers   = "4"
	poll      = 500 * time.Millisecond // each pipeline fetches its repository this often
	// leaseTTL is the engine's lease (rotation.Engine's default; rotor serve
	// has no flag for it): a dead replica's runs wait this long.
	leaseTTL = 30 * time.Second
)

// Three `rotor serve` replicas share one PostgreSQL schema and 20 GitHub App
// credentials, all due at once and every 6 s after. Replica a is SIGKILLed
// right after it checked a new token (mid-run); replica b is SIGSTOPped
// mid-run for longer than its leases last, and continued after replica c
// has finished its runs. Afterwards the audit chain, the emulators' request
// logs and the pipelines' tokens must show every credential rotated exactly
// once per due time, no two runs or processes on one credential at once, no
// run lost, and every pipeline on a token GitHub accepts.
func TestHA_KillAndPauseReplicas(t *testing.T) {
	if testing.Short() {
		t.Skip("HA: three rotor serve processes for about a minute; skipped with -short")
	}
	dsn := pgtest.DSN(t)
	bin := rotorBinary(t)
	ctx := t.Context()
	s := newSite(t, dsn, nCreds, every, grace, poll)
	st, err := store.Open(ctx, dsn, store.Options{})
	must(t, err)
	defer st.Close()

	adopted := s.adoptAll(ctx)
	t.Logf("adopted %d credentials at %s: all due at %s", nCreds, clock(adopted), clock(adopted.Add(every)))
	names := []string{"a", "b", "c"}
	reps := make([]*replica, nReplicas)
	process := map[string]string{}
	for i, n := range names {
		reps[i] = startReplica(t, bin, n, s.config(n), "--tick", tick, "--workers", workers)
		process[reps[i].holder] = n
	}
	for _, r := range reps {
		r.waitReady(t, 200, 20*time.Second)
	}
	if late := time.Since(adopted); late > every {
		t.Logf("warning: replicas were ready %s after adoption, after the due time", late.Round(time.Millisecond))
	}
	a, b, c := reps[0], reps[1], reps[2]
	w := watch(ctx, st)
	mid := func(holder string, after time.Time) func(audit.Record) bool {
		return func(r audit.Record) bool { return r.Actor == holder && r.Event == "checked" && r.Time.After(after) }
	}

	// 1. Replica a dies right after it checked a new token: the run is
	// between check and apply, and a's lease has to lapse before anyone
	// else may finish it.
	w.waitFor(t, "replica a checked a token", every+20*time.Second, mid(a.holder, time.Time{}))
	a.kill(t)
	killed := time.Now()
	openA := openRuns(t, st, nCreds, a.holder)
	t.Logf("%s: SIGKILL a (%s) with %d run(s) open: %v", clock(killed), a.holder, len(openA), runIDs(openA))

	// 2. Replica b freezes mid-run, past its leases' end.
	w.waitFor(t, "replica b checked a token", 20*time.Second, mid(b.holder, killed))
	b.signal(t, syscall.SIGSTOP)
	paused := time.Now()
	openB := openRuns(t, st, nCreds, b.holder)
	t.Logf("%s: SIGSTOP b (%s) with %d run(s) open: %v", clock(paused), b.holder, len(openB), runIDs(openB))
	if len(openA) == 0 || len(openB) == 0 {
		t.Fatalf("a kill or a pause landed between runs (a: %d open, b: %d open): the test proves nothing", len(openA), len(openB))
	}

	// 3. Replica c carries on alone, and takes a's and b's runs over once
	// their leases lapse.
	deadline := paused.Add(leaseTTL + 20*time.Second)
	for !allFinished(t, st, slices.Concat(openA, openB)) {
		if time.Now().After(deadline) {
			t.Fatalf("the killed and paused replicas' runs were not finished by %s", clock(deadline))
		}
		time.Sleep(100 * time.Millisecond)
	}
	// b wakes up to a world that moved on without it: its runs done by c,
	// its leases gone.
	time.Sleep(time.Until(paused.Add(leaseTTL + 2*time.Second)))
	b.signal(t, syscall.SIGCONT)
	resumed := time.Now()
	t.Logf("%s: SIGCONT b after %s; its runs and a's were finished by c", clock(resumed), resumed.Sub(paused).Round(time.Millisecond))

	// 4. b rejoins: it rotates again and says it is ready.
	w.waitFor(t, "replica b rotated again after SIGCONT", 30*time.Second, func(r audit.Record) bool {
		return r.Actor == b.holder && r.Event == "promoted" && r.Time.After(resumed)
	})
	b.waitReady(t, 200, 10*time.Second)
	c.waitReady(t, 200, 10*time.Second)

	// 5. Stop gracefully; runs the shutdown left between two steps are
	// finished from the command line, as an operator would.
	stopped := time.Now()
	b.stop(t, 30*time.Second)
	c.stop(t, 30*time.Second)
	cli := s.config("cli")
	for i := range nCreds {
		if _, err := st.OpenRun(ctx, credName(i)); err != nil {
			continue
		}
		pid, out, err := rotorCLIPid(ctx, bin, cli, "rotate", credName(i), "--resume")
		process[pid] = "cli"
		if err != nil {
			t.Errorf("finish %s's run: %v\n%s", credName(i), err, out)
		}
	}

	ev := s.evidence(t, st, every, stopped)
	ev.Process = process
	ev.Interrupted = map[string]time.Time{"a": killed, "b": paused}
	v := judge(ev)
	figures := fmt.Sprintf("ha: credentials=%d replicas=%d kills=1 pauses=1 rotations=%d resumed_runs=%d duplicates=%d overlaps=%d lost_runs=%d dead_bindings=%d orphan_tokens=%d",
		nCreds, nReplicas, v.Rotations, v.Resumed, v.Duplicates, v.Overlaps, v.LostRuns, v.DeadBindings, v.Orphans)
	fmt.Println(figures)
	t.Log(figures)
	for _, p := range v.Problems {
		t.Error(p)
	}
	if v.Resumed == 0 {
		t.Error("no run was finished by another replica than the one that started it")
	}
	if v.Rotations <= nCreds {
		t.Errorf("%d rotations for %d credentials: the schedule did not go on after the first due time", v.Rotations, nCreds)
	}

	out, err := rotorCLI(ctx, bin, cli, "audit", "verify")
	if err != nil || !strings.HasPrefix(out, "audit chain ok") {
		t.Errorf("rotor audit verify: %v\n%s", err, out)
	}
	t.Logf("rotor audit verify: %s", strings.TrimSpace(out))
}

// evidence gathers, after the replicas stopped, what judge decides on.
func (s *site) evidence(t *testing.T, st *store.Store, every time.Duration, stopped time.Time) evidence {
	t.Helper()
	ctx := t.Context()
	ev := evidence{Every: every, Slack: leaseTTL + 10*time.Second, Stop: stopped, Requests: s.rec.requests(), Live: map[string]bool{}}
	recs, _, err := st.Audit(ctx, 0, 0)
	must(t, err)
	ev.Records = recs
	for i := range s.n {
		c := credEvidence{Name: credName(i), Pipeline: pipeName(i)}
		c.Runs, err = st.Runs(ctx, c.Name, 0)
		must(t, err)
		c.Versions, err = st.Versions(ctx, c.Name)
		must(t, err)
		tok, ok := s.sb.CodePipeline.StoredToken(c.Pipeline, "Source")
		if !ok {
			t.Fatalf("%s has no Source action", c.Pipeline)
		}
		c.Holds = tok.Fingerprint()
		c.HoldsOK, c.Why = s.sb.GitHub.Authorize(tok.Reveal(), org, repoName(i))
		ev.Creds = append(ev.Creds, c)
	}
	for _, f := range s.sb.CodePipeline.Fetches() {
		if !f.OK {
			ev.FailedFetches = append(ev.FailedFetches, fmt.Sprintf("%s at %s with %s: %d %s", f.Pipeline, clock(f.Time), f.TokenFingerprint, f.Status, f.Reason))
		}
	}
	// Which installation tokens GitHub still accepts: from the emulator's
	// own database, reduced to fingerprints at once.
	snap, err := s.sb.GitHub.Snapshot()
	must(t, err)
	var db struct {
		InstallationTokens []struct {
			Value string `json:"value"`
		} `json:"installation_tokens"`
	}
	must(t, json.Unmarshal(snap, &db))
	for _, it := range db.InstallationTokens {
		ev.Live[token.New(it.Value).Fingerprint()] = true
	}
	clear(snap)
	return ev
}

func runIDs(runs []rotation.Run) []int64 {
	ids := make([]int64, len(runs))
	for i, r := range runs {
		ids[i] = r.ID
	}
	return ids
}

// rotorCLIPid runs one rotor command and also returns its audit actor name.
func rotorCLIPid(ctx context.Context, bin, cfg string, args ...string) (string, string, error) {
	host, _ := os.Hostname()
	out, pid, err := runRotor(ctx, bin, cfg, args...)
	return fmt.Sprintf("%s/%d", host, pid), out, err
}
