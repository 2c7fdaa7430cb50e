package torture

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/rotor-ci/rotor/internal/rotorbin"
	"github.com/rotor-ci/rotor/internal/token"
)

// BuildRotor builds the rotor binary with crash points into dir and returns
// its path. race adds the race detector to it; overlay, when set, is a go
// build -overlay file (the mutation tests plant bugs with it).
func BuildRotor(ctx context.Context, dir string, race bool, overlay string) (string, error) {
	flags := []string{"-tags", "rotor_crashpoints"}
	if race {
		flags = append(flags, "-race")
	}
	if overlay != "" {
		flags = append(flags, "-overlay", overlay)
	}
	return rotorbin.Build(ctx, dir, flags...)
}

// Rotor runs the rotor binary against one installation (config, store and
// key in Dir), keeping every process's output in files under Dir/logs so
// that the leak search reads all of it.
type Rotor struct {
	Bin  string
	Dir  string
	Env  []string // added to a minimal environment
	logs string
	seq  atomic.Int64

	mu    sync.Mutex
	procs map[int]*os.Process // running, by pid: only these are ever killed
	stats Stats
}

// Stats counts processes.
type Stats struct {
	Runs         int
	Killed       int            // SIGKILLed, by a crash point or by the harness
	CrashPoints  map[string]int // event → kills there
	RandomKills  int
	CPUTime      time.Duration     // user+system of every finished process
	LeaseRefused int               // processes that found another's lease
	KilledAt     []time.Time       // when each killed process was found dead
	KilledPIDs   map[int]time.Time // pid → when it was found killed
}

// Job is one rotor invocation.
type Job struct {
	Args []string
	// Stdin, when set, is written to the process's standard input (the
	// only way a token reaches rotor); never in argv.
	Stdin token.Token
	// CrashAt sets ROTOR_CRASH_AT ("applied", "*:3").
	CrashAt string
	// KillAfter, when positive, SIGKILLs the process that long after start.
	KillAfter time.Duration
	Timeout   time.Duration // default 2 minutes
}

// Result is how a rotor process ended.
type Result struct {
	Job      Job
	Exit     int  // -1 when killed
	Killed   bool // by SIGKILL (crash point or KillAfter)
	CrashAt  string
	Stdout   []byte
	Stderr   []byte
	Took     time.Duration
	LogFiles [2]string
}

func (r Result) String() string {
	how := fmt.Sprintf("exit %d", r.Exit)
	if r.Killed {
		how = "SIGKILL"
		if r.CrashAt != "" {
			how += " at crash point " + r.CrashAt
		}
	}
	return fmt.Sprintf("rotor %s: %s after %s (%s)", strings.Join(r.Job.Args, " "), how, r.Took.Round(time.Millisecond), r.LogFiles[1])
}

