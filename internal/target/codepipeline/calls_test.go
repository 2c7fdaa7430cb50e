package codepipeline

import (
	"context"
	"maps"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/rotor-ci/rotor/internal/emulator/fault"
	"github.com/rotor-ci/rotor/internal/ratelimit"
	"github.com/rotor-ci/rotor/internal/rotation"
	"github.com/rotor-ci/rotor/internal/token"
)

// callKey is one series of observed calls.
type callKey struct{ account, region, op, result string }

// callLog records observed calls; safe for concurrent use.
type callLog struct {
	mu     sync.Mutex
	n      map[callKey]int
	onCall func(ratelimit.Call) // runs before the call is recorded, if set
}

func (l *callLog) observe(c ratelimit.Call) {
	if l.onCall != nil {
		l.onCall(c)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.n == nil {
		l.n = map[callKey]int{}
	}
	l.n[callKey{c.Account, c.Region, c.Operation, c.Result}]++
}

func (l *callLog) counts() map[callKey]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return maps.Clone(l.n)
}

// TestFleet_Calls: every attempt of every CodePipeline call of a fleet,
// retries and unpaced idle checks included, reaches Config.Calls named with
// the account and region it went to, and a throttle in one place is seen
// there only. The emulator counts what it received in each place; the
// observer must have seen exactly that.
func TestFleet_Calls(t *testing.T) {
	isolate(t)
	sb := startFleetSandbox(t)
	ctx := context.Background()
	places := sandboxPlaces()
	// prod (222…) lets each operation through once, then throttles it
	// until the observer has seen a throttle there: Apply's fresh read of
	// prod-a (discovery read it first) is throttled exactly once, and its
	// retry goes through.
	prod := sb.CodePipeline.In("222222222222", "us-east-1").Faults()
	prod.SetRules([]fault.Rule{{RatePerSecond: 0.001}})
	var (
		calls   callLog
		cleared sync.Once
	)
	calls.onCall = func(c ratelimit.Call) {
		if c.Result == ratelimit.ResultThrottled {
			cleared.Do(func() { prod.SetRules(nil) })
		}
	}
	base := fleetBase(sb.AWSURL)
	base.Calls = calls.observe
	f, err := NewFleet(ctx, base, places, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	bs, err := f.Discover(ctx)
	if err != nil {
		t.Fatal(err)
	}
	fresh := token.Generate(token.KindClassicPAT)
	if fs := failures(collect(func(report func(rotation.Result)) { f.Apply(ctx, fresh, bs, report) })); len(fs) > 0 {
		t.Fatalf("Apply: %v", fs)
	}

	got := calls.counts()
	want := map[callKey]int{}
	for _, p := range places {
		account := accountOf(p.RoleARN)
		for key, c := range sb.CodePipeline.In(account, p.Region).Faults().Counts() {
			op := strings.TrimPrefix(key, "codepipeline ")
			if ok := c.Requests - c.Throttled - c.ServerErrors - c.Failed; ok > 0 {
				want[callKey{account, p.Region, op, ratelimit.ResultOK}] = int(ok)
			}
			if c.Throttled > 0 {
				want[callKey{account, p.Region, op, ratelimit.ResultThrottled}] = int(c.Throttled)
			}
		}
	}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(callKey{})); diff != "" {
		t.Errorf("observed calls differ from what each place of the emulator received (-emulator +observed):\n%s", diff)
	}
	throttled := callKey{"222222222222", "us-east-1", "GetPipeline", ratelimit.ResultThrottled}
	if got[throttled] != 1 {
		t.Errorf("%+v: %d, want 1 (Apply's read of prod-a, before its retry)", throttled, got[throttled])
	}
	for _, op := range []string{"ListPipelines", "GetPipeline", "UpdatePipeline", "ListPipelineExecutions"} {
		if k := (callKey{"111111111111", "eu-west-1", op, ratelimit.ResultOK}); got[k] == 0 {
			t.Errorf("no %+v observed", k)
		}
	}
}

// TestTarget_callAccount: a target without a role learns its account from
// its pipelines, so its first discovery names the first calls "" (nothing
// names the account yet); a later target of the same view names every call
// from the first on, from the inventory the first one left.
func TestTarget_callAccount(t *testing.T) {
	isolate(t)
	be, _ := emulatorBackend(t, nil)
	create(t, be, testDecl("p1", ghSpec{action: "Source", owner: "o", repo: "r", tok: token.Generate(token.KindClassicPAT)}))
	cache := t.TempDir()
	discover := func() map[callKey]int {
		t.Helper()
		var calls callLog
		tg := newTarget(t, be, Config{Pipelines: []string{"p1"}, CacheDir: cache, Calls: calls.observe})
		if _, err := tg.Discover(context.Background()); err != nil {
			t.Fatal(err)
		}
		return calls.counts()
	}
	first := discover()
	if first[callKey{"", region, "GetPipeline", ratelimit.ResultOK}] != 1 {
		t.Errorf("first discovery: %v, want its one GetPipeline unnamed: nothing named the account before it", first)
	}
	if n := first[callKey{account, region, "ListTagsForResource", ratelimit.ResultOK}]; n != 1 {
		t.Errorf("first discovery: %v, want the tag read, after GetPipeline named the account, under %s", first, account)
	}
	second := discover()
	for k := range second {
		if k.account != account {
			t.Errorf("second discovery: %+v, want every call under %s", k, account)
		}
	}
	if len(second) == 0 {
		t.Error("second discovery observed no call")
	}
}
