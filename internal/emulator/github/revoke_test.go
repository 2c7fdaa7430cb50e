package github

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	gh "github.com/google/go-github/v93/github"

	"github.com/rotor-ci/rotor/internal/emulator/ghtoken"
)

func TestServer_CredentialsRevoke(t *testing.T) {
	e := newEnv(t, testWorld())
	ctx := context.Background()
	anon := e.client(t, "")
	inst := e.installationToken(t, nil)

	t.Run("authenticated call is forbidden", func(t *testing.T) {
		resp, err := e.client(t, e.tok["bob-classic"]).Credentials.Revoke(ctx, []string{e.tok["bob-classic"]})
		if statusOf(resp) != http.StatusForbidden || err == nil {
			t.Fatalf("status %d, err %v", statusOf(resp), err)
		}
		if _, _, err := e.client(t, e.tok["bob-classic"]).Users.Get(ctx, ""); err != nil {
			t.Fatalf("the token was revoked anyway: %v", err)
		}
	})
	t.Run("revokes known tokens, ignores unknown and ghs_", func(t *testing.T) {
		resp, err := anon.Credentials.Revoke(ctx, []string{e.tok["bob-classic"], e.tok["alice-fg"], "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", "not-a-token", inst})
		if !isAccepted(err) || statusOf(resp) != http.StatusAccepted {
			t.Fatalf("status %d, err %v", statusOf(resp), err)
		}
		for _, name := range []string{"bob-classic", "alice-fg"} {
			if _, resp, _ := e.client(t, e.tok[name]).Users.Get(ctx, ""); statusOf(resp) != http.StatusUnauthorized {
				t.Errorf("%s still works: %d", name, statusOf(resp))
			}
		}
		if _, _, err := e.client(t, inst).Apps.ListRepos(ctx, nil); err != nil {
			t.Errorf("an installation token was revoked: %v", err)
		}
		states := map[string]TokenState{}
		for _, info := range e.srv.Tokens() {
			states[info.Fingerprint] = info.State
		}
		if s := states[fingerprintOf(e.tok["bob-classic"])]; s != StateRevoked {
			t.Errorf("state = %q", s)
		}
		if s := states[fingerprintOf(aliceClassic)]; s != StateActive {
			t.Errorf("bystander state = %q", s)
		}
	})
	bad := []struct {
		name, body string
		want       int
	}{
		{"malformed JSON", `{"credentials": [`, http.StatusBadRequest},
		{"not JSON", `credentials=ghp_x`, http.StatusBadRequest},
		{"missing", `{}`, http.StatusUnprocessableEntity},
		{"empty list", `{"credentials": []}`, http.StatusUnprocessableEntity},
		{"not an array", `{"credentials": "ghp_x"}`, http.StatusUnprocessableEntity},
		{"not strings", `{"credentials": [1, 2]}`, http.StatusUnprocessableEntity},
		{"empty string", `{"credentials": [""]}`, http.StatusUnprocessableEntity},
		{"too many", `{"credentials": [` + strings.TrimSuffix(strings.Repeat(`"ghp_x",`, 1001), ",") + `]}`, http.StatusUnprocessableEntity},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := e.do(t, http.MethodPost, "/credentials/revoke", "", tt.body)
			if resp.StatusCode != tt.want {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.want, body)
			}
			var eb errorBody
			if err := json.Unmarshal([]byte(body), &eb); err != nil || eb.Message == "" {
				t.Fatalf("body %q is not a GitHub error", body)
			}
		})
	}
	t.Run("1000 is allowed", func(t *testing.T) {
		creds := make([]string, 1000)
		for i := range creds {
			creds[i] = fmt.Sprintf("ghp_unknown%04d", i)
		}
		if _, err := anon.Credentials.Revoke(ctx, creds); !isAccepted(err) {
			t.Fatal(err)
		}
	})
}

func fingerprintOf(v string) string {
	return ghtoken.Fingerprint(v)
}

