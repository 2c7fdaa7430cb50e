package github

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	gh "github.com/google/go-github/v93/github"
	"golang.org/x/crypto/nacl/box"

	"github.com/rotor-ci/rotor/internal/emulator/ghtoken"
)

// orgWorld is testWorld plus the organisation acme (owner alice, member
// bob, dave outside it) with a private repository acme/app (environment
// production; carol collaborates) and a public acme/site, and the app
// secrets-bot, installed on alice and on acme with secrets permissions.
func orgWorld() World {
	w := testWorld()
	w.Users = append(w.Users, UserSpec{Login: "dave"})
	w.Orgs = []OrgSpec{{Login: "acme", Owners: []string{"alice"}, Members: []string{"bob"}}}
	w.Repos = append(w.Repos,
		RepoSpec{Owner: "acme", Name: "app", Private: true, Environments: []string{"production"}, Collaborators: []string{"carol"}},
		RepoSpec{Owner: "acme", Name: "site"},
	)
	w.Apps = append(w.Apps, AppSpec{
		Name: "secrets-bot", Owner: "alice",
		Permissions: map[string]string{"secrets": "write", "dependabot_secrets": "write", "organization_secrets": "write", "actions": "write", "contents": "read"},
		Installations: []InstallationSpec{
			{Account: "alice"},
			{Account: "acme", Permissions: map[string]string{"secrets": "write", "organization_secrets": "write", "actions": "write", "contents": "read"}},
		},
	})
	return w
}

// seal encrypts value for a base64 public key as a client does.
func seal(t *testing.T, keyB64, value string) string {
	t.Helper()
	raw, err := base64.StdEncoding.DecodeString(keyB64)
	if err != nil || len(raw) != 32 {
		t.Fatalf("public key %q is not a base64 Curve25519 key: %v", keyB64, err)
	}
	var pk [32]byte
	copy(pk[:], raw)
	ct, err := box.SealAnonymous(nil, []byte(value), &pk, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(ct)
}

// appToken mints an installation token of app for its installation on
// account.
func (e *env) appToken(t *testing.T, app, account string) string {
	t.Helper()
	info, err := e.srv.DescribeApp(app)
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range info.Installations {
		if strings.EqualFold(in.Account, account) {
			tok, _, err := e.client(t, e.jwtFor(t, info.ID, testKey(), nil)).Apps.CreateInstallationToken(context.Background(), in.ID, nil)
			if err != nil {
				t.Fatal(err)
			}
			return tok.GetToken()
		}
	}
	t.Fatalf("%s is not installed on %s", app, account)
	return ""
}

func (e *env) newToken(t *testing.T, spec TokenSpec) string {
	t.Helper()
	v, _, err := e.srv.CreateToken(spec.User, spec)
	if err != nil {
		t.Fatal(err)
	}
	return v.Reveal()
}

// secretFingerprint is the emulator's record of a secret's value.
func (e *env) secretFingerprint(t *testing.T, sc SecretScope, name string) string {
	t.Helper()
	for _, info := range e.srv.Secrets() {
		if info.key() == sc.key() && info.Name == name {
			return info.Fingerprint
		}
	}
	return ""
}

func TestSecrets_RepoLifecycle(t *testing.T) {
	e := newEnv(t, orgWorld())
	ctx := context.Background()
	c := e.client(t, aliceClassic)
	sc := SecretScope{Service: ServiceActions, Level: LevelRepo, Account: "alice", Repo: "private"}
	const canary = "ghp_canaryValueThatMustNeverBeAnswered1"

	key, _, err := c.Actions.GetRepoPublicKey(ctx, "alice", "private")
	if err != nil {
		t.Fatal(err)
	}
	again, _, _ := c.Actions.GetRepoPublicKey(ctx, "alice", "private")
	if key.GetKeyID() == "" || again.GetKeyID() != key.GetKeyID() || again.GetKey() != key.GetKey() {
		t.Fatalf("the key changes between reads: %v %v", key, again)
	}
	other, _, _ := c.Actions.GetRepoPublicKey(ctx, "alice", "public")
	if other.GetKey() == key.GetKey() {
		t.Fatal("two repositories share a key")
	}

	resp, err := c.Actions.CreateOrUpdateRepoSecret(ctx, "alice", "private", "deploy_token", gh.SecretRequest{KeyID: key.GetKeyID(), EncryptedValue: seal(t, key.GetKey(), canary)})
	if err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("create: %d %v", statusOf(resp), err)
	}
	created := e.clock.Now()
	if got := e.secretFingerprint(t, sc, "DEPLOY_TOKEN"); got != ghtoken.Fingerprint(canary) {
		t.Fatalf("the emulator decrypted %s, want the fingerprint of the sealed value", got)
	}
	e.clock.Advance(time.Minute)
	resp, err = c.Actions.CreateOrUpdateRepoSecret(ctx, "alice", "private", "DEPLOY_TOKEN", gh.SecretRequest{KeyID: key.GetKeyID(), EncryptedValue: seal(t, key.GetKey(), "second")})
	if err != nil || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("update: %d %v", statusOf(resp), err)
	}
	if e.secretFingerprint(t, sc, "DEPLOY_TOKEN") != ghtoken.Fingerprint("second") {
		t.Fatal("the update did not replace the value")
	}
	sec, _, err := c.Actions.GetRepoSecret(ctx, "alice", "private", "deploy_token")
	if err != nil {
		t.Fatal(err)
	}
	if sec.Name != "DEPLOY_TOKEN" || !sec.CreatedAt.Time.Equal(created) || !sec.UpdatedAt.Time.Equal(e.clock.Now()) {
		t.Fatalf("secret = %+v, want created %v updated %v", sec, created, e.clock.Now())
	}

	for _, n := range []string{"B_ONE", "A_TWO"} {
		if _, err := c.Actions.CreateOrUpdateRepoSecret(ctx, "alice", "private", n, gh.SecretRequest{KeyID: key.GetKeyID(), EncryptedValue: seal(t, key.GetKey(), n)}); err != nil {
			t.Fatal(err)
		}
	}
	page1, resp, err := c.Actions.ListRepoSecrets(ctx, "alice", "private", &gh.ListOptions{PerPage: 2})
	if err != nil || page1.TotalCount != 3 || len(page1.Secrets) != 2 || page1.Secrets[0].Name != "A_TWO" || resp.NextPage != 2 {
		t.Fatalf("page 1: %+v next %d %v", page1, resp.NextPage, err)
	}
	page2, _, _ := c.Actions.ListRepoSecrets(ctx, "alice", "private", &gh.ListOptions{PerPage: 2, Page: 2})
	if len(page2.Secrets) != 1 || page2.Secrets[0].Name != "DEPLOY_TOKEN" {
		t.Fatalf("page 2: %+v", page2)
	}
	// No answer carries the value, and the list names no key material.
	for _, path := range []string{"/repos/alice/private/actions/secrets", "/repos/alice/private/actions/secrets/DEPLOY_TOKEN", "/_emulator/secrets"} {
		_, body := e.do(t, http.MethodGet, path, "token "+aliceClassic, "")
		if strings.Contains(body, "second") || strings.Contains(body, canary) || strings.Contains(body, `"value"`) {
			t.Errorf("%s reveals a value: %s", path, body)
		}
	}
	snap, _ := e.srv.Snapshot()
	if !strings.Contains(string(snap), "second") {
		t.Error("the state does not keep the decrypted value")
	}

	resp, err = c.Actions.DeleteRepoSecret(ctx, "alice", "private", "DEPLOY_TOKEN")
	if err != nil || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("delete: %d %v", statusOf(resp), err)
	}
	if _, resp, _ := c.Actions.GetRepoSecret(ctx, "alice", "private", "DEPLOY_TOKEN"); statusOf(resp) != http.StatusNotFound {
		t.Fatalf("deleted secret: %d", statusOf(resp))
	}
	if resp, _ := c.Actions.DeleteRepoSecret(ctx, "alice", "private", "DEPLOY_TOKEN"); statusOf(resp) != http.StatusNotFound {
		t.Fatalf("delete twice: %d", statusOf(resp))
	}
}

