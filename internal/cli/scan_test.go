package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/rotor-ci/rotor/internal/rotation"
	"github.com/rotor-ci/rotor/internal/store"
	"github.com/rotor-ci/rotor/internal/token"
)

// runScanCLI runs `rotor ARGS` through the real root command (so global
// flags and their checks apply) with scan registered, in dir.
func runScanCLI(t *testing.T, dir string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	t.Chdir(dir)
	t.Setenv("ROTOR_CONFIG", "")
	var out, errb bytes.Buffer
	app := &App{IO: IO{In: strings.NewReader(""), Out: &out, Err: &errb}}
	root := newRootCmd(app)
	registered := false
	for _, c := range root.Commands() {
		registered = registered || c.Name() == "scan"
	}
	if !registered {
		root.AddCommand(newScanCmd(app))
	}
	root.SetArgs(args)
	root.SetOut(&out)
	root.SetErr(&errb)
	code = ExitOK
	if err := root.ExecuteContext(context.Background()); err != nil {
		code = exitCode(err)
		errb.WriteString("rotor: " + err.Error() + "\n")
	}
	return out.String(), errb.String(), code
}

// scanFixture is a directory with rotor.yaml, a store that knows three
// versions of one credential, and the files the seed procedure leaves
// behind. Token values are generated here, never committed.
type scanFixture struct {
	dir                     string
	current, previous, gone string // values rotor holds as current, previous, retired
	stranger                string // a token rotor never held
}

