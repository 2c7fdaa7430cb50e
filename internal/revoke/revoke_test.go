package revoke_test

import (
	"context"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	ghemu "github.com/rotor-ci/rotor/internal/emulator/github"
	"github.com/rotor-ci/rotor/internal/github"
	"github.com/rotor-ci/rotor/internal/github/githubtest"
	"github.com/rotor-ci/rotor/internal/revoke"
	"github.com/rotor-ci/rotor/internal/seal/sealtest"
	"github.com/rotor-ci/rotor/internal/store"
	"github.com/rotor-ci/rotor/internal/token"
	"github.com/rotor-ci/rotor/internal/wiring"
)

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func setup(t *testing.T, limit int) (*ghemu.Server, *github.Client, *revoke.Queue, *clock, *[]revoke.Item) {
	t.Helper()
	emu, gh := githubtest.Start(t, ghemu.World{
		Users: []ghemu.UserSpec{{Login: "alice"}},
		Repos: []ghemu.RepoSpec{{Owner: "alice", Name: "r", Private: true}},
		Apps:  []ghemu.AppSpec{{Name: "app", Owner: "alice", Installations: []ghemu.InstallationSpec{{Account: "alice"}}}},
	}, ghemu.Options{})
	dir := t.TempDir()
	st, err := store.Open(context.Background(), "sqlite:"+filepath.Join(dir, "rotor.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	key := sealtest.Key(t)
	c := &clock{now: time.Now().UTC()}
	var alive []revoke.Item
	q := &revoke.Queue{Store: st, Sealer: key, GitHub: wiring.RevocationGitHub(gh), Limit: limit, Now: c.Now,
		Alive: func(_ context.Context, it revoke.Item) { alive = append(alive, it) }}
	return emu, gh, q, c, &alive
}

func classic(t *testing.T, emu *ghemu.Server) token.Token {
	t.Helper()
	tok, _, err := emu.CreateToken("alice", ghemu.TokenSpec{Kind: ghemu.KindClassic, Scopes: []string{"repo"}})
	if err != nil {
		t.Fatal(err)
	}
	return token.New(tok.Reveal())
}

func live(t *testing.T, gh *github.Client, tok token.Token) bool {
	t.Helper()
	_, err := gh.Identify(context.Background(), tok)
	return err == nil
}

// Within the hourly budget tokens are revoked at once and confirmed; past
// it they wait in the store, and the next hour's one call takes them all.
func TestQueue_budgetAndBatches(t *testing.T) {
	emu, gh, q, c, _ := setup(t, 1)
	ctx := context.Background()
	a, b, d := classic(t, emu), classic(t, emu), classic(t, emu)
	if err := q.Revoke(ctx, "x", a); err != nil {
		t.Fatal(err)
	}
	if live(t, gh, a) {
		t.Fatal("a is still accepted after its revocation")
	}
	for _, tok := range []token.Token{b, d} {
		if err := q.Revoke(ctx, "x", tok); err != nil {
			t.Fatal(err)
		}
	}
	if !live(t, gh, b) || !live(t, gh, d) {
		t.Fatal("the budget was one call an hour, but b or d was revoked")
	}
	queued, _ := q.Store.Revocations(ctx, 0, revoke.ItemQueued)
	if len(queued) != 2 {
		t.Fatalf("%d queued, want 2", len(queued))
	}
	rep, err := q.Flush(ctx)
	if err != nil || rep.Calls != 0 || rep.Queued != 2 || rep.NextCall.IsZero() {
		t.Fatalf("flush within the hour: %+v, %v", rep, err)
	}
	c.add(time.Hour + time.Second)
	rep, err = q.Flush(ctx)
	if err != nil || rep.Calls != 1 || rep.Sent != 2 || rep.Confirmed != 2 {
		t.Fatalf("flush after the hour: %+v, %v; want one call for both, both confirmed", rep, err)
	}
	if live(t, gh, b) || live(t, gh, d) {
		t.Fatal("b or d still accepted")
	}
	all, _ := q.Store.Revocations(ctx, 0)
	for _, it := range all {
		if it.State != revoke.ItemConfirmed || it.Sealed != nil {
			t.Errorf("%s: %s, sealed kept %v; want confirmed and forgotten", it.Fingerprint, it.State, it.Sealed != nil)
		}
	}
}

// A token GitHub already refuses costs no call; one it still accepts after
// its revocation is reported on the alert path.
func TestQueue_deadAndAlive(t *testing.T) {
	emu, gh, q, c, alive := setup(t, 60)
	ctx := context.Background()
	dead := classic(t, emu)
	if err := gh.RevokeCredentials(ctx, []token.Token{dead}); err != nil {
		t.Fatal(err)
	}
	// An installation token: the revocation API ignores it (it has a route
	// of its own), so it outlives the call.
	id, insts := emu.App("app")
	signed, err := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.RegisteredClaims{Issuer: strconv.FormatInt(id, 10),
		IssuedAt: jwt.NewNumericDate(time.Now().Add(-time.Minute)), ExpiresAt: jwt.NewNumericDate(time.Now().Add(5 * time.Minute))}).SignedString(githubtest.Key())
	if err != nil {
		t.Fatal(err)
	}
	ghs, _, err := gh.CreateInstallationToken(ctx, signed, insts[0], nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Revoke(ctx, "x", dead); err != nil {
		t.Fatal(err)
	}
	if err := q.Revoke(ctx, "x", ghs); err != nil {
		t.Fatal(err)
	}
	if len(*alive) != 0 {
		t.Fatalf("alerted at once: GitHub may act a moment after its 202")
	}
	c.add(11 * time.Minute)
	rep, err := q.Flush(ctx)
	if err != nil || len(rep.Alive) != 1 || len(*alive) != 1 || (*alive)[0].Fingerprint != ghs.Fingerprint() {
		t.Fatalf("flush: %+v, %v, alerted %v; want the installation token reported alive", rep, err, *alive)
	}
	all, _ := q.Store.Revocations(ctx, 0)
	for _, it := range all {
		want := revoke.ItemConfirmed
		if it.Fingerprint == ghs.Fingerprint() {
			want = revoke.ItemAlive
		}
		if it.State != want {
			t.Errorf("%s: %s, want %s", it.Fingerprint, it.State, want)
		}
	}
	// A person ends the token that outlived its revocation: the next
	// flush sees it refused and confirms it, without alerting again.
	if err := gh.RevokeInstallationToken(ctx, ghs); err != nil {
		t.Fatal(err)
	}
	rep, err = q.Flush(ctx)
	if err != nil || rep.Confirmed != 1 || len(*alive) != 1 {
		t.Fatalf("flush after the token died: %+v, %v, alerted %d time(s); want it confirmed, no new alert", rep, err, len(*alive))
	}
	if left, _ := q.Store.Revocations(ctx, 0, revoke.ItemAlive); len(left) != 0 {
		t.Errorf("still alive: %+v", left)
	}
}