func TestServer_Regenerate(t *testing.T) {
	e := newEnv(t, testWorld())
	ctx := context.Background()

	// Through the admin API, as a person in the web UI.
	resp, body := e.do(t, http.MethodPost, "/_emulator/tokens", "", `{"user":"alice","kind":"classic","note":"ci","scopes":["repo","admin:repo_hook"],"expires_in":"30d"}`)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create: %d %s", resp.StatusCode, body)
	}
	var created createdToken
	if err := json.Unmarshal([]byte(body), &created); err != nil {
		t.Fatal(err)
	}
	if created.Value == "" || created.State != StateActive || !created.ExpiresAt.Equal(e.clock.Now().Add(30*24*time.Hour)) {
		t.Fatalf("created = %+v", created.TokenInfo)
	}
	old := created.Value
	if _, _, err := e.client(t, old).Users.Get(ctx, ""); err != nil {
		t.Fatal(err)
	}

	e.clock.Advance(time.Hour)
	resp, body = e.do(t, http.MethodPost, fmt.Sprintf("/_emulator/tokens/%d/regenerate", created.ID), "", "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("regenerate: %d %s", resp.StatusCode, body)
	}
	var regen createdToken
	if err := json.Unmarshal([]byte(body), &regen); err != nil {
		t.Fatal(err)
	}
	if regen.Value == old || regen.ID != created.ID || !regen.ExpiresAt.Equal(e.clock.Now().Add(30*24*time.Hour)) {
		t.Fatalf("regenerated = %+v", regen.TokenInfo)
	}
	if _, resp, _ := e.client(t, old).Users.Get(ctx, ""); statusOf(resp) != http.StatusUnauthorized {
		t.Fatalf("old value after regenerate: %d", statusOf(resp))
	}
	if _, _, err := e.client(t, regen.Value).Users.Get(ctx, ""); err != nil {
		t.Fatalf("new value: %v", err)
	}

	// The list never carries a value.
	resp, body = e.do(t, http.MethodGet, "/_emulator/tokens", "", "")
	if resp.StatusCode != 200 || strings.Contains(body, regen.Value) || strings.Contains(body, old) || strings.Contains(body, `"value"`) {
		t.Fatalf("token list: %d %s", resp.StatusCode, body)
	}
	if !strings.Contains(body, fingerprintOf(regen.Value)) {
		t.Fatalf("token list lacks the fingerprint: %s", body)
	}

	// Delete kills it too.
	resp, _ = e.do(t, http.MethodDelete, fmt.Sprintf("/_emulator/tokens/%d", created.ID), "", "")
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("delete: %d", resp.StatusCode)
	}
	if _, resp, _ := e.client(t, regen.Value).Users.Get(ctx, ""); statusOf(resp) != http.StatusUnauthorized {
		t.Fatalf("deleted token works: %d", statusOf(resp))
	}
	for _, path := range []string{"/_emulator/tokens/99999/regenerate", "/_emulator/tokens/x/regenerate"} {
		if resp, _ := e.do(t, http.MethodPost, path, "", ""); resp.StatusCode != http.StatusNotFound {
			t.Errorf("%s: %d", path, resp.StatusCode)
		}
	}

	t.Run("a revoked token cannot be regenerated", func(t *testing.T) {
		tok, info, _ := e.srv.CreateToken("bob", TokenSpec{Kind: KindClassic})
		if _, err := e.client(t, "").Credentials.Revoke(ctx, []string{tok.Reveal()}); !isAccepted(err) {
			t.Fatal(err)
		}
		if _, _, err := e.srv.Regenerate(info.ID); !errors.Is(err, ErrRevoked) {
			t.Fatalf("Regenerate(revoked) = %v", err)
		}
	})
}

