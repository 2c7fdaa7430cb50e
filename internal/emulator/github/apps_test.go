package github

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/go-cmp/cmp"
	gh "github.com/google/go-github/v93/github"
)

func TestServer_CreateInstallationToken(t *testing.T) {
	e := newEnv(t, testWorld())
	ctx := context.Background()
	appID, insts := e.srv.App("rotor-ci")
	if appID == 0 || len(insts) != 1 {
		t.Fatalf("App = %d %v", appID, insts)
	}
	info, err := e.srv.DescribeApp("rotor-ci")
	if err != nil {
		t.Fatal(err)
	}

	t.Run("whole installation", func(t *testing.T) {
		tok, resp, err := e.client(t, e.jwtFor(t, appID, testKey(), nil)).Apps.CreateInstallationToken(ctx, insts[0], nil)
		if err != nil || resp.StatusCode != http.StatusCreated {
			t.Fatalf("%v %d", err, statusOf(resp))
		}
		if want := e.clock.Now().Add(time.Hour); !tok.GetExpiresAt().Time.Equal(want) {
			t.Errorf("expires_at = %v, want %v", tok.GetExpiresAt(), want)
		}
		if got := tok.GetPermissions().GetContents(); got != "write" {
			t.Errorf("contents = %q", got)
		}
		repos, _, err := e.client(t, tok.GetToken()).Apps.ListRepos(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, r := range repos.Repositories {
			names = append(names, r.GetFullName())
		}
		if diff := cmp.Diff([]string{"alice/private", "alice/public"}, names); diff != "" {
			t.Errorf("repositories (-want +got):\n%s", diff)
		}
	})
	t.Run("iss as client id", func(t *testing.T) {
		j := e.jwtFor(t, appID, testKey(), func(c jwt.MapClaims) { c["iss"] = info.ClientID })
		if _, _, err := e.client(t, j).Apps.CreateInstallationToken(ctx, insts[0], nil); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("iss as a number", func(t *testing.T) {
		j := e.jwtFor(t, appID, testKey(), func(c jwt.MapClaims) { c["iss"] = appID })
		if _, _, err := e.client(t, j).Apps.CreateInstallationToken(ctx, insts[0], nil); err != nil {
			t.Fatal(err)
		}
	})

	narrow := []struct {
		name      string
		opts      *gh.InstallationTokenOptions
		want      int
		repos     []string
		contents  string
		metadata  string
		selection string
	}{
		{"by name", &gh.InstallationTokenOptions{Repositories: []string{"private"}}, 201, []string{"alice/private"}, "write", "read", "selected"},
		{"by id and permission", &gh.InstallationTokenOptions{RepositoryIDs: []int64{e.repoID(t, "alice", "public")}, Permissions: &gh.InstallationPermissions{Contents: new("read")}}, 201, []string{"alice/public"}, "read", "read", "selected"},
		{"repository outside the installation", &gh.InstallationTokenOptions{Repositories: []string{"other"}}, 422, nil, "", "", ""},
		{"repository of another account", &gh.InstallationTokenOptions{RepositoryIDs: []int64{e.repoID(t, "carol", "secret")}}, 422, nil, "", "", ""},
		{"unknown repository", &gh.InstallationTokenOptions{Repositories: []string{"nope"}}, 422, nil, "", "", ""},
		{"permission not granted", &gh.InstallationTokenOptions{Permissions: &gh.InstallationPermissions{Administration: new("write")}}, 422, nil, "", "", ""},
		{"permission above the grant", &gh.InstallationTokenOptions{Permissions: &gh.InstallationPermissions{PullRequests: new("write")}}, 422, nil, "", "", ""},
	}
	for _, tt := range narrow {
		t.Run("narrowing "+tt.name, func(t *testing.T) {
			tok, resp, err := e.client(t, e.jwtFor(t, appID, testKey(), nil)).Apps.CreateInstallationToken(ctx, insts[0], tt.opts)
			if statusOf(resp) != tt.want {
				t.Fatalf("status %d, want %d: %v", statusOf(resp), tt.want, err)
			}
			if tt.want != 201 {
				return
			}
			var got []string
			for _, r := range tok.Repositories {
				got = append(got, r.GetFullName())
			}
			if diff := cmp.Diff(tt.repos, got); diff != "" {
				t.Errorf("repositories (-want +got):\n%s", diff)
			}
			if p := tok.GetPermissions(); p.GetContents() != tt.contents || p.GetMetadata() != tt.metadata {
				t.Errorf("permissions = %v", p)
			}
			// The narrowed token reaches only its repositories.
			for _, full := range []string{"alice/private", "alice/public"} {
				owner, name := "alice", full[len("alice/"):]
				_, resp, _ := e.client(t, tok.GetToken()).Repositories.Get(ctx, owner, name)
				want := 404
				if name == "public" || (len(tt.repos) > 0 && tt.repos[0] == full) {
					want = 200 // a public repository is readable by anyone
				}
				if statusOf(resp) != want {
					t.Errorf("GET %s = %d, want %d", full, statusOf(resp), want)
				}
			}
		})
	}

	bad := []struct {
		name string
		key  func() any
		jwt  func(c jwt.MapClaims)
		msg  string
	}{
		{"expired", nil, func(c jwt.MapClaims) {
			c["iat"] = e.clock.Now().Add(-11 * time.Minute).Unix()
			c["exp"] = e.clock.Now().Add(-time.Minute).Unix()
		}, msgJWTExpired},
		{"exp too far", nil, func(c jwt.MapClaims) { c["exp"] = e.clock.Now().Add(10 * time.Minute).Unix() }, msgJWTTooFar},
		{"iat in the future", nil, func(c jwt.MapClaims) {
			c["iat"] = e.clock.Now().Add(2 * time.Minute).Unix()
			c["exp"] = e.clock.Now().Add(8 * time.Minute).Unix()
		}, msgJWTIssuedAt},
		{"no iat", nil, func(c jwt.MapClaims) { delete(c, "iat") }, msgJWTIssuedAt},
		{"no exp", nil, func(c jwt.MapClaims) { delete(c, "exp") }, msgJWTExpired},
		{"unknown issuer", nil, func(c jwt.MapClaims) { c["iss"] = "999999" }, msgIntegration},
		{"wrong key", func() any { return otherKey() }, nil, msgJWTDecode},
	}
	for _, tt := range bad {
		t.Run("bad JWT "+tt.name, func(t *testing.T) {
			key := testKey()
			if tt.key != nil {
				key = otherKey()
			}
			_, resp, err := e.client(t, e.jwtFor(t, appID, key, tt.jwt)).Apps.CreateInstallationToken(ctx, insts[0], nil)
			var er *gh.ErrorResponse
			if statusOf(resp) != http.StatusUnauthorized || !errors.As(err, &er) || er.Message != tt.msg {
				t.Fatalf("status %d, err %v; want 401 %q", statusOf(resp), err, tt.msg)
			}
		})
	}
	t.Run("iat within the skew is fine", func(t *testing.T) {
		j := e.jwtFor(t, appID, testKey(), func(c jwt.MapClaims) {
			c["iat"] = e.clock.Now().Add(30 * time.Second).Unix()
			c["exp"] = e.clock.Now().Add(5 * time.Minute).Unix()
		})
		if _, _, err := e.client(t, j).Apps.CreateInstallationToken(ctx, insts[0], nil); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("HS256 is refused", func(t *testing.T) {
		j, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"iss": appID, "iat": e.clock.Now().Unix(), "exp": e.clock.Now().Add(time.Minute).Unix()}).SignedString([]byte("k"))
		resp, _ := e.do(t, http.MethodPost, "/app/installations/1/access_tokens", "Bearer "+j, "")
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("status %d", resp.StatusCode)
		}
	})
	t.Run("a personal token is not a JWT", func(t *testing.T) {
		_, resp, _ := e.client(t, aliceClassic).Apps.Get(ctx, "")
		if statusOf(resp) != http.StatusUnauthorized {
			t.Fatalf("status %d", statusOf(resp))
		}
	})
	t.Run("installation of another app", func(t *testing.T) {
		_, resp, _ := e.client(t, e.jwtFor(t, appID, testKey(), nil)).Apps.CreateInstallationToken(ctx, 1, nil)
		if statusOf(resp) != http.StatusNotFound {
			t.Fatalf("status %d", statusOf(resp))
		}
	})
	t.Run("the token expires after an hour", func(t *testing.T) {
		tok := e.installationToken(t, nil)
		e.clock.Advance(time.Hour)
		_, resp, _ := e.client(t, tok).Apps.ListRepos(ctx, nil)
		if statusOf(resp) != http.StatusUnauthorized {
			t.Fatalf("status %d", statusOf(resp))
		}
	})
}

func (e *env) repoID(t *testing.T, owner, name string) int64 {
	t.Helper()
	e.srv.mu.Lock()
	defer e.srv.mu.Unlock()
	r := e.srv.st.repo(owner, name)
	if r == nil {
		t.Fatalf("no repo %s/%s", owner, name)
	}
	return r.ID
}

func TestServer_AppEndpoints(t *testing.T) {
	e := newEnv(t, testWorld())
	ctx := context.Background()
	appID, insts := e.srv.App("rotor-ci")
	c := e.client(t, e.jwtFor(t, appID, testKey(), nil))
	a, _, err := c.Apps.Get(ctx, "")
	if err != nil || a.GetID() != appID || a.GetSlug() != "rotor-ci" || a.GetOwner().GetLogin() != "alice" {
		t.Fatalf("Apps.Get: %v %v", a, err)
	}
	list, _, err := c.Apps.ListInstallations(ctx, nil)
	if err != nil || len(list) != 1 || list[0].GetID() != insts[0] || list[0].GetAccount().GetLogin() != "alice" || list[0].GetRepositorySelection() != "selected" {
		t.Fatalf("ListInstallations: %v %v", list, err)
	}
	in, _, err := c.Apps.GetInstallation(ctx, insts[0])
	if err != nil || in.GetAppID() != appID {
		t.Fatalf("GetInstallation: %v %v", in, err)
	}
	if id, ids := e.srv.App("nope"); id != 0 || ids != nil {
		t.Fatalf("App(nope) = %d %v", id, ids)
	}
	if _, err := e.srv.AppPrivateKeyPEM("nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("AppPrivateKeyPEM(nope) = %v", err)
	}
}

func TestServer_RevokeInstallationToken(t *testing.T) {
	e := newEnv(t, testWorld())
	ctx := context.Background()
	tok := e.installationToken(t, nil)
	c := e.client(t, tok)
	resp, err := c.Apps.RevokeInstallationToken(ctx)
	if err != nil || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("RevokeInstallationToken: %v %d", err, statusOf(resp))
	}
	if _, resp, _ := c.Apps.ListRepos(ctx, nil); statusOf(resp) != http.StatusUnauthorized {
		t.Fatalf("revoked token still works: %d", statusOf(resp))
	}
	if ok, reason := e.srv.Authorize(tok, "alice", "private"); ok || reason == "" {
		t.Fatalf("Authorize after revocation = %v %q", ok, reason)
	}
	t.Run("with a personal token", func(t *testing.T) {
		resp, err := e.client(t, aliceClassic).Apps.RevokeInstallationToken(ctx)
		if statusOf(resp) != http.StatusForbidden {
			t.Fatalf("%v %d", err, statusOf(resp))
		}
	})
}
