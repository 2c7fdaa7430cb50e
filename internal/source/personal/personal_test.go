package personal

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	ghemu "github.com/rotor-ci/rotor/internal/emulator/github"
	"github.com/rotor-ci/rotor/internal/github"
	"github.com/rotor-ci/rotor/internal/github/githubtest"
	"github.com/rotor-ci/rotor/internal/rotation"
	"github.com/rotor-ci/rotor/internal/token"
)

type env struct {
	emu *ghemu.Server
	gh  *github.Client
}

func newEnv(t *testing.T) *env {
	t.Helper()
	emu, gh := githubtest.Start(t, ghemu.World{
		Users: []ghemu.UserSpec{{Login: "alice"}, {Login: "bob"}},
		Repos: []ghemu.RepoSpec{
			{Owner: "alice", Name: "test-repo", Private: true, Collaborators: []string{"bob"}},
			{Owner: "alice", Name: "other", Private: true},
		},
	}, ghemu.Options{})
	return &env{emu: emu, gh: gh}
}

func (e *env) token(t *testing.T, spec ghemu.TokenSpec) token.Token {
	t.Helper()
	tok, _, err := e.emu.CreateToken(spec.User, spec)
	if err != nil {
		t.Fatal(err)
	}
	return token.New(tok.Reveal())
}

func fixed(tok token.Token, err error) func(context.Context) (token.Token, error) {
	return func(context.Context) (token.Token, error) { return tok, err }
}

// requireRejected checks err wraps ErrRejected, says want, and shows no token.
func requireRejected(t *testing.T, err error, want string, secret token.Token) {
	t.Helper()
	if !errors.Is(err, rotation.ErrRejected) {
		t.Fatalf("error = %v, want ErrRejected", err)
	}
	if !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not say %q", err, want)
	}
	if !secret.IsZero() && strings.Contains(err.Error(), secret.Reveal()) {
		t.Fatalf("error shows the token: %v", err)
	}
}

func TestSource_Mint(t *testing.T) {
	classic := token.Generate(token.KindClassicPAT)
	fine := token.Generate(token.KindFineGrained)
	bad := classic.Reveal()[:39] + "x"
	if token.Checksum(bad[4:34]) == bad[34:] {
		bad = classic.Reveal()[:39] + "y"
	}
	tests := []struct {
		name       string
		read       func(context.Context) (token.Token, error)
		want       token.Token
		wantErr    error
		wantSaying string
	}{
		{name: "classic", read: fixed(classic, nil), want: classic},
		{name: "fine-grained with a newline", read: fixed(token.New(fine.Reveal()+"\n"), nil), want: fine},
		{name: "nothing given", read: fixed(token.Token{}, nil), wantErr: rotation.ErrNoToken},
		{name: "blank", read: fixed(token.New("  \n"), nil), wantErr: rotation.ErrNoToken},
		{name: "reader gave up", read: fixed(token.Token{}, rotation.ErrNoToken), wantErr: rotation.ErrNoToken},
		{name: "installation token", read: fixed(token.Generate(token.KindInstallation), nil), wantErr: rotation.ErrRejected, wantSaying: "GitHub App installation token (ghs_), not a personal access token"},
		{name: "OAuth token", read: fixed(token.Generate(token.KindOAuth), nil), wantErr: rotation.ErrRejected, wantSaying: "not a personal access token"},
		{name: "typo", read: fixed(token.New(bad), nil), wantErr: rotation.ErrRejected, wantSaying: "checksum"},
		{name: "not a token", read: fixed(token.New("hunter2"), nil), wantErr: rotation.ErrRejected, wantSaying: "not a GitHub token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New(Config{Credential: "c"}, nil, tt.read)
			got, err := s.Mint(context.Background(), rotation.Requirements{})
			if !errors.Is(err, tt.wantErr) || (err == nil) != (tt.wantErr == nil) {
				t.Fatalf("Mint() error = %v, want %v", err, tt.wantErr)
			}
			if tt.wantSaying != "" && !strings.Contains(err.Error(), tt.wantSaying) {
				t.Errorf("Mint() error %q does not say %q", err, tt.wantSaying)
			}
			if err == nil && (!got.Token.Equal(tt.want) || got.ByRotor) {
				t.Errorf("Mint() = %v (by rotor %v), want %v by a person", got.Token, got.ByRotor, tt.want)
			}
		})
	}
}

