package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rotor-ci/rotor/internal/alert"
	"github.com/rotor-ci/rotor/internal/config"
	"github.com/rotor-ci/rotor/internal/emulator"
	"github.com/rotor-ci/rotor/internal/emulator/conformance"
	"github.com/rotor-ci/rotor/internal/emulator/fault"
	"github.com/rotor-ci/rotor/internal/rotation"
	"github.com/rotor-ci/rotor/internal/seal"
	"github.com/rotor-ci/rotor/internal/server"
	"github.com/rotor-ci/rotor/internal/store"
	"github.com/rotor-ci/rotor/internal/wiring"
)

// Environment of the daemon child process.
const (
	envDaemon   = "ROTOR_E2E_DAEMON"    // "1": this process is the daemon
	envConfig   = "ROTOR_E2E_CONFIG"    // rotor.yaml
	envAddr     = "ROTOR_E2E_ADDR_FILE" // where the daemon writes its address
	envFreezeAt = "ROTOR_E2E_FREEZE_AT" // a step: freeze there (to be killed)
	envFrozen   = "ROTOR_E2E_FROZEN"    // file written when frozen
)

func TestMain(m *testing.M) {
	if os.Getenv(envDaemon) == "1" {
		os.Exit(daemon())
	}
	os.Exit(m.Run())
}

// daemon is what `rotor serve` does, plus a freeze point for the kill test
// and short lease and tick for speed.
func daemon() int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	cfg, err := config.Load(os.Getenv(envConfig))
	if err != nil {
		log.Error("config", "err", err)
		return 2
	}
	calls := server.NewAWSCalls()
	env, err := wiring.Open(ctx, cfg, log, wiring.WithAWSCalls(calls.Observe))
	if err != nil {
		log.Error("open", "err", err)
		return 1
	}
	defer env.Close()
	eng := env.Engine(nil)
	eng.LeaseTTL = 2 * time.Second
	if at := os.Getenv(envFreezeAt); at != "" {
		eng.Hook = func(step string) {
			if step == at {
				_ = os.WriteFile(os.Getenv(envFrozen), []byte(step), 0o600)
				select {} // as good as dead: the parent sends SIGKILL
			}
		}
	}
	notifiers, err := alert.FromConfig(cfg.Server.Alerts)
	if err != nil {
		log.Error("alerts", "err", err)
		return 2
	}
	srv, err := server.New(server.Deps{
		Config: cfg, Store: env.Store, Engine: eng, Alerts: notifiers, Log: log, AWSCalls: calls,
		Credential: func(ctx context.Context, cc *config.Credential) (rotation.Credential, error) {
			return env.Credential(ctx, cc, wiring.CredentialOptions{})
		},
	}, server.Options{Tick: 100 * time.Millisecond, ShutdownTimeout: 20 * time.Second, Alert: alert.Options{Backoff: 50 * time.Millisecond}})
	if err != nil {
		log.Error("server", "err", err)
		return 2
	}
	go func() {
		<-srv.Started()
		_ = os.WriteFile(os.Getenv(envAddr), []byte(srv.Addr()), 0o600)
	}()
	if err := srv.Run(ctx); err != nil {
		log.Error("run", "err", err)
		return 1
	}
	return 0
}

const apiToken = "e2e-api-token-0123456789abcdefghijklmnopqrstuv"

const configTemplate = `store: sqlite:rotor.db
key: file:rotor.key
github:
  api_url: %s
aws:
  region: us-east-1
  endpoint_url: %s
server:
  listen: 127.0.0.1:0
  auth_token_file: api.token
  watch_every: 1s
  alerts:
    - type: webhook
      url: %s
credentials:
  - name: ci-app
    application: MyFirstPipeline
    source:
      type: github-app
      app_id: %d
      installation_id: %d
      private_key_file: app.pem
      repositories: [%s]
      permissions: {contents: read, metadata: read}
    rotate: {every: 3s, grace: 1s}
    targets:
      - type: codepipeline
        pipelines: [%s]
        verify: execution
`

type world struct {
	t      *testing.T
	dir    string
	cfg    string
	sb     *emulator.Sandbox
	alerts chan alert.Alert
}

