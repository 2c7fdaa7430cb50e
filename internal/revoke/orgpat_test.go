package revoke_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	ghemu "github.com/rotor-ci/rotor/internal/emulator/github"
	"github.com/rotor-ci/rotor/internal/github"
	"github.com/rotor-ci/rotor/internal/github/githubtest"
	"github.com/rotor-ci/rotor/internal/revoke"
	"github.com/rotor-ci/rotor/internal/rotation"
	"github.com/rotor-ci/rotor/internal/source/githubapp"
	"github.com/rotor-ci/rotor/internal/token"
	"github.com/rotor-ci/rotor/internal/wiring"
)

// orgEnv is the GitHub emulator with organisation acme (alice owns it, bob
// is a member) and two apps installed on it with the organisation's
// "Personal access tokens" permission: pat-admin (write) and pat-reader
// (read).
type orgEnv struct {
	t    *testing.T
	emu  *ghemu.Server
	gh   *github.Client
	dir  string
	mu   sync.Mutex
	apps []token.Token // every installation token the route minted
	recs []map[string]any
	live []revoke.Item
}

func newOrgEnv(t *testing.T) *orgEnv {
	t.Helper()
	frozen := time.Now()
	var apps []ghemu.AppSpec
	for _, a := range []struct{ name, level string }{{"pat-admin", "write"}, {"pat-reader", "read"}} {
		apps = append(apps, ghemu.AppSpec{Name: a.name, Owner: "alice", Permissions: map[string]string{github.OrgPATPermission: a.level},
			Installations: []ghemu.InstallationSpec{{Account: "acme"}}})
	}
	emu, gh := githubtest.Start(t, ghemu.World{
		Users: []ghemu.UserSpec{{Login: "alice"}, {Login: "bob"}},
		Orgs:  []ghemu.OrgSpec{{Login: "acme", Owners: []string{"alice"}, Members: []string{"bob"}}},
		Repos: []ghemu.RepoSpec{{Owner: "acme", Name: "app", Private: true}},
		Apps:  apps,
	}, ghemu.Options{
		// Frozen: tokens created one after another expire at the same
		// instant, as two created within a second do on GitHub.
		Clock: func() time.Time { return frozen },
	})
	return &orgEnv{t: t, emu: emu, gh: gh, dir: t.TempDir()}
}

// recordingApp is the organisation's app, remembering what it minted so
// the test can check that none is left alive.
type recordingApp struct {
	e   *orgEnv
	src *githubapp.Source
}

func (a recordingApp) Mint(ctx context.Context, req rotation.Requirements) (rotation.Minted, error) {
	m, err := a.src.Mint(ctx, req)
	if err == nil {
		a.e.mu.Lock()
		a.e.apps = append(a.e.apps, m.Token)
		a.e.mu.Unlock()
	}
	return m, err
}

// route is the organisation route for acme as app (its private key in a
// 0600 file, as rotor.yaml names it).
func (e *orgEnv) route(app string) *revoke.Org {
	e.t.Helper()
	pem, err := e.emu.AppPrivateKeyPEM(app)
	if err != nil {
		e.t.Fatal(err)
	}
	keyFile := filepath.Join(e.dir, app+".pem")
	if err := os.WriteFile(keyFile, pem, 0o600); err != nil {
		e.t.Fatal(err)
	}
	id, insts := e.emu.App(app)
	src, err := githubapp.New(githubapp.Config{AppID: id, InstallationID: insts[0], PrivateKeyFile: keyFile,
		Permissions: map[string]string{github.OrgPATPermission: "write"}}, e.gh)
	if err != nil {
		e.t.Fatal(err)
	}
	return &revoke.Org{Org: "acme", GitHub: wiring.OrgRevocationGitHub(e.gh, recordingApp{e, src}),
		Record: func(_ context.Context, credential, event string, detail map[string]any) error {
			e.mu.Lock()
			defer e.mu.Unlock()
			if credential != "deploy" || event != revoke.OrgEvent {
				return fmt.Errorf("record for %s %s", credential, event)
			}
			e.recs = append(e.recs, detail)
			return nil
		},
		Alive: func(_ context.Context, it revoke.Item) { e.mu.Lock(); e.live = append(e.live, it); e.mu.Unlock() },
	}
}

