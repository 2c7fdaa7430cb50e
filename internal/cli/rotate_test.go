package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	cp "github.com/aws/aws-sdk-go-v2/service/codepipeline"
	cptypes "github.com/aws/aws-sdk-go-v2/service/codepipeline/types"

	"github.com/rotor-ci/rotor/internal/awsx"
	"github.com/rotor-ci/rotor/internal/emulator"
	"github.com/rotor-ci/rotor/internal/emulator/conformance"
	"github.com/rotor-ci/rotor/internal/emulator/fault"
	ghemu "github.com/rotor-ci/rotor/internal/emulator/github"
	"github.com/rotor-ci/rotor/internal/rotation"
	"github.com/rotor-ci/rotor/internal/seal"
	"github.com/rotor-ci/rotor/internal/status"
	"github.com/rotor-ci/rotor/internal/token"
	"github.com/rotor-ci/rotor/internal/wiring"
)

// e2e is a rotor installation pointed at in-process emulators, driven
// through the real CLI, with every output kept for the canary grep.
type e2e struct {
	t       *testing.T
	sb      *emulator.Sandbox
	dir     string
	config  string
	outputs []string
	tokens  []token.Token // every token value the test has seen
	wiring  []wiring.Option
}

func newE2E(t *testing.T, grace string) *e2e {
	t.Helper()
	return newE2EWorld(t, grace, nil)
}