func setup(t *testing.T) *world {
	w := &world{t: t, dir: t.TempDir(), alerts: make(chan alert.Alert, 100)}
	for k, v := range map[string]string{"AWS_ACCESS_KEY_ID": "e2e", "AWS_SECRET_ACCESS_KEY": "e2e", "AWS_SESSION_TOKEN": "", "AWS_PROFILE": "",
		"AWS_CONFIG_FILE": filepath.Join(w.dir, "aws-config"), "AWS_SHARED_CREDENTIALS_FILE": filepath.Join(w.dir, "aws-credentials")} {
		t.Setenv(k, v)
	}
	sb, err := emulator.Start(t.Context(), emulator.Config{World: emulator.DefaultWorld(), PollInterval: -1, Check: conformance.For(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sb.Close() })
	w.sb = sb
	hook := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		var a alert.Alert
		if err := json.NewDecoder(r.Body).Decode(&a); err != nil {
			t.Errorf("alert body: %v", err)
		}
		w.alerts <- a
	}))
	t.Cleanup(hook.Close)

	must(t, seal.Generate(filepath.Join(w.dir, "rotor.key")))
	pem, err := sb.GitHub.AppPrivateKeyPEM(emulator.SeedApp)
	must(t, err)
	must(t, os.WriteFile(filepath.Join(w.dir, "app.pem"), pem, 0o600))
	must(t, os.WriteFile(filepath.Join(w.dir, "api.token"), []byte(apiToken+"\n"), 0o600))
	appID, installs := sb.GitHub.App(emulator.SeedApp)
	w.cfg = filepath.Join(w.dir, "rotor.yaml")
	must(t, os.WriteFile(w.cfg, []byte(fmt.Sprintf(configTemplate, sb.GitHubURL, sb.CodePipelineURL, hook.URL, appID, installs[0], emulator.SeedRepo, emulator.SeedPipeline)), 0o600))

	// Before rotor: the pipeline holds an installation token of the app
	// (put there by hand, say). rotor adopt records it as version 1, so
	// that every rotation can roll back.
	cfg, err := config.Load(w.cfg)
	must(t, err)
	env, err := wiring.Open(t.Context(), cfg, nil)
	must(t, err)
	defer env.Close()
	cred, err := env.Credential(t.Context(), &cfg.Credentials[0], wiring.CredentialOptions{})
	must(t, err)
	bindings, err := cred.Targets[0].Discover(t.Context())
	must(t, err)
	minted, err := cred.Source.Mint(t.Context(), rotation.Requirements{Repositories: bindings[0].Repositories})
	must(t, err)
	tok := minted.Token
	cred.Targets[0].Apply(t.Context(), tok, bindings, func(r rotation.Result) { must(t, r.Err) })
	_, err = env.Engine(nil).Adopt(t.Context(), cred, tok, rotation.AdoptOptions{ConfirmUnverifiable: true})
	must(t, err)
	return w
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// daemonProc is one `rotor serve` child process.
type daemonProc struct {
	cmd    *exec.Cmd
	addr   string
	frozen string
	logs   string
	done   chan error
}

func (w *world) start(name, freezeAt string) *daemonProc {
	t := w.t
	t.Helper()
	d := &daemonProc{frozen: filepath.Join(w.dir, name+".frozen"), logs: filepath.Join(w.dir, name+".log"), done: make(chan error, 1)}
	addrFile := filepath.Join(w.dir, name+".addr")
	logf, err := os.Create(d.logs)
	must(t, err)
	d.cmd = exec.Command(os.Args[0])
	d.cmd.Env = append(os.Environ(), envDaemon+"=1", envConfig+"="+w.cfg, envAddr+"="+addrFile, envFreezeAt+"="+freezeAt, envFrozen+"="+d.frozen)
	d.cmd.Stdout, d.cmd.Stderr = logf, logf
	must(t, d.cmd.Start())
	go func() { d.done <- d.cmd.Wait(); logf.Close() }()
	t.Cleanup(func() {
		if d.cmd.ProcessState == nil {
			_ = d.cmd.Process.Kill()
			<-d.done
		}
		if t.Failed() || os.Getenv("ROTOR_E2E_LOGS") != "" {
			b, _ := os.ReadFile(d.logs)
			t.Logf("%s log:\n%s", name, b)
		}
	})
	eventually(t, name+" listening", func() bool {
		b, err := os.ReadFile(addrFile)
		d.addr = string(b)
		return err == nil && d.addr != ""
	})
	return d
}

func (d *daemonProc) kill(t *testing.T) {
	must(t, d.cmd.Process.Signal(syscall.SIGKILL))
	<-d.done
}

// get calls the daemon's API with the token and decodes the JSON answer.
func (d *daemonProc) get(t *testing.T, path string, out any) {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+d.addr+path, nil)
	req.Header.Set("Authorization", "Bearer "+apiToken)
	resp, err := http.DefaultClient.Do(req)
	must(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %s", path, resp.StatusCode, b)
	}
	if s, ok := out.(*string); ok {
		*s = string(b)
		return
	}
	must(t, json.Unmarshal(b, out))
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// runs reads the credential's runs straight from the store, as a second
// process would.
func (w *world) runs() []rotation.Run {
	st, err := store.Open(context.Background(), "sqlite:"+filepath.Join(w.dir, "rotor.db"), store.Options{})
	must(w.t, err)
	defer st.Close()
	runs, err := st.Runs(context.Background(), "ci-app", 0)
	must(w.t, err)
	return runs
}