func TestServer_RateLimit(t *testing.T) {
	w := testWorld()
	w.RateLimit = 3
	w.UnauthenticatedRateLimit = 2
	e := newEnv(t, w)
	auth := "token " + aliceClassic
	for i := 1; i <= 3; i++ {
		resp, _ := e.do(t, http.MethodGet, "/user", auth, "")
		if resp.StatusCode != 200 || resp.Header.Get("X-RateLimit-Remaining") != fmt.Sprint(3-i) || resp.Header.Get("X-RateLimit-Used") != fmt.Sprint(i) {
			t.Fatalf("request %d: %d remaining %s", i, resp.StatusCode, resp.Header.Get("X-RateLimit-Remaining"))
		}
	}
	reset := e.clock.Now().Add(time.Hour).Unix()
	resp, body := e.do(t, http.MethodGet, "/repos/alice/public", auth, "")
	if resp.StatusCode != http.StatusForbidden || resp.Header.Get("X-RateLimit-Remaining") != "0" || resp.Header.Get("X-RateLimit-Reset") != fmt.Sprint(reset) {
		t.Fatalf("exhausted: %d %v %s", resp.StatusCode, resp.Header, body)
	}
	if !strings.Contains(body, "API rate limit exceeded for user ID") {
		t.Fatalf("body %s", body)
	}
	// go-github recognises it.
	_, _, err := e.client(t, aliceClassic).Users.Get(context.Background(), "")
	var rle *gh.RateLimitError
	if !errors.As(err, &rle) {
		t.Fatalf("go-github error %T %v", err, err)
	}
	if ok, reason := e.srv.Authorize(aliceClassic, "alice", "public"); ok || !strings.Contains(reason, "rate limit") {
		t.Fatalf("Authorize while exhausted = %v %q", ok, reason)
	}
	// Other tokens have their own budget.
	if resp, _ := e.do(t, http.MethodGet, "/user", "token "+e.tok["bob-classic"], ""); resp.StatusCode != 200 {
		t.Fatalf("bob: %d", resp.StatusCode)
	}
	// Unauthenticated: per IP.
	for i := 0; i < 2; i++ {
		if resp, _ := e.do(t, http.MethodGet, "/users/alice", "", ""); resp.StatusCode != 200 {
			t.Fatalf("anonymous %d: %d", i, resp.StatusCode)
		}
	}
	if resp, _ := e.do(t, http.MethodGet, "/users/alice", "", ""); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("anonymous beyond the limit: %d", resp.StatusCode)
	}
	// A new hour, a new budget.
	e.clock.Advance(time.Hour)
	if resp, _ := e.do(t, http.MethodGet, "/user", auth, ""); resp.StatusCode != 200 || resp.Header.Get("X-RateLimit-Remaining") != "2" {
		t.Fatalf("after reset: %d %s", resp.StatusCode, resp.Header.Get("X-RateLimit-Remaining"))
	}
}

// GET /user answers 401 for every kind of token once it is revoked by its
// own route: ghp_, github_pat_, ghu_ and ghr_ through the credential
// revocation API (a ghu_ and its ghr_ are one grant: revoking either ends
// both), ghs_ through DELETE /installation/token. gho_ belongs to OAuth
// apps, which the emulator does not model: accepted and ignored.
func TestRevoke_EachKindThenBadCredentials(t *testing.T) {
	e := newEnv(t, oauthWorld())
	ctx := context.Background()
	anon := e.client(t, "")
	classic := e.newToken(t, TokenSpec{User: "alice", Kind: KindClassic, Scopes: []string{"repo"}})
	fine := e.newToken(t, TokenSpec{User: "alice", Kind: KindFineGrained, Repositories: []string{"alice/private"}, Permissions: map[string]string{"contents": "read"}, ExpiresIn: Duration{30 * 24 * time.Hour}})
	ghu1, ghr1, _ := e.srv.CreateUserToken("rotor-ci", "alice")
	ghu2, ghr2, _ := e.srv.CreateUserToken("rotor-ci", "bob")
	inst := e.installationToken(t, nil)
	bystander := e.newToken(t, TokenSpec{User: "bob", Kind: KindClassic})

	for name, tok := range map[string]string{"ghp_": classic, "github_pat_": fine, "ghu_ (1)": ghu1.Reveal(), "ghu_ (2)": ghu2.Reveal(), "bystander": bystander} {
		if status, _ := e.userStatus(t, tok); status != http.StatusOK {
			t.Fatalf("%s before: %d", name, status)
		}
	}
	if _, err := anon.Credentials.Revoke(ctx, []string{classic, fine, ghu1.Reveal(), ghr2.Reveal(), ghtoken.Generate(ghtoken.KindOAuth).Reveal()}); !isAccepted(err) {
		t.Fatal(err)
	}
	resp, err := e.client(t, inst).Apps.RevokeInstallationToken(ctx)
	if err != nil || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("DELETE /installation/token: %d %v", statusOf(resp), err)
	}
	for name, tok := range map[string]string{"ghp_": classic, "github_pat_": fine, "ghu_ revoked": ghu1.Reveal(), "ghu_ of a revoked ghr_": ghu2.Reveal(), "ghs_": inst} {
		_, resp, err := e.client(t, tok).Users.Get(ctx, "")
		if statusOf(resp) != http.StatusUnauthorized || err == nil || !strings.Contains(err.Error(), "Bad credentials") {
			t.Errorf("%s after revocation: %d %v", name, statusOf(resp), err)
		}
	}
	for name, ghr := range map[string]string{"ghr_ of a revoked ghu_": ghr1.Reveal(), "revoked ghr_": ghr2.Reveal()} {
		if f := e.refreshGrant(t, ghr, testClientSecret); f["error"] != "bad_refresh_token" {
			t.Errorf("%s refreshes: %v", name, f)
		}
	}
	if status, _ := e.userStatus(t, bystander); status != http.StatusOK {
		t.Errorf("a token nobody revoked: %d", status)
	}
	if ok, reason := e.srv.Authorize(ghu1.Reveal(), "alice", "private"); ok || !strings.Contains(reason, "revoked") {
		t.Errorf("Authorize after revocation: %v %q", ok, reason)
	}
}