func NewRotor(bin, dir string, env []string) (*Rotor, error) {
	r := &Rotor{Bin: bin, Dir: dir, Env: env, logs: filepath.Join(dir, "logs"), procs: map[int]*os.Process{}}
	r.stats.CrashPoints = map[string]int{}
	r.stats.KilledPIDs = map[int]time.Time{}
	for _, d := range []string{r.logs, filepath.Join(dir, "tmp"), filepath.Join(dir, "home")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// Stats returns the counts so far.
func (r *Rotor) Stats() Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.stats
	s.KilledAt = append([]time.Time(nil), r.stats.KilledAt...)
	s.KilledPIDs = make(map[int]time.Time, len(r.stats.KilledPIDs))
	for k, v := range r.stats.KilledPIDs {
		s.KilledPIDs[k] = v
	}
	s.CrashPoints = make(map[string]int, len(r.stats.CrashPoints))
	for k, v := range r.stats.CrashPoints {
		s.CrashPoints[k] = v
	}
	return s
}

// environ is a minimal environment: nothing of the harness's own, AWS
// credentials that only the emulator accepts, and temporary files and a
// home inside the installation, where the leak search looks.
func (r *Rotor) environ(crashAt string) []string {
	env := []string{
		"PATH=/usr/bin:/bin",
		"HOME=" + filepath.Join(r.Dir, "home"),
		"TMPDIR=" + filepath.Join(r.Dir, "tmp"),
		"AWS_ACCESS_KEY_ID=torture", "AWS_SECRET_ACCESS_KEY=torture",
		"AWS_EC2_METADATA_DISABLED=true",
		"AWS_CONFIG_FILE=" + filepath.Join(r.Dir, "aws-config"),
		"AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(r.Dir, "aws-credentials"),
		"ROTOR_CONFIG=" + filepath.Join(r.Dir, "rotor.yaml"),
	}
	env = append(env, r.Env...)
	if crashAt != "" {
		env = append(env, "ROTOR_CRASH_AT="+crashAt)
	}
	return env
}

func (r *Rotor) command(ctx context.Context, j Job) (*exec.Cmd, [2]string, *bytes.Buffer, *bytes.Buffer, error) {
	n := r.seq.Add(1)
	name := "run"
	if len(j.Args) > 0 {
		name = j.Args[0]
	}
	base := filepath.Join(r.logs, fmt.Sprintf("%05d-%s", n, name))
	files := [2]string{base + ".out", base + ".err"}
	cmd := exec.CommandContext(ctx, r.Bin, append([]string{"--log-format", "json", "--log-level", "debug"}, j.Args...)...)
	cmd.Dir = r.Dir
	cmd.Env = r.environ(j.CrashAt)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGKILL) }
	var stdout, stderr bytes.Buffer
	outF, err := os.OpenFile(files[0], os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, files, nil, nil, err
	}
	errF, err := os.OpenFile(files[1], os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		outF.Close()
		return nil, files, nil, nil, err
	}
	cmd.Stdout = &teeFile{f: outF, b: &stdout}
	cmd.Stderr = &teeFile{f: errF, b: &stderr}
	if !j.Stdin.IsZero() {
		cmd.Stdin = strings.NewReader(j.Stdin.Reveal() + "\n")
	}
	return cmd, files, &stdout, &stderr, nil
}

// teeFile writes to a log file and keeps a copy.
type teeFile struct {
	mu sync.Mutex
	f  *os.File
	b  *bytes.Buffer
}

func (t *teeFile) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b.Write(p)
	return t.f.Write(p)
}

func (t *teeFile) Close() error { return t.f.Close() }

// copy returns what was written so far.
func (t *teeFile) copy() []byte {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]byte(nil), t.b.Bytes()...)
}

// Run runs one rotor process to its end.
func (r *Rotor) Run(ctx context.Context, j Job) Result {
	if j.Timeout <= 0 {
		j.Timeout = 2 * time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, j.Timeout)
	defer cancel()
	res := Result{Job: j, Exit: -1}
	cmd, files, stdout, stderr, err := r.command(ctx, j)
	res.LogFiles = files
	if err != nil {
		res.Stderr = []byte(err.Error())
		return res
	}
	defer cmd.Stdout.(*teeFile).Close()
	defer cmd.Stderr.(*teeFile).Close()
	start := time.Now()
	if err := cmd.Start(); err != nil {
		res.Stderr = []byte(err.Error())
		return res
	}
	r.track(cmd.Process, true)
	var killedByUs atomic.Bool
	if j.KillAfter > 0 {
		t := time.AfterFunc(j.KillAfter, func() {
			killedByUs.Store(true)
			_ = cmd.Process.Signal(syscall.SIGKILL)
		})
		defer t.Stop()
	}
	_ = cmd.Wait()
	r.track(cmd.Process, false)
	res.Took = time.Since(start)
	res.Stdout, res.Stderr = stdout.Bytes(), stderr.Bytes()
	r.finish(cmd, &res, killedByUs.Load())
	return res
}