func TestServe_endToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: skipped with -short")
	}
	w := setup(t)

	// 1. A rotation happens on its own.
	d1 := w.start("daemon1", "")
	eventually(t, "a scheduled rotation succeeded", func() bool {
		runs := w.runs()
		return len(runs) > 0 && runs[len(runs)-1].Status == rotation.RunSucceeded
	})
	if r := w.runs()[len(w.runs())-1]; r.Trigger != "schedule" {
		t.Errorf("first run trigger %q, want schedule", r.Trigger)
	}
	var creds struct {
		Credentials []server.CredentialView `json:"credentials"`
	}
	d1.get(t, "/v1/credentials", &creds)
	if len(creds.Credentials) != 1 || creds.Credentials[0].Current == nil || creds.Credentials[0].Current.Seq < 2 {
		t.Fatalf("API credentials = %+v", creds)
	}
	var metrics string
	d1.get(t, "/metrics", &metrics)
	for _, want := range []string{`rotor_rotations_total{credential="ci-app",result="succeeded"}`, `rotor_credential_created_timestamp_seconds{credential="ci-app"}`, `rotor_last_run_success{credential="ci-app"} 1`,
		`rotor_aws_calls_total{account="123456789012",operation="UpdatePipeline",region="us-east-1",result="ok",service="codepipeline"}`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	d1.kill(t)

	// 2. A daemon killed in the middle of a run (after apply, before verify)…
	d2 := w.start("daemon2", "applied")
	eventually(t, "daemon2 froze after apply", func() bool { _, err := os.Stat(d2.frozen); return err == nil })
	d2.kill(t)
	runs := w.runs()
	open := runs[0]
	if open.Status != rotation.RunRunning || open.Step != rotation.StepApplied {
		t.Fatalf("after the kill the newest run is %s at %s, want running at applied", open.Status, open.Step)
	}
	// …is resumed by the next one, once the dead one's lease lapses.
	d3 := w.start("daemon3", "")
	eventually(t, "the killed run was resumed", func() bool {
		for _, r := range w.runs() {
			if r.ID == open.ID {
				return r.Status != rotation.RunRunning
			}
		}
		return false
	})
	for _, r := range w.runs() {
		if r.ID == open.ID && r.Status != rotation.RunSucceeded {
			t.Fatalf("resumed run %d ended %s: %s", r.ID, r.Status, r.Error)
		}
	}

	// 3. A rotation whose pipeline cannot fetch with the new token is rolled
	// back, and a person is told.
	w.sb.Faults.SetRules([]fault.Rule{{Service: "github", Operation: "GET /repos/{owner}/{repo}/tarball/{ref...}", Fail: true}})
	a := waitAlert(t, w.alerts, alert.EventRolledBack)
	if a.Credential != "ci-app" || a.RunID == 0 || !strings.Contains(a.Message, "VerifyFailed") {
		t.Errorf("alert = %+v", a)
	}
	w.sb.Faults.SetRules(nil)
	var audit server.AuditPage
	d3.get(t, "/v1/audit?limit=1000", &audit)
	events := map[string]bool{}
	for _, r := range audit.Records {
		events[r.Event] = true
	}
	for _, want := range []string{"adopted", "run.resumed", "promoted", "rolled_back"} {
		if !events[want] {
			t.Errorf("audit log lacks %s", want)
		}
	}
	d3.get(t, "/metrics", &metrics)
	if !strings.Contains(metrics, `rotor_rotations_total{credential="ci-app",result="rolled_back"} 1`) {
		t.Errorf("/metrics does not count the rollback")
	}

	// 4. SIGTERM: a graceful stop.
	must(t, d3.cmd.Process.Signal(syscall.SIGTERM))
	select {
	case err := <-d3.done:
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Errorf("daemon3 exited %v after SIGTERM", err)
		}
	case <-time.After(45 * time.Second):
		t.Fatal("daemon3 did not stop within 45 s of SIGTERM")
	}
}

func waitAlert(t *testing.T, ch chan alert.Alert, event string) alert.Alert {
	t.Helper()
	deadline := time.After(60 * time.Second)
	for {
		select {
		case a := <-ch:
			if a.Event == event {
				return a
			}
			t.Logf("alert: %s %s: %s", a.Event, a.Credential, a.Message)
		case <-deadline:
			t.Fatalf("no %s alert arrived", event)
		}
	}
}
