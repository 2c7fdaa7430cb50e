package github

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	gh "github.com/google/go-github/v93/github"

	"github.com/rotor-ci/rotor/internal/emulator/ghtoken"
)

func TestServer_UsersGet(t *testing.T) {
	e := newEnv(t, testWorld())
	ctx := context.Background()

	t.Run("classic token: scopes and expiry", func(t *testing.T) {
		u, resp, err := e.client(t, e.tok["alice-classic"]).Users.Get(ctx, "")
		if err != nil {
			t.Fatal(err)
		}
		if u.GetLogin() != "alice" {
			t.Errorf("login = %q", u.GetLogin())
		}
		if got := resp.Header.Get("X-OAuth-Scopes"); got != "admin:repo_hook, repo" {
			t.Errorf("X-OAuth-Scopes = %q", got)
		}
		if _, ok := resp.Header["X-Accepted-Oauth-Scopes"]; !ok {
			t.Error("no X-Accepted-OAuth-Scopes")
		}
		want := e.clock.Now().Add(720 * time.Hour)
		if !resp.TokenExpiration.Time.Equal(want) {
			t.Errorf("TokenExpiration = %v, want %v", resp.TokenExpiration, want)
		}
		if resp.Rate.Limit != DefaultRateLimit || resp.Rate.Remaining != DefaultRateLimit-1 || resp.Rate.Used != 1 {
			t.Errorf("rate = %+v", resp.Rate)
		}
	})
	t.Run("fine-grained token: no scopes header", func(t *testing.T) {
		_, resp, err := e.client(t, e.tok["alice-fg"]).Users.Get(ctx, "")
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := resp.Header["X-Oauth-Scopes"]; ok {
			t.Error("fine-grained response has X-OAuth-Scopes")
		}
		if !resp.TokenExpiration.Time.Equal(e.clock.Now().Add(24 * time.Hour)) {
			t.Errorf("TokenExpiration = %v", resp.TokenExpiration)
		}
	})
	t.Run("token that never expires", func(t *testing.T) {
		_, resp, err := e.client(t, e.tok["bob-classic"]).Users.Get(ctx, "")
		if err != nil {
			t.Fatal(err)
		}
		if !resp.TokenExpiration.IsZero() {
			t.Errorf("TokenExpiration = %v, want none", resp.TokenExpiration)
		}
	})
	t.Run("last used is recorded", func(t *testing.T) {
		for _, info := range e.srv.Tokens() {
			if info.Fingerprint == ghtoken.Fingerprint(aliceClassic) && !info.LastUsedAt.Equal(e.clock.Now()) {
				t.Errorf("last used = %v", info.LastUsedAt)
			}
		}
	})
	t.Run("unauthenticated", func(t *testing.T) {
		_, resp, err := e.client(t, "").Users.Get(ctx, "")
		if statusOf(resp) != http.StatusUnauthorized || err == nil {
			t.Fatalf("status %d, err %v", statusOf(resp), err)
		}
	})
	t.Run("HEAD", func(t *testing.T) {
		resp, body := e.do(t, http.MethodHead, "/user", "token "+aliceClassic, "")
		if resp.StatusCode != http.StatusOK || body != "" || resp.Header.Get("X-OAuth-Scopes") == "" {
			t.Fatalf("HEAD /user: %d %q", resp.StatusCode, body)
		}
	})
	t.Run("installation token is refused", func(t *testing.T) {
		_, resp, err := e.client(t, e.installationToken(t, nil)).Users.Get(ctx, "")
		var er *gh.ErrorResponse
		if statusOf(resp) != http.StatusForbidden || !errors.As(err, &er) || er.Message != msgNotByIntegration {
			t.Fatalf("status %d, err %v", statusOf(resp), err)
		}
	})
	t.Run("public profile", func(t *testing.T) {
		u, _, err := e.client(t, "").Users.Get(ctx, "bob")
		if err != nil || u.GetLogin() != "bob" {
			t.Fatalf("%v %v", u, err)
		}
		_, resp, _ := e.client(t, "").Users.Get(ctx, "nobody")
		if statusOf(resp) != http.StatusNotFound {
			t.Fatalf("unknown user: %d", statusOf(resp))
		}
	})
}

func TestServer_BadCredentials(t *testing.T) {
	e := newEnv(t, testWorld())
	expiring, _, err := e.srv.CreateToken("bob", TokenSpec{Kind: KindClassic, Scopes: []string{"repo"}, ExpiresIn: Duration{time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	deleted, info, err := e.srv.CreateToken("bob", TokenSpec{Kind: KindClassic})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.srv.DeleteToken(info.ID); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(time.Hour)
	tests := []struct{ name, auth string }{
		{"unknown", "token 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"},
		{"garbage", "Bearer nonsense"},
		{"bad scheme", "Digest abc"},
		{"expired", "token " + expiring.Reveal()},
		{"deleted", "Bearer " + deleted.Reveal()},
		{"unknown installation token", "token ghs_" + strings.Repeat("a", 36)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := e.do(t, http.MethodGet, "/user", tt.auth, "")
			want := `{"message":"Bad credentials","documentation_url":"https://docs.github.com/rest"}`
			if resp.StatusCode != http.StatusUnauthorized || body != want {
				t.Fatalf("got %d %s", resp.StatusCode, body)
			}
		})
	}
	t.Run("basic auth with the token as password", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodGet, e.http.URL+"/user", nil)
		req.SetBasicAuth("alice", aliceClassic)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d", resp.StatusCode)
		}
	})
}