func TestSecrets_BoxesGitHubRefuses(t *testing.T) {
	e := newEnv(t, orgWorld())
	ctx := context.Background()
	c := e.client(t, aliceClassic)
	sc := SecretScope{Service: ServiceActions, Level: LevelRepo, Account: "alice", Repo: "private"}
	key, _, err := c.Actions.GetRepoPublicKey(ctx, "alice", "private")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Actions.CreateOrUpdateRepoSecret(ctx, "alice", "private", "TOK", gh.SecretRequest{KeyID: key.GetKeyID(), EncryptedValue: seal(t, key.GetKey(), "good")}); err != nil {
		t.Fatal(err)
	}
	otherKey, _, _ := c.Actions.GetRepoPublicKey(ctx, "alice", "public")
	garbage := base64.StdEncoding.EncodeToString([]byte(strings.Repeat("x", 60)))
	bad := []struct {
		name, body, want string
	}{
		{"stale key_id", fmt.Sprintf(`{"encrypted_value":%q,"key_id":"12345"}`, seal(t, key.GetKey(), "new")), msgBadBox},
		{"another key's box", fmt.Sprintf(`{"encrypted_value":%q,"key_id":%q}`, seal(t, otherKey.GetKey(), "new"), key.GetKeyID()), msgBadBox},
		{"not a box", fmt.Sprintf(`{"encrypted_value":%q,"key_id":%q}`, garbage, key.GetKeyID()), msgBadBox},
		{"not base64", fmt.Sprintf(`{"encrypted_value":"plain text!","key_id":%q}`, key.GetKeyID()), "does not match"},
		{"no key_id", fmt.Sprintf(`{"encrypted_value":%q}`, seal(t, key.GetKey(), "new")), `"key_id" wasn't supplied`},
		{"no value", fmt.Sprintf(`{"key_id":%q}`, key.GetKeyID()), `"encrypted_value" wasn't supplied`},
		{"bad name", "", "Secret names"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			path, body := "/repos/alice/private/actions/secrets/TOK", tt.body
			if tt.name == "bad name" {
				path, body = "/repos/alice/private/actions/secrets/GITHUB_TOKEN", fmt.Sprintf(`{"encrypted_value":%q,"key_id":%q}`, seal(t, key.GetKey(), "x"), key.GetKeyID())
			}
			resp, out := e.do(t, http.MethodPut, path, "token "+aliceClassic, body)
			var eb errorBody
			_ = json.Unmarshal([]byte(out), &eb)
			if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(eb.Message, tt.want) {
				t.Fatalf("%d %s, want 422 %q", resp.StatusCode, out, tt.want)
			}
			if strings.Contains(out, "plain text") {
				t.Fatalf("the error echoes the value: %s", out)
			}
			if e.secretFingerprint(t, sc, "TOK") != ghtoken.Fingerprint("good") {
				t.Fatal("a refused write changed the secret")
			}
		})
	}

	t.Run("key rotated between read and write", func(t *testing.T) {
		resp, body := e.do(t, http.MethodPost, "/_emulator/secrets/rotate-key", "", `{"service":"actions","level":"repo","account":"alice","repo":"private"}`)
		if resp.StatusCode != http.StatusOK || strings.Contains(body, key.GetKeyID()) {
			t.Fatalf("rotate: %d %s", resp.StatusCode, body)
		}
		_, err := c.Actions.CreateOrUpdateRepoSecret(ctx, "alice", "private", "TOK", gh.SecretRequest{KeyID: key.GetKeyID(), EncryptedValue: seal(t, key.GetKey(), "stale")})
		var ge *gh.ErrorResponse
		if !errors.As(err, &ge) || ge.Response.StatusCode != http.StatusUnprocessableEntity || ge.Message != msgBadBox {
			t.Fatalf("write with the old key: %v", err)
		}
		fresh, _, _ := c.Actions.GetRepoPublicKey(ctx, "alice", "private")
		if fresh.GetKeyID() == key.GetKeyID() || fresh.GetKey() == key.GetKey() {
			t.Fatal("the key did not change")
		}
		if _, err := c.Actions.CreateOrUpdateRepoSecret(ctx, "alice", "private", "TOK", gh.SecretRequest{KeyID: fresh.GetKeyID(), EncryptedValue: seal(t, fresh.GetKey(), "fresh")}); err != nil {
			t.Fatal(err)
		}
		if e.secretFingerprint(t, sc, "TOK") != ghtoken.Fingerprint("fresh") {
			t.Fatal("the retried write did not land")
		}
	})
	t.Run("at most 100 secrets a repository, 48 KB a value", func(t *testing.T) {
		k, _, _ := c.Actions.GetRepoPublicKey(ctx, "alice", "public")
		big := strings.Repeat("x", 48*1024+1)
		if _, err := c.Actions.CreateOrUpdateRepoSecret(ctx, "alice", "public", "BIG", gh.SecretRequest{KeyID: k.GetKeyID(), EncryptedValue: seal(t, k.GetKey(), big)}); err == nil {
			t.Fatal("a value over 48 KB was accepted")
		}
		for i := range 100 {
			if _, err := c.Actions.CreateOrUpdateRepoSecret(ctx, "alice", "public", fmt.Sprintf("S%d", i), gh.SecretRequest{KeyID: k.GetKeyID(), EncryptedValue: seal(t, k.GetKey(), "v")}); err != nil {
				t.Fatalf("secret %d: %v", i, err)
			}
		}
		if _, err := c.Actions.CreateOrUpdateRepoSecret(ctx, "alice", "public", "S100", gh.SecretRequest{KeyID: k.GetKeyID(), EncryptedValue: seal(t, k.GetKey(), "v")}); err == nil {
			t.Fatal("a 101st secret was accepted")
		}
		if _, err := c.Actions.CreateOrUpdateRepoSecret(ctx, "alice", "public", "S7", gh.SecretRequest{KeyID: k.GetKeyID(), EncryptedValue: seal(t, k.GetKey(), "w")}); err != nil {
			t.Fatalf("updating one of the 100: %v", err)
		}
	})
	t.Run("admin rotate of an unknown scope", func(t *testing.T) {
		for body, want := range map[string]int{
			`{"service":"actions","level":"repo","account":"alice","repo":"nope"}`:                     http.StatusNotFound,
			`{"service":"actions","level":"env","account":"alice","repo":"private","environment":"x"}`: http.StatusNotFound,
			`{"service":"codespaces","level":"repo","account":"alice","repo":"private"}`:               http.StatusUnprocessableEntity,
			`{"service":"actions","level":"org","account":"nobody"}`:                                   http.StatusNotFound,
		} {
			if resp, out := e.do(t, http.MethodPost, "/_emulator/secrets/rotate-key", "", body); resp.StatusCode != want {
				t.Errorf("%s: %d %s, want %d", body, resp.StatusCode, out, want)
			}
		}
	})
}

