package appuser_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	ghemu "github.com/rotor-ci/rotor/internal/emulator/github"
	"github.com/rotor-ci/rotor/internal/github/githubtest"
	"github.com/rotor-ci/rotor/internal/grant"
	"github.com/rotor-ci/rotor/internal/rotation"
	"github.com/rotor-ci/rotor/internal/seal/sealtest"
	"github.com/rotor-ci/rotor/internal/source/appuser"
	"github.com/rotor-ci/rotor/internal/store"
	"github.com/rotor-ci/rotor/internal/target/file"
	"github.com/rotor-ci/rotor/internal/token"
)

// world is one rotor installation (store, key, a file target) against an
// emulated GitHub whose app "rotor-user" alice has authorized.
type world struct {
	t      *testing.T
	emu    *ghemu.Server
	st     rotation.Store
	sealer rotation.Sealer
	src    *appuser.Source
	cred   rotation.Credential
	path   string
	seen   []token.Token
}

func newWorld(t *testing.T) *world {
	t.Helper()
	emu, gh := githubtest.Start(t, ghemu.World{
		Users: []ghemu.UserSpec{{Login: "alice"}},
		Repos: []ghemu.RepoSpec{{Owner: "alice", Name: "app-repo", Private: true}},
		Apps: []ghemu.AppSpec{{Name: "rotor-user", Owner: "alice", DeviceFlow: true, Permissions: map[string]string{"contents": "read"},
			Installations: []ghemu.InstallationSpec{{Account: "alice"}}}},
	}, ghemu.Options{})
	dir := t.TempDir()
	st, err := store.Open(context.Background(), "sqlite:"+filepath.Join(dir, "rotor.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	key := sealtest.Key(t)
	secret, err := emu.CreateClientSecret("rotor-user")
	if err != nil {
		t.Fatal(err)
	}
	secretFile := filepath.Join(dir, "client.secret")
	if err := os.WriteFile(secretFile, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	w := &world{t: t, emu: emu, st: st, sealer: key, path: filepath.Join(dir, "ci", "token")}
	if err := os.MkdirAll(filepath.Dir(w.path), 0o700); err != nil {
		t.Fatal(err)
	}
	clientID := ""
	for _, a := range []string{"rotor-user"} {
		info, err := emu.DescribeApp(a)
		if err != nil {
			t.Fatal(err)
		}
		clientID = info.ClientID
	}
	revoke := func(ctx context.Context, _ string, tok token.Token) error {
		return gh.RevokeCredentials(ctx, []token.Token{tok})
	}
	w.src, err = appuser.New(appuser.Config{Credential: "ci", ClientID: clientID, ClientSecretFile: secretFile}, gh, st, key, revoke)
	if err != nil {
		t.Fatal(err)
	}
	known := func(ctx context.Context, fp string) (bool, error) {
		vs, err := st.Versions(ctx, "ci")
		for _, v := range vs {
			if v.Fingerprint == fp {
				return true, nil
			}
		}
		return false, err
	}
	tgt, err := file.New(file.Config{Path: w.path, Create: true, Known: known})
	if err != nil {
		t.Fatal(err)
	}
	w.cred = rotation.Credential{Name: "ci", Source: w.src, Targets: []rotation.Target{tgt}}
	return w
}

// authorize plays 'rotor authorize' without the device flow's wait: a pair
// as the web flow gives it, recorded as Authorize records one.
func (w *world) authorize() {
	w.t.Helper()
	access, refresh, err := w.emu.CreateUserToken("rotor-user", "alice")
	if err != nil {
		w.t.Fatal(err)
	}
	a, r := token.New(access.Reveal()), token.New(refresh.Reveal())
	w.seen = append(w.seen, a, r)
	ctx := context.Background()
	sa, err := w.sealer.Seal(ctx, rotation.SealContext{Credential: "ci", Fingerprint: a.Fingerprint()}, a)
	if err != nil {
		w.t.Fatal(err)
	}
	sr, err := w.sealer.Seal(ctx, rotation.SealContext{Credential: "ci", Fingerprint: r.Fingerprint()}, r)
	if err != nil {
		w.t.Fatal(err)
	}
	if err := w.st.(grant.Grants).ReplaceGrant(ctx, grant.Grant{Credential: "ci", Fingerprint: r.Fingerprint(), Sealed: sr,
		PairFingerprint: a.Fingerprint(), Stash: sa, State: grant.GrantReady}, ""); err != nil {
		w.t.Fatal(err)
	}
}

func (w *world) engine(hook func(string)) *rotation.Engine {
	return &rotation.Engine{Store: w.st, Sealer: w.sealer, Holder: "test", Hook: hook}
}

func (w *world) fileToken() string {
	b, err := os.ReadFile(w.path)
	if err != nil {
		w.t.Fatal(err)
	}
	return token.Fingerprint(string(b))
}

// active lists the emulator's live user token pairs.
func (w *world) active() []string {
	var out []string
	for _, p := range w.emu.UserTokens() {
		if p.State == "active" {
			out = append(out, p.AccessFingerprint)
		}
	}
	return out
}

type crash struct{}

// rotateCrashingAt rotates and simulates the process dying right after
// step (a panic, as the engine's own crash tests do); it reports whether
// the step was reached.
func (w *world) rotateCrashingAt(step string) (crashed bool) {
	var e *rotation.Engine
	e = w.engine(func(s string) {
		if s == step {
			e.Hook = nil
			panic(crash{})
		}
	})
	defer func() {
		if r := recover(); r != nil {
			if _, ok := r.(crash); !ok {
				panic(r)
			}
			crashed = true
		}
	}()
	_, _ = e.Rotate(context.Background(), w.cred, rotation.Options{})
	return false
}

// A crash at every step of a refresh, resumed by a fresh process: the
// refresh token is never silently lost. Either the rotation finishes with
// exactly one live pair, which the target holds, or — when the process died
// after GitHub used the refresh token and before its answer was recorded —
// the run fails as PersonNeeded, naming the command that recovers, and that
// command does.
func TestSource_crashAtEveryStepOfARefresh(t *testing.T) {
	steps := []string{"started", "discovered", appuser.StepRefreshMarked, appuser.StepRefreshAnswered, appuser.StepRefreshRecorded,
		"minted", "checked", "applied", "verified", "promoted"}
	for _, step := range steps {
		t.Run(step, func(t *testing.T) {
			w := newWorld(t)
			w.authorize()
			ctx := context.Background()
			if _, err := w.engine(nil).Rotate(ctx, w.cred, rotation.Options{Bootstrap: true}); err != nil {
				t.Fatalf("first rotation (the authorized token): %v", err)
			}
			if !w.rotateCrashingAt(step) {
				t.Fatalf("the refresh never reached step %s", step)
			}
			run, err := w.engine(nil).Rotate(ctx, w.cred, rotation.Options{Resume: true})
			if step == appuser.StepRefreshAnswered {
				if !errors.Is(err, rotation.ErrRunFailed) || run.Reason != "PersonNeeded" || !strings.Contains(run.Error, "rotor authorize ci") {
					t.Fatalf("resume after losing the refresh answer: run %+v, err %v; want PersonNeeded naming rotor authorize ci", run, err)
				}
				g, err := w.st.(grant.Grants).Grant(ctx, "ci")
				if err != nil || g.State != grant.GrantLost {
					t.Fatalf("grant %+v, %v; want lost", g, err)
				}
				// Mint refuses again at once, without asking GitHub.
				if _, err := w.src.Mint(ctx, rotation.Requirements{}); !errors.Is(err, rotation.ErrPersonNeeded) {
					t.Fatalf("mint with a lost grant: %v", err)
				}
				w.authorize()
				if run, err = w.engine(nil).Rotate(ctx, w.cred, rotation.Options{}); err != nil {
					t.Fatalf("rotation after authorizing again: %v", err)
				}
				// The pair whose answer was lost stays live: rotor never
				// saw it (see docs); every other one is ended.
				if a := w.active(); len(a) != 2 || !contains(a, w.fileToken()) {
					t.Fatalf("live pairs %v; want the target's and the lost one", a)
				}
				return
			}
			if err != nil || run.Status != rotation.RunSucceeded {
				t.Fatalf("resume after a crash at %s: run %+v, err %v", step, run, err)
			}
			// I3 and I1: one live pair, and the target holds it.
			if a := w.active(); len(a) != 1 || a[0] != w.fileToken() {
				t.Fatalf("live pairs %v, target holds %s; want exactly the target's", a, w.fileToken())
			}
			// And it refreshes again.
			if _, err := w.engine(nil).Rotate(ctx, w.cred, rotation.Options{}); err != nil {
				t.Fatalf("the next refresh: %v", err)
			}
			if a := w.active(); len(a) != 1 || a[0] != w.fileToken() {
				t.Fatalf("after the next refresh: live pairs %v, target %s", a, w.fileToken())
			}
		})
	}
}

func contains(xs []string, x string) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}