// newE2EWorld is newE2E with a change to the emulators' world (nil: none).
func newE2EWorld(t *testing.T, grace string, change func(*emulator.World)) *e2e {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	// A second user who may read test-repo: their token passes every check
	// but identity.
	world := emulator.DefaultWorld()
	world.GitHub.RateLimit = 10_000_000 // pipelines poll every 20 ms with one token
	world.GitHub.Users = append(world.GitHub.Users, ghemu.UserSpec{Login: "someone-else"})
	for i := range world.GitHub.Repos {
		world.GitHub.Repos[i].Collaborators = append(world.GitHub.Repos[i].Collaborators, "someone-else")
	}
	if change != nil {
		change(&world)
	}
	sb, err := emulator.Start(ctx, emulator.Config{World: world, PollInterval: 20 * time.Millisecond, Check: conformance.For(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sb.Close() })
	// The CodePipeline target's inventory cache lives in the user cache
	// directory: each test gets its own.
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	for k, v := range map[string]string{"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_CONFIG_FILE": os.DevNull, "AWS_SHARED_CREDENTIALS_FILE": os.DevNull, "ROTOR_CONFIG": ""} {
		t.Setenv(k, v)
	}
	e := &e2e{t: t, sb: sb, dir: t.TempDir()}
	if err := seal.Generate(filepath.Join(e.dir, "rotor.key")); err != nil {
		t.Fatal(err)
	}
	e.config = filepath.Join(e.dir, "rotor.yaml")
	cfg := fmt.Sprintf(`store: sqlite:rotor.db
key: file:rotor.key
github: {api_url: %s}
aws: {region: us-east-1, endpoint_url: %s}
credentials:
  - name: pipeline-token
    application: MyFirstPipeline
    source: {type: personal-token, scopes: [repo, "admin:repo_hook"]}
    rotate: {every: 30d, renew_before: 7d, grace: %s}
    targets:
      - {type: codepipeline, pipelines: [MyFirstPipeline]}
      - {type: file, path: ci/github-token}
`, sb.GitHubURL, sb.CodePipelineURL, grace)
	if err := os.MkdirAll(filepath.Join(e.dir, "ci"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(e.config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	old, ok := sb.CodePipeline.StoredToken("MyFirstPipeline", "Source")
	if !ok {
		t.Fatal("world pipeline has no token")
	}
	e.tokens = append(e.tokens, token.New(old.Reveal()))
	// The file target holds today's token too.
	if err := os.WriteFile(filepath.Join(e.dir, "ci", "github-token"), []byte(old.Reveal()), 0o600); err != nil {
		t.Fatal(err)
	}
	return e
}

// pipelines is a CodePipeline client for the emulator and the seed
// pipeline's declaration, to copy from.
func (e *e2e) pipelines() (*cp.Client, *cptypes.PipelineDeclaration) {
	e.t.Helper()
	ctx := context.Background()
	awsCfg, err := awsx.Load(ctx, awsx.Config{Region: "us-east-1", EndpointURL: e.sb.CodePipelineURL})
	if err != nil {
		e.t.Fatal(err)
	}
	client := cp.NewFromConfig(awsCfg)
	got, err := client.GetPipeline(ctx, &cp.GetPipelineInput{Name: aws.String("MyFirstPipeline")})
	if err != nil {
		e.t.Fatal(err)
	}
	return client, got.Pipeline
}

// clonePipeline creates a copy of the seed pipeline named name whose GitHub
// action holds tok.
func (e *e2e) clonePipeline(name string, tok token.Token) {
	e.t.Helper()
	client, decl := e.pipelines()
	decl.Name = aws.String(name)
	for _, s := range decl.Stages {
		for _, a := range s.Actions {
			if _, ok := a.Configuration["OAuthToken"]; ok {
				a.Configuration["OAuthToken"] = tok.Reveal()
			}
		}
	}
	if _, err := client.CreatePipeline(context.Background(), &cp.CreatePipelineInput{Pipeline: decl}); err != nil {
		e.t.Fatalf("create %s: %v", name, err)
	}
}

// rotor runs one command and returns its exit code and combined output.
func (e *e2e) rotor(stdin string, args ...string) (int, string) {
	e.t.Helper()
	var out, errb bytes.Buffer
	var in io.Reader = strings.NewReader(stdin)
	code := Main(context.Background(), append([]string{"--config", e.config}, args...), IO{In: in, Out: &out, Err: &errb}, e.wiring...)
	all := out.String() + errb.String()
	e.outputs = append(e.outputs, all)
	return code, out.String() + "\n" + errb.String()
}

func (e *e2e) newToken(user string, scopes ...string) token.Token {
	e.t.Helper()
	tok, _, err := e.sb.GitHub.CreateToken(user, ghemu.TokenSpec{Kind: ghemu.KindClassic, Note: fmt.Sprintf("t%d", len(e.tokens)), Scopes: scopes})
	if err != nil {
		e.t.Fatal(err)
	}
	e.tokens = append(e.tokens, token.New(tok.Reveal()))
	return token.New(tok.Reveal())
}

func (e *e2e) pipelineToken() string {
	tok, _ := e.sb.CodePipeline.StoredToken("MyFirstPipeline", "Source")
	return tok.Fingerprint()
}

func (e *e2e) fileToken() string {
	b, err := os.ReadFile(filepath.Join(e.dir, "ci", "github-token"))
	if err != nil {
		e.t.Fatal(err)
	}
	return token.Fingerprint(string(b))
}

func (e *e2e) state(fp string) ghemu.TokenState {
	for _, ti := range e.sb.GitHub.Tokens() {
		if ti.Fingerprint == fp {
			return ti.State
		}
	}
	return ""
}

// canary greps every output and every file rotor wrote for every token
// value the test saw (I6). Targets (the file targets' files, in ci/) are
// excluded: that is where a token belongs.
func (e *e2e) canary() {
	e.t.Helper()
	var hay []string
	hay = append(hay, e.outputs...)
	_ = filepath.Walk(e.dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() || filepath.Dir(p) == filepath.Join(e.dir, "ci") {
			return nil
		}
		b, _ := os.ReadFile(p)
		hay = append(hay, string(b))
		return nil
	})
	for _, tok := range e.tokens {
		for i, h := range hay {
			if strings.Contains(h, tok.Reveal()) {
				e.t.Fatalf("I6: token %s found in output or file #%d", tok.Fingerprint(), i)
			}
		}
	}
}

func TestCLI_RotateEndToEnd(t *testing.T) {
	e := newE2E(t, "0")
	old := e.tokens[0]
	if code, out := e.rotor("", "validate"); code != 0 {
		t.Fatalf("validate: %d %s", code, out)
	}
	// Rotating before rotor knows today's token is refused with advice.
	if code, out := e.rotor(e.newToken("MyGitHubUserName", "repo", "admin:repo_hook").Reveal()+"\n", "rotate", "pipeline-token", "--token-stdin"); code != ExitFailure || !strings.Contains(out, "rotor adopt") {
		t.Fatalf("rotate without adopt: %d %s", code, out)
	}
	if code, out := e.rotor(old.Reveal()+"\n", "adopt", "pipeline-token", "--token-stdin", "--confirm-unverifiable"); code != 0 {
		t.Fatalf("adopt: %d %s", code, out)
	}
	if code, out := e.rotor("", "plan"); code != 0 || !strings.Contains(out, "codepipeline:123456789012:us-east-1:MyFirstPipeline/Source/Source") || !strings.Contains(out, "file:") {
		t.Fatalf("plan: %d %s", code, out)
	}
	fresh := e.newToken("MyGitHubUserName", "repo", "admin:repo_hook")
	code, out := e.rotor(fresh.Reveal()+"\n", "rotate", "pipeline-token", "--token-stdin")
	if code != 0 {
		t.Fatalf("rotate: %d %s", code, out)
	}
	if e.pipelineToken() != fresh.Fingerprint() || e.fileToken() != fresh.Fingerprint() {
		t.Fatalf("targets not on the new token: pipeline %s file %s", e.pipelineToken(), e.fileToken())
	}
	// grace 0: the old token is revoked as part of the rotation.
	if st := e.state(old.Fingerprint()); st != ghemu.StateRevoked {
		t.Fatalf("old token is %q, want revoked", st)
	}
	code, out = e.rotor("", "status", "-o", "json")
	var sts []status.Credential
	if code != 0 || json.Unmarshal([]byte(strings.SplitN(out, "\n\n", 2)[0]), &sts) != nil || len(sts) != 1 || sts[0].Current == nil || sts[0].Current.Fingerprint != fresh.Fingerprint() || sts[0].Healthy != 2 {
		t.Fatalf("status: %d %s", code, out)
	}
	if code, out := e.rotor("", "history", "pipeline-token"); code != 0 || !strings.Contains(out, "succeeded") || !strings.Contains(out, "retired") {
		t.Fatalf("history: %d %s", code, out)
	}
	if code, out := e.rotor("", "audit", "verify"); code != 0 || !strings.Contains(out, "audit chain ok") {
		t.Fatalf("audit verify: %d %s", code, out)
	}
	e.canary()
}

func TestCLI_RotateRefusesBadTokens(t *testing.T) {
	e := newE2E(t, "10m")
	old := e.tokens[0]
	if code, out := e.rotor(old.Reveal()+"\n", "adopt", "pipeline-token", "--token-stdin", "--confirm-unverifiable"); code != 0 {
		t.Fatalf("adopt: %d %s", code, out)
	}
	other := e.newToken("someone-else", "repo", "admin:repo_hook")
	noScope := e.newToken("MyGitHubUserName", "repo")
	mangled := e.newToken("MyGitHubUserName", "repo", "admin:repo_hook").Reveal()
	swap := "a"
	if mangled[10] == 'a' {
		swap = "b"
	}
	mangled = mangled[:10] + swap + mangled[11:] // one character changed: the checksum fails
	tests := []struct {
		name  string
		stdin string
		code  int
		want  string
	}{
		{"empty stdin", "", ExitFailure, "no token"},
		{"not a GitHub token", "hunter2\n", ExitFailure, "not a GitHub token"},
		{"bad checksum", mangled + "\n", ExitFailure, "checksum"},
		{"installation token for a personal credential", token.Generate(token.KindInstallation).Reveal() + "\n", ExitFailure, "installation"},
		{"another user's token", other.Reveal() + "\n", ExitFailure, "someone-else"},
		{"missing scope", noScope.Reveal() + "\n", ExitFailure, "admin:repo_hook"},
		{"the current token again", old.Reveal() + "\n", ExitFailure, "version 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out := e.rotor(tt.stdin, "rotate", "pipeline-token", "--token-stdin")
			if code != tt.code || !strings.Contains(out, tt.want) {
				t.Fatalf("exit %d, want %d with %q:\n%s", code, tt.code, tt.want, out)
			}
			if e.pipelineToken() != old.Fingerprint() || e.fileToken() != old.Fingerprint() {
				t.Fatal("a refused token reached a target")
			}
			if e.state(old.Fingerprint()) != ghemu.StateActive {
				t.Fatal("the current token was revoked")
			}
		})
	}
	// A person's refused token is left alone: it may be theirs for something else.
	if e.state(other.Fingerprint()) != ghemu.StateActive || e.state(noScope.Fingerprint()) != ghemu.StateActive {
		t.Fatal("a refused personal token was revoked")
	}
	// No terminal and no --token-stdin: a usage error, nothing read.
	if code, out := e.rotor("", "rotate", "pipeline-token"); code != ExitUsage || !strings.Contains(out, "--token-stdin") {
		t.Fatalf("rotate without a terminal: %d %s", code, out)
	}
	if code, _ := e.rotor("", "rotate", "no-such-credential", "--token-stdin"); code != ExitUsage {
		t.Fatalf("unknown credential: exit %d", code)
	}
	e.canary()
}

func TestCLI_RotateRollsBack(t *testing.T) {
	e := newE2E(t, "10m")
	old := e.tokens[0]
	if code, out := e.rotor(old.Reveal()+"\n", "adopt", "pipeline-token", "--token-stdin", "--confirm-unverifiable"); code != 0 {
		t.Fatalf("adopt: %d %s", code, out)
	}
	before, version, _ := e.sb.CodePipeline.Pipeline("MyFirstPipeline")
	// The pipeline takes the new token, then the file target fails to
	// write: the pipeline must go back to the old token.
	if err := os.Chmod(filepath.Join(e.dir, "ci"), 0o500); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() == 0 {
		// root writes through directory permissions: fail the pipeline
		// update instead, the file target then is the one rolled back.
		os.Chmod(filepath.Join(e.dir, "ci"), 0o700)
		e.sb.Faults.SetRules([]fault.Rule{{Service: "codepipeline", Operation: "UpdatePipeline", Resource: "MyFirstPipeline", Fail: true}})
		e.reorderTargets()
	}
	fresh := e.newToken("MyGitHubUserName", "repo", "admin:repo_hook")
	code, out := e.rotor(fresh.Reveal()+"\n", "rotate", "pipeline-token", "--token-stdin")
	if code != ExitRolledBack {
		t.Fatalf("rotate with a failing target: exit %d, want 3\n%s", code, out)
	}
	e.sb.Faults.SetRules(nil)
	if e.pipelineToken() != old.Fingerprint() || e.fileToken() != old.Fingerprint() {
		t.Fatalf("targets not back on the old token: pipeline %s file %s", e.pipelineToken(), e.fileToken())
	}
	if e.state(fresh.Fingerprint()) != ghemu.StateRevoked {
		t.Fatalf("the new token reached a target and must be revoked; it is %s", e.state(fresh.Fingerprint()))
	}
	after, v2, _ := e.sb.CodePipeline.Pipeline("MyFirstPipeline")
	if string(before) != string(after) && v2 == version {
		t.Fatal("pipeline changed without a version bump")
	}
	code, out = e.rotor("", "status", "-o", "json")
	if code != 0 || !strings.Contains(out, string(rotation.RunRolledBack)) {
		t.Fatalf("status after rollback: %s", out)
	}
	e.canary()
}

// reorderTargets puts the file target first, so that a failing pipeline
// update happens after the file took the new token.
func (e *e2e) reorderTargets() {
	b, err := os.ReadFile(e.config)
	if err != nil {
		e.t.Fatal(err)
	}
	s := strings.Replace(string(b), "      - {type: codepipeline, pipelines: [MyFirstPipeline]}\n      - {type: file, path: ci/github-token}\n",
		"      - {type: file, path: ci/github-token}\n      - {type: codepipeline, pipelines: [MyFirstPipeline]}\n", 1)
	if err := os.WriteFile(e.config, []byte(s), 0o600); err != nil {
		e.t.Fatal(err)
	}
}

func TestCLI_ConfigAndKeyErrors(t *testing.T) {
	e := newE2E(t, "10m")
	if err := os.Chmod(filepath.Join(e.dir, "rotor.key"), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, out := e.rotor("", "status"); code == 0 || !strings.Contains(out, "chmod 600") {
		t.Fatalf("loose key file: %d %s", code, out)
	}
	if err := os.WriteFile(e.config, []byte("credentials:\n  - name: x\n    sourc: {}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out := e.rotor("", "status"); code != ExitUsage || !strings.Contains(out, "rotor.yaml:3") {
		t.Fatalf("bad config: %d %s", code, out)
	}
	if code, _ := e.rotor("", "status", "-o", "yaml"); code != ExitUsage {
		t.Fatalf("bad -o: exit %d", code)
	}
}

// TestCLI_Rotate50PipelinesRollsBack: 50 pipelines under throttling, one of
// which refuses every update. The run must roll back: every pipeline ends on
// the previous token, no declaration changed but its token (and version),
// and the new token, which reached 49 pipelines, is revoked.
func TestCLI_Rotate50PipelinesRollsBack(t *testing.T) {
	e := newE2E(t, "10m")
	old := e.tokens[0]
	var names []string
	for i := range 50 {
		names = append(names, fmt.Sprintf("fleet-%02d", i))
		e.clonePipeline(names[i], old)
	}
	cfg, _ := os.ReadFile(e.config)
	s := strings.Replace(string(cfg), "      - {type: codepipeline, pipelines: [MyFirstPipeline]}\n      - {type: file, path: ci/github-token}\n",
		"      - {type: codepipeline, match: {owner: MyGitHubUserName, repo: test-repo}}\n", 1)
	if err := os.WriteFile(e.config, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out := e.rotor(old.Reveal()+"\n", "adopt", "pipeline-token", "--token-stdin", "--confirm-unverifiable"); code != 0 {
		t.Fatalf("adopt: %d %s", code, out)
	}
	before := map[string]string{}
	for _, n := range append(names, "MyFirstPipeline") {
		d, _, _ := e.sb.CodePipeline.Pipeline(n)
		before[n] = string(d)
	}
	e.sb.Faults.SetRules([]fault.Rule{
		{Service: "codepipeline", Operation: "UpdatePipeline", RatePerSecond: 40, Burst: 2},
		{Service: "codepipeline", Operation: "GetPipeline", RatePerSecond: 40, Burst: 2},
		{Service: "codepipeline", Operation: "UpdatePipeline", Resource: "fleet-17", Fail: true},
	})
	fresh := e.newToken("MyGitHubUserName", "repo", "admin:repo_hook")
	code, out := e.rotor(fresh.Reveal()+"\n", "rotate", "pipeline-token", "--token-stdin")
	if code != ExitRolledBack || !strings.Contains(out, "fleet-17") {
		t.Fatalf("rotate: exit %d, want 3 naming fleet-17\n%s", code, out)
	}
	counts := e.sb.Faults.Counts()
	e.sb.Faults.SetRules(nil)
	if counts["codepipeline UpdatePipeline"].Throttled == 0 {
		t.Log("note: no request was throttled; the limiter kept under the bucket")
	}
	for _, n := range append(names, "MyFirstPipeline") {
		tok, _ := e.sb.CodePipeline.StoredToken(n, "Source")
		if tok.Fingerprint() != old.Fingerprint() {
			t.Errorf("%s holds %s after rollback, want the previous token", n, tok.Fingerprint())
		}
		after, _, _ := e.sb.CodePipeline.Pipeline(n)
		if stripVersion(t, before[n]) != stripVersion(t, string(after)) {
			t.Errorf("%s: declaration changed beyond token and version", n)
		}
	}
	if st := e.state(fresh.Fingerprint()); st != ghemu.StateRevoked {
		t.Fatalf("new token is %s after rollback, want revoked", st)
	}
	e.canary()
}

// stripVersion drops the version from a masked declaration (JSON).
func stripVersion(t *testing.T, decl string) string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(decl), &m); err != nil {
		t.Fatal(err)
	}
	delete(m, "version")
	b, _ := json.Marshal(m)
	return string(b)
}

// TestCLI_SharedPipeline: one pipeline with two GitHub actions, each held by
// its own credential. Both can be adopted (in either order), and rotating
// one re-sends the other's token, so neither ever holds "****".
func TestCLI_SharedPipeline(t *testing.T) {
	e := newE2E(t, "0")
	ctx := context.Background()
	if err := e.sb.GitHub.CreateRepo(ghemu.RepoSpec{Owner: "MyGitHubUserName", Name: "lib-repo", Private: true, Branches: []string{"master"}}); err != nil {
		t.Fatal(err)
	}
	client, decl := e.pipelines()
	appTok, libTok := e.newToken("MyGitHubUserName", "repo", "admin:repo_hook"), e.newToken("MyGitHubUserName", "repo", "admin:repo_hook")
	decl.Name = aws.String("Shared")
	src := decl.Stages[0]
	app := src.Actions[0]
	app.Configuration["OAuthToken"] = appTok.Reveal()
	lib := app
	lib.Name = aws.String("Lib")
	lib.Configuration = map[string]string{"Owner": "MyGitHubUserName", "Repo": "lib-repo", "Branch": "master", "OAuthToken": libTok.Reveal()}
	lib.OutputArtifacts = []cptypes.OutputArtifact{{Name: aws.String("LibOutput")}}
	decl.Stages[0].Actions = append(src.Actions, lib)
	if _, err := client.CreatePipeline(ctx, &cp.CreatePipelineInput{Pipeline: decl}); err != nil {
		t.Fatalf("create Shared: %v", err)
	}
	cfg := fmt.Sprintf(`store: sqlite:rotor.db
key: file:rotor.key
github: {api_url: %s}
aws: {region: us-east-1, endpoint_url: %s}
credentials:
  - name: app
    source: {type: personal-token}
    rotate: {grace: 0}
    targets: [{type: codepipeline, pipelines: [Shared], match: {repo: test-repo}}]
  - name: lib
    source: {type: personal-token}
    rotate: {grace: 0}
    targets: [{type: codepipeline, pipelines: [Shared], match: {repo: lib-repo}}]
`, e.sb.GitHubURL, e.sb.CodePipelineURL)
	if err := os.WriteFile(e.config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, tok := range map[string]token.Token{"app": appTok, "lib": libTok} {
		if code, out := e.rotor(tok.Reveal()+"\n", "adopt", name, "--token-stdin", "--confirm-unverifiable"); code != 0 {
			t.Fatalf("adopt %s: %d %s", name, code, out)
		}
	}
	held := func(action string) string {
		tok, _ := e.sb.CodePipeline.StoredToken("Shared", action)
		return tok.Fingerprint()
	}
	for _, name := range []string{"app", "lib"} {
		fresh := e.newToken("MyGitHubUserName", "repo", "admin:repo_hook")
		if code, out := e.rotor(fresh.Reveal()+"\n", "rotate", name, "--token-stdin"); code != 0 {
			t.Fatalf("rotate %s: %d %s", name, code, out)
		}
		action := map[string]string{"app": "Source", "lib": "Lib"}[name]
		if held(action) != fresh.Fingerprint() {
			t.Fatalf("%s: action %s holds %s, want the new token", name, action, held(action))
		}
	}
	for _, action := range []string{"Source", "Lib"} {
		tok, _ := e.sb.CodePipeline.StoredToken("Shared", action)
		if tok.Reveal() == "****" || e.state(tok.Fingerprint()) != ghemu.StateActive {
			t.Fatalf("action %s holds %s (%s)", action, tok.Fingerprint(), e.state(tok.Fingerprint()))
		}
	}
	e.canary()
}