// fineGrained creates a fine-grained token of user on acme's resources.
func (e *orgEnv) fineGrained(user, note string, expiresIn time.Duration) (token.Token, ghemu.TokenInfo) {
	e.t.Helper()
	tok, info, err := e.emu.CreateToken(user, ghemu.TokenSpec{Kind: ghemu.KindFineGrained, Note: note, Repositories: []string{"acme/app"},
		Permissions: map[string]string{"contents": "read"}, ExpiresIn: ghemu.Duration{Duration: expiresIn}})
	if err != nil {
		e.t.Fatal(err)
	}
	if info.OrgGrantID == 0 {
		e.t.Fatalf("%s has no grant of acme", note)
	}
	return token.New(tok.Reveal()), info
}

// grantRevoked reports whether acme revoked grant id.
func (e *orgEnv) grantRevoked(id int64) bool {
	e.t.Helper()
	for _, g := range e.emu.OrgGrants() {
		if g.ID == id {
			return !g.RevokedAt.IsZero()
		}
	}
	e.t.Fatalf("no grant %d", id)
	return false
}

func (e *orgEnv) lastRecord() map[string]any {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.recs) == 0 {
		e.t.Fatal("nothing recorded")
	}
	return e.recs[len(e.recs)-1]
}

// checkAppTokensDead: every installation token the route minted was
// revoked after its use.
func (e *orgEnv) checkAppTokensDead() {
	e.t.Helper()
	for _, a := range e.apps {
		if _, err := e.gh.Identify(context.Background(), a); !errors.Is(err, github.ErrBadCredentials) {
			e.t.Errorf("the app's installation token %s outlived its use: %v", a.Fingerprint(), err)
		}
	}
}

// The grant of the token being revoked, and only it, is revoked and gone
// from the organisation's list; the token itself still works (GET /user),
// not on acme's repository; the outcome is recorded; the second time
// there is nothing left to revoke.
func TestOrg_Revoke(t *testing.T) {
	e := newOrgEnv(t)
	ctx := context.Background()
	old, oldInfo := e.fineGrained("alice", "rotor deploy", 30*24*time.Hour)
	_, otherInfo := e.fineGrained("alice", "laptop", 60*24*time.Hour)
	_, bobInfo := e.fineGrained("bob", "bob's", 30*24*time.Hour)
	o := e.route("pat-admin")

	if err := o.Revoke(ctx, "deploy", old); err != nil {
		t.Fatal(err)
	}
	if !e.grantRevoked(oldInfo.OrgGrantID) || e.grantRevoked(otherInfo.OrgGrantID) || e.grantRevoked(bobInfo.OrgGrantID) {
		t.Fatalf("grants after the revocation: %+v; want only %d revoked", e.emu.OrgGrants(), oldInfo.OrgGrantID)
	}
	if _, err := e.gh.Identify(ctx, old); err != nil {
		t.Fatalf("GET /user with the token after its organisation revocation: %v (only acme's access ends)", err)
	}
	if err := e.gh.CanRead(ctx, old, "acme", "app"); !errors.Is(err, github.ErrNoAccess) {
		t.Fatalf("acme/app with the token after its organisation revocation: %v, want no access", err)
	}
	rec := e.lastRecord()
	if rec["outcome"] != revoke.OrgRevoked || rec["pat_id"] != oldInfo.OrgGrantID || rec["token_name"] != "rotor deploy" ||
		rec["org"] != "acme" || rec["fingerprint"] != old.Fingerprint() {
		t.Fatalf("recorded %v", rec)
	}
	if len(e.live) != 0 {
		t.Fatalf("alerted: %+v", e.live)
	}

	if err := o.Revoke(ctx, "deploy", old); err != nil {
		t.Fatal(err)
	}
	if rec := e.lastRecord(); rec["outcome"] != revoke.OrgNoGrant {
		t.Fatalf("second revocation recorded %v, want no_grant", rec)
	}
	// Once GitHub refuses the token, its grant opens nothing: no app
	// token is minted for it.
	minted := len(e.apps)
	if err := e.gh.RevokeCredentials(ctx, []token.Token{old}); err != nil {
		t.Fatal(err)
	}
	if err := o.Revoke(ctx, "deploy", old); err != nil {
		t.Fatal(err)
	}
	if rec := e.lastRecord(); rec["outcome"] != revoke.OrgTokenRefused || len(e.apps) != minted {
		t.Fatalf("revocation of a refused token recorded %v, minted %d app tokens", rec, len(e.apps)-minted)
	}
	// A classic token has no grant: nothing asked, nothing recorded.
	classicTok, _, err := e.emu.CreateToken("alice", ghemu.TokenSpec{Kind: ghemu.KindClassic, Scopes: []string{"repo"}})
	if err != nil {
		t.Fatal(err)
	}
	recs := len(e.recs)
	if err := o.Revoke(ctx, "deploy", token.New(classicTok.Reveal())); err != nil || len(e.recs) != recs {
		t.Fatalf("classic token: %v, %d records", err, len(e.recs)-recs)
	}
	e.checkAppTokensDead()
}

