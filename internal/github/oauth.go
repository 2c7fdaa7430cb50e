package github

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/rotor-ci/rotor/internal/token"
)

// GitHub App user tokens come from GitHub's OAuth endpoints, which live on
// the web host (github.com, or a GitHub Enterprise Server's host), not the
// API host: the device flow (POST /login/device/code, then polls of POST
// /login/oauth/access_token) and the refresh grant. golang.org/x/oauth2
// speaks both; GitHub answers its errors with status 200 and an error
// body, which x/oauth2 reads as errors too.

var (
	// ErrBadRefreshToken: GitHub refuses the refresh token: it was used
	// already, expired, or was revoked. GitHub changes nothing else.
	ErrBadRefreshToken = errors.New("GitHub refused the refresh token (bad_refresh_token: used already, expired or revoked)")
	// ErrDeviceDenied: the person declined the authorization.
	ErrDeviceDenied = errors.New("the authorization was declined on GitHub")
	// ErrDeviceExpired: nobody entered the code in time.
	ErrDeviceExpired = errors.New("the device code expired before it was entered (15 minutes)")
	// ErrNoRefreshToken: the app's user tokens do not expire, so GitHub
	// gives no refresh token; rotor needs the app's "Expire user
	// authorization tokens" setting on.
	ErrNoRefreshToken = errors.New("GitHub gave no refresh token: turn on \"Expire user authorization tokens\" in the GitHub App's settings")
)

// OAuthError is an OAuth error answer: GitHub's code and description, never
// the body (which might echo a parameter).
type OAuthError struct {
	Code        string
	Description string
}

func (e *OAuthError) Error() string {
	if e.Description == "" {
		return "GitHub OAuth error " + e.Code
	}
	return fmt.Sprintf("GitHub OAuth error %s: %s", e.Code, e.Description)
}

// UserTokens is what a device flow or a refresh yields: a user token
// (ghu_) and the refresh token (ghr_) issued with it, with their lifetimes
// as GitHub states them (zero: not stated).
type UserTokens struct {
	Access     token.Token
	AccessTTL  time.Duration
	Refresh    token.Token
	RefreshTTL time.Duration
}

// DeviceCode is a device flow in progress: show UserCode and
// VerificationURI to the person, then PollDeviceFlow.
type DeviceCode struct {
	UserCode        string
	VerificationURI string
	ExpiresIn       time.Duration
	Interval        time.Duration
	da              *oauth2.DeviceAuthResponse
}

// WebURL is the base of the web host that serves the OAuth endpoints:
// https://github.com for https://api.github.com, https://HOST for a GitHub
// Enterprise Server's https://HOST/api/v3, and the API base itself
// otherwise (the emulator serves both on one port).
func (c *Client) WebURL() string {
	u, err := url.Parse(c.base)
	if err != nil {
		return c.base
	}
	switch {
	case u.Host == "api.github.com":
		u.Host = "github.com"
		u.Path = "/"
	case strings.HasSuffix(u.Path, "/api/v3/"):
		u.Path = strings.TrimSuffix(u.Path, "api/v3/")
	}
	return u.String()
}

func (c *Client) oauthConfig(clientID, clientSecret string) *oauth2.Config {
	web := strings.TrimSuffix(c.WebURL(), "/")
	return &oauth2.Config{
		ClientID:     clientID,
		ClientSecret: clientSecret,
		Endpoint: oauth2.Endpoint{
			DeviceAuthURL: web + "/login/device/code",
			TokenURL:      web + "/login/oauth/access_token",
			// Parameters in the body, as GitHub documents; never the
			// probe x/oauth2 would otherwise make, which sends a refresh
			// a second time.
			AuthStyle: oauth2.AuthStyleInParams,
		},
	}
}

// oauthCtx makes x/oauth2 send through rotor's HTTP client (its retries,
// which never resend a POST that may have reached GitHub, and the lease
// guard).
func (c *Client) oauthCtx(ctx context.Context) context.Context {
	return context.WithValue(ctx, oauth2.HTTPClient, c.http)
}

