package github

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/rotor-ci/rotor/internal/emulator/ghtoken"
)

const testClientSecret = "0123456789abcdef0123456789abcdef01234567"

// oauthWorld is testWorld with rotor-ci's device flow enabled and a client
// secret, and a second app, other-app, without device flow.
func oauthWorld() World {
	w := testWorld()
	w.Apps[0].DeviceFlow = true
	w.Apps[0].ClientSecret = testClientSecret
	w.Apps = append(w.Apps, AppSpec{Name: "other-app", Owner: "alice"})
	return w
}

// oauthPost posts form parameters to a github.com OAuth endpoint, asking
// for JSON when json is set, and returns the status and the fields.
func (e *env) oauthPost(t *testing.T, path string, params url.Values, asJSON bool) (int, http.Header, map[string]string) {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, e.http.URL+path, strings.NewReader(params.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if asJSON {
		req.Header.Set("Accept", "application/json")
	}
	resp, err := e.http.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	fields := map[string]string{}
	if asJSON {
		var m map[string]any
		dec := json.NewDecoder(strings.NewReader(string(b)))
		dec.UseNumber()
		if err := dec.Decode(&m); err != nil {
			t.Fatalf("%s answered %q, not JSON", path, b)
		}
		for k, v := range m {
			fields[k] = fmt.Sprint(v)
		}
	} else {
		q, err := url.ParseQuery(string(b))
		if err != nil {
			t.Fatalf("%s answered %q, not a form", path, b)
		}
		for k := range q {
			fields[k] = q.Get(k)
		}
	}
	return resp.StatusCode, resp.Header, fields
}

func (e *env) clientID(t *testing.T, app string) string {
	t.Helper()
	info, err := e.srv.DescribeApp(app)
	if err != nil {
		t.Fatal(err)
	}
	return info.ClientID
}

// startDevice asks for a device code for rotor-ci.
func (e *env) startDevice(t *testing.T) (deviceCode, userCode string) {
	t.Helper()
	status, _, f := e.oauthPost(t, "/login/device/code", url.Values{"client_id": {e.clientID(t, "rotor-ci")}}, false)
	if status != http.StatusOK || f["device_code"] == "" || f["user_code"] == "" || f["expires_in"] != "900" || f["interval"] != "5" ||
		f["verification_uri"] != e.http.URL+"/login/device" {
		t.Fatalf("device code: %d %v", status, f)
	}
	return f["device_code"], f["user_code"]
}

func (e *env) poll(t *testing.T, deviceCode string) map[string]string {
	t.Helper()
	status, h, f := e.oauthPost(t, "/login/oauth/access_token", url.Values{
		"client_id": {e.clientID(t, "rotor-ci")}, "device_code": {deviceCode}, "grant_type": {grantDeviceCode},
	}, true)
	if status != http.StatusOK || h.Get("Cache-Control") != "no-store" {
		t.Fatalf("poll: %d %v", status, f)
	}
	return f
}

func (e *env) refreshGrant(t *testing.T, refresh, secret string) map[string]string {
	t.Helper()
	p := url.Values{"client_id": {e.clientID(t, "rotor-ci")}, "grant_type": {"refresh_token"}, "refresh_token": {refresh}}
	if secret != "" {
		p.Set("client_secret", secret)
	}
	status, _, f := e.oauthPost(t, "/login/oauth/access_token", p, false)
	if status != http.StatusOK {
		t.Fatalf("refresh: %d %v", status, f)
	}
	return f
}

// userStatus is GET /user's status with a token.
func (e *env) userStatus(t *testing.T, tok string) (int, http.Header) {
	t.Helper()
	resp, _ := e.do(t, http.MethodGet, "/user", "token "+tok, "")
	return resp.StatusCode, resp.Header
}

func TestOAuth_DeviceFlow(t *testing.T) {
	e := newEnv(t, oauthWorld())
	dc, uc := e.startDevice(t)

	if f := e.poll(t, dc); f["error"] != "authorization_pending" || f["error_description"] == "" || !strings.Contains(f["error_uri"], "docs.github.com") {
		t.Fatalf("before approval: %v", f)
	}
	// Polling again within the interval: slow_down, and 5 s more from now on.
	e.clock.Advance(2 * time.Second)
	if f := e.poll(t, dc); f["error"] != "slow_down" || f["interval"] != "10" {
		t.Fatalf("too fast: %v", f)
	}
	e.clock.Advance(6 * time.Second)
	if f := e.poll(t, dc); f["error"] != "slow_down" || f["interval"] != "15" {
		t.Fatalf("slower than 5 s but faster than 10 s: %v", f)
	}
	e.clock.Advance(15 * time.Second)
	if f := e.poll(t, dc); f["error"] != "authorization_pending" {
		t.Fatalf("at the new interval: %v", f)
	}

	// The person enters the code and approves, through the admin API.
	if resp, body := e.do(t, http.MethodPost, "/_emulator/device/approve", "", `{"user_code":"`+strings.ToLower(uc)+`","login":"bob"}`); resp.StatusCode != http.StatusOK {
		t.Fatalf("approve: %d %s", resp.StatusCode, body)
	}
	if resp, _ := e.do(t, http.MethodPost, "/_emulator/device/approve", "", `{"user_code":"`+uc+`","login":"bob"}`); resp.StatusCode != http.StatusConflict {
		t.Fatalf("approve twice: %d", resp.StatusCode)
	}
	e.clock.Advance(15 * time.Second)
	f := e.poll(t, dc)
	if f["expires_in"] != "28800" || f["refresh_token_expires_in"] != "15811200" || f["token_type"] != "bearer" || f["scope"] != "" {
		t.Fatalf("tokens: %v", f)
	}
	for name, want := range map[string]ghtoken.Kind{"access_token": ghtoken.KindAppUser, "refresh_token": ghtoken.KindAppRefresh} {
		if k, err := ghtoken.Check(f[name]); err != nil || k != want {
			t.Fatalf("%s is not a valid %s: %v", name, want.Describe(), err)
		}
	}
	status, h := e.userStatus(t, f["access_token"])
	if status != http.StatusOK || h.Get("GitHub-Authentication-Token-Expiration") != e.clock.Now().Add(8*time.Hour).UTC().Format(expirationLayout) {
		t.Fatalf("GET /user with the ghu_: %d, expiration %q", status, h.Get("GitHub-Authentication-Token-Expiration"))
	}
	if status, _ := e.userStatus(t, f["refresh_token"]); status != http.StatusUnauthorized {
		t.Fatalf("a ghr_ is no API credential: %d", status)
	}
	// The code is spent.
	e.clock.Advance(time.Minute)
	if g := e.poll(t, dc); g["error"] != "incorrect_device_code" {
		t.Fatalf("after the tokens: %v", g)
	}
	// The user token reads what both bob and the app reach.
	if resp, _ := e.do(t, http.MethodGet, "/repos/alice/private/tarball/master", "token "+f["access_token"], ""); resp.StatusCode != http.StatusOK {
		t.Fatalf("tarball with the ghu_: %d", resp.StatusCode)
	}
	infos := e.srv.UserTokens()
	if len(infos) != 1 || infos[0].User != "bob" || !infos[0].ViaDeviceFlow || infos[0].State != "active" {
		t.Fatalf("user tokens: %+v", infos)
	}
}

func TestOAuth_DeviceFlowRefusals(t *testing.T) {
	e := newEnv(t, oauthWorld())
	t.Run("denied", func(t *testing.T) {
		dc, uc := e.startDevice(t)
		if err := e.srv.DenyDevice(uc); err != nil {
			t.Fatal(err)
		}
		if f := e.poll(t, dc); f["error"] != "access_denied" {
			t.Fatalf("%v", f)
		}
	})
	t.Run("expired", func(t *testing.T) {
		dc, uc := e.startDevice(t)
		e.clock.Advance(900 * time.Second)
		if f := e.poll(t, dc); f["error"] != "expired_token" {
			t.Fatalf("%v", f)
		}
		if resp, _ := e.do(t, http.MethodPost, "/_emulator/device/approve", "", `{"user_code":"`+uc+`","login":"bob"}`); resp.StatusCode != http.StatusUnprocessableEntity {
			t.Fatalf("approving an expired code: %d", resp.StatusCode)
		}
	})
	t.Run("unknown codes and users", func(t *testing.T) {
		if f := e.poll(t, "0000"); f["error"] != "incorrect_device_code" {
			t.Fatalf("%v", f)
		}
		_, uc := e.startDevice(t)
		if err := e.srv.ApproveDevice(uc, "nobody"); err == nil {
			t.Fatal("approved as a user that does not exist")
		}
		if resp, _ := e.do(t, http.MethodPost, "/_emulator/device/deny", "", `{"user_code":"ZZZZ-ZZZZ"}`); resp.StatusCode != http.StatusNotFound {
			t.Fatalf("deny an unknown code: %d", resp.StatusCode)
		}
	})
	t.Run("another app's client id", func(t *testing.T) {
		dc, _ := e.startDevice(t)
		status, _, f := e.oauthPost(t, "/login/oauth/access_token", url.Values{"client_id": {e.clientID(t, "other-app")}, "device_code": {dc}, "grant_type": {grantDeviceCode}}, false)
		if status != http.StatusOK || f["error"] != "incorrect_device_code" {
			t.Fatalf("%d %v", status, f)
		}
	})
	t.Run("device flow disabled", func(t *testing.T) {
		status, _, f := e.oauthPost(t, "/login/device/code", url.Values{"client_id": {e.clientID(t, "other-app")}}, false)
		if status != http.StatusBadRequest || f["error"] != "device_flow_disabled" {
			t.Fatalf("%d %v", status, f)
		}
	})
	t.Run("unknown client", func(t *testing.T) {
		resp, _ := e.do(t, http.MethodPost, "/login/device/code?client_id=Iv1.nope", "", "")
		if resp.StatusCode != http.StatusNotFound {
			t.Fatalf("%d", resp.StatusCode)
		}
	})
	t.Run("unsupported grant", func(t *testing.T) {
		status, _, f := e.oauthPost(t, "/login/oauth/access_token", url.Values{"client_id": {e.clientID(t, "rotor-ci")}, "code": {"x"}}, true)
		if status != http.StatusOK || f["error"] != "unsupported_grant_type" {
			t.Fatalf("%d %v", status, f)
		}
	})
	t.Run("JSON body and query string are read too", func(t *testing.T) {
		resp, body := e.do(t, http.MethodPost, "/login/device/code", "", `{"client_id":"`+e.clientID(t, "rotor-ci")+`"}`)
		if resp.StatusCode != http.StatusOK || !strings.Contains(body, "device_code=") {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
	})
	t.Run("only at github.com's paths", func(t *testing.T) {
		if resp, _ := e.do(t, http.MethodPost, "/api/v3/login/device/code?client_id="+e.clientID(t, "rotor-ci"), "", ""); resp.StatusCode != http.StatusNotFound {
			t.Fatalf("under /api/v3/: %d", resp.StatusCode)
		}
		if resp, _ := e.do(t, http.MethodGet, "/login/device/code", "", ""); resp.StatusCode != http.StatusNotFound {
			t.Fatalf("GET: %d", resp.StatusCode)
		}
	})
}

func TestOAuth_RefreshIsSingleUse(t *testing.T) {
	e := newEnv(t, oauthWorld())
	access, refresh, err := e.srv.CreateUserToken("rotor-ci", "alice")
	if err != nil {
		t.Fatal(err)
	}
	if status, _ := e.userStatus(t, access.Reveal()); status != http.StatusOK {
		t.Fatalf("first ghu_: %d", status)
	}
	// The web flow's pair needs the client secret to refresh.
	if f := e.refreshGrant(t, refresh.Reveal(), ""); f["error"] != "incorrect_client_credentials" {
		t.Fatalf("without the secret: %v", f)
	}
	if f := e.refreshGrant(t, refresh.Reveal(), strings.Repeat("0", 40)); f["error"] != "incorrect_client_credentials" {
		t.Fatalf("with a wrong secret: %v", f)
	}
	e.clock.Advance(7 * time.Hour)
	next := e.refreshGrant(t, refresh.Reveal(), testClientSecret)
	if next["access_token"] == "" || next["access_token"] == access.Reveal() || next["refresh_token"] == refresh.Reveal() || next["expires_in"] != "28800" {
		t.Fatalf("refresh: %v", next)
	}
	// The used pair is dead at once.
	if status, _ := e.userStatus(t, access.Reveal()); status != http.StatusUnauthorized {
		t.Fatalf("the old ghu_ after the refresh: %d", status)
	}
	if status, h := e.userStatus(t, next["access_token"]); status != http.StatusOK ||
		h.Get("GitHub-Authentication-Token-Expiration") != e.clock.Now().Add(8*time.Hour).UTC().Format(expirationLayout) {
		t.Fatalf("the new ghu_: %d %q", status, h.Get("GitHub-Authentication-Token-Expiration"))
	}
	// Reusing the old refresh token is refused and revokes nothing else.
	if f := e.refreshGrant(t, refresh.Reveal(), testClientSecret); f["error"] != "bad_refresh_token" || f["access_token"] != "" {
		t.Fatalf("reuse: %v", f)
	}
	if status, _ := e.userStatus(t, next["access_token"]); status != http.StatusOK {
		t.Fatalf("the new ghu_ after a reuse attempt: %d", status)
	}
	third := e.refreshGrant(t, next["refresh_token"], testClientSecret)
	if third["access_token"] == "" {
		t.Fatalf("the new ghr_ after a reuse attempt: %v", third)
	}

	// Expiry against the emulator's clock: the ghu_ after 8 h, the ghr_
	// after 15,811,200 s.
	e.clock.Advance(8 * time.Hour)
	if status, _ := e.userStatus(t, third["access_token"]); status != http.StatusUnauthorized {
		t.Fatalf("ghu_ after 8 h: %d", status)
	}
	if ok, reason := e.srv.Authorize(third["access_token"], "alice", "private"); ok || !strings.Contains(reason, "expired") {
		t.Fatalf("Authorize: %v %q", ok, reason)
	}
	fourth := e.refreshGrant(t, third["refresh_token"], testClientSecret)
	if fourth["access_token"] == "" {
		t.Fatalf("ghr_ after 8 h: %v", fourth)
	}
	// Through the admin API, as a test of an out-of-process emulator does.
	resp, body := e.do(t, http.MethodPost, "/_emulator/clock", "", `{"advance":"183d"}`)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, ts(e.clock.Now().Add(183*24*time.Hour))) {
		t.Fatalf("clock: %d %s", resp.StatusCode, body)
	}
	if f := e.refreshGrant(t, fourth["refresh_token"], testClientSecret); f["error"] != "bad_refresh_token" {
		t.Fatalf("ghr_ after six months: %v", f)
	}
	if resp, _ := e.do(t, http.MethodPost, "/_emulator/clock", "", `{"advance":"-1h"}`); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("back in time: %d", resp.StatusCode)
	}
	states := map[string]int{}
	for _, info := range e.srv.UserTokens() {
		states[info.State]++
	}
	if states["refreshed"] != 3 || states["refresh_expired"] != 1 {
		t.Fatalf("states: %v", states)
	}
}