// Two grants of one owner that expire at the same second cannot be told
// apart: neither is revoked, and the outcome names both.
func TestOrg_RevokeAmbiguous(t *testing.T) {
	e := newOrgEnv(t)
	a, aInfo := e.fineGrained("alice", "one", 30*24*time.Hour)
	_, bInfo := e.fineGrained("alice", "two", 30*24*time.Hour)
	if !aInfo.ExpiresAt.Equal(bInfo.ExpiresAt) {
		t.Fatalf("the two tokens' expiries differ (%s, %s)", aInfo.ExpiresAt, bInfo.ExpiresAt)
	}
	if err := e.route("pat-admin").Revoke(context.Background(), "deploy", a); err != nil {
		t.Fatal(err)
	}
	if e.grantRevoked(aInfo.OrgGrantID) || e.grantRevoked(bInfo.OrgGrantID) {
		t.Fatal("a grant was revoked though two fit")
	}
	rec := e.lastRecord()
	c, _ := rec["candidates"].([]string)
	if rec["outcome"] != revoke.OrgAmbiguous || len(c) != 2 || !strings.Contains(strings.Join(c, " "), `"two"`) {
		t.Fatalf("recorded %v", rec)
	}
	e.checkAppTokensDead()
}

// An app that may only read the grants cannot revoke: the error says what
// the app needs, the failure is recorded, the grant stays.
func TestOrg_RevokeWithoutPermission(t *testing.T) {
	e := newOrgEnv(t)
	tok, info := e.fineGrained("alice", "deploy", 30*24*time.Hour)
	err := e.route("pat-reader").Revoke(context.Background(), "deploy", tok)
	if err == nil || !strings.Contains(err.Error(), "organization_personal_access_tokens: write") || strings.Contains(err.Error(), tok.Reveal()) {
		t.Fatalf("revoke with a read-only app: %v", err)
	}
	if e.grantRevoked(info.OrgGrantID) {
		t.Fatal("the grant was revoked")
	}
	if rec := e.lastRecord(); rec["outcome"] != revoke.OrgFailed || rec["error"] == "" {
		t.Fatalf("recorded %v", rec)
	}
}

// deafGitHub answers every revocation and does nothing, as a GitHub that
// accepted it but still lists the grant would.
type deafGitHub struct{ revoke.OrgGitHub }

func (deafGitHub) RevokeGrant(context.Context, token.Token, string, int64) error { return nil }

// A grant the organisation still lists after its revocation raises the
// alert and is recorded as such.
func TestOrg_RevokeStillListed(t *testing.T) {
	e := newOrgEnv(t)
	tok, info := e.fineGrained("alice", "deploy", 30*24*time.Hour)
	o := e.route("pat-admin")
	o.GitHub = deafGitHub{o.GitHub}
	if err := o.Revoke(context.Background(), "deploy", tok); err != nil {
		t.Fatal(err)
	}
	if rec := e.lastRecord(); rec["outcome"] != revoke.OrgStillListed || rec["pat_id"] != info.OrgGrantID {
		t.Fatalf("recorded %v", rec)
	}
	if len(e.live) != 1 || e.live[0].Fingerprint != tok.Fingerprint() || e.live[0].Credential != "deploy" || !strings.Contains(e.live[0].Error, "still lists it") {
		t.Fatalf("alerted %+v", e.live)
	}
	e.checkAppTokensDead()
}

func TestMatchGrants(t *testing.T) {
	at := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	grants := []revoke.OrgGrant{
		{ID: 1, ExpiresAt: at},
		{ID: 2, ExpiresAt: at.Add(time.Second)},
		{ID: 3, ExpiresAt: at, Expired: true},
		{ID: 4},
	}
	for _, tt := range []struct {
		name    string
		expires time.Time
		want    []int64
	}{
		{"same second", at.Add(300 * time.Millisecond), []int64{1}},
		{"never expires", time.Time{}, []int64{4}},
		{"none", at.Add(time.Hour), nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var got []int64
			for _, g := range revoke.MatchGrants(grants, tt.expires) {
				got = append(got, g.ID)
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("MatchGrants = %v, want %v", got, tt.want)
			}
		})
	}
}
