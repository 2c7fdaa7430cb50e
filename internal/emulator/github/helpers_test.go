package github

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	gh "github.com/google/go-github/v93/github"

	"github.com/rotor-ci/rotor/internal/emulator/conformance"
	"github.com/rotor-ci/rotor/internal/emulator/fault"
	"github.com/rotor-ci/rotor/internal/emulator/ghtoken"
)

// Keys are generated once per test binary: RSA generation is slow under
// -race. 1024 bits is the least Go accepts and plenty for a test.
var (
	testKey  = sync.OnceValue(func() *rsa.PrivateKey { return mustKey() })
	otherKey = sync.OnceValue(func() *rsa.PrivateKey { return mustKey() })
)

func mustKey() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		panic(err)
	}
	return k
}

// fakeClock is a settable clock, starting at the wall clock so that
// go-github's own rate-limit bookkeeping (which uses time.Now) agrees.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fakeClock { return &fakeClock{t: time.Now().UTC().Truncate(time.Second)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// A public test vector with a valid checksum.
const aliceClassic = "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"

// testWorld: alice owns a private repo (bob collaborates) and a public one;
// carol owns a private repo nobody else sees; the app rotor-ci is installed
// on alice's account for both of her repos.
func testWorld() World {
	return World{
		Users: []UserSpec{{Login: "alice"}, {Login: "bob"}, {Login: "carol"}},
		Repos: []RepoSpec{
			{Owner: "alice", Name: "private", Private: true, Branches: []string{"master", "dev"}, Collaborators: []string{"bob"}},
			{Owner: "alice", Name: "public"},
			{Owner: "alice", Name: "other", Private: true},
			{Owner: "carol", Name: "secret", Private: true},
		},
		Tokens: []WorldToken{{
			TokenSpec: TokenSpec{User: "alice", Kind: KindClassic, Note: "codepipeline", Scopes: []string{"repo", "admin:repo_hook"}, ExpiresIn: Duration{720 * time.Hour}},
			Value:     aliceClassic,
		}},
		Apps: []AppSpec{{
			Name: "rotor-ci", Owner: "alice",
			Permissions:   map[string]string{"contents": "write", "metadata": "read", "pull_requests": "read"},
			Installations: []InstallationSpec{{Account: "alice", Repositories: []string{"private", "public"}}},
		}},
	}
}

type env struct {
	srv   *Server
	http  *httptest.Server
	clock *fakeClock
	inj   *fault.Injector
	// tok holds token values by name: see newEnv.
	tok map[string]string
}

// newEnv starts the emulator on w and creates the tokens the tests share.
func newEnv(t *testing.T, w World) *env {
	t.Helper()
	e := &env{clock: newClock(), inj: fault.New(), tok: map[string]string{"alice-classic": aliceClassic}}
	srv, err := New(w, Options{Clock: e.clock.Now, Faults: e.inj, KeyGen: func() (*rsa.PrivateKey, error) { return testKey(), nil }})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	e.srv = srv
	e.http = httptest.NewServer(conformance.Wrap(t, "github", srv, conformance.AllowInvalidRequests()))
	t.Cleanup(e.http.Close)
	specs := map[string]TokenSpec{
		"alice-noscope": {User: "alice", Kind: KindClassic, Scopes: []string{"read:user"}},
		"bob-classic":   {User: "bob", Kind: KindClassic, Scopes: []string{"repo"}},
		"carol-classic": {User: "carol", Kind: KindClassic, Scopes: []string{"repo"}},
		"alice-fg":      {User: "alice", Kind: KindFineGrained, Repositories: []string{"alice/private"}, Permissions: map[string]string{"contents": "read"}, ExpiresIn: Duration{24 * time.Hour}},
		"alice-fg-meta": {User: "alice", Kind: KindFineGrained, Repositories: []string{"alice/private"}, Permissions: map[string]string{"metadata": "read"}},
	}
	if len(w.Users) > 0 && w.Users[0].Login == "alice" {
		for name, spec := range specs {
			v, _, err := srv.CreateToken(spec.User, spec)
			if err != nil {
				t.Fatalf("CreateToken(%s): %v", name, err)
			}
			e.tok[name] = v.Reveal()
		}
	}
	return e
}

// client is go-github pointed at the emulator the GHES way (/api/v3/).
func (e *env) client(t *testing.T, tok string) *gh.Client {
	t.Helper()
	opts := []gh.ClientOptionsFunc{gh.WithEnterpriseURLs(e.http.URL+"/", e.http.URL+"/")}
	if tok != "" {
		opts = append(opts, gh.WithAuthToken(tok))
	}
	c, err := gh.NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// do sends a raw request; auth is the whole Authorization header or "".
func (e *env) do(t *testing.T, method, path, auth, body string) (*http.Response, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(context.Background(), method, e.http.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := e.http.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// jwtFor signs an app JWT; mutate adjusts the claims for the bad cases.
func (e *env) jwtFor(t *testing.T, appID int64, key *rsa.PrivateKey, mutate func(jwt.MapClaims)) string {
	t.Helper()
	now := e.clock.Now()
	claims := jwt.MapClaims{"iat": now.Add(-60 * time.Second).Unix(), "exp": now.Add(9 * time.Minute).Unix(), "iss": strconv.FormatInt(appID, 10)}
	if mutate != nil {
		mutate(claims)
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodRS256, claims).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// installationToken mints an installation token for rotor-ci's first
// installation through go-github.
func (e *env) installationToken(t *testing.T, opts *gh.InstallationTokenOptions) string {
	t.Helper()
	appID, insts := e.srv.App("rotor-ci")
	tok, _, err := e.client(t, e.jwtFor(t, appID, testKey(), nil)).Apps.CreateInstallationToken(context.Background(), insts[0], opts)
	if err != nil {
		t.Fatalf("CreateInstallationToken: %v", err)
	}
	if k, err := ghtoken.Check(tok.GetToken()); err != nil || k != ghtoken.KindInstallation {
		t.Fatalf("installation token does not parse as ghs_: %v", err)
	}
	return tok.GetToken()
}

func statusOf(resp *gh.Response) int {
	if resp == nil || resp.Response == nil {
		return 0
	}
	return resp.StatusCode
}
