package main

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/rotor-ci/rotor/internal/emulator/fault"
	"github.com/rotor-ci/rotor/internal/token"
)

// process is one finished child process.
type process struct {
	Wall   time.Duration
	CPU    time.Duration // user + system
	MaxRSS int64         // bytes; 0 when the platform does not say
	Output string
}

// runRotor runs one rotor command on the fleet with tok on standard input.
func (f *fleet) runRotor(ctx context.Context, bin string, tok token.Token, args ...string) (process, error) {
	cmd := exec.CommandContext(ctx, bin, append([]string{"--config", f.config, "--log-level", "warn"}, args...)...)
	cmd.Dir = f.dir
	cmd.Env = f.env()
	cmd.Stdin = strings.NewReader(tok.Reveal() + "\n")
	start := time.Now()
	out := &stamped{start: start}
	cmd.Stdout, cmd.Stderr = out, out
	err := cmd.Run()
	p := process{Wall: time.Since(start), Output: out.String()}
	if cmd.ProcessState != nil {
		p.MaxRSS = maxRSS(cmd.ProcessState)
		p.CPU = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	}
	if err != nil {
		return p, fmt.Errorf("rotor %s: %w\n%s", strings.Join(args, " "), err, indent(p.Output))
	}
	return p, nil
}

// rotorRun is one measured rotor rotate.
type rotorRun struct {
	process
	Counts map[string]fault.Count // per "service Operation", during the run
	// Requests and throttles of the throttled operations (GetPipeline,
	// UpdatePipeline) after the first five seconds.
	LateRequests, LateThrottled int64
	Trace                       []string // per-second counts, when asked
}

// throttledOps are the operations the benchmark throttles.
var throttledOps = []string{"codepipeline GetPipeline", "codepipeline UpdatePipeline"}

// rotate times rotor rotate over the whole fleet. The emulator's counts are
// reset first, so they are this command's alone.
func (f *fleet) rotate(ctx context.Context, bin string, tok token.Token, trace bool) (rotorRun, error) {
	var (
		r    rotorRun
		mu   sync.Mutex
		at5  map[string]fault.Count
		done = make(chan struct{})
	)
	f.sb.Faults.ResetCounts()
	warm := time.AfterFunc(5*time.Second, func() {
		c := f.sb.Faults.Counts()
		mu.Lock()
		at5 = c
		mu.Unlock()
	})
	var wg sync.WaitGroup
	if trace {
		start := time.Now()
		wg.Go(func() {
			tick := time.NewTicker(time.Second)
			defer tick.Stop()
			var last map[string]fault.Count
			for {
				select {
				case <-done:
					return
				case <-tick.C:
				}
				c := f.sb.Faults.Counts()
				var b strings.Builder
				fmt.Fprintf(&b, "t=%3.0fs", time.Since(start).Seconds())
				for _, op := range []string{"codepipeline ListPipelines", "codepipeline ListTagsForResource", "codepipeline GetPipeline", "codepipeline UpdatePipeline"} {
					fmt.Fprintf(&b, "  %s %d/%d", strings.TrimPrefix(op, "codepipeline "), c[op].Requests-last[op].Requests, c[op].Throttled-last[op].Throttled)
				}
				mu.Lock()
				r.Trace = append(r.Trace, b.String())
				mu.Unlock()
				last = c
			}
		})
	}
	p, err := f.runRotor(ctx, bin, tok, "rotate", credential, "--token-stdin")
	warm.Stop()
	close(done)
	wg.Wait()
	r.process = p
	r.Counts = f.sb.Faults.Counts()
	mu.Lock()
	defer mu.Unlock()
	for _, op := range throttledOps {
		r.LateRequests += r.Counts[op].Requests - at5[op].Requests
		r.LateThrottled += r.Counts[op].Throttled - at5[op].Throttled
	}
	return r, err
}

// requests sums the requests and throttles of every CodePipeline operation.
func (r rotorRun) requests() (sent, throttled int64) {
	for op, c := range r.Counts {
		if !strings.HasPrefix(op, "codepipeline ") {
			continue
		}
		sent += c.Requests
		throttled += c.Throttled
	}
	return sent, throttled
}

// ownFloor is the floor from the calls rotor actually got through: the most
// accepted calls of one throttled operation, divided by R.
func (r rotorRun) ownFloor(rate float64) time.Duration {
	if rate <= 0 {
		return 0
	}
	var most int64
	for _, op := range throttledOps {
		most = max(most, r.Counts[op].Requests-r.Counts[op].Throttled)
	}
	return time.Duration(float64(most) / rate * float64(time.Second))
}

func indent(s string) string {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return ""
	}
	return "    " + strings.ReplaceAll(s, "\n", "\n    ")
}

// stamped collects a child's output, each line prefixed with the time since
// start, so that the trace shows where the time went.
type stamped struct {
	start time.Time
	mu    sync.Mutex
	buf   bytes.Buffer
	mid   bool // within a line
}

func (w *stamped) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := len(b)
	for len(b) > 0 {
		if !w.mid {
			fmt.Fprintf(&w.buf, "[%6.2fs] ", time.Since(w.start).Seconds())
		}
		i := bytes.IndexAny(b, "\r\n")
		if i < 0 {
			w.buf.Write(b)
			w.mid = true
			break
		}
		w.buf.Write(b[:i])
		w.buf.WriteByte('\n')
		w.mid = false
		b = b[i+1:]
	}
	return n, nil
}

func (w *stamped) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}