// POST /credentials/revoke has a budget of its own, 60 calls an hour per
// client address, apart from the core budget; beyond it, 403 with
// X-RateLimit-Remaining 0 (go-github: *RateLimitError) and nothing is
// revoked, so a client must batch (≤1000 a call) and queue.
func TestRevoke_OwnRateLimit(t *testing.T) {
	w := testWorld()
	w.CredentialsRevokeRateLimit = 3
	e := newEnv(t, w)
	ctx := context.Background()
	anon := e.client(t, "")
	for i := 1; i <= 3; i++ {
		resp, err := anon.Credentials.Revoke(ctx, []string{fmt.Sprintf("ghp_unknown%d", i)})
		if !isAccepted(err) || resp.Rate.Limit != 3 || resp.Rate.Remaining != 3-i || resp.Header.Get("X-RateLimit-Resource") != revokeResource {
			t.Fatalf("call %d: %v %+v %q", i, err, resp.Rate, resp.Header.Get("X-RateLimit-Resource"))
		}
	}
	victim := e.newToken(t, TokenSpec{User: "bob", Kind: KindClassic})
	// The same go-github client would not even send it: it files the
	// route under core and stops itself until the reset. A fresh one
	// reaches the emulator.
	if _, err := anon.Credentials.Revoke(ctx, []string{victim}); err == nil || !strings.Contains(err.Error(), "not making remote request") {
		t.Fatalf("go-github's own bookkeeping: %v", err)
	}
	resp, err := e.client(t, "").Credentials.Revoke(ctx, []string{victim})
	var rle *gh.RateLimitError
	if !errors.As(err, &rle) || statusOf(resp) != http.StatusForbidden || resp.Header.Get("X-RateLimit-Remaining") != "0" {
		t.Fatalf("call 4: %d %T %v", statusOf(resp), err, err)
	}
	if status, _ := e.userStatus(t, victim); status != http.StatusOK {
		t.Fatal("a refused call revoked its token")
	}
	// The core budget is untouched by it.
	hr, _ := e.do(t, http.MethodGet, "/users/alice", "", "")
	if hr.Header.Get("X-RateLimit-Resource") != "core" || hr.Header.Get("X-RateLimit-Used") != "1" {
		t.Fatalf("core budget: %v", hr.Header)
	}
	// An hour later, a new budget.
	e.clock.Advance(time.Hour)
	if _, err := e.client(t, "").Credentials.Revoke(ctx, []string{victim}); !isAccepted(err) {
		t.Fatal(err)
	}
	if status, _ := e.userStatus(t, victim); status != http.StatusUnauthorized {
		t.Fatalf("after the reset: %d", status)
	}
}
