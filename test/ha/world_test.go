package ha

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rotor-ci/rotor/internal/config"
	"github.com/rotor-ci/rotor/internal/emulator"
	"github.com/rotor-ci/rotor/internal/emulator/codepipeline"
	"github.com/rotor-ci/rotor/internal/emulator/conformance"
	"github.com/rotor-ci/rotor/internal/emulator/fault"
	ghemu "github.com/rotor-ci/rotor/internal/emulator/github"
	"github.com/rotor-ci/rotor/internal/rotation"
	"github.com/rotor-ci/rotor/internal/seal"
	"github.com/rotor-ci/rotor/internal/wiring"
)

// The world: one GitHub organisation with a private repository per
// credential, one GitHub App installed on all of them, and a pipeline per
// credential whose GitHub (version 1) source reads that repository.
const (
	org     = "ha-org"
	appName = "rotor-ha"
	branch  = "main"
	apiKey  = "ha-api-token-0123456789abcdefghijklmnopqrstuvwxyz"
)

func credName(i int) string { return fmt.Sprintf("app-%02d", i) }
func repoName(i int) string { return fmt.Sprintf("repo-%02d", i) }
func pipeName(i int) string { return fmt.Sprintf("pipe-%02d", i) }

// haWorld is the emulators' starting world for n credentials. The pipelines
// start on a personal token ("seed"); setup replaces it with an installation
// token per pipeline before rotor adopts them.
func haWorld(n int) emulator.World {
	gh := ghemu.World{
		Users: []ghemu.UserSpec{{Login: org}},
		Tokens: []ghemu.WorldToken{{TokenSpec: ghemu.TokenSpec{
			User: org, Kind: ghemu.KindClassic, Note: "seed", Scopes: []string{"repo"},
		}}},
		Apps: []ghemu.AppSpec{{
			Name: appName, Owner: org,
			Permissions:   map[string]string{"contents": "read", "metadata": "read"},
			Installations: []ghemu.InstallationSpec{{Account: org}}, // every repository
		}},
	}
	var cp codepipeline.World
	for i := range n {
		gh.Repos = append(gh.Repos, ghemu.RepoSpec{Owner: org, Name: repoName(i), Private: true, Branches: []string{branch}})
		cp.Pipelines = append(cp.Pipelines, codepipeline.PipelineSpec{JSON: emulator.GitHubPipeline(pipeName(i), org, repoName(i), branch, "seed")})
	}
	return emulator.World{GitHub: gh, CodePipeline: cp}
}

// site is one installation of rotor on PostgreSQL: the directory with the
// sealing key, the app's private key and the API token, and one config per
// process, each pointing at its own recording proxies.
type site struct {
	t     *testing.T
	dir   string
	dsn   string
	n     int
	every time.Duration
	grace time.Duration
	sb    *emulator.Sandbox
	rec   *recorder
	appID int64
	inst  int64
}

func newSite(t *testing.T, dsn string, n int, every, grace, poll time.Duration) *site {
	t.Helper()
	s := &site{t: t, dir: t.TempDir(), dsn: dsn, n: n, every: every, grace: grace, rec: &recorder{}}
	// The AWS SDK in every rotor process reads these; nothing may reach a
	// real account or a profile of the machine.
	for k, v := range map[string]string{"AWS_ACCESS_KEY_ID": "ha", "AWS_SECRET_ACCESS_KEY": "ha", "AWS_SESSION_TOKEN": "", "AWS_PROFILE": "",
		"AWS_CONFIG_FILE": filepath.Join(s.dir, "aws-config"), "AWS_SHARED_CREDENTIALS_FILE": filepath.Join(s.dir, "aws-credentials"),
		"AWS_EC2_METADATA_DISABLED": "true"} {
		t.Setenv(k, v)
	}
	sb, err := emulator.Start(t.Context(), emulator.Config{World: haWorld(n), PollInterval: poll, Check: conformance.For(t)})
	must(t, err)
	t.Cleanup(func() { sb.Close() })
	s.sb = sb
	must(t, seal.Generate(filepath.Join(s.dir, "rotor.key")))
	pem, err := sb.GitHub.AppPrivateKeyPEM(appName)
	must(t, err)
	must(t, os.WriteFile(filepath.Join(s.dir, "app.pem"), pem, 0o600))
	must(t, os.WriteFile(filepath.Join(s.dir, "api.token"), []byte(apiKey+"\n"), 0o600))
	id, installs := sb.GitHub.App(appName)
	if len(installs) != 1 {
		t.Fatalf("app %s has %d installations, want 1", appName, len(installs))
	}
	s.appID, s.inst = id, installs[0]
	// Slow every CodePipeline call a little, as the real service is: runs
	// then last long enough that a kill or a pause lands inside one.
	sb.Faults.SetRules([]fault.Rule{{Service: "codepipeline", Latency: fault.Duration{Duration: 60 * time.Millisecond}}})
	return s
}

