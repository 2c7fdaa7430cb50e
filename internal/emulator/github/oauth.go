package github

import (
	"bytes"
	"cmp"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/rotor-ci/rotor/internal/emulator/fault"
	"github.com/rotor-ci/rotor/internal/emulator/ghtoken"
)

// GitHub App user tokens: the device flow and the refresh grant, which
// GitHub serves on github.com, not api.github.com ("Generating a user
// access token for a GitHub App", "Refreshing user access tokens",
// "Authorizing OAuth apps": device flow and its error codes). The emulator
// serves them on its one port under the same paths, /login/device/code and
// /login/oauth/access_token, beside the API (not under /api/v3/).

// Lifetimes GitHub gives a user token and its refresh token, in seconds as
// the token answer states them, and the device flow's.
const (
	userTokenTTL      = 28800 * time.Second    // 8 hours
	refreshTokenTTL   = 15811200 * time.Second // about six months
	deviceCodeTTL     = 900 * time.Second
	deviceInterval    = 5 // seconds between polls
	slowDownIncrement = 5 // seconds slow_down adds
)

// userToken is a ghu_ token and its ghr_ refresh token: one grant. A
// refresh ends both and issues the next pair; revoking either ends both.
type userToken struct {
	Access           string    `json:"access_token"`
	Refresh          string    `json:"refresh_token"`
	AppID            int64     `json:"app_id"`
	User             string    `json:"user"`
	ViaDevice        bool      `json:"via_device_flow,omitempty"` // may be refreshed without the client secret
	CreatedAt        time.Time `json:"created_at"`
	ExpiresAt        time.Time `json:"expires_at"`
	RefreshExpiresAt time.Time `json:"refresh_expires_at"`
	RefreshedAt      time.Time `json:"refreshed_at,omitzero"` // its refresh token was used: both dead
	RevokedAt        time.Time `json:"revoked_at,omitzero"`
}

// live reports whether the access token works.
func (t *userToken) live(now time.Time) bool {
	return t.RefreshedAt.IsZero() && t.RevokedAt.IsZero() && now.Before(t.ExpiresAt)
}

// refreshable reports whether the refresh token works.
func (t *userToken) refreshable(now time.Time) bool {
	return t.RefreshedAt.IsZero() && t.RevokedAt.IsZero() && now.Before(t.RefreshExpiresAt)
}

// why explains a dead access token (never its value).
func (t *userToken) why(now time.Time) string {
	switch {
	case !t.RevokedAt.IsZero():
		return "was revoked"
	case !t.RefreshedAt.IsZero():
		return "was replaced when its refresh token was used"
	case !now.Before(t.ExpiresAt):
		return "expired at " + ts(t.ExpiresAt)
	}
	return "is live"
}

func (t *userToken) state(now time.Time) string {
	switch {
	case !t.RevokedAt.IsZero():
		return "revoked"
	case !t.RefreshedAt.IsZero():
		return "refreshed"
	case !now.Before(t.RefreshExpiresAt):
		return "refresh_expired"
	case !now.Before(t.ExpiresAt):
		return "expired"
	}
	return "active"
}

// deviceCode is one device flow in progress.
type deviceCode struct {
	DeviceCode string    `json:"device_code"`
	UserCode   string    `json:"user_code"`
	AppID      int64     `json:"app_id"`
	CreatedAt  time.Time `json:"created_at"`
	ExpiresAt  time.Time `json:"expires_at"`
	Interval   int       `json:"interval"`
	LastPoll   time.Time `json:"last_poll,omitzero"`
	State      string    `json:"state"` // pending, approved, denied, used
	User       string    `json:"user,omitempty"`
}

// Documentation pages the OAuth errors name.
const (
	docDeviceErrors  = "https://docs.github.com/apps/oauth-apps/building-oauth-apps/authorizing-oauth-apps#error-codes-for-the-device-flow"
	docTokenErrors   = "https://docs.github.com/apps/oauth-apps/maintaining-oauth-apps/troubleshooting-oauth-app-access-token-request-errors"
	grantDeviceCode  = "urn:ietf:params:oauth:grant-type:device_code"
	grantRefresh     = "refresh_token"
	verificationPath = "/login/device"
)

