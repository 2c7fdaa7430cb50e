package github

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestServer_SnapshotRestore(t *testing.T) {
	e := newEnv(t, testWorld())
	ctx := context.Background()
	inst := e.installationToken(t, nil)
	if _, _, err := e.client(t, aliceClassic).Users.Get(ctx, ""); err != nil {
		t.Fatal(err)
	}
	snap, err := e.srv.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(snap), aliceClassic) {
		t.Fatal("the snapshot is the GitHub database: it must hold token values")
	}

	// A second emulator, started empty, takes the state.
	e2 := newEnv(t, World{})
	if err := e2.srv.Restore(snap); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(e.srv.Tokens(), e2.srv.Tokens()); diff != "" {
		t.Errorf("tokens differ (-before +after):\n%s", diff)
	}
	again, err := e2.srv.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(snap), string(again)); diff != "" {
		t.Errorf("snapshot of the restored state differs:\n%s", diff)
	}
	for name, tok := range e.tok {
		if _, _, err := e2.client(t, tok).Users.Get(ctx, ""); err != nil {
			t.Errorf("%s after restore: %v", name, err)
		}
	}
	if _, _, err := e2.client(t, inst).Apps.ListRepos(ctx, nil); err != nil {
		t.Errorf("installation token after restore: %v", err)
	}
	// The app keeps its key.
	pemBytes, err := e2.srv.AppPrivateKeyPEM("rotor-ci")
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(pemBytes)
	key, err := x509.ParsePKCS1PrivateKey(block.Bytes)
	if err != nil || !key.Equal(testKey()) {
		t.Fatalf("app key after restore: %v", err)
	}
	appID, insts := e2.srv.App("rotor-ci")
	if _, _, err := e2.client(t, e2.jwtFor(t, appID, key, nil)).Apps.CreateInstallationToken(ctx, insts[0], nil); err != nil {
		t.Fatal(err)
	}
	// New ids continue where the old state stopped.
	_, info, err := e2.srv.CreateToken("bob", TokenSpec{Kind: KindClassic})
	if err != nil {
		t.Fatal(err)
	}
	for _, old := range e.srv.Tokens() {
		if old.ID == info.ID {
			t.Fatalf("id %d reused", info.ID)
		}
	}

	bad := []struct{ name, in string }{
		{"not JSON", "{"},
		{"wrong version", `{"version": 99}`},
		{"repo of unknown owner", `{"version":1,"repos":[{"owner":"x","name":"y","branches":["main"]}]}`},
		{"app without a key", `{"version":1,"apps":[{"id":1}]}`},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			before := e2.srv.Tokens()
			if err := e2.srv.Restore([]byte(tt.in)); err == nil {
				t.Fatal("no error")
			}
			if diff := cmp.Diff(before, e2.srv.Tokens()); diff != "" {
				t.Fatalf("state changed on a failed restore:\n%s", diff)
			}
		})
	}
}

func TestNew_World(t *testing.T) {
	keygen := func() (*rsa.PrivateKey, error) { return testKey(), nil }
	base := func() World {
		return World{
			Users: []UserSpec{{Login: "MyGitHubUserName"}},
			Repos: []RepoSpec{{Owner: "MyGitHubUserName", Name: "test-repo", Private: true, Branches: []string{"master"}}},
		}
	}
	tests := []struct {
		name   string
		change func(w *World)
		want   error
	}{
		{"ok", func(w *World) {}, nil},
		{"duplicate user", func(w *World) { w.Users = append(w.Users, UserSpec{Login: "mygithubusername"}) }, ErrExists},
		{"repo of unknown owner", func(w *World) { w.Repos[0].Owner = "nobody" }, ErrNotFound},
		{"unknown collaborator", func(w *World) { w.Repos[0].Collaborators = []string{"nobody"} }, ErrNotFound},
		{"token of unknown user", func(w *World) {
			w.Tokens = []WorldToken{{TokenSpec: TokenSpec{User: "nobody", Kind: KindClassic}}}
		}, ErrNotFound},
		{"token value with a bad checksum", func(w *World) {
			w.Tokens = []WorldToken{{TokenSpec: TokenSpec{User: "MyGitHubUserName", Kind: KindClassic}, Value: aliceClassic[:39] + "X"}}
		}, ErrInvalid},
		{"token value of the wrong kind", func(w *World) {
			w.Tokens = []WorldToken{{TokenSpec: TokenSpec{User: "MyGitHubUserName", Kind: KindFineGrained}, Value: aliceClassic}}
		}, ErrInvalid},
		{"same value twice", func(w *World) {
			tok := WorldToken{TokenSpec: TokenSpec{User: "MyGitHubUserName", Kind: KindClassic}, Value: aliceClassic}
			w.Tokens = []WorldToken{tok, tok}
		}, ErrExists},
		{"app installed on an unknown account", func(w *World) {
			w.Apps = []AppSpec{{Name: "a", Owner: "MyGitHubUserName", Installations: []InstallationSpec{{Account: "nobody"}}}}
		}, ErrNotFound},
		{"negative rate limit", func(w *World) { w.RateLimit = -1 }, ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := base()
			tt.change(&w)
			_, err := New(w, Options{KeyGen: keygen})
			if !errors.Is(err, tt.want) {
				t.Fatalf("New = %v, want %v", err, tt.want)
			}
			if err != nil && strings.Contains(err.Error(), aliceClassic[4:20]) {
				t.Fatalf("error leaks a token: %v", err)
			}
		})
	}
}
