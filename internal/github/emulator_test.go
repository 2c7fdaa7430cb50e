package github_test

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	ghemu "github.com/rotor-ci/rotor/internal/emulator/github"
	"github.com/rotor-ci/rotor/internal/github"
	"github.com/rotor-ci/rotor/internal/github/githubtest"
	"github.com/rotor-ci/rotor/internal/token"
)

func startEmulator(t *testing.T) (*ghemu.Server, *github.Client) {
	t.Helper()
	return githubtest.Start(t, ghemu.World{
		Users: []ghemu.UserSpec{{Login: "alice"}, {Login: "carol"}},
		Repos: []ghemu.RepoSpec{
			{Owner: "alice", Name: "test-repo", Private: true},
			{Owner: "alice", Name: "other", Private: true},
			{Owner: "carol", Name: "secret", Private: true},
		},
		Apps: []ghemu.AppSpec{{
			Name: "rotor-ci", Owner: "alice",
			Installations: []ghemu.InstallationSpec{{Account: "alice", Repositories: []string{"test-repo", "other"}}},
		}},
	}, ghemu.Options{})
}

func appJWT(t *testing.T, appID int64) string {
	t.Helper()
	now := time.Now()
	s, err := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.RegisteredClaims{
		IssuedAt: jwt.NewNumericDate(now.Add(-time.Minute)), ExpiresAt: jwt.NewNumericDate(now.Add(9 * time.Minute)), Issuer: strconv.FormatInt(appID, 10),
	}).SignedString(githubtest.Key())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestClient_emulatorPersonalTokens(t *testing.T) {
	emu, c := startEmulator(t)
	ctx := context.Background()
	emuClassic, info, err := emu.CreateToken("alice", ghemu.TokenSpec{User: "alice", Kind: ghemu.KindClassic, Scopes: []string{"repo", "admin:repo_hook"}, ExpiresIn: ghemu.Duration{Duration: 30 * 24 * time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	classic := token.New(emuClassic.Reveal())
	id, err := c.Identify(ctx, classic)
	if err != nil {
		t.Fatal(err)
	}
	if id.Login != "alice" || len(id.Scopes) != 2 || id.ExpiresAt.IsZero() || time.Until(id.ExpiresAt) < 29*24*time.Hour {
		t.Errorf("Identify(classic) = %+v", id)
	}
	if err := c.CanRead(ctx, classic, "alice", "test-repo"); err != nil {
		t.Errorf("CanRead(own repo) = %v", err)
	}
	if err := c.CanRead(ctx, classic, "carol", "secret"); !errors.Is(err, github.ErrNoAccess) {
		t.Errorf("CanRead(carol/secret) = %v, want ErrNoAccess", err)
	}

	emuFine, _, err := emu.CreateToken("alice", ghemu.TokenSpec{User: "alice", Kind: ghemu.KindFineGrained, Repositories: []string{"alice/test-repo"}, Permissions: map[string]string{"contents": "read"}, ExpiresIn: ghemu.Duration{Duration: 24 * time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	fine := token.New(emuFine.Reveal())
	id, err = c.Identify(ctx, fine)
	if err != nil {
		t.Fatal(err)
	}
	if id.Login != "alice" || id.Scopes != nil || id.ExpiresAt.IsZero() {
		t.Errorf("Identify(fine-grained) = %+v, want alice, no scopes, an expiry", id)
	}
	if err := c.CanRead(ctx, fine, "alice", "other"); !errors.Is(err, github.ErrNoAccess) {
		t.Errorf("CanRead(fine-grained, repo it was not given) = %v, want ErrNoAccess", err)
	}

	// Regenerate kills the old value at once: the reason rotor prefers new tokens.
	if _, _, err := emu.Regenerate(info.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Identify(ctx, classic); !errors.Is(err, github.ErrBadCredentials) {
		t.Errorf("Identify(regenerated away) = %v, want ErrBadCredentials", err)
	}

	if err := c.RevokeCredentials(ctx, []token.Token{fine}); err != nil {
		t.Fatalf("RevokeCredentials() = %v", err)
	}
	if _, err := c.Identify(ctx, fine); !errors.Is(err, github.ErrBadCredentials) {
		t.Errorf("Identify(revoked) = %v, want ErrBadCredentials", err)
	}
	// Revoking again is not an error.
	if err := c.RevokeCredentials(ctx, []token.Token{fine}); err != nil {
		t.Errorf("RevokeCredentials(again) = %v", err)
	}
}

func TestClient_emulatorInstallationTokens(t *testing.T) {
	emu, c := startEmulator(t)
	ctx := context.Background()
	appID, insts := emu.App("rotor-ci")
	if slug, err := c.AppSlug(ctx, appJWT(t, appID)); err != nil || slug != "rotor-ci" {
		t.Errorf("AppSlug() = %q, %v; want rotor-ci", slug, err)
	}
	tok, exp, err := c.CreateInstallationToken(ctx, appJWT(t, appID), insts[0], []string{"test-repo"}, map[string]string{"contents": "read"})
	if err != nil {
		t.Fatal(err)
	}
	if token.KindOf(tok.Reveal()) != token.KindInstallation || time.Until(exp) < 50*time.Minute {
		t.Errorf("CreateInstallationToken() = %v expiring %v", tok, exp)
	}
	id, err := c.Identify(ctx, tok)
	if err != nil {
		t.Fatal(err)
	}
	if !id.Installation() || len(id.Repositories) != 1 || id.Repositories[0] != "alice/test-repo" {
		t.Errorf("Identify(installation) = %+v, want only alice/test-repo", id)
	}
	if err := c.CanRead(ctx, tok, "alice", "test-repo"); err != nil {
		t.Errorf("CanRead(narrowed repo) = %v", err)
	}
	if err := c.CanRead(ctx, tok, "alice", "other"); !errors.Is(err, github.ErrNoAccess) {
		t.Errorf("CanRead(repo outside the narrowing) = %v, want ErrNoAccess", err)
	}
	if _, _, err := c.CreateInstallationToken(ctx, appJWT(t, appID), 999999, nil, nil); !errors.Is(err, github.ErrNotFound) {
		t.Errorf("CreateInstallationToken(unknown installation) = %v, want ErrNotFound", err)
	}
	if err := c.RevokeInstallationToken(ctx, tok); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Identify(ctx, tok); !errors.Is(err, github.ErrBadCredentials) {
		t.Errorf("Identify(revoked installation token) = %v, want ErrBadCredentials", err)
	}
	if err := c.RevokeInstallationToken(ctx, tok); err != nil {
		t.Errorf("RevokeInstallationToken(again) = %v, want nil", err)
	}
}