func (r *Rotor) finish(cmd *exec.Cmd, res *Result, killedByUs bool) {
	st := cmd.ProcessState
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stats.Runs++
	if st == nil {
		return
	}
	r.stats.CPUTime += st.UserTime() + st.SystemTime()
	res.Exit = st.ExitCode()
	if ws, ok := st.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL {
		res.Killed = true
		r.stats.Killed++
		r.stats.KilledAt = append(r.stats.KilledAt, time.Now())
		r.stats.KilledPIDs[st.Pid()] = time.Now()
		if at := crashPointHit(res.Stderr); at != "" && !killedByUs {
			res.CrashAt = at
			r.stats.CrashPoints[at]++
		} else {
			r.stats.RandomKills++
		}
	}
	if bytes.Contains(res.Stderr, []byte("lease on")) && bytes.Contains(res.Stderr, []byte("held by")) {
		r.stats.LeaseRefused++
	}
}

// crashPointHit reads the crash point a torture build announces before it
// kills itself: "crash point applied#1: SIGKILL".
func crashPointHit(stderr []byte) string {
	const marker = "crash point "
	i := bytes.LastIndex(stderr, []byte(marker))
	if i < 0 {
		return ""
	}
	rest := string(stderr[i+len(marker):])
	at, _, _ := strings.Cut(rest, "#")
	return at
}

func (r *Rotor) track(p *os.Process, running bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if running {
		r.procs[p.Pid] = p
	} else {
		delete(r.procs, p.Pid)
	}
}

// Daemon is a running rotor serve.
type Daemon struct {
	r       *Rotor
	cmd     *exec.Cmd
	done    chan struct{}
	res     Result
	started time.Time
	killed  atomic.Bool
}

// Start starts a long-running rotor process (serve).
func (r *Rotor) Start(ctx context.Context, j Job) (*Daemon, error) {
	cmd, files, stdout, stderr, err := r.command(ctx, j)
	if err != nil {
		return nil, err
	}
	d := &Daemon{r: r, cmd: cmd, done: make(chan struct{}), res: Result{Job: j, Exit: -1, LogFiles: files}, started: time.Now()}
	if err := cmd.Start(); err != nil {
		cmd.Stdout.(*teeFile).Close()
		cmd.Stderr.(*teeFile).Close()
		return nil, err
	}
	r.track(cmd.Process, true)
	go func() {
		defer close(d.done)
		_ = cmd.Wait()
		cmd.Stdout.(*teeFile).Close()
		cmd.Stderr.(*teeFile).Close()
		r.track(cmd.Process, false)
		d.res.Took = time.Since(d.started)
		d.res.Stdout, d.res.Stderr = stdout.Bytes(), stderr.Bytes()
		r.finish(cmd, &d.res, d.killed.Load())
	}()
	return d, nil
}

// Kill SIGKILLs the daemon and waits for it.
func (d *Daemon) Kill() Result {
	d.killed.Store(true)
	_ = d.cmd.Process.Signal(syscall.SIGKILL)
	<-d.done
	return d.res
}

// Stop asks the daemon to stop (SIGTERM) and waits up to grace before
// killing it.
func (d *Daemon) Stop(grace time.Duration) Result {
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.done:
	case <-time.After(grace):
		return d.Kill()
	}
	return d.res
}

// Addr is the address rotor serve listens on, once it has said so in its
// log ("rotor serve listening"), else "".
func (d *Daemon) Addr() string {
	for _, line := range bytes.Split(d.cmd.Stderr.(*teeFile).copy(), []byte("\n")) {
		if !bytes.Contains(line, []byte(`"rotor serve listening"`)) {
			continue
		}
		var l struct {
			Addr string `json:"addr"`
		}
		if json.Unmarshal(line, &l) == nil {
			return l.Addr
		}
	}
	return ""
}

// Done is closed when the daemon exits on its own (a crash point).
func (d *Daemon) Done() <-chan struct{} { return d.done }

// Result is the daemon's end, once Done.
func (d *Daemon) Result() Result { <-d.done; return d.res }

// PIDs lists the rotor processes running now.
func (r *Rotor) PIDs() []int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]int, 0, len(r.procs))
	for pid := range r.procs {
		out = append(out, pid)
	}
	return out
}

// KillAll SIGKILLs every rotor process this Rotor started and that still
// runs (cleanup after a failed test).
func (r *Rotor) KillAll() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, p := range r.procs {
		_ = p.Signal(syscall.SIGKILL)
	}
}
