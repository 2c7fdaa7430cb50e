package torture

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	_ "modernc.org/sqlite" // the store's own driver, to lock it from outside

	"github.com/rotor-ci/rotor/internal/emulator/codepipeline"
	"github.com/rotor-ci/rotor/internal/emulator/fault"
	"github.com/rotor-ci/rotor/internal/emulator/github"
)

// Faults composes the emulators' fault rules from named sets (a standing
// doomed pipeline, one worker's forced failure, the episode in force) and
// records every episode.
type Faults struct {
	inj    *fault.Injector
	gh, cp *proxy
	pids   func() []int // the rotor processes running now (ours alone)

	mu       sync.Mutex
	sets     map[string][]fault.Rule
	episodes []Episode
}

// Episode is one fault that was in force for a while.
type Episode struct {
	Kind       string
	Start, End time.Time
}

func newFaults(inj *fault.Injector, gh, cp *proxy, pids func() []int) *Faults {
	return &Faults{inj: inj, gh: gh, cp: cp, pids: pids, sets: map[string][]fault.Rule{}}
}

// Set replaces the named set of rules.
func (f *Faults) Set(name string, rules ...fault.Rule) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(rules) == 0 {
		delete(f.sets, name)
	} else {
		f.sets[name] = rules
	}
	names := make([]string, 0, len(f.sets))
	for n := range f.sets {
		names = append(names, n)
	}
	sort.Strings(names) // the injector's first matching outcome wins: keep it stable
	var all []fault.Rule
	for _, n := range names {
		all = append(all, f.sets[n]...)
	}
	f.inj.SetRules(all)
}

func (f *Faults) record(kind string, start time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.episodes = append(f.episodes, Episode{Kind: kind, Start: start, End: time.Now()})
}

// Episodes returns the episodes so far.
func (f *Faults) Episodes() []Episode {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.episodes)
}

// Counts summarises the episodes by kind.
func (f *Faults) Counts() string {
	n := map[string]int{}
	for _, e := range f.Episodes() {
		n[e.Kind]++
	}
	var parts []string
	for k, v := range n {
		parts = append(parts, fmt.Sprintf("%s=%d", k, v))
	}
	sort.Strings(parts)
	return strings.Join(parts, " ")
}

// The GitHub operations rotor uses; polling fetches (the tarball) are left
// alone, so that a failed fetch always means a token problem or a fault
// named as such.
var (
	githubRotorOps  = []string{"GET /user", "GET /repos/{owner}/{repo}", "POST /app/installations/{id}/access_tokens", "GET /app"}
	githubRevokeOps = []string{"POST /credentials/revoke", "DELETE /installation/token"}
)

// episodeKinds are the faults the chaos phase injects, one at a time.
var episodeKinds = []string{"latency", "codepipeline-5xx", "github-5xx", "throttling", "revocation-failing", "github-unreachable", "store-locked",
	"update-answer-lost", "revocation-answer-lost", "store-locked-past-lease", "rotor-paused"}

// Episode injects one fault of kind for about d, then lifts it. Store
// locks are held briefly (well under the lease time and the store's busy
// timeout): rotor must wait, not lose a run.
func (f *Faults) Episode(ctx context.Context, kind string, d time.Duration, dbPath string, rng *rand.Rand) error {
	start := time.Now()
	until := start.Add(d)
	var rules []fault.Rule
	switch kind {
	case "latency":
		rules = append(rules,
			fault.Rule{Service: codepipeline.Service, Latency: fault.Duration{Duration: time.Duration(5+rng.IntN(40)) * time.Millisecond}, Until: until},
			fault.Rule{Service: github.Service, Operation: githubRotorOps[rng.IntN(len(githubRotorOps))], Latency: fault.Duration{Duration: time.Duration(20+rng.IntN(80)) * time.Millisecond}, Until: until})
	case "codepipeline-5xx":
		for _, op := range []string{"GetPipeline", "UpdatePipeline", "ListPipelines", "ListTagsForResource"} {
			rules = append(rules, fault.Rule{Service: codepipeline.Service, Operation: op, ErrorRate: 0.3, Until: until})
		}
	case "github-5xx":
		for _, op := range append(slices.Clone(githubRotorOps), githubRevokeOps...) {
			rules = append(rules, fault.Rule{Service: github.Service, Operation: op, ErrorRate: 0.4, Until: until})
		}
	case "throttling":
		for _, op := range []string{"GetPipeline", "UpdatePipeline"} {
			rules = append(rules, fault.Rule{Service: codepipeline.Service, Operation: op, RatePerSecond: 8, Burst: 4, Until: until})
		}
		rules = append(rules, fault.Rule{Service: github.Service, Operation: "GET /user", RatePerSecond: 3, Burst: 2, Until: until})
	case "revocation-failing":
		for _, op := range githubRevokeOps {
			rules = append(rules, fault.Rule{Service: github.Service, Operation: op, Fail: true, Until: until})
		}
	case "github-unreachable":
		f.gh.down.Store(true)
		defer f.gh.down.Store(false)
	case "update-answer-lost":
		// UpdatePipeline happens, its answer is lost half the time.
		lose := func(r *http.Request) bool {
			return strings.HasSuffix(r.Header.Get("X-Amz-Target"), ".UpdatePipeline") && rand.Float64() < 0.5
		}
		f.cp.lose.Store(&lose)
		defer f.cp.lose.Store(nil)
	case "revocation-answer-lost":
		// GitHub revokes, and the answer is lost half the time (never a
		// mint's: a token GitHub issued and nobody received is lost for
		// good, as GitHub cannot list installation tokens).
		lose := func(r *http.Request) bool {
			op := r.Method + " " + strings.TrimPrefix(r.URL.Path, "/api/v3")
			return slices.Contains(githubRevokeOps, op) && rand.Float64() < 0.5
		}
		f.gh.lose.Store(&lose)
		defer f.gh.lose.Store(nil)
	case "store-locked", "store-locked-past-lease":
		if err := lockStore(ctx, dbPath, d); err != nil {
			return err
		}
		f.record(kind, start)
		return nil
	case "rotor-paused":
		// SIGSTOP one running rotor process past its lease, then SIGCONT:
		// it must notice it lost its lease and stop, not act on stale
		// state (another process may have taken the run over).
		pids := f.pids()
		if len(pids) == 0 {
			return nil
		}
		pid := pids[rng.IntN(len(pids))]
		if syscall.Kill(pid, syscall.SIGSTOP) != nil {
			return nil
		}
		select {
		case <-ctx.Done():
		case <-time.After(d):
		}
		_ = syscall.Kill(pid, syscall.SIGCONT)
		f.record(kind, start)
		return nil
	default:
		return fmt.Errorf("unknown fault %q", kind)
	}
	f.Set("episode", rules...)
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
	f.Set("episode")
	f.record(kind, start)
	return nil
}

// lockStore holds SQLite's write lock on the store for d: every rotor
// write waits (busy_timeout) until it is released.
func lockStore(ctx context.Context, path string, d time.Duration) error {
	db, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(20000)")
	if err != nil {
		return err
	}
	defer db.Close()
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "BEGIN EXCLUSIVE"); err != nil {
		return fmt.Errorf("lock store: %w", err)
	}
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
	_, err = conn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK")
	return err
}
