package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rotor-ci/rotor/internal/emulator/fault"
	"github.com/rotor-ci/rotor/internal/rotorbin"
)

// options are the command line.
type options struct {
	Ns        []int
	Rates     []float64 // 0: unthrottled
	Latency   time.Duration
	Runs      int
	CLIRate   float64 // the shape of each N in which the CLI runs too; -1: never
	CLIMax    int     // run the CLI over every pipeline up to this many
	CLISample int     // …and over this many beyond, extrapolated
	Rotor     string  // a built rotor; empty: build cmd/rotor
	ColdRuns  int     // runs of the largest fleet at the first throttle without an inventory
	JSON      string  // write every measurement here
	Trace     bool    // log per-second request counts of each rotor run
	Keep      bool    // keep each run's directory
	From      string  // print the report of a -json file instead of running
	InFlight  bool    // run the in-flight scenario instead (inflight.go)
	Migrate   bool    // run the migration scenario instead (migrate.go)
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var (
		o         options
		ns, rates string
		fs        = flag.NewFlagSet("bench", flag.ContinueOnError)
	)
	fs.SetOutput(stderr)
	fs.StringVar(&ns, "n", "100,1000", "fleet sizes (pipelines), comma-separated")
	fs.StringVar(&rates, "rates", "20,0", "GetPipeline/UpdatePipeline throttles in calls/s each, comma-separated; 0 = unthrottled")
	fs.DurationVar(&o.Latency, "latency", 20*time.Millisecond, "latency added to every CodePipeline call")
	fs.IntVar(&o.Runs, "runs", 3, "runs of each shape (the table shows medians)")
	fs.Float64Var(&o.CLIRate, "cli-rate", 20, "run the AWS CLI procedure in the shape with this throttle (-1: never)")
	fs.IntVar(&o.CLIMax, "cli-max", 100, "run the AWS CLI procedure over every pipeline of fleets up to this size")
	fs.IntVar(&o.CLISample, "cli-sample", 20, "…and over this many pipelines of larger fleets, extrapolated")
	fs.IntVar(&o.ColdRuns, "cold-runs", 1, "also run the largest fleet at the first throttle this many times with rotor's pipeline inventory removed before rotate")
	fs.StringVar(&o.Rotor, "rotor", "", "rotor binary to measure (default: go build ./cmd/rotor)")
	fs.StringVar(&o.JSON, "json", "", "also write every measurement to this file")
	fs.BoolVar(&o.Trace, "trace", false, "print per-second request counts of each rotor run")
	fs.BoolVar(&o.Keep, "keep", false, "keep each run's directory (config, store, logs)")
	fs.StringVar(&o.From, "from", "", "print the report of measurements saved with -json, without running anything")
	var ao accountsOptions
	fs.IntVar(&ao.Accounts, "accounts", 0, "run the many-accounts scenario: this many accounts of -n pipelines each (the first -n and -rates), warm and cold")
	fs.Float64Var(&ao.SlowRate, "slow-rate", 5, "many accounts: the last account's GetPipeline/UpdatePipeline throttle (0: like the others; else also a run without it)")
	fs.BoolVar(&o.Migrate, "migrate", false, "run the migration scenario: rotor migrate moves each -n pipelines to a CodeConnections connection, once with every role allowed and once with one lacking UseConnection")
	var io_ inflightOptions
	fs.BoolVar(&o.InFlight, "inflight", false, "run the in-flight scenario: pipelines deploy while rotor rotates (at the first -rates, each -n)")
	fs.Float64Var(&io_.Busy, "busy", 0.10, "in flight: share of the pipelines running an execution when the rotation starts")
	fs.DurationVar(&io_.ExecMin, "exec-min", 30*time.Second, "in flight: shortest execution")
	fs.DurationVar(&io_.ExecMax, "exec-max", 120*time.Second, "in flight: longest execution")
	fs.Float64Var(&io_.StartsPerSec, "starts", 0.5, "in flight: new executions per second while a rotation runs")
	fs.IntVar(&io_.CLISample, "inflight-cli", 100, "in flight: pipelines the AWS CLI procedure rotates (0: none; extrapolated to N when fewer)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var err error
	if o.Ns, err = parseList(ns, strconv.Atoi); err != nil {
		return fmt.Errorf("-n: %w", err)
	}
	if o.Rates, err = parseList(rates, func(s string) (float64, error) { return strconv.ParseFloat(s, 64) }); err != nil {
		return fmt.Errorf("-rates: %w", err)
	}
	if o.Runs < 1 {
		return errors.New("-runs must be at least 1")
	}

	if o.From != "" {
		if o.InFlight {
			return reportInFlightFrom(o, stdout)
		}
		return reportFrom(o, stdout)
	}
	if io_.ExecMax < io_.ExecMin {
		return errors.New("-exec-max must not be below -exec-min")
	}

	tmp, err := os.MkdirTemp("", "rotor-bench-")
	if err != nil {
		return err
	}
	if !o.Keep {
		defer os.RemoveAll(tmp)
	}
	bin := o.Rotor
	if bin == "" {
		fmt.Fprintln(stderr, "building rotor …")
		if bin, err = rotorbin.Build(ctx, tmp); err != nil {
			return err
		}
	}

	if ao.Accounts > 0 {
		return runAccounts(ctx, bin, tmp, o, ao, stdout, stderr)
	}
	if o.Migrate {
		return runMigrate(ctx, bin, tmp, o, stdout, stderr)
	}
	if o.InFlight {
		return runInFlight(ctx, bin, tmp, o, io_, stdout, stderr)
	}
	var results []result
	for i := range o.Runs {
		var shapes []shape
		for _, n := range o.Ns {
			for _, r := range o.Rates {
				shapes = append(shapes, shape{N: n, Rate: r, Latency: o.Latency})
			}
		}
		if i < o.ColdRuns {
			shapes = append(shapes, shape{N: slices.Max(o.Ns), Rate: o.Rates[0], Latency: o.Latency, Cold: true})
		}
		for _, s := range shapes {
			withCLI := o.CLIRate >= 0 && s.Rate == o.CLIRate && !s.Cold
			fmt.Fprintf(stderr, "run %d/%d  %s%s …\n", i+1, o.Runs, s, map[bool]string{true: " (+ AWS CLI)"}[withCLI])
			res, err := measure(ctx, bin, tmp, s, i, withCLI, o)
			if err != nil {
				return fmt.Errorf("run %d, %s: %w", i+1, s, err)
			}
			fmt.Fprintln(stderr, indent(res.summary()))
			if o.Trace {
				fmt.Fprintln(stderr, indent(indent(res.Rotor.Output)))
				for _, line := range res.Rotor.Trace {
					fmt.Fprintln(stderr, "      "+line)
				}
			}
			results = append(results, res)
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
	report(stdout, o, results)
	for _, r := range results {
		if !r.RotorCheck.ok() || (r.CLI != nil && !r.CLICheck.ok()) {
			return fmt.Errorf("a check failed (%s, run %d): see the table", r.Shape, r.Run+1)
		}
	}
	return nil
}

// result is one run of one shape.
type result struct {
	Shape      shape
	Run        int
	Adopt      time.Duration
	Rotor      rotorRun
	RotorCheck checked
	CLI        *cliRun                `json:",omitempty"`
	CLICounts  map[string]fault.Count `json:",omitempty"`
	CLICheck   checked
}

func (r result) summary() string {
	sent, thr := r.Rotor.requests()
	s := fmt.Sprintf("adopt %.1fs; rotate %.2fs (CPU %.2fs), %d requests (%d throttled), peak RSS %.0f MiB; check: %+v",
		r.Adopt.Seconds(), r.Rotor.Wall.Seconds(), r.Rotor.CPU.Seconds(), sent, thr, float64(r.Rotor.MaxRSS)/(1<<20), r.RotorCheck)
	if r.CLI != nil {
		s += fmt.Sprintf("\nAWS CLI: %d pipelines in %.1fs (%.2fs each); check: %+v", r.CLI.Pipelines, r.CLI.Wall.Seconds(), r.CLI.PerPipe.Seconds(), r.CLICheck)
	}
	return s
}

// openFleet starts a fleet in a new directory under tmp; done stops it
// and, unless keep, removes the directory.
func openFleet(ctx context.Context, tmp, prefix string, s shape, keep bool) (f *fleet, done func(), err error) {
	dir, err := os.MkdirTemp(tmp, prefix)
	if err != nil {
		return nil, nil, err
	}
	if f, err = startFleet(ctx, s, dir); err != nil {
		os.RemoveAll(dir)
		return nil, nil, err
	}
	return f, func() {
		f.close()
		if !keep {
			os.RemoveAll(dir)
		}
	}, nil
}

// measure runs one shape once: a fresh fleet, rotor adopt, rotor rotate
// (timed), the checks, and the AWS CLI procedure when asked.
func measure(ctx context.Context, bin, tmp string, s shape, i int, withCLI bool, o options) (result, error) {
	res := result{Shape: s, Run: i}
	f, done, err := openFleet(ctx, tmp, fmt.Sprintf("n%d-r%g-", s.N, s.Rate), s, o.Keep)
	if err != nil {
		return res, err
	}
	defer done()

	old := f.oldToken()
	p, err := f.runRotor(ctx, bin, old, "adopt", credential, "--token-stdin", "--confirm-unverifiable")
	if err != nil {
		return res, err
	}
	res.Adopt = p.Wall
	before, err := f.snapshot(f.names)
	if err != nil {
		return res, err
	}
	tok, err := f.newToken()
	if err != nil {
		return res, err
	}
	if s.Cold {
		if err := f.forgetInventory(ctx); err != nil {
			return res, err
		}
	}
	if res.Rotor, err = f.rotate(ctx, bin, tok, o.Trace); err != nil {
		return res, err
	}
	res.RotorCheck = f.check(before, old, tok)
	if !withCLI {
		return res, nil
	}

	names := f.names
	if s.N > o.CLIMax {
		names = names[:min(o.CLISample, len(names))]
	}
	if before, err = f.snapshot(names); err != nil {
		return res, err
	}
	third, err := f.newToken()
	if err != nil {
		return res, err
	}
	f.sb.Faults.ResetCounts()
	c, err := f.runCLI(ctx, third, names)
	if errors.Is(err, errNoCLI) {
		fmt.Fprintln(os.Stderr, "    SKIP: aws CLI not on PATH; no comparison")
		return res, nil
	}
	if err != nil {
		return res, err
	}
	res.CLI, res.CLICounts = &c, f.sb.Faults.Counts()
	res.CLICheck = f.check(before, tok, third)
	return res, nil
}

func parseList[T any](s string, parse func(string) (T, error)) ([]T, error) {
	var out []T
	for _, f := range strings.Split(s, ",") {
		v, err := parse(strings.TrimSpace(f))
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// reportFrom prints the report of saved measurements.
func reportFrom(o options, stdout io.Writer) error {
	b, err := os.ReadFile(o.From)
	if err != nil {
		return err
	}
	var results []result
	if err := json.Unmarshal(b, &results); err != nil {
		return fmt.Errorf("%s: %w", o.From, err)
	}
	o.Ns, o.Runs = nil, 0
	for _, r := range results {
		if !slices.Contains(o.Ns, r.Shape.N) {
			o.Ns = append(o.Ns, r.Shape.N)
		}
		o.Runs = max(o.Runs, r.Run+1)
	}
	report(stdout, o, results)
	return nil
}

// reportInFlightFrom prints the in-flight report of saved measurements.
func reportInFlightFrom(o options, stdout io.Writer) error {
	b, err := os.ReadFile(o.From)
	if err != nil {
		return err
	}
	var results []inflightResult
	if err := json.Unmarshal(b, &results); err != nil {
		return fmt.Errorf("%s: %w", o.From, err)
	}
	reportInFlight(stdout, results)
	return nil
}