// StartDeviceFlow asks GitHub for a device code for the app clientID.
func (c *Client) StartDeviceFlow(ctx context.Context, clientID string) (*DeviceCode, error) {
	if clientID == "" {
		return nil, errors.New("device flow: the app's client_id is needed")
	}
	da, err := c.oauthConfig(clientID, "").DeviceAuth(c.oauthCtx(ctx))
	if err != nil {
		err = oauthErr(err)
		if oe, ok := errors.AsType[*OAuthError](err); ok && oe.Code == "device_flow_disabled" {
			return nil, fmt.Errorf("device flow: turn on \"Enable Device Flow\" in the GitHub App's settings: %w", err)
		}
		return nil, fmt.Errorf("device flow: %w", err)
	}
	dc := &DeviceCode{UserCode: da.UserCode, VerificationURI: da.VerificationURI, Interval: time.Duration(da.Interval) * time.Second, da: da}
	if !da.Expiry.IsZero() {
		dc.ExpiresIn = time.Until(da.Expiry).Round(time.Second)
	}
	return dc, nil
}

// PollDeviceFlow polls until the person authorized the app (or declined,
// or the code expired), at GitHub's interval, slowing down when asked.
func (c *Client) PollDeviceFlow(ctx context.Context, clientID string, dc *DeviceCode) (UserTokens, error) {
	tok, err := c.oauthConfig(clientID, "").DeviceAccessToken(c.oauthCtx(ctx), dc.da)
	if err != nil {
		err = oauthErr(err)
		if oe, ok := errors.AsType[*OAuthError](err); ok {
			switch oe.Code {
			case "access_denied":
				return UserTokens{}, ErrDeviceDenied
			case "expired_token":
				return UserTokens{}, ErrDeviceExpired
			}
		}
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			return UserTokens{}, ErrDeviceExpired
		}
		return UserTokens{}, fmt.Errorf("device flow: %w", err)
	}
	return userTokens(tok, "")
}

// RefreshUserToken redeems refresh for a new pair. GitHub ends the used
// refresh token and its user token at once: the answer holds the only copy
// of the next refresh token. clientSecret may be empty for a grant that
// began with the device flow.
func (c *Client) RefreshUserToken(ctx context.Context, clientID, clientSecret string, refresh token.Token) (UserTokens, error) {
	if refresh.IsZero() {
		return UserTokens{}, errEmptyToken
	}
	tok, err := c.oauthConfig(clientID, clientSecret).TokenSource(c.oauthCtx(ctx), &oauth2.Token{RefreshToken: refresh.Reveal()}).Token()
	if err != nil {
		err = oauthErr(err)
		if oe, ok := errors.AsType[*OAuthError](err); ok && oe.Code == "bad_refresh_token" {
			return UserTokens{}, ErrBadRefreshToken
		}
		return UserTokens{}, fmt.Errorf("refresh user token: %w", err)
	}
	return userTokens(tok, refresh.Reveal())
}

// userTokens reads x/oauth2's answer. x/oauth2 keeps the old refresh token
// when the answer has none; used is that old value, so that case is seen.
func userTokens(tok *oauth2.Token, used string) (UserTokens, error) {
	var out UserTokens
	access, kind, err := token.Parse(tok.AccessToken)
	if err != nil || kind != token.KindAppUser {
		return out, errors.New("GitHub's token answer holds no GitHub App user token (ghu_)")
	}
	out.Access, out.AccessTTL = access, seconds(tok, "expires_in")
	if tok.RefreshToken == "" || tok.RefreshToken == used {
		return out, ErrNoRefreshToken
	}
	refresh, kind, err := token.Parse(tok.RefreshToken)
	if err != nil || kind != token.KindAppRefresh {
		return out, errors.New("GitHub's token answer holds no refresh token (ghr_)")
	}
	out.Refresh, out.RefreshTTL = refresh, seconds(tok, "refresh_token_expires_in")
	return out, nil
}

// seconds reads a lifetime field of the answer, JSON number or form string.
func seconds(tok *oauth2.Token, key string) time.Duration {
	var n int64
	switch v := tok.Extra(key).(type) {
	case float64:
		n = int64(v)
	case json.Number:
		n, _ = v.Int64()
	case string:
		n, _ = strconv.ParseInt(v, 10, 64)
	}
	if n <= 0 && key == "expires_in" {
		n = tok.ExpiresIn
	}
	return time.Duration(n) * time.Second
}

// oauthErr reduces x/oauth2's errors to what is safe to print: its
// RetrieveError prints the whole answer body.
func oauthErr(err error) error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		if re.ErrorCode != "" {
			return &OAuthError{Code: re.ErrorCode, Description: re.ErrorDescription}
		}
		status := 0
		if re.Response != nil {
			status = re.Response.StatusCode
		}
		return fmt.Errorf("GitHub answered the OAuth request with status %d", status)
	}
	return sanitize(err)
}
