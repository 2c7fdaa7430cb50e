package ha

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rotor-ci/rotor/internal/rotorbin"
)

// envBinary names a rotor binary to test instead of building one (a
// release, say).
const envBinary = "ROTOR_HA_BINARY"

// rotorBinary builds cmd/rotor (the real product, as operators run it) into
// a directory of t's, or returns $ROTOR_HA_BINARY.
func rotorBinary(t *testing.T) string {
	t.Helper()
	if bin := os.Getenv(envBinary); bin != "" {
		return bin
	}
	bin, err := rotorbin.Build(t.Context(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// replica is one `rotor serve` process.
type replica struct {
	name   string
	cmd    *exec.Cmd
	addr   string
	holder string // its name in leases and the audit log: host/pid
	logs   string
	done   chan struct{}
	err    error // Wait's result, once done is closed
}

// startReplica starts `rotor serve` with cfg and waits until it listens.
func startReplica(t *testing.T, bin, name, cfg string, args ...string) *replica {
	t.Helper()
	r := &replica{name: name, logs: filepath.Join(filepath.Dir(cfg), name+".log"), done: make(chan struct{})}
	logf, err := os.Create(r.logs)
	must(t, err)
	argv := append([]string{"--config", cfg, "--log-format", "json", "serve", "--listen", "127.0.0.1:0"}, args...)
	r.cmd = exec.Command(bin, argv...)
	r.cmd.Stdout, r.cmd.Stderr = logf, logf
	must(t, r.cmd.Start())
	host, _ := os.Hostname()
	r.holder = fmt.Sprintf("%s/%d", host, r.cmd.Process.Pid)
	go func() {
		r.err = r.cmd.Wait()
		logf.Close()
		close(r.done)
	}()
	t.Cleanup(func() {
		if !r.exited() {
			// A stopped process ignores everything but SIGKILL and SIGCONT.
			_ = r.cmd.Process.Signal(syscall.SIGCONT)
			_ = r.cmd.Process.Kill()
			<-r.done
		}
		if t.Failed() || os.Getenv("ROTOR_HA_LOGS") != "" {
			b, _ := os.ReadFile(r.logs)
			t.Logf("%s (%s) log:\n%s", r.name, r.holder, b)
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for r.addr == "" {
		if r.exited() || time.Now().After(deadline) {
			b, _ := os.ReadFile(r.logs)
			t.Fatalf("%s did not start listening (exited: %v, err %v):\n%s", name, r.exited(), r.err, b)
		}
		time.Sleep(20 * time.Millisecond)
		r.addr = listenAddr(r.logs)
	}
	return r
}

// listenAddr finds the address in the "rotor serve listening" log line.
func listenAddr(logs string) string {
	b, err := os.ReadFile(logs)
	if err != nil {
		return ""
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for sc.Scan() {
		var line struct {
			Msg  string `json:"msg"`
			Addr string `json:"addr"`
		}
		if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "rotor serve listening" {
			return line.Addr
		}
	}
	return ""
}

func (r *replica) exited() bool {
	select {
	case <-r.done:
		return true
	default:
		return false
	}
}

func (r *replica) signal(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if err := r.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("%s: %v: %v", r.name, sig, err)
	}
}

// kill sends SIGKILL and waits for the process to be gone.
func (r *replica) kill(t *testing.T) {
	r.signal(t, syscall.SIGKILL)
	<-r.done
}

// stop sends SIGTERM and waits for a graceful exit.
func (r *replica) stop(t *testing.T, within time.Duration) {
	t.Helper()
	r.signal(t, syscall.SIGTERM)
	select {
	case <-r.done:
		if r.err != nil {
			t.Errorf("%s exited with %v after SIGTERM", r.name, r.err)
		}
	case <-time.After(within):
		t.Errorf("%s did not stop within %s of SIGTERM", r.name, within)
	}
}

// ready asks /readyz and returns the status code and the reason given.
func (r *replica) ready(ctx context.Context) (int, string) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+r.addr+"/readyz", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	var body struct {
		Status, Reason string
	}
	_ = json.NewDecoder(resp.Body).Decode(&body)
	return resp.StatusCode, strings.TrimSpace(body.Status + " " + body.Reason)
}

// waitReady polls /readyz until it answers want.
func (r *replica) waitReady(t *testing.T, want int, within time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		code, why := r.ready(t.Context())
		if code == want {
			return why
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s /readyz = %d %q, want %d within %s", r.name, code, why, want, within)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// rotorCLI runs one rotor command and returns its stdout; stderr goes into
// the error.
func rotorCLI(ctx context.Context, bin, cfg string, args ...string) (string, error) {
	out, _, err := runRotor(ctx, bin, cfg, args...)
	return out, err
}

// runRotor is rotorCLI that also returns the process id.
func runRotor(ctx context.Context, bin, cfg string, args ...string) (string, int, error) {
	cmd := exec.CommandContext(ctx, bin, append([]string{"--config", cfg}, args...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	pid := 0
	if cmd.Process != nil {
		pid = cmd.Process.Pid
	}
	if err != nil {
		return out.String(), pid, fmt.Errorf("rotor %s: %v\n%s", strings.Join(args, " "), err, errb.String())
	}
	return out.String(), pid, nil
}
