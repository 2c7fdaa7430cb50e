package githubapp

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/rotor-ci/rotor/internal/emulator/conformance"
	ghemu "github.com/rotor-ci/rotor/internal/emulator/github"
	"github.com/rotor-ci/rotor/internal/github"
	"github.com/rotor-ci/rotor/internal/github/githubtest"
	"github.com/rotor-ci/rotor/internal/rotation"
	"github.com/rotor-ci/rotor/internal/token"
)

func writeKey(t *testing.T, data []byte, mode os.FileMode) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "app.pem")
	if err := os.WriteFile(path, data, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
	return path
}

func pkcs1() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(githubtest.Key())})
}

func pkcs8(t *testing.T) []byte {
	der, err := x509.MarshalPKCS8PrivateKey(githubtest.Key())
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

func TestNew(t *testing.T) {
	good := writeKey(t, pkcs1(), 0o600)
	tests := []struct {
		name       string
		cfg        Config
		wantSaying string
	}{
		{name: "PKCS#1 key", cfg: Config{AppID: 1, InstallationID: 2, PrivateKeyFile: good}},
		{name: "PKCS#8 key", cfg: Config{ClientID: "Iv1.abc", InstallationID: 2, PrivateKeyFile: writeKey(t, pkcs8(t), 0o400)}},
		{name: "no app", cfg: Config{InstallationID: 2, PrivateKeyFile: good}, wantSaying: "need app_id or client_id"},
		{name: "no installation", cfg: Config{AppID: 1, PrivateKeyFile: good}, wantSaying: "need installation_id"},
		{name: "no key file named", cfg: Config{AppID: 1, InstallationID: 2}, wantSaying: "need private_key_file"},
		{name: "missing key file", cfg: Config{AppID: 1, InstallationID: 2, PrivateKeyFile: "/nonexistent/app.pem"}, wantSaying: "does not exist"},
		{name: "readable by others", cfg: Config{AppID: 1, InstallationID: 2, PrivateKeyFile: writeKey(t, pkcs1(), 0o644)}, wantSaying: "has mode 0644: group or others may read it; run 'chmod 600"},
		{name: "not a key", cfg: Config{AppID: 1, InstallationID: 2, PrivateKeyFile: writeKey(t, []byte("hello"), 0o600)}, wantSaying: "is not an RSA private key in PEM"},
		{name: "a directory", cfg: Config{AppID: 1, InstallationID: 2, PrivateKeyFile: t.TempDir()}, wantSaying: "is not a regular file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.cfg, nil)
			if tt.wantSaying == "" {
				if err != nil {
					t.Fatalf("New() = %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantSaying) {
				t.Fatalf("New() = %v, want an error saying %q", err, tt.wantSaying)
			}
		})
	}
}

func TestSource_JWT(t *testing.T) {
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	key := writeKey(t, pkcs1(), 0o600)
	tests := []struct {
		name    string
		cfg     Config
		wantIss string
	}{
		{"app id", Config{AppID: 12345, InstallationID: 1}, "12345"},
		{"client id preferred", Config{AppID: 12345, ClientID: "Iv1.abc", InstallationID: 1}, "Iv1.abc"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.PrivateKeyFile = key
			tt.cfg.Now = func() time.Time { return now }
			s, err := New(tt.cfg, nil)
			if err != nil {
				t.Fatal(err)
			}
			signed, err := s.JWT()
			if err != nil {
				t.Fatal(err)
			}
			var claims jwt.RegisteredClaims
			_, err = jwt.ParseWithClaims(signed, &claims, func(*jwt.Token) (any, error) { return &githubtest.Key().PublicKey, nil },
				jwt.WithValidMethods([]string{"RS256"}), jwt.WithTimeFunc(func() time.Time { return now }))
			if err != nil {
				t.Fatalf("the JWT does not verify: %v", err)
			}
			if claims.Issuer != tt.wantIss || !claims.IssuedAt.Equal(now.Add(-time.Minute)) || !claims.ExpiresAt.Equal(now.Add(9*time.Minute)) {
				t.Errorf("claims = iss %q iat %v exp %v", claims.Issuer, claims.IssuedAt, claims.ExpiresAt)
			}
		})
	}
}

type env struct {
	emu  *ghemu.Server
	gh   *github.Client
	cfg  Config
	inst int64
}

func newEnv(t *testing.T) *env {
	t.Helper()
	emu, gh := githubtest.Start(t, ghemu.World{
		Users: []ghemu.UserSpec{{Login: "alice"}},
		Repos: []ghemu.RepoSpec{{Owner: "alice", Name: "test-repo", Private: true}, {Owner: "alice", Name: "other", Private: true}, {Owner: "alice", Name: "elsewhere", Private: true}},
		Apps: []ghemu.AppSpec{{
			Name: "rotor-ci", Owner: "alice",
			Installations: []ghemu.InstallationSpec{{Account: "alice", Repositories: []string{"test-repo", "other"}}},
		}},
	}, ghemu.Options{})
	pemData, err := emu.AppPrivateKeyPEM("rotor-ci")
	if err != nil {
		t.Fatal(err)
	}
	appID, insts := emu.App("rotor-ci")
	return &env{emu: emu, gh: gh, inst: insts[0], cfg: Config{
		AppID: appID, InstallationID: insts[0], PrivateKeyFile: writeKey(t, pemData, 0o600),
		Repositories: []string{"test-repo"}, Permissions: map[string]string{"contents": "read"},
	}}
}

func TestSource_lifecycle(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	s, err := New(e.cfg, e.gh)
	if err != nil {
		t.Fatal(err)
	}
	req := rotation.Requirements{Repositories: []string{"alice/test-repo"}, MinValidity: 30 * time.Minute}
	m, err := s.Mint(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if !m.ByRotor || token.KindOf(m.Token.Reveal()) != token.KindInstallation || time.Until(m.ExpiresAt) < 55*time.Minute {
		t.Fatalf("Mint() = %+v", m)
	}
	id, err := s.Check(ctx, m.Token, req)
	if err != nil {
		t.Fatal(err)
	}
	if want := "app/rotor-ci/installation/" + itoa(e.inst); id.Login != want || id.ExpiresAt.IsZero() {
		t.Errorf("Check() = %+v, want login %s and an expiry", id, want)
	}

	// The token is narrowed to test-repo: other is in the installation but not the config.
	_, err = s.Check(ctx, m.Token, rotation.Requirements{Repositories: []string{"alice/other"}})
	requireRejected(t, err, "add other to the source's repositories in rotor.yaml")
	// Tokens live an hour: a binding that needs two is refused.
	_, err = s.Check(ctx, m.Token, rotation.Requirements{MinValidity: 2 * time.Hour})
	requireRejected(t, err, "sooner than the 2h0m0s rotor needs")
	_, err = s.Check(ctx, token.Generate(token.KindClassicPAT), req)
	requireRejected(t, err, "not a GitHub App installation token")

	if err := s.Revoke(ctx, m.Token); err != nil {
		t.Fatal(err)
	}
	_, err = s.Check(ctx, m.Token, req)
	requireRejected(t, err, "Bad credentials")
	if err := s.Revoke(ctx, m.Token); err != nil {
		t.Errorf("Revoke(again) = %v", err)
	}
}

func TestSource_Mint_errors(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	tests := []struct {
		name       string
		mutate     func(*Config)
		wantSaying string
	}{
		{"unknown installation", func(c *Config) { c.InstallationID = 999999 }, "is the app installed, and is installation_id right?"},
		{"repository outside the installation", func(c *Config) { c.Repositories = []string{"elsewhere"} }, "422"},
		{"clock far off", func(c *Config) { c.Now = func() time.Time { return time.Now().Add(time.Hour) } }, "GitHub refused the app's JWT"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := e.cfg
			tt.mutate(&cfg)
			s, err := New(cfg, e.gh)
			if err != nil {
				t.Fatal(err)
			}
			_, err = s.Mint(ctx, rotation.Requirements{})
			if err == nil || !strings.Contains(err.Error(), tt.wantSaying) {
				t.Fatalf("Mint() = %v, want an error saying %q", err, tt.wantSaying)
			}
			if errors.Is(err, rotation.ErrRejected) {
				t.Errorf("a mint failure is not a token rejection: %v", err)
			}
		})
	}
}

func requireRejected(t *testing.T, err error, want string) {
	t.Helper()
	if !errors.Is(err, rotation.ErrRejected) || !strings.Contains(err.Error(), want) {
		t.Fatalf("error = %v, want ErrRejected saying %q", err, want)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// TestSource_Mint_outlivesItsContext: the run's context ends (a shutdown,
// a lost lease) while GitHub answers the mint. GitHub creates the token
// either way, so the request must run to its answer and Mint return the
// token (the engine records it or revokes it), not drop it with a
// cancelled request: a live token nobody holds (I3; found by the torture
// run in CI, a daemon shutting down).
func TestSource_Mint_outlivesItsContext(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	h := conformance.Wrap(t, "github", e.emu)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/access_tokens") {
			cancel()
			// A client that gave up closes the connection: wait for that
			// (bounded), then answer as GitHub would anyway.
			select {
			case <-r.Context().Done():
			case <-time.After(300 * time.Millisecond):
			}
		}
		h.ServeHTTP(w, r)
	}))
	defer srv.Close()
	s, err := New(e.cfg, githubtest.Client(t, srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	m, err := s.Mint(ctx, rotation.Requirements{})
	if err != nil || m.Token.IsZero() {
		t.Fatalf("Mint with its context cancelled while GitHub answered = %+v, %v: the token GitHub created is lost", m, err)
	}
}