// oauthErrors are GitHub's descriptions of its OAuth error codes.
var oauthErrors = map[string]string{
	"authorization_pending":        "The authorization request is still pending.",
	"slow_down":                    "Too many requests have been made in the same timeframe.",
	"expired_token":                "The `device_code` has expired.",
	"access_denied":                "The authorization request was denied.",
	"incorrect_device_code":        "The device_code provided is not valid.",
	"incorrect_client_credentials": "The client_id and/or client_secret passed are incorrect.",
	"unsupported_grant_type":       "The grant type is not supported.",
	"device_flow_disabled":         "Device Flow must be explicitly enabled for this App",
	"bad_refresh_token":            "The refresh token passed is incorrect or expired.",
}

func (s *Server) oauthRoutes() {
	s.oauth = http.NewServeMux()
	for _, x := range []struct {
		pattern string
		h       http.HandlerFunc
	}{{"POST /login/device/code", s.deviceCode}, {"POST /login/oauth/access_token", s.accessToken}} {
		pattern, h := x.pattern, x.h
		s.patterns = append(s.patterns, pattern)
		s.oauth.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			switch o := s.faults.Decide(r.Context(), Service, pattern, ""); o {
			case fault.Throttle:
				w.Header().Set("Retry-After", "1")
				writeMessage(w, http.StatusTooManyRequests, msgSecondary)
				return
			case fault.ServerError, fault.Fail:
				writeFault(w, o)
				return
			}
			h(w, r)
		})
	}
}

// oauthParams reads the parameters as GitHub does: from the query string
// and from a form or JSON body.
func oauthParams(r *http.Request) (url.Values, *httpError) {
	v := r.URL.Query()
	b, herr := readBody(r)
	if herr != nil {
		return nil, herr
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return v, nil
	}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct == "application/json" {
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			return nil, &httpError{http.StatusBadRequest, msgBadJSON}
		}
		for k, x := range m {
			v.Set(k, fmt.Sprint(x))
		}
		return v, nil
	}
	form, err := url.ParseQuery(string(b))
	if err != nil {
		return nil, &httpError{http.StatusBadRequest, "Problems parsing the form"}
	}
	for k, xs := range form {
		for _, x := range xs {
			v.Add(k, x)
		}
	}
	return v, nil
}

// writeOAuth answers in the form the client accepts: JSON when its Accept
// header names application/json, else GitHub's default,
// application/x-www-form-urlencoded. Numbers stay numbers in JSON.
func writeOAuth(w http.ResponseWriter, r *http.Request, status int, fields map[string]any) {
	w.Header().Set("Cache-Control", "no-store")
	if strings.Contains(r.Header.Get("Accept"), "json") {
		writeJSON(w, status, fields)
		return
	}
	form := url.Values{}
	for k, x := range fields {
		form.Set(k, fmt.Sprint(x))
	}
	w.Header().Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(form.Encode()))
}

// writeOAuthError answers an OAuth error as GitHub does: with status 200
// on the token endpoint, the error in the body.
func writeOAuthError(w http.ResponseWriter, r *http.Request, status int, code string, extra map[string]any) {
	doc := docTokenErrors
	if code != "bad_refresh_token" && code != "incorrect_client_credentials" {
		doc = docDeviceErrors
	}
	fields := map[string]any{"error": code, "error_description": oauthErrors[code], "error_uri": doc}
	for k, x := range extra {
		fields[k] = x
	}
	writeOAuth(w, r, status, fields)
}

// appByClientID finds an app by its client id. Callers hold s.mu.
func (st *state) appByClientID(id string) *app {
	if id == "" {
		return nil
	}
	for _, a := range st.apps {
		if a.ClientID == id {
			return a
		}
	}
	return nil
}

// userCodeAlphabet leaves out letters and digits people confuse.
const userCodeAlphabet = "BCDFGHJKLMNPQRSTVWXZ"

