package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	cp "github.com/aws/aws-sdk-go-v2/service/codepipeline"

	ghemu "github.com/rotor-ci/rotor/internal/emulator/github"
)

// The in-flight benchmark: a rotation of a fleet in the middle of a
// working day. When rotor starts, a share of the pipelines run an
// execution of random length (their Build stage), and new executions keep
// starting at random while it runs. On AWS, UpdatePipeline stops the
// execution in progress; rotor (in_flight: wait, the default) must stop
// none. The same fleet is then rotated by the seed procedure scripted with
// the AWS CLI, which looks at nothing and stops what runs.
//
// Everything is measured from the emulator's records, not rotor's: its
// record of every UpdatePipeline (what it stopped, and when the
// pipeline's executions were last read before it: the race window between
// rotor's idle check and its update) and its executions.

// inflightOptions size the scenario.
type inflightOptions struct {
	Busy         float64       // share of the pipelines running an execution when the rotation starts
	ExecMin      time.Duration // executions last between ExecMin and ExecMax
	ExecMax      time.Duration
	StartsPerSec float64 // new executions per second while a rotation runs
	CLISample    int     // pipelines the AWS CLI procedure rotates (0: none)
}

// inflightResult is one run of the scenario.
type inflightResult struct {
	Shape         shape
	Opts          inflightOptions
	BusyAtStart   int
	Started       int           // executions started during rotor's run
	LongestExec   time.Duration // the longest execution that ran during rotor's run
	Wall          time.Duration // rotor rotate, start to exit
	LastSwitch    time.Duration // from the start to the last binding's update
	Exit          int
	Updates       int
	Stopped       int // executions rotor's updates stopped…
	Raced         int // …of which started after rotor's last look (the race)
	Windows       []time.Duration
	NotOnNew      int
	OldRevoked    bool // the old token was revoked, after every binding moved
	RevokedAfter  bool
	CLIPipelines  int
	CLIStopped    int
	CLIBusyAtRun  int // of the CLI's pipelines, how many were busy when it updated them
	CLIWall       time.Duration
	CLIStoppedAll int    // extrapolated to N
	Output        string `json:"-"` // rotor's output when it exited non-zero
}

// execRunner starts executions through the API, as CI does.
type execRunner struct {
	f       *fleet
	client  *cp.Client
	rng     *rand.Rand
	mu      sync.Mutex
	o       inflightOptions
	longest time.Duration
	started int
}

func newExecRunner(f *fleet, o inflightOptions, seed uint64) *execRunner {
	return &execRunner{f: f, o: o, rng: rand.New(rand.NewPCG(seed, seed^0x5bd1e995)), client: cp.New(cp.Options{
		BaseEndpoint: aws.String(f.sb.CodePipelineURL), Region: "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider("ci", "ci", ""),
	})}
}

// start gives pipeline a Build stage of random length and starts it.
func (e *execRunner) start(ctx context.Context, pipeline string) error {
	e.mu.Lock()
	d := e.o.ExecMin + time.Duration(e.rng.Int64N(int64(e.o.ExecMax-e.o.ExecMin)+1))
	e.longest = max(e.longest, d)
	e.started++
	e.mu.Unlock()
	e.f.sb.CodePipeline.SetRunTime(pipeline, "Build", d)
	_, err := e.client.StartPipelineExecution(ctx, &cp.StartPipelineExecutionInput{Name: &pipeline})
	return err
}

// keepStarting starts executions on random pipelines at StartsPerSec
// until ctx ends.
func (e *execRunner) keepStarting(ctx context.Context) {
	if e.o.StartsPerSec <= 0 {
		return
	}
	for {
		e.mu.Lock()
		gap := time.Duration(e.rng.ExpFloat64() / e.o.StartsPerSec * float64(time.Second))
		p := e.f.names[e.rng.IntN(len(e.f.names))]
		e.mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-time.After(gap):
		}
		_ = e.start(ctx, p) // a throttled start is a deployment that did not happen
	}
}