func TestSecrets_Permissions(t *testing.T) {
	e := newEnv(t, orgWorld())
	ctx := context.Background()
	fgSecrets := e.newToken(t, TokenSpec{User: "alice", Kind: KindFineGrained, Repositories: []string{"alice/private"}, Permissions: map[string]string{"secrets": "write"}})
	fgRead := e.newToken(t, TokenSpec{User: "alice", Kind: KindFineGrained, Repositories: []string{"alice/private"}, Permissions: map[string]string{"secrets": "read"}})
	bobAcme := e.newToken(t, TokenSpec{User: "bob", Kind: KindClassic, Scopes: []string{"repo", "admin:org"}})
	carolAcme := e.newToken(t, TokenSpec{User: "carol", Kind: KindClassic, Scopes: []string{"repo"}})
	botAlice := e.appToken(t, "secrets-bot", "alice")
	rotorCI := e.installationToken(t, nil) // contents, metadata, pull_requests: no secrets

	put := func(tok, owner, repo string) (int, string) {
		c := e.client(t, tok)
		key, resp, err := c.Actions.GetRepoPublicKey(ctx, owner, repo)
		if err != nil {
			return statusOf(resp), err.Error()
		}
		resp, err = c.Actions.CreateOrUpdateRepoSecret(ctx, owner, repo, "X", gh.SecretRequest{KeyID: key.GetKeyID(), EncryptedValue: seal(t, key.GetKey(), "v")})
		if err != nil {
			return statusOf(resp), err.Error()
		}
		return resp.StatusCode, ""
	}
	tests := []struct {
		name, tok, owner, repo string
		want                   int
		msg                    string
	}{
		{"owner, classic repo", aliceClassic, "alice", "private", http.StatusCreated, ""},
		{"collaborator (write), classic repo", e.tok["bob-classic"], "alice", "private", http.StatusNoContent, ""},
		{"classic without repo scope", e.tok["alice-noscope"], "alice", "private", http.StatusNotFound, ""},
		{"classic without repo scope, public repository", e.tok["alice-noscope"], "alice", "public", http.StatusNotFound, ""},
		{"stranger", e.tok["carol-classic"], "alice", "private", http.StatusNotFound, ""},
		{"fine-grained secrets:write", fgSecrets, "alice", "private", http.StatusNoContent, ""},
		{"fine-grained secrets:read", fgRead, "alice", "private", http.StatusForbidden, msgNotByPAT},
		{"fine-grained contents:read", e.tok["alice-fg"], "alice", "private", http.StatusForbidden, msgNotByPAT},
		{"fine-grained, repository not listed (public)", fgSecrets, "alice", "public", http.StatusForbidden, msgNotByPAT},
		{"fine-grained, repository not listed (private)", fgSecrets, "alice", "other", http.StatusNotFound, ""},
		{"app with secrets:write", botAlice, "alice", "public", http.StatusCreated, ""},
		{"app without secrets", rotorCI, "alice", "private", http.StatusForbidden, msgNotByIntegration},
		{"organisation owner", aliceClassic, "acme", "app", http.StatusCreated, ""},
		{"organisation member (read)", bobAcme, "acme", "app", http.StatusForbidden, msgRepoAdminRight},
		{"collaborator on an organisation repository", carolAcme, "acme", "app", http.StatusNoContent, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, msg := put(tt.tok, tt.owner, tt.repo)
			if got != tt.want || !strings.Contains(msg, tt.msg) {
				t.Fatalf("status %d %s, want %d %q", got, msg, tt.want, tt.msg)
			}
		})
	}
	t.Run("a member reads the public key, not the secrets", func(t *testing.T) {
		c := e.client(t, bobAcme)
		if _, _, err := c.Actions.GetRepoPublicKey(ctx, "acme", "app"); err != nil {
			t.Fatal(err)
		}
		if _, resp, _ := c.Actions.ListRepoSecrets(ctx, "acme", "app", nil); statusOf(resp) != http.StatusForbidden {
			t.Fatalf("list: %d", statusOf(resp))
		}
	})
	t.Run("X-Accepted-GitHub-Permissions names what is needed", func(t *testing.T) {
		resp, _ := e.do(t, http.MethodDelete, "/repos/alice/private/actions/secrets/X", "token "+fgRead, "")
		if resp.StatusCode != http.StatusForbidden || resp.Header.Get("X-Accepted-GitHub-Permissions") != "secrets=write" {
			t.Fatalf("%d %q", resp.StatusCode, resp.Header.Get("X-Accepted-GitHub-Permissions"))
		}
	})
	t.Run("unauthenticated", func(t *testing.T) {
		if resp, _ := e.do(t, http.MethodGet, "/repos/alice/public/actions/secrets/public-key", "", ""); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("%d", resp.StatusCode)
		}
	})
}