func newUserCode() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = userCodeAlphabet[int(b[i])%len(userCodeAlphabet)]
	}
	return string(b[:4]) + "-" + string(b[4:])
}

func randomHex(n int) string {
	b := make([]byte, n/2)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// deviceCode starts a device flow: POST /login/device/code {client_id}.
func (s *Server) deviceCode(w http.ResponseWriter, r *http.Request) {
	v, herr := oauthParams(r)
	if herr != nil {
		writeMessage(w, herr.status, herr.message)
		return
	}
	s.mu.Lock()
	a := s.st.appByClientID(v.Get("client_id"))
	var dc *deviceCode
	if a != nil && a.DeviceFlow {
		now := s.now()
		dc = &deviceCode{DeviceCode: randomHex(40), UserCode: newUserCode(), AppID: a.ID, CreatedAt: now,
			ExpiresAt: now.Add(deviceCodeTTL), Interval: s.deviceEvery, State: "pending"}
		s.st.devices[dc.DeviceCode] = dc
		s.sweepDevices(now)
	}
	s.mu.Unlock()
	switch {
	case a == nil:
		writeMessage(w, http.StatusNotFound, msgNotFound)
	case dc == nil:
		writeOAuthError(w, r, http.StatusBadRequest, "device_flow_disabled", nil)
	default:
		writeOAuth(w, r, http.StatusOK, map[string]any{
			"device_code": dc.DeviceCode, "user_code": dc.UserCode, "verification_uri": htmlURL(r, verificationPath),
			"expires_in": int(deviceCodeTTL / time.Second), "interval": dc.Interval,
		})
	}
}

// sweepDevices forgets device codes an hour past their expiry. Callers
// hold s.mu.
func (s *Server) sweepDevices(now time.Time) {
	for k, dc := range s.st.devices {
		if now.Sub(dc.ExpiresAt) > time.Hour {
			delete(s.st.devices, k)
		}
	}
}

// accessToken is POST /login/oauth/access_token: the device flow's poll
// and the refresh grant.
func (s *Server) accessToken(w http.ResponseWriter, r *http.Request) {
	v, herr := oauthParams(r)
	if herr != nil {
		writeMessage(w, herr.status, herr.message)
		return
	}
	var (
		code  string
		extra map[string]any
		pair  *userToken
	)
	s.mu.Lock()
	switch v.Get("grant_type") {
	case grantDeviceCode:
		code, extra, pair = s.pollDevice(v)
	case grantRefresh:
		code, pair = s.refresh(v)
	default:
		code = "unsupported_grant_type"
	}
	s.mu.Unlock()
	if code != "" {
		writeOAuthError(w, r, http.StatusOK, code, extra)
		return
	}
	writeOAuth(w, r, http.StatusOK, map[string]any{
		"access_token": pair.Access, "expires_in": int(userTokenTTL / time.Second),
		"refresh_token": pair.Refresh, "refresh_token_expires_in": int(refreshTokenTTL / time.Second),
		"scope": "", "token_type": "bearer",
	})
}

// pollDevice answers one poll of a device flow. Callers hold s.mu.
func (s *Server) pollDevice(v url.Values) (string, map[string]any, *userToken) {
	a := s.st.appByClientID(v.Get("client_id"))
	if a == nil {
		return "incorrect_client_credentials", nil, nil
	}
	dc := s.st.devices[v.Get("device_code")]
	if dc == nil || dc.AppID != a.ID || dc.State == "used" {
		return "incorrect_device_code", nil, nil
	}
	now := s.now()
	if !now.Before(dc.ExpiresAt) {
		return "expired_token", nil, nil
	}
	// Polling faster than the interval: slow_down, and the interval grows
	// by 5 seconds for every later poll; the answer names the new one.
	early := !dc.LastPoll.IsZero() && now.Sub(dc.LastPoll) < time.Duration(dc.Interval)*time.Second
	dc.LastPoll = now
	if early {
		dc.Interval += slowDownIncrement
		return "slow_down", map[string]any{"interval": dc.Interval}, nil
	}
	switch dc.State {
	case "denied":
		return "access_denied", nil, nil
	case "pending":
		return "authorization_pending", nil, nil
	}
	dc.State = "used"
	return "", nil, s.issueUserToken(a, dc.User, true)
}

// refresh answers the refresh grant. The refresh token is single use: the
// answer holds the only copy of the next one, and the used pair dies at
// once. A used, expired, revoked or unknown refresh token is
// bad_refresh_token and changes nothing. Callers hold s.mu.
func (s *Server) refresh(v url.Values) (string, *userToken) {
	a := s.st.appByClientID(v.Get("client_id"))
	if a == nil {
		return "incorrect_client_credentials", nil
	}
	secret := v.Get("client_secret")
	if secret != "" && !a.hasSecret(secret) {
		return "incorrect_client_credentials", nil
	}
	t := s.st.userRefresh[v.Get("refresh_token")]
	now := s.now()
	if t == nil || t.AppID != a.ID || !t.refreshable(now) {
		return "bad_refresh_token", nil
	}
	// The client secret may be left out only for a grant that began with
	// the device flow ("Refreshing user access tokens").
	if secret == "" && !t.ViaDevice {
		return "incorrect_client_credentials", nil
	}
	s.replaceUserToken(t, func(n *userToken) { n.RefreshedAt = now })
	return "", s.issueUserToken(a, t.User, t.ViaDevice)
}

// issueUserToken makes a new ghu_/ghr_ pair for user and app. Callers hold
// s.mu.
func (s *Server) issueUserToken(a *app, login string, viaDevice bool) *userToken {
	now := s.now()
	t := &userToken{
		Access: s.freshValue(ghtoken.KindAppUser), Refresh: s.freshValue(ghtoken.KindAppRefresh), AppID: a.ID, User: login,
		ViaDevice: viaDevice, CreatedAt: now, ExpiresAt: now.Add(userTokenTTL), RefreshExpiresAt: now.Add(refreshTokenTTL),
	}
	s.st.userTokens[t.Access] = t
	s.st.userRefresh[t.Refresh] = t
	return t
}

// replaceUserToken changes a pair by replacing its record, so that
// principals copied from it stay consistent. Callers hold s.mu.
func (s *Server) replaceUserToken(t *userToken, change func(*userToken)) {
	n := *t
	change(&n)
	s.st.userTokens[n.Access] = &n
	s.st.userRefresh[n.Refresh] = &n
}

// revokeUserToken ends the pair a ghu_ or ghr_ value belongs to, as the
// credential revocation API does. Callers hold s.mu.
func (s *Server) revokeUserToken(v string) {
	t := s.st.userTokens[v]
	if t == nil {
		t = s.st.userRefresh[v]
	}
	if t != nil && t.RevokedAt.IsZero() {
		now := s.now()
		s.replaceUserToken(t, func(n *userToken) { n.RevokedAt = now })
	}
}

func (a *app) hasSecret(v string) bool {
	return slices.ContainsFunc(a.ClientSecrets, func(x string) bool { return subtle.ConstantTimeCompare([]byte(x), []byte(v)) == 1 })
}

// ApproveDevice plays the person who opens the verification page, enters
// the user code and authorizes the app as login.
func (s *Server) ApproveDevice(userCode, login string) error {
	return s.decideDevice(userCode, login, "approved")
}

// DenyDevice plays the person who cancels the authorization.
func (s *Server) DenyDevice(userCode string) error {
	return s.decideDevice(userCode, "", "denied")
}

func (s *Server) decideDevice(userCode, login, state string) error {
	s.lockAdvance()
	defer s.mu.Unlock()
	var dc *deviceCode
	for _, d := range s.st.devices {
		if strings.EqualFold(d.UserCode, strings.TrimSpace(userCode)) {
			dc = d
		}
	}
	switch {
	case dc == nil:
		return fmt.Errorf("device: user code %q: %w", userCode, ErrNotFound)
	case !s.now().Before(dc.ExpiresAt):
		return fmt.Errorf("device: user code %q: %w: it expired at %s", userCode, ErrInvalid, ts(dc.ExpiresAt))
	case dc.State != "pending":
		return fmt.Errorf("device: user code %q: %w: it is %s already", userCode, ErrExists, dc.State)
	}
	if state == "approved" {
		u := s.st.user(login)
		if u == nil || u.isOrg() {
			return fmt.Errorf("device: user %q: %w", login, ErrNotFound)
		}
		dc.User = u.Login
	}
	dc.State = state
	return nil
}

// CreateUserToken issues a user token pair for login and the app as if the
// person had authorized it through the web application flow (which the
// emulator does not serve): for tests that start from a pair. Refreshing
// it needs the client secret.
func (s *Server) CreateUserToken(appName, login string) (access, refresh ghtoken.Token, err error) {
	s.lockAdvance()
	defer s.mu.Unlock()
	a := s.st.appByName(appName)
	if a == nil {
		return access, refresh, fmt.Errorf("user token: app %q: %w", appName, ErrNotFound)
	}
	u := s.st.user(login)
	if u == nil || u.isOrg() {
		return access, refresh, fmt.Errorf("user token: user %q: %w", login, ErrNotFound)
	}
	t := s.issueUserToken(a, u.Login, false)
	return ghtoken.New(t.Access), ghtoken.New(t.Refresh), nil
}

// CreateClientSecret generates a new client secret for the app, as "Generate
// a new client secret" does; the value is shown this once.
func (s *Server) CreateClientSecret(appName string) (string, error) {
	s.lockAdvance()
	defer s.mu.Unlock()
	a := s.st.appByName(appName)
	if a == nil {
		return "", fmt.Errorf("client secret: app %q: %w", appName, ErrNotFound)
	}
	v := randomHex(40)
	na := *a
	na.ClientSecrets = append(slices.Clone(a.ClientSecrets), v)
	s.st.apps[a.ID] = &na
	return v, nil
}

// UserTokenInfo describes a user token pair without its values.
type UserTokenInfo struct {
	App                string    `json:"app"`
	User               string    `json:"user"`
	AccessFingerprint  string    `json:"access_fingerprint"`
	RefreshFingerprint string    `json:"refresh_fingerprint"`
	State              string    `json:"state"` // active, expired, refresh_expired, refreshed, revoked
	ViaDeviceFlow      bool      `json:"via_device_flow"`
	CreatedAt          time.Time `json:"created_at"`
	ExpiresAt          time.Time `json:"expires_at"`
	RefreshExpiresAt   time.Time `json:"refresh_expires_at"`
}

// UserTokens lists every user token pair ever issued, oldest first.
func (s *Server) UserTokens() []UserTokenInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	out := []UserTokenInfo{}
	for _, t := range s.st.userTokens {
		name := ""
		if a := s.st.apps[t.AppID]; a != nil {
			name = a.Name
		}
		out = append(out, UserTokenInfo{
			App: name, User: t.User, AccessFingerprint: ghtoken.Fingerprint(t.Access), RefreshFingerprint: ghtoken.Fingerprint(t.Refresh),
			State: t.state(now), ViaDeviceFlow: t.ViaDevice, CreatedAt: t.CreatedAt, ExpiresAt: t.ExpiresAt, RefreshExpiresAt: t.RefreshExpiresAt,
		})
	}
	slices.SortFunc(out, func(a, b UserTokenInfo) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.AccessFingerprint, b.AccessFingerprint))
	})
	return out
}

// appInstallationFor finds the app's installation that covers rp. Callers
// hold s.mu.
func (st *state) appInstallationFor(appID int64, rp *repo) *installation {
	for _, in := range st.insts {
		if in.AppID == appID && slices.Contains(st.instRepos(in), rp) {
			return in
		}
	}
	return nil
}

// ghuInstallation finds the app's installation on an account: what a user
// token may use of the account's resources is what that installation is
// granted (and the user's own role allows, which the caller checks).
// Callers hold s.mu.
func (st *state) ghuInstallation(appID int64, account string) *installation {
	for _, in := range st.insts {
		if in.AppID == appID && key(in.Account) == key(account) {
			return in
		}
	}
	return nil
}