// config writes the config of one rotor process (named for the proxies it
// talks through) and returns its path.
func (s *site) config(name string) string {
	s.t.Helper()
	gh, cp := s.rec.proxy(s.t, name, "github", s.sb.GitHub), s.rec.proxy(s.t, name, "codepipeline", s.sb.CodePipeline)
	var b strings.Builder
	fmt.Fprintf(&b, "store: %q\nkey: file:rotor.key\ngithub:\n  api_url: %s\naws:\n  region: us-east-1\n  endpoint_url: %s\n", s.dsn, gh, cp)
	fmt.Fprintf(&b, "server:\n  listen: 127.0.0.1:0\n  auth_token_file: api.token\n  watch_every: 1h\ncredentials:\n")
	for i := range s.n {
		fmt.Fprintf(&b, `  - name: %s
    application: %s
    source:
      type: github-app
      app_id: %d
      installation_id: %d
      private_key_file: app.pem
      repositories: [%s]
      permissions: {contents: read, metadata: read}
    rotate: {every: %s, grace: %s}
    targets:
      - type: codepipeline
        pipelines: [%s]
`, credName(i), pipeName(i), s.appID, s.inst, repoName(i), s.every, s.grace, pipeName(i))
	}
	path := filepath.Join(s.dir, "rotor-"+name+".yaml")
	must(s.t, os.WriteFile(path, []byte(b.String()), 0o600))
	return path
}

// adoptAll puts a fresh installation token into every pipeline (as a person
// would have before rotor) and then has rotor adopt them all at once, so
// that every credential falls due at the same moment, one rotate.every
// later. It returns when they were adopted.
func (s *site) adoptAll(ctx context.Context) time.Time {
	t := s.t
	t.Helper()
	cfg, err := config.Load(s.config("setup"))
	must(t, err)
	env, err := wiring.Open(ctx, cfg, nil)
	must(t, err)
	defer env.Close()
	creds := make([]rotation.Credential, s.n)
	var toks sync.Map
	parallel(t, s.n, func(i int) error {
		c, err := env.Credential(ctx, &cfg.Credentials[i], wiring.CredentialOptions{})
		if err != nil {
			return err
		}
		creds[i] = c
		bindings, err := c.Targets[0].Discover(ctx)
		if err != nil {
			return err
		}
		m, err := c.Source.Mint(ctx, rotation.Requirements{Repositories: bindings[0].Repositories})
		if err != nil {
			return err
		}
		var applyErr error
		c.Targets[0].Apply(ctx, m.Token, bindings, func(r rotation.Result) {
			if r.Err != nil {
				applyErr = r.Err
			}
		})
		toks.Store(i, m)
		return applyErr
	})
	eng := env.Engine(nil)
	parallel(t, s.n, func(i int) error {
		m, _ := toks.Load(i)
		_, err := eng.Adopt(ctx, creds[i], m.(rotation.Minted).Token, rotation.AdoptOptions{ConfirmUnverifiable: true})
		return err
	})
	return time.Now()
}

// parallel runs fn for 0..n-1 at once and fails t on the first error.
func parallel(t *testing.T, n int, fn func(i int) error) {
	t.Helper()
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { errs[i] = fn(i) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("%s: %v", credName(i), err)
		}
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