func TestSecrets_Environment(t *testing.T) {
	e := newEnv(t, orgWorld())
	ctx := context.Background()
	c := e.client(t, aliceClassic)
	if _, resp, _ := c.Actions.GetEnvPublicKey(ctx, "acme", "app", "staging"); statusOf(resp) != http.StatusNotFound {
		t.Fatalf("undeclared environment: %d", statusOf(resp))
	}
	key, _, err := c.Actions.GetEnvPublicKey(ctx, "acme", "app", "Production")
	if err != nil {
		t.Fatal(err)
	}
	repoKey, _, _ := c.Actions.GetRepoPublicKey(ctx, "acme", "app")
	if key.GetKey() == repoKey.GetKey() {
		t.Fatal("the environment shares the repository's key")
	}
	// The repository's key does not open for the environment.
	if _, err := c.Actions.CreateOrUpdateEnvSecret(ctx, "acme", "app", "production", "TOK", gh.SecretRequest{KeyID: repoKey.GetKeyID(), EncryptedValue: seal(t, repoKey.GetKey(), "v")}); err == nil {
		t.Fatal("a box for the repository's key was accepted for the environment")
	}
	resp, err := c.Actions.CreateOrUpdateEnvSecret(ctx, "acme", "app", "production", "TOK", gh.SecretRequest{KeyID: key.GetKeyID(), EncryptedValue: seal(t, key.GetKey(), "env-value")})
	if err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("%d %v", statusOf(resp), err)
	}
	list, _, err := c.Actions.ListEnvSecrets(ctx, "acme", "app", "production", nil)
	if err != nil || list.TotalCount != 1 || list.Secrets[0].Name != "TOK" {
		t.Fatalf("%+v %v", list, err)
	}
	if _, _, err := c.Actions.GetEnvSecret(ctx, "acme", "app", "production", "TOK"); err != nil {
		t.Fatal(err)
	}
	if repo, _, _ := c.Actions.ListRepoSecrets(ctx, "acme", "app", nil); repo.TotalCount != 0 {
		t.Fatalf("the environment's secret shows at repository level: %+v", repo)
	}
	if _, err := c.Actions.DeleteEnvSecret(ctx, "acme", "app", "production", "TOK"); err != nil {
		t.Fatal(err)
	}

	// An installation token needs environments besides secrets.
	if _, _, err := e.srv.CreateApp(AppSpec{Name: "env-bot", Owner: "alice",
		Permissions:   map[string]string{"secrets": "write", "environments": "write"},
		Installations: []InstallationSpec{{Account: "acme"}}}); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		app  string
		want int
	}{{"secrets-bot", http.StatusForbidden}, {"env-bot", http.StatusCreated}} {
		ac := e.client(t, e.appToken(t, tt.app, "acme"))
		key, resp, err := ac.Actions.GetEnvPublicKey(ctx, "acme", "app", "production")
		if tt.want == http.StatusForbidden {
			if statusOf(resp) != http.StatusForbidden || err == nil || !strings.Contains(err.Error(), msgNotByIntegration) ||
				resp.Header.Get("X-Accepted-GitHub-Permissions") != "secrets=read,environments=read" {
				t.Fatalf("%s, environment public key: %d %v", tt.app, statusOf(resp), err)
			}
			key = envKeyFor(t, e, "acme", "app", "production")
		} else if err != nil {
			t.Fatalf("%s, environment public key: %v", tt.app, err)
		}
		resp, err = ac.Actions.CreateOrUpdateEnvSecret(ctx, "acme", "app", "production", "BOT", gh.SecretRequest{KeyID: key.GetKeyID(), EncryptedValue: seal(t, key.GetKey(), "v")})
		if statusOf(resp) != tt.want {
			t.Fatalf("%s, put an environment secret: %d %v, want %d", tt.app, statusOf(resp), err, tt.want)
		}
	}
}

