package conformance_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/rotor-ci/rotor/internal/emulator/conformance"
)

// ghExchange runs one request through the GitHub check in front of a
// handler that answers status, content type and body with GitHub's
// rate-limit headers, and returns the violations.
func ghExchange(t *testing.T, method, target, reqBody string, status int, contentType, respBody string) []conformance.Violation {
	t.Helper()
	var got []conformance.Violation
	c := conformance.New(func(v conformance.Violation) { got = append(got, v) })
	h := c.GitHub(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.ReadAll(r.Body)
		for _, n := range []string{"X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset", "X-RateLimit-Used"} {
			w.Header().Set(n, "1")
		}
		w.Header().Set("X-RateLimit-Resource", "core")
		if contentType != "" {
			w.Header().Set("Content-Type", contentType)
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, respBody)
	}))
	var body io.Reader
	if reqBody != "" {
		body = strings.NewReader(reqBody)
	}
	req := httptest.NewRequest(method, target, body)
	if reqBody != "" {
		req.Header.Set("Content-Type", "application/json")
		if strings.HasPrefix(target, "/login/") {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
	}
	h.ServeHTTP(httptest.NewRecorder(), req)
	return got
}

func TestCheck_GitHub(t *testing.T) {
	openAPI(t)
	const runs = `{"total_count":0,"workflow_runs":[]}`
	for _, tt := range []struct {
		name, method, target, req string
		status                    int
		ctype, resp               string
		wantPath, wantIn          string // "" wantIn: no violation
	}{
		{"runs created in search syntax (erratum)", "GET", "/repos/o/r/actions/runs?created=%3E%3D2026-01-01T00:00:00Z", "", 200, "application/json", runs, "", ""},
		{"runs created as a range (erratum)", "GET", "/repos/o/r/actions/runs?created=2026-01-01..2026-01-02", "", 200, "application/json", runs, "", ""},
		{"runs status outside the enum", "GET", "/repos/o/r/actions/runs?status=bogus", "", 400, "application/json", `{"message":"x"}`, "query status", "not one of"},
		{"undescribed path", "GET", "/repos/o/r/nothing-here", "", 200, "application/json", `{}`, "", "has no GET /repos/o/r/nothing-here"},
		{"token answer", "POST", "/login/oauth/access_token", "grant_type=refresh_token", 200, "application/x-www-form-urlencoded",
			"access_token=ghu_x&expires_in=28800&refresh_token=ghr_y&refresh_token_expires_in=15811200&scope=&token_type=bearer", "", ""},
		{"token answer without its refresh token", "POST", "/login/oauth/access_token", "grant_type=refresh_token", 200, "application/x-www-form-urlencoded",
			"access_token=ghu_x&expires_in=28800&token_type=bearer", "refresh_token", "required, missing"},
		{"documented error", "POST", "/login/oauth/access_token", "", 200, "application/x-www-form-urlencoded",
			"error=bad_refresh_token&error_description=x", "", ""},
		{"slow_down without the interval", "POST", "/login/oauth/access_token", "", 200, "application/x-www-form-urlencoded",
			"error=slow_down&error_description=x", "interval", "required, missing"},
		{"undocumented error", "POST", "/login/oauth/access_token", "", 200, "application/x-www-form-urlencoded",
			"error=nope&error_description=x", "error", "not an error code GitHub documents"},
		{"JSON unasked", "POST", "/login/device/code", "", 200, "application/json",
			`{"device_code":"d","user_code":"u","verification_uri":"v","expires_in":900,"interval":5}`, "header Content-Type", "does not follow"},
		{"device code answer", "POST", "/login/device/code", "", 200, "application/x-www-form-urlencoded",
			"device_code=d&user_code=u&verification_uri=v&expires_in=900&interval=5", "", ""},
		{"other github.com path", "POST", "/login/oauth/authorize", "", 200, "text/html", "", "", "has no POST /login/oauth/authorize"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			wantViolation(t, ghExchange(t, tt.method, tt.target, tt.req, tt.status, tt.ctype, tt.resp), tt.wantPath, tt.wantIn)
		})
	}
}
