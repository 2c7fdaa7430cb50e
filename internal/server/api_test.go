package server

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/rotor-ci/rotor/internal/config"
	"github.com/rotor-ci/rotor/internal/rotation"
	"github.com/rotor-ci/rotor/internal/status"
)

func TestServer_API(t *testing.T) {
	h := newHarness(t, cred("app", config.SourceGitHubApp), cred("pat", config.SourcePersonalToken))
	h.adopt("app")
	h.adopt("pat")
	s := h.server(Options{})
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	good := "Bearer " + testToken

	tests := []struct {
		name, method, path, auth, body string
		want                           int
		wantKey                        string // a key the JSON body must have
		wantIn                         string // text the body's "error" or "instructions" must hold
	}{
		{name: "no header", method: "GET", path: "/v1/credentials", want: 401, wantKey: "error"},
		{name: "wrong token", method: "GET", path: "/v1/credentials", auth: "Bearer " + strings.Repeat("x", len(testToken)), want: 401, wantKey: "error"},
		{name: "token prefix", method: "GET", path: "/v1/credentials", auth: "Bearer " + testToken[:10], want: 401, wantKey: "error"},
		{name: "basic scheme", method: "GET", path: "/v1/credentials", auth: "Basic " + testToken, want: 401, wantKey: "error"},
		{name: "bare token", method: "GET", path: "/v1/credentials", auth: testToken, want: 401, wantKey: "error"},
		{name: "right token", method: "GET", path: "/v1/credentials", auth: good, want: 200, wantKey: "credentials"},
		{name: "lower-case scheme", method: "GET", path: "/v1/credentials", auth: "bearer " + testToken, want: 200, wantKey: "credentials"},
		{name: "one credential", method: "GET", path: "/v1/credentials/app", auth: good, want: 200, wantKey: "versions"},
		{name: "unknown credential", method: "GET", path: "/v1/credentials/nope", auth: good, want: 404, wantKey: "error", wantIn: `"nope"`},
		{name: "unknown credential, unauthenticated", method: "GET", path: "/v1/credentials/nope", want: 401, wantKey: "error"},
		{name: "runs", method: "GET", path: "/v1/credentials/app/runs", auth: good, want: 200, wantKey: "runs"},
		{name: "runs, malformed limit", method: "GET", path: "/v1/credentials/app/runs?limit=lots", auth: good, want: 400, wantKey: "error", wantIn: "limit"},
		{name: "runs, limit too big", method: "GET", path: "/v1/credentials/app/runs?limit=100000", auth: good, want: 400, wantKey: "error"},
		{name: "audit", method: "GET", path: "/v1/audit", auth: good, want: 200, wantKey: "records"},
		{name: "audit, negative after", method: "GET", path: "/v1/audit?after=-3", auth: good, want: 400, wantKey: "error"},
		{name: "rotate, unauthenticated", method: "POST", path: "/v1/credentials/app/rotate", want: 401, wantKey: "error"},
		{name: "rotate, malformed JSON", method: "POST", path: "/v1/credentials/app/rotate", auth: good, body: `{"reason":`, want: 400, wantKey: "error"},
		{name: "rotate, not an object", method: "POST", path: "/v1/credentials/app/rotate", auth: good, body: `["x"]`, want: 400, wantKey: "error"},
		{name: "rotate, unknown field", method: "POST", path: "/v1/credentials/app/rotate", auth: good, body: `{"token":"ghp_x"}`, want: 400, wantKey: "error"},
		{name: "rotate, unknown credential", method: "POST", path: "/v1/credentials/nope/rotate", auth: good, want: 404, wantKey: "error"},
		{name: "rotate a personal token", method: "POST", path: "/v1/credentials/pat/rotate", auth: good, want: 409, wantKey: "instructions", wantIn: "rotor serve cannot rotate it"},
		{name: "wrong method", method: "DELETE", path: "/v1/credentials/app", auth: good, want: 404, wantKey: "error"},
		{name: "unknown endpoint", method: "GET", path: "/v1/tokens", auth: good, want: 404, wantKey: "error"},
		{name: "metrics need the token", method: "GET", path: "/metrics", want: 401, wantKey: "error"},
		{name: "healthz is open", method: "GET", path: "/healthz", want: 200, wantKey: "status"},
		{name: "readyz before the scheduler started", method: "GET", path: "/readyz", want: 503, wantKey: "reason"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := do(t, srv.URL, tt.method, tt.path, tt.auth, tt.body)
			if code != tt.want {
				t.Fatalf("status %d, want %d; body %v", code, tt.want, body)
			}
			if _, ok := body[tt.wantKey]; !ok {
				t.Errorf("body %v lacks %q", body, tt.wantKey)
			}
			if tt.wantIn != "" {
				msg, _ := body["error"].(string)
				msg += " " + toString(body["instructions"])
				if !strings.Contains(msg, tt.wantIn) {
					t.Errorf("error %q lacks %q", msg, tt.wantIn)
				}
			}
		})
	}
	// None of the refused calls changed anything.
	if cs := s.snapshot("app"); cs.Requested {
		t.Error("a refused rotate request set the Requested flag")
	}
	for _, name := range []string{"app", "pat"} {
		if runs := h.runs(name); len(runs) != 0 {
			t.Errorf("%s: %d runs after refused requests", name, len(runs))
		}
	}
}

