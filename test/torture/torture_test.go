package torture

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/rotor-ci/rotor/internal/emulator"
	"github.com/rotor-ci/rotor/internal/emulator/conformance"
)

// The full run: ROTOR_TORTURE=full go test ./test/torture -run TestTorture -v -timeout 10m
const envMode = "ROTOR_TORTURE"

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
	binDir    string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

func rotorBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		if binDir, buildErr = os.MkdirTemp("", "rotor-torture-bin-"); buildErr != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		binPath, buildErr = BuildRotor(ctx, binDir, os.Getenv("ROTOR_TORTURE_RACE") == "1", "")
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// runOptions are the full run's sizes, or the short run's that CI runs
// with every go test ./....
func runOptions(t *testing.T) (Options, Phases, bool) {
	full := os.Getenv(envMode) == "full"
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("ROTOR_TORTURE_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("ROTOR_TORTURE_SEED=%q: %v", s, err)
		}
		seed = v
	}
	o := Options{
		Pipelines:    12,
		PollInterval: 150 * time.Millisecond,
		Grace:        time.Second,
		AppEvery:     2 * time.Second,
		LeaseTTL:     2 * time.Second,
		MinRotations: 30,
		MinCrashes:   10,
		Budget:       90 * time.Second, // a cap: the minimums are met in about 15 s on an idle machine
		ServeFor:     6 * time.Second,
		Seed:         seed,
		Shared:       os.Getenv("ROTOR_TORTURE_SHARED") == "1",
		// Pipelines deploy all along: one starts an execution every
		// 300 ms, its Build stage runs 300 ms, approval stages wait for
		// the deployer.
		DeployEvery:   300 * time.Millisecond,
		DeployRunTime: 300 * time.Millisecond,
	}
	ph := Phases{Sweep: false}
	if full {
		o.Pipelines = 24
		o.PollInterval = 100 * time.Millisecond
		o.MinRotations, o.MinCrashes = 300, 100
		o.Budget = 4*time.Minute + 30*time.Second
		o.ServeFor = 30 * time.Second
		o.DeployEvery, o.DeployRunTime = 250*time.Millisecond, 400*time.Millisecond
		ph = Phases{Sweep: true, SweepResume: true}
	}
	return o, ph, full
}

// TestTorture runs rotor against the emulators with crashes, faults and
// deployments in flight, and checks I1–I8 (see doc.go). Without ROTOR_TORTURE=full it is the short
// run CI does.
func TestTorture(t *testing.T) {
	opts, phases, full := runOptions(t)
	opts.Bin = rotorBinary(t)
	opts.Dir = t.TempDir()
	if os.Getenv("ROTOR_TORTURE_KEEP") == "1" {
		dir, err := os.MkdirTemp("", "rotor-torture-")
		if err != nil {
			t.Fatal(err)
		}
		opts.Dir = dir
		t.Logf("keeping rotor's installation, logs and store in %s", dir)
	}
	opts.Logf = t.Logf
	t.Logf("seed %d (ROTOR_TORTURE_SEED=%d reproduces the random choices)", opts.Seed, opts.Seed)
	ctx, cancel := context.WithTimeout(emulator.WithCheck(t.Context(), conformance.For(t)), opts.Budget+3*time.Minute)
	defer cancel()
	h, err := New(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	rep, err := h.Run(ctx, phases)
	fmt.Println(rep.Figures)
	st := h.rotor.Stats()
	t.Logf("crash points hit: %v; fault episodes: %s", st.CrashPoints, h.faults.Counts())
	for _, n := range rep.Notes {
		t.Log("note: " + n)
	}
	if err != nil {
		t.Fatalf("%s\nthe run stopped: %v", rep.Figures, err)
	}
	if len(rep.Violations) > 0 {
		for i, v := range rep.Violations {
			if i == 20 {
				t.Logf("… and %d more", len(rep.Violations)-i)
				break
			}
			t.Log("violation: " + v.String())
		}
		t.Fatalf("%s\nfirst violation: %s", rep.Figures, rep.Violations[0])
	}
	f := rep.Figures
	if f.Rotations < opts.MinRotations || f.Crashes < opts.MinCrashes {
		t.Errorf("%s\nwant at least %d rotations and %d crashes", f, opts.MinRotations, opts.MinCrashes)
	}
	if full {
		if f.Pipelines < 20 {
			t.Errorf("%d pipelines, want at least 20", f.Pipelines)
		}
		if f.Took > 5*time.Minute {
			t.Errorf("took %s, want under 5 minutes", f.Took)
		}
	}
}
