package actionssecret

import (
	"context"
	"crypto/rsa"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	ghemu "github.com/rotor-ci/rotor/internal/emulator/github"
	"github.com/rotor-ci/rotor/internal/github"
	"github.com/rotor-ci/rotor/internal/github/githubtest"
	"github.com/rotor-ci/rotor/internal/rotation"
	"github.com/rotor-ci/rotor/internal/token"
)

// appEnv is env with two apps installed on acme: secrets-writer, which may
// write secrets, and reader, which may only read contents. The emulator and
// the apps share a clock the test moves, and the env counts mints.
type appEnv struct {
	*env
	offset atomic.Int64 // the clock's advance, in nanoseconds
	mints  atomic.Int64
}

func newAppEnv(t *testing.T) *appEnv {
	t.Helper()
	a := &appEnv{}
	a.env = newEnvWith(t, []ghemu.AppSpec{
		{Name: "secrets-writer", Owner: "alice", Permissions: map[string]string{"secrets": "write", "environments": "write", "actions": "write"},
			Installations: []ghemu.InstallationSpec{{Account: "acme"}}},
		{Name: "reader", Owner: "alice", Permissions: map[string]string{"contents": "read"},
			Installations: []ghemu.InstallationSpec{{Account: "acme"}}},
	}, ghemu.Options{Clock: a.now, KeyGen: func() (*rsa.PrivateKey, error) { return githubtest.Key(), nil }})
	a.setBefore(func(r *http.Request) {
		if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/access_tokens") {
			a.mints.Add(1)
		}
	})
	return a
}

func (a *appEnv) now() time.Time { return time.Now().Add(time.Duration(a.offset.Load())) }

func (a *appEnv) advance(d time.Duration) {
	a.offset.Add(int64(d))
}

// as configures c to write as app, with its key in a file only its owner
// may read, as rotor.yaml's app: does.
func (a *appEnv) as(t *testing.T, app string, c Config) *Target {
	t.Helper()
	pem, err := a.emu.AppPrivateKeyPEM(app)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), app+".pem")
	if err := os.WriteFile(path, pem, 0o600); err != nil {
		t.Fatal(err)
	}
	id, insts := a.emu.App(app)
	ga, err := github.LoadApp(id, "", path, a.now)
	if err != nil {
		t.Fatal(err)
	}
	c.App = &App{App: ga, InstallationID: insts[0]}
	return a.target(t, c)
}

// TestApp_writesAsApp: a target that writes as an app installation writes
// the repository secret, verifies it, and mints one installation token for
// all of it, a new one only when less than five minutes of it remain. No
// token value reaches the logs or the results.
func TestApp_writesAsApp(t *testing.T) {
	a := newAppEnv(t)
	prev := a.rotated(t)
	a.put(t, repoPlace("acme", "deploy"), prev, nil)
	tg := a.as(t, "secrets-writer", Config{Name: "GH_TOKEN", Repositories: []string{"acme/deploy"}})

	bs := discover(t, tg)
	fresh := a.rotated(t)
	for _, f := range []func(context.Context, token.Token, []rotation.Binding, func(rotation.Result)){tg.Apply, tg.Verify} {
		for _, r := range run(t, f, fresh, bs) {
			if r.Err != nil {
				t.Fatal(r.Err)
			}
		}
	}
	if got := a.holds(t, bs[0]); got != fresh.Fingerprint() {
		t.Fatalf("secret holds %s, want the new token %s", got, fresh.Fingerprint())
	}
	if n := a.mints.Load(); n != 1 {
		t.Fatalf("%d installation tokens minted for discover, apply and verify, want 1", n)
	}

	inspect := func() {
		t.Helper()
		for _, r := range run(t, func(ctx context.Context, _ token.Token, bs []rotation.Binding, report func(rotation.Result)) {
			tg.Inspect(ctx, bs, report)
		}, fresh, bs) {
			if r.Err != nil {
				t.Fatal(r.Err)
			}
		}
	}
	a.advance(50 * time.Minute) // ten minutes of the hour left: still used
	inspect()
	if n := a.mints.Load(); n != 1 {
		t.Fatalf("%d mints after 50m, want 1: the token had 10m left", n)
	}
	a.advance(6 * time.Minute) // four minutes left: renewed
	inspect()
	if n := a.mints.Load(); n != 2 {
		t.Fatalf("%d mints after 56m, want 2: the token had less than 5m left", n)
	}
	a.noSecrets(t)
	if strings.Contains(a.logs.String(), "ghs_") {
		t.Fatalf("an installation token appears in the logs:\n%s", a.logs.String())
	}
}