// envKeyFor is the environment's public key, read as its owner.
func envKeyFor(t *testing.T, e *env, owner, repo, environment string) *gh.PublicKey {
	t.Helper()
	key, _, err := e.client(t, aliceClassic).Actions.GetEnvPublicKey(context.Background(), owner, repo, environment)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

func TestSecrets_Organisation(t *testing.T) {
	e := newEnv(t, orgWorld())
	ctx := context.Background()
	ownerTok := e.newToken(t, TokenSpec{User: "alice", Kind: KindClassic, Scopes: []string{"admin:org", "repo"}})
	memberTok := e.newToken(t, TokenSpec{User: "bob", Kind: KindClassic, Scopes: []string{"admin:org"}})
	outsider := e.newToken(t, TokenSpec{User: "dave", Kind: KindClassic, Scopes: []string{"admin:org"}})
	c := e.client(t, ownerTok)
	appID, siteID, aliceRepoID := e.repoID(t, "acme", "app"), e.repoID(t, "acme", "site"), e.repoID(t, "alice", "public")

	if _, resp, _ := e.client(t, aliceClassic).Actions.GetOrgPublicKey(ctx, "acme"); statusOf(resp) != http.StatusNotFound {
		t.Fatalf("classic token without admin:org: %d", statusOf(resp))
	}
	if _, resp, _ := e.client(t, outsider).Actions.GetOrgPublicKey(ctx, "acme"); statusOf(resp) != http.StatusNotFound {
		t.Fatalf("a user outside the organisation: %d", statusOf(resp))
	}
	key, _, err := c.Actions.GetOrgPublicKey(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	req := gh.SecretOrgRequest{KeyID: key.GetKeyID(), EncryptedValue: seal(t, key.GetKey(), "org-value"), Visibility: "selected", SelectedRepositoryIDs: []int64{appID}}
	resp, err := c.Actions.CreateOrUpdateOrgSecret(ctx, "acme", "SHARED", req)
	if err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("create: %d %v", statusOf(resp), err)
	}
	sec, _, err := c.Actions.GetOrgSecret(ctx, "acme", "SHARED")
	if err != nil || sec.Visibility != "selected" || !strings.HasSuffix(sec.SelectedRepositoriesURL, "/orgs/acme/actions/secrets/SHARED/repositories") {
		t.Fatalf("%+v %v", sec, err)
	}
	sel, _, err := c.Actions.ListSelectedReposForOrgSecret(ctx, "acme", "SHARED", nil)
	if err != nil || sel.GetTotalCount() != 1 || sel.Repositories[0].GetID() != appID {
		t.Fatalf("selected: %+v %v", sel, err)
	}
	if _, err := c.Actions.AddSelectedRepoToOrgSecret(ctx, "acme", "SHARED", siteID); err != nil {
		t.Fatal(err)
	}
	if resp, _ := c.Actions.AddSelectedRepoToOrgSecret(ctx, "acme", "SHARED", aliceRepoID); statusOf(resp) != http.StatusNotFound {
		t.Fatalf("another owner's repository: %d", statusOf(resp))
	}
	for _, r := range []struct {
		repo string
		want int
	}{{"app", 1}, {"site", 1}} {
		list, _, err := e.client(t, aliceClassic).Actions.ListRepoOrgSecrets(ctx, "acme", r.repo, nil)
		if err != nil || list.TotalCount != r.want {
			t.Fatalf("organisation secrets of acme/%s: %+v %v", r.repo, list, err)
		}
	}
	if _, err := c.Actions.RemoveSelectedRepoFromOrgSecret(ctx, "acme", "SHARED", siteID); err != nil {
		t.Fatal(err)
	}
	if list, _, _ := e.client(t, aliceClassic).Actions.ListRepoOrgSecrets(ctx, "acme", "site", nil); list.TotalCount != 0 {
		t.Fatalf("removed repository still sees the secret: %+v", list)
	}
	if _, err := c.Actions.SetSelectedReposForOrgSecret(ctx, "acme", "SHARED", []int64{siteID, appID}); err != nil {
		t.Fatal(err)
	}

	// Visibility changes without a new value keep the value.
	// (go-github always sends encrypted_value, and GitHub refuses "" by its
	// pattern: the emulator too.)
	if _, err := c.Actions.CreateOrUpdateOrgSecret(ctx, "acme", "SHARED", gh.SecretOrgRequest{Visibility: "private"}); err == nil {
		t.Fatal("an empty encrypted_value was accepted")
	}
	if resp, out := e.do(t, http.MethodPut, "/orgs/acme/actions/secrets/SHARED", "token "+ownerTok, `{"visibility":"private"}`); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("visibility only: %d %s", resp.StatusCode, out)
	}
	if fp := e.secretFingerprint(t, SecretScope{Service: ServiceActions, Level: LevelOrg, Account: "acme"}, "SHARED"); fp != ghtoken.Fingerprint("org-value") {
		t.Fatalf("value changed: %s", fp)
	}
	if resp, _ := c.Actions.AddSelectedRepoToOrgSecret(ctx, "acme", "SHARED", siteID); statusOf(resp) != http.StatusConflict {
		t.Fatalf("add with visibility private: %d", statusOf(resp))
	}
	if list, _, _ := e.client(t, aliceClassic).Actions.ListRepoOrgSecrets(ctx, "acme", "site", nil); list.TotalCount != 0 {
		t.Fatalf("a public repository sees a private-visibility secret: %+v", list)
	}

	bad := map[string]string{
		`{"encrypted_value":"` + seal(t, key.GetKey(), "v") + `","key_id":"` + key.GetKeyID() + `"}`:                                                  `"visibility" wasn't supplied`,
		`{"encrypted_value":"` + seal(t, key.GetKey(), "v") + `","key_id":"` + key.GetKeyID() + `","visibility":"everyone"}`:                          "is not a member",
		`{"encrypted_value":"` + seal(t, key.GetKey(), "v") + `","key_id":"` + key.GetKeyID() + `","visibility":"all","selected_repository_ids":[1]}`: "only be given",
	}
	for body, want := range bad {
		resp, out := e.do(t, http.MethodPut, "/orgs/acme/actions/secrets/OTHER", "token "+ownerTok, body)
		var eb errorBody
		_ = json.Unmarshal([]byte(out), &eb)
		if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(eb.Message, want) {
			t.Errorf("%s: %d %s", body, resp.StatusCode, out)
		}
	}
	if _, resp, _ := e.client(t, memberTok).Actions.ListOrgSecrets(ctx, "acme", nil); statusOf(resp) != http.StatusForbidden {
		t.Fatalf("a member lists the organisation's secrets: %d", statusOf(resp))
	}

	t.Run("an app installed on the organisation", func(t *testing.T) {
		bot := e.client(t, e.appToken(t, "secrets-bot", "acme"))
		k, _, err := bot.Actions.GetOrgPublicKey(ctx, "acme")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := bot.Actions.CreateOrUpdateOrgSecret(ctx, "acme", "BOT", gh.SecretOrgRequest{KeyID: k.GetKeyID(), EncryptedValue: seal(t, k.GetKey(), "b"), Visibility: "all"}); err != nil {
			t.Fatal(err)
		}
		// Installed on alice, not on acme: refused.
		if _, resp, _ := e.client(t, e.appToken(t, "secrets-bot", "alice")).Actions.GetOrgPublicKey(ctx, "acme"); statusOf(resp) != http.StatusForbidden {
			t.Fatalf("another installation: %d", statusOf(resp))
		}
	})
	t.Run("a fine-grained token of the organisation", func(t *testing.T) {
		// (It expires: acme has GitHub's default policy, 366 days at most.)
		fg := e.newToken(t, TokenSpec{User: "alice", Kind: KindFineGrained, ResourceOwner: "acme", Permissions: map[string]string{"organization_secrets": "write"}, ExpiresIn: Duration{30 * 24 * time.Hour}})
		if _, _, err := e.client(t, fg).Actions.ListOrgSecrets(ctx, "acme", nil); err != nil {
			t.Fatal(err)
		}
		own := e.newToken(t, TokenSpec{User: "alice", Kind: KindFineGrained, Permissions: map[string]string{"organization_secrets": "write"}})
		if _, resp, _ := e.client(t, own).Actions.ListOrgSecrets(ctx, "acme", nil); statusOf(resp) != http.StatusForbidden {
			t.Fatalf("a token of alice's own account: %d", statusOf(resp))
		}
	})
	if _, err := c.Actions.DeleteOrgSecret(ctx, "acme", "SHARED"); err != nil {
		t.Fatal(err)
	}
}