func toString(v any) string { s, _ := v.(string); return s }

func TestServer_API_neverReturnsTokens(t *testing.T) {
	h := newHarness(t, cred("app", config.SourceGitHubApp))
	h.adopt("app")
	s := h.server(Options{})
	s.tick(context.Background()) // not due: nothing happens
	h.clock.Advance(2 * h.cfg.Credentials[0].Rotate.Every.D())
	s.tick(context.Background())
	s.jobs.Wait()
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	var seen []string
	h.gh.mu.Lock()
	for fp := range h.gh.live {
		seen = append(seen, fp)
	}
	h.gh.mu.Unlock()
	for _, path := range []string{"/v1/credentials", "/v1/credentials/app", "/v1/credentials/app/runs", "/v1/audit", "/metrics"} {
		req, _ := http.NewRequest("GET", srv.URL+path, nil)
		req.Header.Set("Authorization", "Bearer "+testToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b := new(strings.Builder)
		_, _ = ioCopy(b, resp)
		for _, prefix := range []string{"ghp_", "ghs_", "github_pat_"} {
			if strings.Contains(b.String(), prefix) {
				t.Errorf("%s: response holds something shaped like a token (%s…)", path, prefix)
			}
		}
	}
	if len(seen) < 2 {
		t.Errorf("expected a rotation to have happened; GitHub knows %d tokens", len(seen))
	}
}

func TestLoadAuthToken(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name    string
		path    string
		wantErr string
	}{
		{name: "not configured", path: "", wantErr: "auth_token_file is not set"},
		{name: "missing", path: filepath.Join(dir, "none"), wantErr: "rotor serve --init-token"},
		{name: "group readable", path: write("loose", testToken, 0o640), wantErr: "chmod 600"},
		{name: "too short", path: write("short", "hunter2", 0o600), wantErr: "at least 32"},
		{name: "good", path: write("good", testToken+"\n", 0o600)},
		{name: "good, owner read-only (a Kubernetes secret)", path: write("ro", testToken, 0o400)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := LoadAuthToken(tt.path)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestInitAuthToken(t *testing.T) {
	p := filepath.Join(t.TempDir(), "sub", "api.token")
	wrote, err := InitAuthToken(p)
	if err != nil || !wrote {
		t.Fatalf("InitAuthToken = %v, %v", wrote, err)
	}
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %04o, want 0600", fi.Mode().Perm())
	}
	first, _ := os.ReadFile(p)
	if _, err := LoadAuthToken(p); err != nil {
		t.Errorf("the new token does not load: %v", err)
	}
	wrote, err = InitAuthToken(p)
	if err != nil || wrote {
		t.Fatalf("second InitAuthToken = %v, %v; want false, nil", wrote, err)
	}
	if again, _ := os.ReadFile(p); string(again) != string(first) {
		t.Error("an existing token was replaced")
	}
}

func TestDashboard(t *testing.T) {
	h := newHarness(t, cred("app", config.SourceGitHubApp))
	srv := httptest.NewServer(h.server(Options{}).Handler())
	defer srv.Close()
	for _, tt := range []struct{ path, ctype, want string }{
		{"/", "text/html", `<html lang="en">`},
		{"/app.js", "text/javascript", "sessionStorage"},
		{"/style.css", "text/css", "prefers-color-scheme"},
	} {
		resp, err := http.Get(srv.URL + tt.path)
		if err != nil {
			t.Fatal(err)
		}
		b := new(strings.Builder)
		_, _ = ioCopy(b, resp)
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), tt.ctype) || !strings.Contains(b.String(), tt.want) {
			t.Errorf("%s: %d %s, body has %q: %v", tt.path, resp.StatusCode, resp.Header.Get("Content-Type"), tt.want, strings.Contains(b.String(), tt.want))
		}
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") {
			t.Errorf("%s: CSP %q", tt.path, csp)
		}
	}
}