func newScanFixture(t *testing.T) scanFixture {
	t.Helper()
	fx := scanFixture{
		dir:      t.TempDir(),
		current:  token.Generate(token.KindClassicPAT).Reveal(),
		previous: token.Generate(token.KindClassicPAT).Reveal(),
		gone:     token.Generate(token.KindClassicPAT).Reveal(),
		stranger: token.Generate(token.KindFineGrained).Reveal(),
	}
	fx.config(t, "")
	ctx := context.Background()
	st, err := store.Open(ctx, "sqlite:"+filepath.Join(fx.dir, "rotor.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	err = st.Tx(ctx, func(tx rotation.Tx) error {
		if err := tx.PutCredential(rotation.CredentialRecord{Name: "cp"}); err != nil {
			return err
		}
		for _, v := range []struct {
			value string
			state rotation.VersionState
		}{{fx.gone, rotation.VersionRetired}, {fx.previous, rotation.VersionPrevious}, {fx.current, rotation.VersionCurrent}} {
			if _, err := tx.AddVersion(rotation.Version{Credential: "cp", Fingerprint: token.Fingerprint(v.value), Kind: token.KindClassicPAT, State: v.state}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return fx
}

// config writes rotor.yaml, with GitHub at apiURL unless it is empty.
func (fx scanFixture) config(t *testing.T, apiURL string) {
	t.Helper()
	cfg := "store: sqlite:rotor.db\n" + validConfig
	if apiURL != "" {
		cfg = "github:\n  api_url: " + apiURL + "\n" + cfg
	}
	if err := os.WriteFile(filepath.Join(fx.dir, "rotor.yaml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
}

// write puts the leftovers in a "repo" subdirectory and returns its path.
func (fx scanFixture) write(t *testing.T, files map[string]string) string {
	t.Helper()
	repo := filepath.Join(fx.dir, "repo")
	for name, body := range files {
		p := filepath.Join(repo, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return repo
}

func pipelineJSON(oauth string) string {
	return `{"pipeline": {"name": "MyFirstPipeline", "stages": [{"name": "Source", "actions": [{"name": "Source",
  "actionTypeId": {"category": "Source", "owner": "ThirdParty", "provider": "GitHub", "version": "1"},
  "configuration": {"Owner": "me", "Repo": "test-repo", "Branch": "master",
    "OAuthToken": "` + oauth + `"}}]}], "version": 2},
 "metadata": {"pipelineArn": "arn:aws:codepipeline:us-east-1:111111111111:MyFirstPipeline"}}
`
}

func TestScanCmd_FailOn(t *testing.T) {
	fx := newScanFixture(t)
	everything := map[string]string{
		"pipeline.json":    pipelineJSON(fx.current),
		"old/deploy.sh":    "export GITHUB_TOKEN=" + fx.previous + "\n",
		"older/notes.txt":  fx.gone + "\n",
		"other/config.env": "T=" + fx.stranger + "\n",
	}
	onlyRetired := map[string]string{"older/notes.txt": fx.gone + "\n"}
	tests := []struct {
		name  string
		files map[string]string
		args  []string
		code  int
	}{
		{"current fails --fail-on current", everything, []string{"--fail-on", "current"}, ExitFailure},
		{"retired passes --fail-on current", onlyRetired, []string{"--fail-on", "current"}, ExitOK},
		{"retired passes --fail-on previous", onlyRetired, []string{"--fail-on", "previous"}, ExitOK},
		{"retired fails --fail-on any", onlyRetired, []string{"--fail-on", "any"}, ExitFailure},
		{"the default is any", onlyRetired, nil, ExitFailure},
		{"none never fails", everything, []string{"--fail-on", "none"}, ExitOK},
		{"nothing found", map[string]string{"a.txt": "hello"}, nil, ExitOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			os.RemoveAll(filepath.Join(fx.dir, "repo"))
			fx.write(t, tt.files)
			stdout, stderr, code := runScanCLI(t, fx.dir, append([]string{"scan", "repo"}, tt.args...)...)
			if code != tt.code {
				t.Errorf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tt.code, stdout, stderr)
			}
		})
	}
	t.Run("the table says what rotor knows", func(t *testing.T) {
		os.RemoveAll(filepath.Join(fx.dir, "repo"))
		fx.write(t, everything)
		stdout, stderr, _ := runScanCLI(t, fx.dir, "scan", "repo")
		for _, want := range []string{
			"repo/pipeline.json:4:", "pipeline-json ghp", "current (cp v3)", "delete this file",
			"repo/old/deploy.sh:1:", "previous (cp v2)", "repo/older/notes.txt:1:", "retired (cp v1)",
			"repo/other/config.env:1:", "unknown", "4 findings",
		} {
			if !strings.Contains(stdout, want) {
				t.Errorf("stdout lacks %q:\n%s", want, stdout)
			}
		}
		if !strings.Contains(stderr, "4 findings at or above --fail-on any") {
			t.Errorf("stderr: %s", stderr)
		}
	})
}

func TestScanCmd_Formats(t *testing.T) {
	fx := newScanFixture(t)
	fx.write(t, map[string]string{
		"pipeline.json": pipelineJSON(fx.current),
		"x.env":         "A=" + fx.stranger + "\n",
	})
	planted := []string{fx.current, fx.previous, fx.gone, fx.stranger}
	for _, args := range [][]string{
		{"scan", "repo"},
		{"scan", "-o", "json", "repo"},
		{"-o", "sarif", "scan", "repo"},
		{"scan", "--format", "sarif", "repo"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			stdout, stderr, code := runScanCLI(t, fx.dir, args...)
			if code != ExitFailure {
				t.Fatalf("exit %d\n%s", code, stderr)
			}
			for _, v := range planted {
				for i := 4; i+8 <= len(v); i++ {
					if strings.Contains(stdout+stderr, v[i:i+8]) {
						t.Fatalf("output contains part of a token value:\n%s\n%s", stdout, stderr)
					}
				}
			}
			switch {
			case strings.Contains(strings.Join(args, " "), "sarif"):
				var log struct {
					Version string `json:"version"`
					Runs    []struct {
						Results []struct {
							RuleID string `json:"ruleId"`
						} `json:"results"`
					} `json:"runs"`
				}
				if err := json.Unmarshal([]byte(stdout), &log); err != nil || log.Version != "2.1.0" || len(log.Runs) != 1 || len(log.Runs[0].Results) != 2 {
					t.Errorf("SARIF: %v\n%s", err, stdout)
				}
			case strings.Contains(strings.Join(args, " "), "json"):
				var res struct {
					Findings []struct {
						Known       string `json:"known"`
						Fingerprint string `json:"fingerprint"`
					} `json:"findings"`
					StoreChecked bool `json:"store_checked"`
				}
				if err := json.Unmarshal([]byte(stdout), &res); err != nil {
					t.Fatal(err)
				}
				got := []string{res.Findings[0].Known, res.Findings[1].Known}
				if diff := cmp.Diff([]string{"current", "unknown"}, got); diff != "" || !res.StoreChecked {
					t.Errorf("known (-want +got):\n%s", diff)
				}
			}
		})
	}
}

func TestScanCmd_Allow(t *testing.T) {
	dir := t.TempDir()
	vector := token.Generate(token.KindClassicPAT).Reveal()
	if err := os.WriteFile(filepath.Join(dir, "vectors_test.go"), []byte("var v = \""+vector+"\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, code := runScanCLI(t, dir, "scan", "."); code != ExitFailure {
		t.Fatalf("exit %d without --allow, want 1", code)
	}
	stdout, stderr, code := runScanCLI(t, dir, "scan", "--allow", token.Fingerprint(vector), ".")
	if code != ExitOK || !strings.Contains(stdout, "1 allowed by fingerprint") {
		t.Errorf("exit %d\n%s%s", code, stdout, stderr)
	}
}

func TestScanCmd_WithoutConfig(t *testing.T) {
	dir := t.TempDir()
	tok := token.Generate(token.KindClassicPAT).Reveal()
	if err := os.WriteFile(filepath.Join(dir, "pipeline.json"), []byte(pipelineJSON(tok)), 0o600); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code := runScanCLI(t, dir, "scan", ".", "--fail-on", "current")
	if code != ExitOK {
		t.Errorf("exit %d: nothing can be current without a store", code)
	}
	for _, want := range []string{"no config at rotor.yaml", "--fail-on current needs rotor's store"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	if !strings.Contains(stdout, "pipeline.json:4:") || !strings.Contains(stdout, "unchecked") {
		t.Errorf("stdout:\n%s", stdout)
	}
	if _, err := os.Stat(filepath.Join(dir, "rotor.db")); err == nil {
		t.Error("scan created a store")
	}
}

func TestScanCmd_Usage(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no path", []string{"scan"}, "requires at least 1 PATH, or --github OWNER"},
		{"bad --fail-on", []string{"scan", "--fail-on", "all", "."}, `--fail-on "all"`},
		{"bad -o", []string{"-o", "xml", "scan", "."}, `--output "xml"`},
		{"bad --format", []string{"scan", "--format", "xml", "."}, `--format "xml"`},
		{"bad --max-size", []string{"scan", "--max-size", "lots", "."}, `--max-size "lots"`},
		{"missing path", []string{"scan", "nope"}, "nope"},
		{"named config missing", []string{"-c", "missing.yaml", "scan", "."}, "missing.yaml"},
		{"bad --allow", []string{"scan", "--allow", "ghp_x", "."}, `--allow "ghp_x"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, stderr, code := runScanCLI(t, dir, tt.args...)
			if code != ExitUsage || !strings.Contains(stderr, tt.want) {
				t.Errorf("exit %d, stderr %q; want %d and %q", code, stderr, ExitUsage, tt.want)
			}
		})
	}
}

// fakeGitHub answers GET /user: 200 for the tokens in alive, 401 Bad
// credentials for any other; it counts the requests.
func fakeGitHub(t *testing.T, alive ...string) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	calls := new(atomic.Int64)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		auth := strings.TrimPrefix(strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "), "token ")
		for _, a := range alive {
			if auth == a && r.URL.Path == "/user" {
				w.Header().Set("X-OAuth-Scopes", "repo, admin:repo_hook")
				fmt.Fprint(w, `{"login": "octocat"}`)
				return
			}
		}
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprint(w, `{"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest"}`)
	}))
	t.Cleanup(srv.Close)
	return srv, calls
}

func TestScanCmd_Live(t *testing.T) {
	fx := newScanFixture(t)
	srv, calls := fakeGitHub(t, fx.current)
	fx.config(t, srv.URL)
	fx.write(t, map[string]string{
		"a.txt": fx.current + "\n" + fx.gone + "\n" + fx.stranger + "\n",
	})
	t.Run("only tokens rotor knows", func(t *testing.T) {
		calls.Store(0)
		stdout, stderr, _ := runScanCLI(t, fx.dir, "scan", "--live", "repo")
		if calls.Load() != 2 {
			t.Errorf("GitHub asked %d times, want 2 (current and retired)\n%s", calls.Load(), stderr)
		}
		for _, want := range []string{"current (cp v3), works", "retired (cp v1), dead"} {
			if !strings.Contains(stdout, want) {
				t.Errorf("stdout lacks %q:\n%s", want, stdout)
			}
		}
	})
	t.Run("--live-unknown asks about every token", func(t *testing.T) {
		calls.Store(0)
		stdout, _, _ := runScanCLI(t, fx.dir, "scan", "--live-unknown", "repo")
		if calls.Load() != 3 || !strings.Contains(stdout, "unknown, dead") {
			t.Errorf("GitHub asked %d times, want 3\n%s", calls.Load(), stdout)
		}
	})
}

func TestParseSize(t *testing.T) {
	tests := map[string]int64{"1MiB": 1 << 20, "512KiB": 512 << 10, "2MB": 2e6, "100": 100, "1.5M": 3 << 19, "10 KB": 10e3, "1GiB": 1 << 30}
	for in, want := range tests {
		if got, err := parseSize(in); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "lots", "-1MiB", "0", "5TiB"} {
		if _, err := parseSize(bad); err == nil {
			t.Errorf("parseSize(%q): want an error", bad)
		}
	}
}