// busyShare starts executions on a random share of the pipelines and waits
// until each is in its Build stage.
func (e *execRunner) busyShare(ctx context.Context, share float64, among []string) (int, error) {
	var picked []string
	e.mu.Lock()
	for _, n := range among {
		if e.rng.Float64() < share {
			picked = append(picked, n)
		}
	}
	e.mu.Unlock()
	for _, p := range picked {
		if err := e.start(ctx, p); err != nil {
			return 0, fmt.Errorf("start %s: %w", p, err)
		}
	}
	deadline := time.Now().Add(2 * time.Minute)
	for _, p := range picked {
		for !e.f.sb.CodePipeline.Busy(p) {
			if time.Now().After(deadline) {
				return 0, fmt.Errorf("%s never started", p)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	return len(picked), nil
}

// measureInFlight runs the scenario once on a fresh fleet.
func measureInFlight(ctx context.Context, bin, tmp string, s shape, i int, io_ inflightOptions, o options) (inflightResult, error) {
	res := inflightResult{Shape: s, Opts: io_}
	f, done, err := openFleet(ctx, tmp, fmt.Sprintf("inflight-n%d-", s.N), s, o.Keep)
	if err != nil {
		return res, err
	}
	defer done()
	// grace 0: rotate revokes the old token itself, once every binding
	// holds the new one.
	cfg, err := os.ReadFile(f.config)
	if err != nil {
		return res, err
	}
	if err := os.WriteFile(f.config, []byte(strings.Replace(string(cfg), "grace: 10m", "grace: 0s", 1)), 0o600); err != nil {
		return res, err
	}
	old := f.oldToken()
	if _, err := f.runRotor(ctx, bin, old, "adopt", credential, "--token-stdin", "--confirm-unverifiable"); err != nil {
		return res, err
	}
	tok, err := f.newToken()
	if err != nil {
		return res, err
	}
	ex := newExecRunner(f, io_, uint64(i)+uint64(s.N))
	if res.BusyAtStart, err = ex.busyShare(ctx, io_.Busy, f.names); err != nil {
		return res, err
	}
	f.sb.CodePipeline.ResetUpdates()
	f.sb.Faults.ResetCounts()
	runCtx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { ex.keepStarting(runCtx) })
	start := time.Now()
	p, rerr := f.runRotor(ctx, bin, tok, "rotate", credential, "--token-stdin")
	res.Wall = time.Since(start)
	stop()
	wg.Wait()
	res.Started, res.LongestExec = ex.started-res.BusyAtStart, ex.longest
	var ee interface{ ExitCode() int }
	switch {
	case rerr == nil:
	case errors.As(rerr, &ee):
		res.Exit = ee.ExitCode()
		res.Output = p.Output // why it failed, for the report
	default:
		return res, fmt.Errorf("%w\n%s", rerr, p.Output)
	}
	for _, u := range f.sb.CodePipeline.Updates() {
		res.Updates++
		res.LastSwitch = max(res.LastSwitch, u.Time.Sub(start))
		if w := u.Window(); w >= 0 {
			res.Windows = append(res.Windows, w)
		}
		for _, x := range u.Stopped {
			res.Stopped++
			if !u.StateRead.IsZero() && !x.Started.Before(u.StateRead) {
				res.Raced++
			}
		}
	}
	for _, n := range f.names {
		if held, ok := f.sb.CodePipeline.StoredToken(n, "Source"); !ok || held.Reveal() != tok.Reveal() {
			res.NotOnNew++
		}
	}
	for _, ti := range f.sb.GitHub.Tokens() {
		if ti.Fingerprint == old.Fingerprint() {
			res.OldRevoked = ti.State == ghemu.StateRevoked
		}
	}
	res.RevokedAfter = res.OldRevoked && res.NotOnNew == 0

	if io_.CLISample > 0 {
		if err := measureCLIInFlight(ctx, f, ex, io_, &res); err != nil {
			return res, err
		}
	}
	return res, nil
}

// measureCLIInFlight rotates a sample of the fleet with the scripted seed
// procedure while the same kind of day goes on: a fresh share of busy
// pipelines, new executions starting. It counts what the updates stopped.
func measureCLIInFlight(ctx context.Context, f *fleet, ex *execRunner, io_ inflightOptions, res *inflightResult) error {
	step := max(len(f.names)/io_.CLISample, 1)
	var names []string
	for i := 0; i < len(f.names) && len(names) < io_.CLISample; i += step {
		names = append(names, f.names[i])
	}
	if _, err := ex.busyShare(ctx, io_.Busy, f.names); err != nil {
		return err
	}
	third, err := f.newToken()
	if err != nil {
		return err
	}
	f.sb.CodePipeline.ResetUpdates()
	runCtx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { ex.keepStarting(runCtx) })
	c, err := f.runCLI(ctx, third, names)
	stop()
	wg.Wait()
	if errors.Is(err, errNoCLI) {
		fmt.Fprintln(os.Stderr, "    SKIP: aws CLI not on PATH; no comparison")
		return nil
	}
	if err != nil {
		return err
	}
	res.CLIPipelines, res.CLIWall = c.Pipelines, c.Wall
	for _, u := range f.sb.CodePipeline.Updates() {
		res.CLIStopped += len(u.Stopped)
		if len(u.Stopped) > 0 {
			res.CLIBusyAtRun++
		}
	}
	res.CLIStoppedAll = res.CLIStopped * len(f.names) / max(res.CLIPipelines, 1)
	return nil
}

// runInFlight runs the scenario o.Runs times for each N at the first
// throttle and prints its report.
func runInFlight(ctx context.Context, bin, tmp string, o options, io_ inflightOptions, stdout, stderr io.Writer) error {
	var results []inflightResult
	for i := range o.Runs {
		for _, n := range o.Ns {
			s := shape{N: n, Rate: o.Rates[0], Latency: o.Latency}
			fmt.Fprintf(stderr, "in flight, run %d/%d  %s, %.0f%% busy, executions %s–%s, %.2f new/s …\n", i+1, o.Runs, s, 100*io_.Busy, io_.ExecMin, io_.ExecMax, io_.StartsPerSec)
			r, err := measureInFlight(ctx, bin, tmp, s, i, io_, o)
			if err != nil {
				return fmt.Errorf("in flight, run %d, %s: %w", i+1, s, err)
			}
			fmt.Fprintf(stderr, "    rotor: exit %d in %s, last switch at %s, stopped %d (raced %d), not on new %d, old revoked %v; AWS CLI: %d of %d stopped\n",
				r.Exit, secs(r.Wall), secs(r.LastSwitch), r.Stopped, r.Raced, r.NotOnNew, r.OldRevoked, r.CLIStopped, r.CLIPipelines)
			results = append(results, r)
		}
	}
	if o.JSON != "" {
		b, err := json.MarshalIndent(results, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(o.JSON, b, 0o644); err != nil {
			return err
		}
	}
	reportInFlight(stdout, results)
	for _, r := range results {
		if r.Stopped != r.Raced || r.NotOnNew != 0 || !r.OldRevoked {
			return fmt.Errorf("a check failed (%s): see the table; rotor printed:\n%s", r.Shape, indent(r.Output))
		}
	}
	return nil
}

// reportInFlight prints the scenario's table and targets.
func reportInFlight(w io.Writer, rs []inflightResult) {
	fmt.Fprintf(w, "\n### A rotation while pipelines deploy (in_flight: wait)\n\n")
	fmt.Fprintln(w, "| shape | busy at start | started during | longest execution | rotor wall | last binding switched | floor N/R + longest | ratio | executions stopped by rotor (race) | check→update window median / p99 | not on new token | old token revoked after the last |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|---|---|---|")
	for _, r := range rs {
		floor := r.Shape.floor() + r.LongestExec
		med, p99 := percentile(r.Windows, 0.5), percentile(r.Windows, 0.99)
		fmt.Fprintf(w, "| %s | %d | %d | %s | %s | %s | %s | %.2f× | %d (%d) | %s / %s | %d | %v |\n",
			r.Shape, r.BusyAtStart, r.Started, secs(r.LongestExec), secs(r.Wall), secs(r.LastSwitch), secs(floor),
			r.LastSwitch.Seconds()/floor.Seconds(), r.Stopped, r.Raced, ms(med), ms(p99), r.NotOnNew, r.RevokedAfter)
	}
	fmt.Fprintf(w, "\n### The seed procedure scripted with the AWS CLI, same kind of day\n\n")
	fmt.Fprintln(w, "| N | pipelines updated | executions stopped | share | for all N | wall |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|")
	for _, r := range rs {
		if r.CLIPipelines == 0 {
			continue
		}
		label := fmt.Sprintf("%d", r.CLIStoppedAll)
		if r.CLIPipelines < r.Shape.N {
			label += fmt.Sprintf(" **extrapolated** from %d", r.CLIPipelines)
		}
		fmt.Fprintf(w, "| %d | %d | %d | %.1f%% | %s | %s |\n", r.Shape.N, r.CLIPipelines, r.CLIStopped, 100*float64(r.CLIStopped)/float64(r.CLIPipelines), label, secs(r.CLIWall))
	}
	fmt.Fprintf(w, "\n### Targets\n\n")
	for _, r := range rs {
		met := func(ok bool) string {
			if ok {
				return "MET "
			}
			return "MISS"
		}
		fmt.Fprintf(w, "- %s %s: executions stopped by rotor outside the race: %d (goal 0); in the race: %d\n", met(r.Stopped == r.Raced), r.Shape, r.Stopped-r.Raced, r.Raced)
		fmt.Fprintf(w, "- %s %s: every binding on the new token (%d not) and the old token revoked only after the last one moved (%v)\n", met(r.NotOnNew == 0 && r.RevokedAfter), r.Shape, r.NotOnNew, r.RevokedAfter)
	}
}

func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(p*float64(len(s)-1) + 0.5)
	return s[min(i, len(s)-1)]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond)) }
