// Package githubtest points rotor's GitHub client at the GitHub emulator
// for the tests of the packages that use the client (sources, revoke):
// the emulator over a world the test describes, under the conformance
// check, served on a loopback port until the test ends.
//
// It lives here, not under internal/emulator, because it builds rotor's
// client: the emulators import nothing of rotor's client side
// (test/layering).
package githubtest

import (
	"crypto/rand"
	"crypto/rsa"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/rotor-ci/rotor/internal/emulator/conformance"
	ghemu "github.com/rotor-ci/rotor/internal/emulator/github"
	"github.com/rotor-ci/rotor/internal/github"
)

// Key is the private key of every app Start's emulator creates, and a
// test's own app key where the emulator plays no part. It is generated
// once per test binary, 1024 bits, because RSA generation is slow under
// -race; it is fit for tests only.
var Key = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		panic(err)
	}
	return k
})

// Start builds the emulator over w and opts (opts.KeyGen nil: apps get
// Key), serves it wrapped in the conformance check on 127.0.0.1 until t
// ends, and returns it with a Client for it.
func Start(t testing.TB, w ghemu.World, opts ghemu.Options) (*ghemu.Server, *github.Client) {
	t.Helper()
	if opts.KeyGen == nil {
		opts.KeyGen = func() (*rsa.PrivateKey, error) { return Key(), nil }
	}
	emu, err := ghemu.New(w, opts)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(conformance.Wrap(t, "github", emu))
	t.Cleanup(srv.Close)
	return emu, Client(t, srv.URL)
}

// Client is rotor's GitHub client for the server at url, trying each
// request once: a test sees every answer as the server gave it, and a
// failure at once rather than after backoff.
func Client(t testing.TB, url string) *github.Client {
	t.Helper()
	gh, err := github.New(url, github.WithRetryPolicy(github.RetryPolicy{MaxAttempts: 1}))
	if err != nil {
		t.Fatal(err)
	}
	return gh
}