func TestSource_Mint_tellsTheReaderWhatIsNeeded(t *testing.T) {
	var got Need
	s := New(Config{Credential: "cp", Scopes: []string{"repo"}}, nil, func(ctx context.Context) (token.Token, error) {
		got, _ = NeedFrom(ctx)
		return token.Generate(token.KindClassicPAT), nil
	})
	req := rotation.Requirements{Scopes: []string{"admin:repo_hook", "repo"}, Repositories: []string{"alice/test-repo"}, MinValidity: 7 * 24 * time.Hour}
	if _, err := s.Mint(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	want := Need{Credential: "cp", Scopes: []string{"admin:repo_hook", "repo"}, Repositories: []string{"alice/test-repo"}, MinValidity: 7 * 24 * time.Hour}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Need (-want +got):\n%s", diff)
	}
}

func TestSource_Check(t *testing.T) {
	e := newEnv(t)
	day := 24 * time.Hour
	req := rotation.Requirements{Scopes: []string{"repo", "admin:repo_hook"}, Repositories: []string{"alice/test-repo"}, MinValidity: 7 * day}
	good := e.token(t, ghemu.TokenSpec{User: "alice", Kind: ghemu.KindClassic, Scopes: []string{"repo", "admin:repo_hook"}, ExpiresIn: ghemu.Duration{Duration: 30 * day}})
	noHook := e.token(t, ghemu.TokenSpec{User: "alice", Kind: ghemu.KindClassic, Scopes: []string{"repo"}})
	short := e.token(t, ghemu.TokenSpec{User: "alice", Kind: ghemu.KindClassic, Scopes: []string{"repo", "admin:repo_hook"}, ExpiresIn: ghemu.Duration{Duration: 2 * day}})
	fine := e.token(t, ghemu.TokenSpec{User: "alice", Kind: ghemu.KindFineGrained, Repositories: []string{"alice/test-repo"}, Permissions: map[string]string{"contents": "read"}, ExpiresIn: ghemu.Duration{Duration: 30 * day}})
	fineOther := e.token(t, ghemu.TokenSpec{User: "alice", Kind: ghemu.KindFineGrained, Repositories: []string{"alice/other"}, Permissions: map[string]string{"contents": "read"}})
	bob := e.token(t, ghemu.TokenSpec{User: "bob", Kind: ghemu.KindClassic, Scopes: []string{"repo", "admin:repo_hook"}})
	dead := e.token(t, ghemu.TokenSpec{User: "alice", Kind: ghemu.KindClassic, Scopes: []string{"repo"}})
	if err := e.gh.RevokeCredentials(context.Background(), []token.Token{dead}); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name       string
		cfg        Config
		tok        token.Token
		req        rotation.Requirements
		wantLogin  string
		wantSaying string // empty: accepted
	}{
		{name: "good classic token", tok: good, req: req, wantLogin: "alice"},
		{name: "repo implies public_repo", tok: noHook, req: rotation.Requirements{Scopes: []string{"public_repo"}}, wantLogin: "alice"},
		{name: "missing scope", tok: noHook, req: req, wantSaying: "the token lacks scope admin:repo_hook: create a new token with scopes admin:repo_hook, repo"},
		{name: "scope from the config", cfg: Config{Scopes: []string{"workflow"}}, tok: good, req: req, wantSaying: "lacks scope workflow"},
		{name: "expires too soon", tok: short, req: req, wantSaying: "sooner than the 7 days rotor needs: create one with a later expiration"},
		{name: "fine-grained with access", tok: fine, req: req, wantLogin: "alice"},
		{name: "fine-grained without access", tok: fineOther, req: req, wantSaying: "give the token access to alice/test-repo"},
		{name: "revoked", tok: dead, req: req, wantSaying: "Bad credentials"},
		{name: "another user's token", cfg: Config{ExpectLogin: "alice"}, tok: bob, req: req, wantSaying: "belongs to GitHub user bob, but the one it replaces belongs to alice"},
		{name: "another user allowed", cfg: Config{ExpectLogin: "alice", AllowIdentityChange: true}, tok: bob, req: req, wantLogin: "bob"},
		{name: "installation token", tok: token.Generate(token.KindInstallation), req: req, wantSaying: "not a personal access token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New(tt.cfg, e.gh, nil)
			id, err := s.Check(context.Background(), tt.tok, tt.req)
			if tt.wantSaying != "" {
				requireRejected(t, err, tt.wantSaying, tt.tok)
				return
			}
			if err != nil {
				t.Fatalf("Check() = %v", err)
			}
			if id.Login != tt.wantLogin {
				t.Errorf("Check() login = %q, want %q", id.Login, tt.wantLogin)
			}
		})
	}
}