// TestServer_API_accounts: a credential whose bindings span two AWS
// accounts has, in the list and on its own page, each account × region's
// bindings by status (a busy pipeline's binding waits); one whose bindings
// are all in one place has none.
func TestServer_API_accounts(t *testing.T) {
	h := newHarness(t, cred("fleet", config.SourceGitHubApp), cred("one", config.SourceGitHubApp))
	place := func(account, region string) map[string]string {
		return map[string]string{"account": account, "region": region}
	}
	fleet := newTarget("fleet:a", "fleet:b", "fleet:c")
	fleet.attrs = map[string]map[string]string{"fleet:a": place("111111111111", "us-east-1"), "fleet:b": place("111111111111", "us-east-1"), "fleet:c": place("222222222222", "eu-west-1")}
	fleet.busy = map[string]bool{"fleet:b": true}
	h.tgts["fleet"] = fleet
	one := newTarget("one:a", "one:b")
	one.attrs = map[string]map[string]string{"one:a": place("111111111111", "us-east-1"), "one:b": place("111111111111", "us-east-1")}
	h.tgts["one"] = one
	h.adopt("fleet")
	h.adopt("one")
	s := h.server(Options{})
	rotated(t, h, s, "fleet") // both are due: one tick rotates both
	if runs := h.runs("one"); len(runs) != 1 || runs[0].Status != rotation.RunSucceeded {
		t.Fatalf("one: runs %+v, want one succeeded", runs)
	}

	want := []status.AccountBindings{
		{Account: "111111111111", Region: "us-east-1", Bindings: map[string]int{"verified": 1, "waiting": 1}},
		{Account: "222222222222", Region: "eu-west-1", Bindings: map[string]int{"verified": 1}},
	}
	var list struct {
		Credentials []map[string]json.RawMessage `json:"credentials"`
	}
	getJSON(t, s, "/v1/credentials", &list)
	var detail map[string]json.RawMessage
	getJSON(t, s, "/v1/credentials/fleet", &detail)
	for where, c := range map[string]map[string]json.RawMessage{"/v1/credentials": list.Credentials[0], "/v1/credentials/fleet": detail} {
		var got []status.AccountBindings
		if err := json.Unmarshal(c["accounts"], &got); err != nil {
			t.Fatalf("%s: accounts %s: %v", where, c["accounts"], err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s: accounts (-want +got):\n%s", where, diff)
		}
	}
	if a, ok := list.Credentials[1]["accounts"]; ok {
		t.Errorf("one place: accounts = %s, want none", a)
	}
	metrics := scrape(t, s)
	for _, line := range []string{
		`rotor_account_bindings{account="111111111111",credential="fleet",region="us-east-1",status="verified"} 1`,
		`rotor_account_bindings{account="111111111111",credential="fleet",region="us-east-1",status="waiting"} 1`,
		`rotor_account_bindings{account="222222222222",credential="fleet",region="eu-west-1",status="verified"} 1`,
	} {
		if !strings.Contains(metrics, line) {
			t.Errorf("/metrics lacks %s", line)
		}
	}
	if strings.Contains(metrics, `rotor_account_bindings{account="111111111111",credential="one"`) {
		t.Error("/metrics has per-account bindings for a credential in one place")
	}
}