// A pair from the device flow may be refreshed without the client secret
// ("Refreshing user access tokens": the secret is required unless the
// token came from the device flow).
func TestOAuth_DeviceFlowRefreshWithoutSecret(t *testing.T) {
	e := newEnv(t, oauthWorld())
	dc, uc := e.startDevice(t)
	if err := e.srv.ApproveDevice(uc, "alice"); err != nil {
		t.Fatal(err)
	}
	f := e.poll(t, dc)
	next := e.refreshGrant(t, f["refresh_token"], "")
	if next["access_token"] == "" {
		t.Fatalf("%v", next)
	}
	// A wrong secret is still refused.
	if g := e.refreshGrant(t, next["refresh_token"], strings.Repeat("a", 40)); g["error"] != "incorrect_client_credentials" {
		t.Fatalf("%v", g)
	}
}

func TestOAuth_UserTokenAccess(t *testing.T) {
	e := newEnv(t, oauthWorld())
	bobAccess, _, _ := e.srv.CreateUserToken("rotor-ci", "bob")
	carolAccess, _, _ := e.srv.CreateUserToken("rotor-ci", "carol")
	otherAccess, _, _ := e.srv.CreateUserToken("other-app", "alice")
	for _, tt := range []struct {
		name, tok, path string
		want            int
	}{
		{"user and app reach it", bobAccess.Reveal(), "/repos/alice/private", http.StatusOK},
		{"tarball (the redirect followed)", bobAccess.Reveal(), "/repos/alice/private/tarball/master", http.StatusOK},
		{"the app is not installed there", bobAccess.Reveal(), "/repos/alice/other", http.StatusNotFound},
		{"the user cannot see it", carolAccess.Reveal(), "/repos/alice/private", http.StatusNotFound},
		{"an app installed nowhere", otherAccess.Reveal(), "/repos/alice/private", http.StatusNotFound},
		{"public", otherAccess.Reveal(), "/repos/alice/public", http.StatusOK},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if resp, _ := e.do(t, http.MethodGet, tt.path, "token "+tt.tok, ""); resp.StatusCode != tt.want {
				t.Fatalf("%d, want %d", resp.StatusCode, tt.want)
			}
		})
	}
	if ok, reason := e.srv.Authorize(bobAccess.Reveal(), "alice", "private"); !ok {
		t.Fatalf("Authorize: %s", reason)
	}
}