func TestServer_RepoVisibility(t *testing.T) {
	e := newEnv(t, testWorld())
	inst := e.installationToken(t, nil)
	tests := []struct {
		tok         string
		repo        string
		want        int
		permissions *gh.RepositoryPermissions
	}{
		{"alice-classic", "alice/private", 200, &gh.RepositoryPermissions{Admin: new(true), Maintain: new(true), Push: new(true), Triage: new(true), Pull: new(true)}},
		{"alice-classic", "carol/secret", 404, nil},
		{"alice-classic", "alice/nope", 404, nil},
		{"alice-noscope", "alice/private", 404, nil},
		{"alice-noscope", "alice/public", 200, nil},
		{"bob-classic", "alice/private", 200, &gh.RepositoryPermissions{Admin: new(false), Maintain: new(false), Push: new(true), Triage: new(true), Pull: new(true)}},
		{"bob-classic", "alice/other", 404, nil},
		{"bob-classic", "alice/public", 200, &gh.RepositoryPermissions{Admin: new(false), Maintain: new(false), Push: new(false), Triage: new(false), Pull: new(true)}},
		{"carol-classic", "alice/private", 404, nil},
		{"alice-fg", "alice/private", 200, nil},
		{"alice-fg", "alice/other", 404, nil},
		{"alice-fg", "alice/public", 200, nil},
		{"alice-fg-meta", "alice/private", 200, nil},
		{"inst", "alice/private", 200, nil},
		{"inst", "alice/other", 404, nil},
		{"inst", "carol/secret", 404, nil},
		{"", "alice/public", 200, nil},
		{"", "alice/private", 404, nil},
	}
	for _, tt := range tests {
		t.Run(tt.tok+" "+tt.repo, func(t *testing.T) {
			tok := e.tok[tt.tok]
			if tt.tok == "inst" {
				tok = inst
			}
			owner, name, _ := strings.Cut(tt.repo, "/")
			r, resp, err := e.client(t, tok).Repositories.Get(context.Background(), owner, name)
			if statusOf(resp) != tt.want {
				t.Fatalf("status %d, want %d (%v)", statusOf(resp), tt.want, err)
			}
			if tt.want == 404 {
				var er *gh.ErrorResponse
				if !errors.As(err, &er) || er.Message != "Not Found" {
					t.Fatalf("err = %v", err)
				}
				return
			}
			if r.GetFullName() != tt.repo {
				t.Errorf("full_name = %q", r.GetFullName())
			}
			if tt.permissions != nil {
				if diff := cmp.Diff(tt.permissions, r.Permissions); diff != "" {
					t.Errorf("permissions (-want +got):\n%s", diff)
				}
			}
			if tok != "" && r.Permissions == nil {
				t.Error("no permissions for an authenticated request")
			}
		})
	}
}

// readTarball lists the entries of a gzip tar.
func readTarball(t *testing.T, b []byte) map[string]string {
	t.Helper()
	gz, err := gzip.NewReader(strings.NewReader(string(b)))
	if err != nil {
		t.Fatalf("gzip: %v", err)
	}
	tr := tar.NewReader(gz)
	out := map[string]string{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("tar: %v", err)
		}
		body, _ := io.ReadAll(tr)
		out[h.Name] = string(body)
	}
}

func TestServer_Tarball(t *testing.T) {
	e := newEnv(t, testWorld())
	sha := commitSHA(&repo{Owner: "alice", Name: "private"}, "dev")
	tests := []struct {
		name, tok, path string
		want            int
		dir             string
	}{
		{"default branch", "alice-classic", "/repos/alice/private/tarball/master", 200, "alice-private-" + commitSHA(&repo{Owner: "alice", Name: "private"}, "master")[:7] + "/"},
		{"no ref", "alice-classic", "/repos/alice/private/tarball", 404, ""}, // GitHub's description has no such path
		{"branch", "alice-classic", "/repos/alice/private/tarball/dev", 200, "alice-private-" + sha[:7] + "/"},
		{"refs/heads", "bob-classic", "/api/v3/repos/alice/private/tarball/refs/heads/dev", 200, "alice-private-" + sha[:7] + "/"},
		{"sha", "alice-fg", "/repos/alice/private/tarball/" + sha, 200, "alice-private-" + sha[:7] + "/"},
		{"unknown ref", "alice-classic", "/repos/alice/private/tarball/nope", 404, ""},
		{"no repo scope", "alice-noscope", "/repos/alice/private/tarball/master", 404, ""},
		{"fine-grained without contents", "alice-fg-meta", "/repos/alice/private/tarball/master", 404, ""},
		{"not a collaborator", "carol-classic", "/repos/alice/private/tarball/master", 404, ""},
		{"public, anonymous", "", "/repos/alice/public/tarball/main", 200, "alice-public-"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			auth := ""
			if tt.tok != "" {
				auth = "token " + e.tok[tt.tok]
			}
			resp, body := e.do(t, http.MethodGet, tt.path, auth, "") // follows the 302 to the download
			if resp.StatusCode != tt.want {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.want, body)
			}
			if tt.want != 200 {
				return
			}
			files := readTarball(t, []byte(body))
			found := false
			for name := range files {
				if strings.HasPrefix(name, tt.dir) && strings.HasSuffix(name, "/README.md") {
					found = true
				}
			}
			if !found {
				t.Errorf("no %sREADME.md in %v", tt.dir, files)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/x-gzip" {
				t.Errorf("Content-Type = %q", ct)
			}
		})
	}
}