func TestSecrets_Dependabot(t *testing.T) {
	e := newEnv(t, orgWorld())
	ctx := context.Background()
	c := e.client(t, aliceClassic)
	key, _, err := c.Dependabot.GetRepoPublicKey(ctx, "alice", "private")
	if err != nil {
		t.Fatal(err)
	}
	actionsKey, _, _ := c.Actions.GetRepoPublicKey(ctx, "alice", "private")
	if key.GetKey() == actionsKey.GetKey() {
		t.Fatal("Dependabot shares the Actions key")
	}
	if _, err := c.Dependabot.CreateOrUpdateRepoSecret(ctx, "alice", "private", "NPM", gh.SecretRequest{KeyID: key.GetKeyID(), EncryptedValue: seal(t, key.GetKey(), "npm")}); err != nil {
		t.Fatal(err)
	}
	if list, _, _ := c.Actions.ListRepoSecrets(ctx, "alice", "private", nil); list.TotalCount != 0 {
		t.Fatalf("a Dependabot secret shows among the Actions secrets: %+v", list)
	}
	if list, _, err := c.Dependabot.ListRepoSecrets(ctx, "alice", "private", nil); err != nil || list.TotalCount != 1 {
		t.Fatalf("%+v %v", list, err)
	}
	// A fine-grained token needs dependabot_secrets, not secrets.
	fg := e.newToken(t, TokenSpec{User: "alice", Kind: KindFineGrained, Repositories: []string{"alice/private"}, Permissions: map[string]string{"secrets": "write"}})
	if _, resp, _ := e.client(t, fg).Dependabot.GetRepoSecret(ctx, "alice", "private", "NPM"); statusOf(resp) != http.StatusForbidden {
		t.Fatalf("secrets:write on Dependabot: %d", statusOf(resp))
	}
	orgTok := e.newToken(t, TokenSpec{User: "alice", Kind: KindClassic, Scopes: []string{"admin:org"}})
	ok, _, err := e.client(t, orgTok).Dependabot.GetOrgPublicKey(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	// The description lets Dependabot's selected ids be strings.
	body := fmt.Sprintf(`{"encrypted_value":%q,"key_id":%q,"visibility":"selected","selected_repository_ids":["%d"]}`, seal(t, ok.GetKey(), "d"), ok.GetKeyID(), e.repoID(t, "acme", "app"))
	if resp, out := e.do(t, http.MethodPut, "/orgs/acme/dependabot/secrets/REG", "token "+orgTok, body); resp.StatusCode != http.StatusCreated {
		t.Fatalf("%d %s", resp.StatusCode, out)
	}
	// The rest of the Dependabot organisation routes, through go-github.
	dc := e.client(t, orgTok)
	if sec, _, err := dc.Dependabot.GetOrgSecret(ctx, "acme", "REG"); err != nil || sec.Visibility != "selected" {
		t.Fatalf("%+v %v", sec, err)
	}
	if list, _, err := dc.Dependabot.ListOrgSecrets(ctx, "acme", nil); err != nil || list.TotalCount != 1 {
		t.Fatalf("%+v %v", list, err)
	}
	site := e.repoID(t, "acme", "site")
	if _, err := dc.Dependabot.AddSelectedRepoToOrgSecret(ctx, "acme", "REG", site); err != nil {
		t.Fatal(err)
	}
	if _, err := dc.Dependabot.RemoveSelectedRepoFromOrgSecret(ctx, "acme", "REG", site); err != nil {
		t.Fatal(err)
	}
	if _, err := dc.Dependabot.SetSelectedReposForOrgSecret(ctx, "acme", "REG", []int64{site}); err != nil {
		t.Fatal(err)
	}
	if sel, _, err := dc.Dependabot.ListSelectedReposForOrgSecret(ctx, "acme", "REG", nil); err != nil || sel.GetTotalCount() != 1 || sel.Repositories[0].GetID() != site {
		t.Fatalf("%+v %v", sel, err)
	}
	if _, err := dc.Dependabot.DeleteOrgSecret(ctx, "acme", "REG"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Dependabot.DeleteRepoSecret(ctx, "alice", "private", "NPM"); err != nil {
		t.Fatal(err)
	}
	if _, err := dc.Dependabot.CreateOrUpdateOrgSecret(ctx, "acme", "REG2", gh.SecretOrgRequest{KeyID: ok.GetKeyID(), EncryptedValue: seal(t, ok.GetKey(), "d"), Visibility: "all"}); err != nil {
		t.Fatal(err)
	}
	infos := e.srv.Secrets()
	var raw []byte
	raw, _ = json.Marshal(infos)
	if !strings.Contains(string(raw), `"name":"REG2"`) || !strings.Contains(string(raw), `"visibility":"all"`) || strings.Contains(string(raw), `"d"`) {
		t.Fatalf("admin list: %s", raw)
	}
}

// The state file keeps organisations, environments, keys and secrets: a
// box sealed before a restart opens after it.
func TestSecrets_SnapshotRestore(t *testing.T) {
	e := newEnv(t, orgWorld())
	ctx := context.Background()
	c := e.client(t, aliceClassic)
	key, _, err := c.Actions.GetEnvPublicKey(ctx, "acme", "app", "production")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Actions.CreateOrUpdateEnvSecret(ctx, "acme", "app", "production", "TOK", gh.SecretRequest{KeyID: key.GetKeyID(), EncryptedValue: seal(t, key.GetKey(), "before")}); err != nil {
		t.Fatal(err)
	}
	snap, err := e.srv.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	e2 := newEnv(t, World{})
	if err := e2.srv.Restore(snap); err != nil {
		t.Fatal(err)
	}
	again, _ := e2.srv.Snapshot()
	if string(again) != string(snap) {
		t.Error("the restored state snapshots differently")
	}
	c2 := e2.client(t, aliceClassic)
	if _, err := c2.Actions.CreateOrUpdateEnvSecret(ctx, "acme", "app", "production", "TOK", gh.SecretRequest{KeyID: key.GetKeyID(), EncryptedValue: seal(t, key.GetKey(), "after")}); err != nil {
		t.Fatalf("a box for the key read before the restart: %v", err)
	}
	sc := SecretScope{Service: ServiceActions, Level: LevelEnvironment, Account: "acme", Repo: "app", Environment: "production"}
	if e2.secretFingerprint(t, sc, "TOK") != ghtoken.Fingerprint("after") {
		t.Fatal("the write after the restart did not land")
	}
	if u, _, err := c2.Users.Get(ctx, "acme"); err != nil || u.GetType() != "Organization" {
		t.Fatalf("the organisation after restore: %+v %v", u, err)
	}
	// A version 1 state file (before organisations and secrets) still loads.
	var v1 map[string]any
	_ = json.Unmarshal(snap, &v1)
	v1["version"] = 1
	delete(v1, "orgs")
	delete(v1, "secrets")
	for _, u := range v1["users"].([]any) {
		delete(u.(map[string]any), "type")
	}
	old, _ := json.Marshal(v1)
	if err := newEnv(t, World{}).srv.Restore(old); err != nil {
		t.Fatalf("version 1: %v", err)
	}
}