func TestSource_Check_transientIsNotRejection(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadGateway)
	}))
	defer srv.Close()
	gh, err := github.New(srv.URL, github.WithRetryPolicy(github.RetryPolicy{MaxAttempts: 1}))
	if err != nil {
		t.Fatal(err)
	}
	_, err = New(Config{}, gh, nil).Check(context.Background(), token.Generate(token.KindClassicPAT), rotation.Requirements{})
	if err == nil || errors.Is(err, rotation.ErrRejected) {
		t.Fatalf("Check() on a failing GitHub = %v, want an error that is not a rejection", err)
	}
}

func TestSource_Revoke(t *testing.T) {
	t.Run("revoked through the API", func(t *testing.T) {
		e := newEnv(t)
		tok := e.token(t, ghemu.TokenSpec{User: "alice", Kind: ghemu.KindClassic, Scopes: []string{"repo"}})
		s := New(Config{Credential: "cp"}, e.gh, nil)
		if err := s.Revoke(context.Background(), tok); err != nil {
			t.Fatal(err)
		}
		if _, err := e.gh.Identify(context.Background(), tok); !errors.Is(err, github.ErrBadCredentials) {
			t.Errorf("the token still works after Revoke: %v", err)
		}
		if err := s.Revoke(context.Background(), tok); err != nil {
			t.Errorf("Revoke(again) = %v", err)
		}
	})
	t.Run("GitHub without the API: instructions", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(404)
			_, _ = w.Write([]byte(`{"message":"Not Found"}`))
		}))
		defer srv.Close()
		gh, err := github.New(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		for _, kind := range []token.Kind{token.KindClassicPAT, token.KindFineGrained} {
			tok := token.Generate(kind)
			err := New(Config{Credential: "cp"}, gh, nil).Revoke(context.Background(), tok)
			if !errors.Is(err, rotation.ErrManualRevocation) {
				t.Fatalf("Revoke() = %v, want ErrManualRevocation", err)
			}
			list := map[token.Kind]string{token.KindClassicPAT: "Tokens (classic)", token.KindFineGrained: "Fine-grained tokens"}[kind]
			for _, want := range []string{tok.Fingerprint(), "Settings → Developer settings → Personal access tokens → " + list, "credential cp", "Delete"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("instructions %q do not say %q", err, want)
				}
			}
			if strings.Contains(err.Error(), tok.Reveal()[len(kind.Prefix()):len(kind.Prefix())+6]) {
				t.Fatalf("instructions show part of the token: %v", err)
			}
		}
	})
}

func TestMissingScopes(t *testing.T) {
	tests := []struct {
		name       string
		have, need []string
		want       []string
	}{
		{"exact", []string{"repo", "admin:repo_hook"}, []string{"repo", "admin:repo_hook"}, nil},
		{"broader", []string{"repo", "admin:repo_hook"}, []string{"public_repo", "write:repo_hook", "read:repo_hook"}, nil},
		{"transitive", []string{"admin:org"}, []string{"read:org"}, nil},
		{"missing", []string{"public_repo"}, []string{"repo", "admin:repo_hook"}, []string{"repo", "admin:repo_hook"}},
		{"no scopes", []string{}, []string{"repo"}, []string{"repo"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, missingScopes(tt.have, tt.need)); diff != "" {
				t.Errorf("missingScopes (-want +got):\n%s", diff)
			}
		})
	}
}