// Authorize and the tarball endpoint must agree: the CodePipeline emulator
// uses one, tests the other.
func TestServer_AuthorizeMatchesTarball(t *testing.T) {
	e := newEnv(t, testWorld())
	inst := e.installationToken(t, &gh.InstallationTokenOptions{Repositories: []string{"public"}})
	revoked, _, _ := e.srv.CreateToken("alice", TokenSpec{Kind: KindClassic, Scopes: []string{"repo"}})
	if _, err := e.client(t, "").Credentials.Revoke(context.Background(), []string{revoked.Reveal()}); !isAccepted(err) {
		t.Fatal(err)
	}
	toks := map[string]string{"revoked": revoked.Reveal(), "inst-public-only": inst, "unknown": "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"}
	for k, v := range e.tok {
		toks[k] = v
	}
	branches := map[string]string{"alice/private": "master", "alice/public": "main", "alice/other": "main", "carol/secret": "main", "alice/missing": "main"}
	for name, tok := range toks {
		for _, repo := range []string{"alice/private", "alice/public", "alice/other", "carol/secret", "alice/missing"} {
			t.Run(name+" "+repo, func(t *testing.T) {
				owner, rname, _ := strings.Cut(repo, "/")
				ok, reason := e.srv.Authorize(tok, owner, rname)
				resp, _ := e.do(t, http.MethodGet, "/repos/"+repo+"/tarball/"+branches[repo], "token "+tok, "")
				if ok != (resp.StatusCode == 200) {
					t.Fatalf("Authorize = %v (%s) but the tarball answered %d", ok, reason, resp.StatusCode)
				}
				if !ok && reason == "" {
					t.Error("refusal without a reason")
				}
				if strings.Contains(reason, tok) {
					t.Error("reason contains the token")
				}
			})
		}
	}
}

func isAccepted(err error) bool {
	var ae *gh.AcceptedError
	return errors.As(err, &ae)
}

// The tarball answers 302 to the download host with a URL of its own, as
// GitHub does (the recorded get-archive exchange); the URL works without
// the token and for that repository only.
func TestServer_TarballRedirects(t *testing.T) {
	e := newEnv(t, testWorld())
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, _ := http.NewRequest(http.MethodGet, e.http.URL+"/repos/alice/private/tarball/dev", nil)
	req.Header.Set("Authorization", "token "+e.tok["alice-classic"])
	resp, err := noFollow.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusFound || !strings.HasPrefix(loc, e.http.URL+CodeloadPrefix+"alice/private/legacy.tar.gz/") {
		t.Fatalf("%d Location %q, want 302 to the download path", resp.StatusCode, loc)
	}
	got, err := http.Get(loc)
	if err != nil || got.StatusCode != 200 || got.Header.Get("Content-Type") != "application/x-gzip" {
		t.Fatalf("download: %v %v", got, err)
	}
	got.Body.Close()
	// (A changed last digit of the MAC: "0" unless it is "0" already, which
	// made this test fail one run in sixteen.)
	last := "0"
	if strings.HasSuffix(loc, "0") {
		last = "1"
	}
	for _, bad := range []string{strings.Replace(loc, "alice/private", "carol/secret", 1), loc[:len(loc)-1] + last, strings.Split(loc, "?")[0]} {
		if r, err := http.Get(bad); err != nil || r.StatusCode != 404 {
			t.Errorf("GET %s: %v %v, want 404", bad, r, err)
		} else {
			r.Body.Close()
		}
	}
	e.clock.Advance(downloadTTL + time.Second)
	if r, err := http.Get(loc); err != nil || r.StatusCode != 404 {
		t.Errorf("expired download: %v %v, want 404", r, err)
	}
}

func TestServer_RateLimitEndpoint(t *testing.T) {
	e := newEnv(t, testWorld())
	c := e.client(t, e.tok["alice-classic"])
	before, _, err := c.RateLimit.Get(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	after, _, err := c.RateLimit.Get(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if before.Core.Used != after.Core.Used || before.Core.Limit != DefaultRateLimit {
		t.Fatalf("GET /rate_limit counted against the limit: %+v then %+v", before.Core, after.Core)
	}
}