// A user token pair survives a restart; so does a device flow in progress.
func TestOAuth_SnapshotRestore(t *testing.T) {
	e := newEnv(t, oauthWorld())
	access, refresh, _ := e.srv.CreateUserToken("rotor-ci", "alice")
	dc, uc := e.startDevice(t)
	snap, err := e.srv.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if err := e.srv.Restore(snap); err != nil {
		t.Fatal(err)
	}
	if status, _ := e.userStatus(t, access.Reveal()); status != http.StatusOK {
		t.Fatalf("ghu_ after restore: %d", status)
	}
	if err := e.srv.ApproveDevice(uc, "alice"); err != nil {
		t.Fatal(err)
	}
	if f := e.poll(t, dc); f["access_token"] == "" {
		t.Fatalf("device flow after restore: %v", f)
	}
	if f := e.refreshGrant(t, refresh.Reveal(), testClientSecret); f["access_token"] == "" {
		t.Fatalf("refresh after restore: %v", f)
	}
	// The admin API shows pairs by fingerprint only.
	resp, body := e.do(t, http.MethodGet, "/_emulator/user-tokens", "", "")
	if resp.StatusCode != http.StatusOK || strings.Contains(body, access.Reveal()) || strings.Contains(body, refresh.Reveal()) || !strings.Contains(body, access.Fingerprint()) {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
}

func TestOAuth_AdminSecretsAndTokens(t *testing.T) {
	e := newEnv(t, oauthWorld())
	resp, body := e.do(t, http.MethodPost, "/_emulator/apps/rotor-ci/client-secrets", "", "")
	var cs struct {
		ClientSecret string `json:"client_secret"`
	}
	if resp.StatusCode != http.StatusCreated || json.Unmarshal([]byte(body), &cs) != nil || len(cs.ClientSecret) != 40 {
		t.Fatalf("client secret: %d %s", resp.StatusCode, body)
	}
	resp, body = e.do(t, http.MethodPost, "/_emulator/user-tokens", "", `{"app":"rotor-ci","login":"alice"}`)
	var pair map[string]any
	if resp.StatusCode != http.StatusCreated || json.Unmarshal([]byte(body), &pair) != nil {
		t.Fatalf("user token: %d %s", resp.StatusCode, body)
	}
	// Both the world's secret and the new one work.
	if f := e.refreshGrant(t, pair["refresh_token"].(string), cs.ClientSecret); f["access_token"] == "" {
		t.Fatalf("refresh with the new secret: %v", f)
	}
	for path, want := range map[string]int{"/_emulator/apps/nope/client-secrets": http.StatusNotFound} {
		if resp, _ := e.do(t, http.MethodPost, path, "", ""); resp.StatusCode != want {
			t.Errorf("%s: %d", path, resp.StatusCode)
		}
	}
	if resp, _ := e.do(t, http.MethodPost, "/_emulator/user-tokens", "", `{"app":"rotor-ci","login":"nobody"}`); resp.StatusCode != http.StatusNotFound {
		t.Errorf("user token for nobody: %d", resp.StatusCode)
	}
	if _, err := New(World{Users: []UserSpec{{Login: "a"}}, Apps: []AppSpec{{Name: "x", Owner: "a", ClientSecret: "short"}}}, Options{}); err == nil {
		t.Error("a malformed client secret was accepted")
	}
}

// World.DeviceFlowInterval sets the interval a device code answer asks
// for, and the poll honours it (slow_down below it, never above).
func TestOAuth_DeviceFlowInterval(t *testing.T) {
	w := oauthWorld()
	w.DeviceFlowInterval = 1
	e := newEnv(t, w)
	status, _, f := e.oauthPost(t, "/login/device/code", url.Values{"client_id": {e.clientID(t, "rotor-ci")}}, false)
	if status != http.StatusOK || f["interval"] != "1" {
		t.Fatalf("device code: %d %v; want interval 1", status, f)
	}
	dc, uc := f["device_code"], f["user_code"]
	if f := e.poll(t, dc); f["error"] != "authorization_pending" {
		t.Fatalf("before approval: %v", f)
	}
	if err := e.srv.ApproveDevice(uc, "alice"); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(500 * time.Millisecond)
	if f := e.poll(t, dc); f["error"] != "slow_down" || f["interval"] != "6" {
		t.Fatalf("within the 1 s interval: %v", f)
	}
	e.clock.Advance(6 * time.Second)
	if f := e.poll(t, dc); f["access_token"] == "" {
		t.Fatalf("after approval, at the interval: %v", f)
	}
	w.DeviceFlowInterval = -1
	if _, err := New(w, Options{}); err == nil {
		t.Error("a negative device flow interval was accepted")
	}
}
