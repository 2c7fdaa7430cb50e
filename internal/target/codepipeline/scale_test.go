package codepipeline

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/rotor-ci/rotor/internal/emulator/fault"
	"github.com/rotor-ci/rotor/internal/ratelimit"
	"github.com/rotor-ci/rotor/internal/token"
)

// TestApply_Scale is the benchmark shape: N pipelines, the emulator
// throttling GetPipeline and UpdatePipeline at R per second each. Apply must
// take at most 1.2 × N/R with under 1% of requests throttled after the first
// 5 s. It takes about a minute, so it runs only with ROTOR_SCALE=1.
func TestApply_Scale(t *testing.T) {
	if os.Getenv("ROTOR_SCALE") == "" {
		t.Skip("set ROTOR_SCALE=1 to run the 1,000-pipeline benchmark (about a minute)")
	}
	const (
		n    = 1000
		rate = 20.0
	)
	isolate(t)
	be, _ := emulatorBackend(t, nil)
	ctx := context.Background()
	prev := token.Generate(token.KindClassicPAT)
	for i := range n {
		create(t, be, testDecl(fmt.Sprintf("scale-%04d", i), ghSpec{"GitHub", "acme", "scale", prev}))
	}
	rules := []fault.Rule{
		{Service: "codepipeline", Operation: "GetPipeline", RatePerSecond: rate},
		{Service: "codepipeline", Operation: "UpdatePipeline", RatePerSecond: rate},
	}
	// Discovery is not timed: it needs the bindings, and GetPipeline for
	// all of them (at R per second too).
	tg := newTarget(t, be, Config{Match: &Match{Repo: "scale"}})
	bs, err := tg.Discover(ctx)
	if err != nil || len(bs) != n {
		t.Fatalf("Discover: %d bindings, %v", len(bs), err)
	}

	fresh := newTarget(t, be, Config{Match: &Match{Repo: "scale"}, Limits: ratelimit.Options{Initial: 10}}) // the default
	be.emu.Faults().SetRules(rules)
	be.emu.Faults().ResetCounts()
	var (
		mu        sync.Mutex
		atWarm    map[string]fault.Count
		start     = time.Now()
		warmTimer = time.AfterFunc(5*time.Second, func() {
			mu.Lock()
			defer mu.Unlock()
			atWarm = be.emu.Faults().Counts()
		})
	)
	defer warmTimer.Stop()
	stopTrace := make(chan struct{})
	go func() {
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		var last map[string]fault.Count
		for {
			select {
			case <-stopTrace:
				return
			case <-tick.C:
			}
			c := be.emu.Faults().Counts()
			g, u := c["codepipeline GetPipeline"], c["codepipeline UpdatePipeline"]
			lg, lu := last["codepipeline GetPipeline"], last["codepipeline UpdatePipeline"]
			st := fresh.RateStats()
			t.Logf("t=%2.0fs get %3d req %3d thr (rate %.1f)  update %3d req %3d thr (rate %.1f)", time.Since(start).Seconds(),
				g.Requests-lg.Requests, g.Throttled-lg.Throttled, st["GetPipeline"].Rate,
				u.Requests-lu.Requests, u.Throttled-lu.Throttled, st["UpdatePipeline"].Rate)
			last = c
		}
	}()
	f := failures(apply(fresh, token.Generate(token.KindClassicPAT), bs))
	close(stopTrace)
	if len(f) > 0 {
		t.Errorf("%d failures, e.g. %v", len(f), f)
	}
	elapsed := time.Since(start)
	end := be.emu.Faults().Counts()
	mu.Lock()
	defer mu.Unlock()
	ideal := time.Duration(n / rate * float64(time.Second))
	t.Logf("apply of %d pipelines took %v (ideal %v, %.2fx); limiter %+v", n, elapsed.Round(time.Millisecond), ideal, float64(elapsed)/float64(ideal), fresh.RateStats())
	var req, thr int64
	for _, op := range []string{"codepipeline GetPipeline", "codepipeline UpdatePipeline"} {
		req += end[op].Requests - atWarm[op].Requests
		thr += end[op].Throttled - atWarm[op].Throttled
		t.Logf("%s: %+v", op, end[op])
	}
	share := float64(thr) / float64(req)
	t.Logf("after 5s: %d of %d requests throttled (%.2f%%)", thr, req, 100*share)
	if elapsed > time.Duration(1.2*float64(ideal)) {
		t.Errorf("took %v, more than 1.2× %v", elapsed, ideal)
	}
	if share >= 0.01 {
		t.Errorf("%.2f%% throttled after the first 5s, want < 1%%", 100*share)
	}
}
