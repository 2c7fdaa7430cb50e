package githubtest_test

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"testing"

	ghemu "github.com/rotor-ci/rotor/internal/emulator/github"
	"github.com/rotor-ci/rotor/internal/github/githubtest"
	"github.com/rotor-ci/rotor/internal/token"
)

var world = ghemu.World{
	Users: []ghemu.UserSpec{{Login: "alice"}},
	Apps:  []ghemu.AppSpec{{Name: "app", Owner: "alice", Installations: []ghemu.InstallationSpec{{Account: "alice"}}}},
}

// The tests that use Start sign their app JWTs with Key, so the
// emulator's app must hold Key, and the client must reach the emulator.
func TestStart(t *testing.T) {
	emu, gh := githubtest.Start(t, world, ghemu.Options{})
	data, err := emu.AppPrivateKeyPEM("app")
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		t.Fatalf("the app's key is not PEM: %q", data)
	}
	k, err := x509.ParsePKCS1PrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if !k.Equal(githubtest.Key()) {
		t.Error("the emulated app's key is not githubtest.Key")
	}
	v, _, err := emu.CreateToken("alice", ghemu.TokenSpec{Kind: ghemu.KindClassic, Scopes: []string{"repo"}})
	if err != nil {
		t.Fatal(err)
	}
	id, err := gh.Identify(t.Context(), token.New(v.Reveal()))
	if err != nil || id.Login != "alice" {
		t.Fatalf("Identify through the client = %+v, %v; want alice", id, err)
	}
}

// A test's own KeyGen is kept.
func TestStart_ownKeyGen(t *testing.T) {
	calls := 0
	githubtest.Start(t, world, ghemu.Options{KeyGen: func() (*rsa.PrivateKey, error) { calls++; return githubtest.Key(), nil }})
	if calls != 1 {
		t.Errorf("the test's KeyGen was called %d times for one app, want 1", calls)
	}
}
