package github

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	gh "github.com/google/go-github/v93/github"

	"github.com/rotor-ci/rotor/internal/emulator/fault"
)

func TestServer_Faults(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name  string
		rules []fault.Rule
		check func(t *testing.T, e *env)
	}{
		{"throttle is a secondary rate limit", []fault.Rule{{Operation: "GET /user", RatePerSecond: 0.001, Burst: 1}}, func(t *testing.T, e *env) {
			c := e.client(t, aliceClassic)
			if _, _, err := c.Users.Get(ctx, ""); err != nil {
				t.Fatalf("first request: %v", err)
			}
			_, resp, err := c.Users.Get(ctx, "")
			var abuse *gh.AbuseRateLimitError
			if !errors.As(err, &abuse) || abuse.GetRetryAfter() != time.Second {
				t.Fatalf("err = %T %v", err, err)
			}
			if statusOf(resp) != http.StatusForbidden || resp.Header.Get("X-RateLimit-Remaining") != "4999" {
				t.Fatalf("status %d remaining %q", statusOf(resp), resp.Header.Get("X-RateLimit-Remaining"))
			}
			// Other operations are not throttled.
			if _, _, err := e.client(t, aliceClassic).Repositories.Get(ctx, "alice", "private"); err != nil {
				t.Fatal(err)
			}
		}},
		{"server errors", []fault.Rule{{Service: "github", ErrorRate: 1}}, func(t *testing.T, e *env) {
			_, resp, _ := e.client(t, aliceClassic).Users.Get(ctx, "")
			if statusOf(resp) != http.StatusBadGateway {
				t.Fatalf("status %d", statusOf(resp))
			}
		}},
		{"another service's rules do not apply", []fault.Rule{{Service: "codepipeline", Fail: true}}, func(t *testing.T, e *env) {
			if _, _, err := e.client(t, aliceClassic).Users.Get(ctx, ""); err != nil {
				t.Fatal(err)
			}
		}},
		{"fail one named repository", []fault.Rule{{Resource: "alice/private", Fail: true}}, func(t *testing.T, e *env) {
			c := e.client(t, aliceClassic)
			if _, resp, _ := c.Repositories.Get(ctx, "alice", "private"); statusOf(resp) != http.StatusInternalServerError {
				t.Fatalf("named repo: %d", statusOf(resp))
			}
			resp, _ := e.do(t, http.MethodGet, "/repos/alice/private/tarball/master", "token "+aliceClassic, "")
			if resp.StatusCode != http.StatusInternalServerError {
				t.Fatalf("named repo tarball: %d", resp.StatusCode)
			}
			if _, _, err := c.Repositories.Get(ctx, "alice", "public"); err != nil {
				t.Fatalf("other repo: %v", err)
			}
		}},
		{"latency still answers", []fault.Rule{{Operation: "GET /repos/{owner}/{repo}", Latency: fault.Duration{Duration: time.Millisecond}}}, func(t *testing.T, e *env) {
			if _, _, err := e.client(t, aliceClassic).Repositories.Get(ctx, "alice", "private"); err != nil {
				t.Fatal(err)
			}
			if c := e.inj.Counts()["github GET /repos/{owner}/{repo}"]; c.Requests != 1 {
				t.Fatalf("counts = %+v", e.inj.Counts())
			}
		}},
		{"admin API is exempt", []fault.Rule{{Fail: true}}, func(t *testing.T, e *env) {
			if resp, _ := e.do(t, http.MethodGet, "/_emulator/tokens", "", ""); resp.StatusCode != 200 {
				t.Fatalf("admin: %d", resp.StatusCode)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, testWorld())
			e.inj.SetRules(tt.rules)
			tt.check(t, e)
		})
	}
}

func TestServer_FaultsAdmin(t *testing.T) {
	e := newEnv(t, testWorld())
	resp, body := e.do(t, http.MethodPut, "/_emulator/faults/rules", "", `[{"operation":"GET /user","fail":true}]`)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("PUT rules: %d %s", resp.StatusCode, body)
	}
	if resp, _ := e.do(t, http.MethodGet, "/user", "token "+aliceClassic, ""); resp.StatusCode != http.StatusInternalServerError {
		t.Fatalf("GET /user under a fail rule: %d", resp.StatusCode)
	}
	resp, body = e.do(t, http.MethodGet, "/_emulator/faults/counts", "", "")
	if resp.StatusCode != http.StatusOK || body == "{}\n" {
		t.Fatalf("counts: %d %s", resp.StatusCode, body)
	}
}