// TestApp_refused: an app whose installation lacks the secrets permission
// is refused with an error naming the permission and the secret's
// repository, and the secret keeps its value.
func TestApp_refused(t *testing.T) {
	a := newAppEnv(t)
	prev := a.rotated(t)
	a.put(t, repoPlace("acme", "deploy"), prev, nil)
	cfg := Config{Name: "GH_TOKEN", Repositories: []string{"acme/deploy"}}
	bs := discover(t, a.as(t, "secrets-writer", cfg))

	tg := a.as(t, "reader", cfg)
	if _, err := tg.Discover(context.Background()); err == nil || !strings.Contains(err.Error(), "secrets: write") {
		t.Fatalf("Discover as an app without secrets = %v, want an error naming secrets: write", err)
	}
	fresh := a.rotated(t)
	r := run(t, tg.Apply, fresh, bs)[bs[0].ID]
	if r.Err == nil || !r.Unchanged {
		t.Fatalf("Apply as an app without secrets = %+v, want a refusal that changed nothing", r)
	}
	msg := r.Err.Error()
	for _, want := range []string{"secrets: write", "repos/acme/deploy/actions/secrets/GH_TOKEN", "installation"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not name %q", msg, want)
		}
	}
	if got := a.holds(t, bs[0]); got != prev.Fingerprint() {
		t.Fatalf("secret holds %s after the refusal, want the old %s", got, prev.Fingerprint())
	}
	a.noSecrets(t, msg)
	if strings.Contains(msg, "ghs_") || strings.Contains(a.logs.String(), "ghs_") {
		t.Fatalf("an installation token appears in %q or the logs", msg)
	}
}

// TestAppPermissions: what an app's token is narrowed to, by target.
func TestAppPermissions(t *testing.T) {
	for _, tt := range []struct {
		name  string
		c     Config
		perms map[string]string
		repos []string
	}{
		{"repository secrets", Config{Repositories: []string{"acme/deploy", "acme/web"}},
			map[string]string{"metadata": "read", "secrets": "write"}, []string{"deploy", "web"}},
		{"environment secrets, verify workflow elsewhere", Config{Repositories: []string{"acme/deploy"}, Environment: "production", Verify: VerifyWorkflow, Workflow: Workflow{Repository: "acme/check"}},
			map[string]string{"metadata": "read", "secrets": "write", "environments": "write", "actions": "write"}, []string{"deploy", "check"}},
		{"dependabot, organisation too", Config{Repositories: []string{"acme/deploy"}, Organization: "acme", Dependabot: true},
			map[string]string{"metadata": "read", "dependabot_secrets": "write", "organization_dependabot_secrets": "write"}, nil},
		{"organisation secret", Config{Organization: "acme"},
			map[string]string{"metadata": "read", "organization_secrets": "write"}, nil},
		{"match", Config{Match: &Match{Owner: "acme"}},
			map[string]string{"metadata": "read", "secrets": "write"}, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if d := cmp.Diff(tt.perms, AppPermissions(tt.c)); d != "" {
				t.Errorf("permissions (-want +got):\n%s", d)
			}
			if d := cmp.Diff(tt.repos, AppRepositories(tt.c)); d != "" {
				t.Errorf("repositories (-want +got):\n%s", d)
			}
		})
	}
}
