package github

import (
	"bytes"
	"context"
	"crypto/rsa"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/rotor-ci/rotor/internal/emulator/fault"
)

// randomRequest builds a request from pieces of real routes, real and fake
// credentials and hostile bodies.
func randomRequest(rng *rand.Rand, e *env, jwt string) *http.Request {
	methods := []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "BREW"}
	segs := []string{"user", "users", "repos", "alice", "private", "public", "tarball", "master", "refs", "heads", "app", "installations",
		"1", "4000001", "access_tokens", "installation", "token", "repositories", "credentials", "revoke", "rate_limit", "api", "v3",
		"_emulator", "tokens", "regenerate", "apps", "rotor-ci", "faults", "rules", "counts", "branches", "%2F", "..", ".", "", "{owner}", "ü", "%00"}
	auths := []string{"", "token " + aliceClassic, "Bearer " + e.tok["bob-classic"], "Bearer " + jwt, "token ghs_" + strings.Repeat("x", 36),
		"Basic !!!", "Bearer", "token ", "token ghp_short", "Bearer a.b.c", "Bearer " + strings.Repeat("A", 5000)}
	bodies := []string{"", "{", "null", "[]", `{"credentials":null}`, `{"credentials":[1]}`, `{"credentials":["` + aliceClassic + `"]}`,
		`{"repositories":["private"],"permissions":{"contents":"admin"}}`, `{"repository_ids":[-1]}`, `{"permissions":{"":""}}`,
		`{"user":"alice","kind":"classic","scopes":["repo"]}`, `{"login":"x"}`, `{"name":"n","owner":"alice"}`, `[{"fail":true,"until":"2000-01-01T00:00:00Z"}]`,
		"\x00\xff\xfe", strings.Repeat("[", 10000)}
	var path strings.Builder
	for range 1 + rng.IntN(6) {
		path.WriteString("/" + segs[rng.IntN(len(segs))])
	}
	if rng.IntN(5) == 0 {
		path.WriteString("?per_page=" + fmt.Sprint(rng.IntN(300)-100) + "&page=" + fmt.Sprint(rng.IntN(5)-1))
	}
	body := bodies[rng.IntN(len(bodies))]
	if rng.IntN(10) == 0 {
		b := make([]byte, rng.IntN(2000))
		for i := range b {
			b[i] = byte(rng.IntN(256))
		}
		body = string(b)
	}
	req := httptest.NewRequestWithContext(context.Background(), "GET", "/", bytes.NewReader([]byte(body)))
	req.Method = methods[rng.IntN(len(methods))]
	req.URL.Path = path.String()
	req.URL.RawQuery = ""
	if p, q, ok := strings.Cut(path.String(), "?"); ok {
		req.URL.Path, req.URL.RawQuery = p, q
	}
	if a := auths[rng.IntN(len(auths))]; a != "" {
		req.Header.Set("Authorization", a)
	}
	return req
}

// Random bodies, methods, paths and headers never panic, never hang and
// never produce a 500 (which the recover middleware would answer).
func TestServer_Robustness(t *testing.T) {
	e := newEnv(t, testWorld())
	appID, _ := e.srv.App("rotor-ci")
	jwt := e.jwtFor(t, appID, testKey(), nil)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 3000 {
		req := randomRequest(rng, e, jwt)
		if strings.HasPrefix(req.URL.Path, "/_emulator/faults") && req.Method == "PUT" {
			continue // installs random fault rules, which answer 500 on purpose
		}
		rec := httptest.NewRecorder()
		e.srv.ServeHTTP(rec, req)
		if rec.Code >= 500 || rec.Code < 100 {
			t.Fatalf("request %d %s %s (auth %.20q): status %d: %s", i, req.Method, req.URL, req.Header.Get("Authorization"), rec.Code, rec.Body)
		}
	}
	e.inj.SetRules(nil)
}

func FuzzServer_ServeHTTP(f *testing.F) {
	f.Add("POST", "/credentials/revoke", "", `{"credentials":["x"]}`)
	f.Add("GET", "/repos/alice/private/tarball/refs/heads/master", "token "+aliceClassic, "")
	f.Add("POST", "/app/installations/4000001/access_tokens", "Bearer a.b.c", `{"repositories":["private"]}`)
	f.Add("POST", "/_emulator/tokens", "", `{"user":"alice","kind":"fine-grained","repositories":["alice/private"]}`)
	srv, err := New(testWorld(), Options{Faults: fault.New(), KeyGen: func() (*rsa.PrivateKey, error) { return testKey(), nil }})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, method, path, auth, body string) {
		if strings.Contains(path, "fault") {
			return // random fault rules answer 5xx on purpose
		}
		req := httptest.NewRequest("GET", "/", strings.NewReader(body))
		req.Method, req.URL.Path = method, path
		req.Header.Set("Authorization", auth)
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%s %q: %d %s", method, path, rec.Code, rec.Body)
		}
	})
}

// Many clients at once: the race detector checks the locking, the results
// check that nothing was lost.
func TestServer_Concurrent(t *testing.T) {
	e := newEnv(t, testWorld())
	appID, insts := e.srv.App("rotor-ci")
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for g := range 8 {
		wg.Go(func() {
			for i := range 40 {
				var req *http.Request
				switch (g + i) % 5 {
				case 0:
					req = httptest.NewRequest("GET", "/user", nil)
					req.Header.Set("Authorization", "token "+aliceClassic)
				case 1:
					req = httptest.NewRequest("GET", "/repos/alice/private/tarball/master", nil)
					req.Header.Set("Authorization", "Bearer "+e.tok["bob-classic"])
				case 2:
					req = httptest.NewRequest("POST", fmt.Sprintf("/app/installations/%d/access_tokens", insts[0]), strings.NewReader(`{"repositories":["private"]}`))
					req.Header.Set("Authorization", "Bearer "+e.jwtFor(t, appID, testKey(), nil))
				case 3:
					if _, _, err := e.srv.CreateToken("carol", TokenSpec{Kind: KindClassic}); err != nil {
						errs <- err
					}
					_ = e.srv.Tokens()
					continue
				case 4:
					if _, err := e.srv.Snapshot(); err != nil {
						errs <- err
					}
					e.srv.Authorize(aliceClassic, "alice", "private")
					continue
				}
				rec := httptest.NewRecorder()
				e.srv.ServeHTTP(rec, req)
				if rec.Code != 200 && rec.Code != 201 && rec.Code != 302 {
					errs <- fmt.Errorf("%s %s: %d %s", req.Method, req.URL.Path, rec.Code, rec.Body)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func BenchmarkServer_Tarball(b *testing.B) {
	srv, err := New(testWorld(), Options{KeyGen: func() (*rsa.PrivateKey, error) { return testKey(), nil }})
	if err != nil {
		b.Fatal(err)
	}
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req := httptest.NewRequest("GET", "/repos/alice/private/tarball/master", nil)
			req.Header.Set("Authorization", "token "+aliceClassic)
			rec := httptest.NewRecorder()
			srv.ServeHTTP(rec, req)
			if rec.Code != 302 && rec.Code != 403 {
				b.Fatalf("status %d", rec.Code)
			}
		}
	})
}
