package github

import (
	"context"
	"crypto/rsa"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/rotor-ci/rotor/internal/secretfile"
	"github.com/rotor-ci/rotor/internal/token"
)

// App is a GitHub App as rotor signs for it: its id (or client id) and its
// private key. Shared by the github-app source, which mints the tokens it
// rotates, and by the callers that act as an app themselves
// (InstallationTokens). Safe for concurrent use.
type App struct {
	AppID    int64
	ClientID string // preferred as the JWT issuer when set
	key      *rsa.PrivateKey
	now      func() time.Time
}

// LoadApp loads the app's private key (PEM, PKCS#1 or PKCS#8), refusing a
// file that others than its owner can read. now is the clock of its JWTs;
// nil means time.Now.
func LoadApp(appID int64, clientID, privateKeyFile string, now func() time.Time) (*App, error) {
	if appID == 0 && clientID == "" {
		return nil, errors.New("github-app: need app_id or client_id")
	}
	key, err := loadAppKey(privateKeyFile)
	if err != nil {
		return nil, err
	}
	if now == nil {
		now = time.Now
	}
	return &App{AppID: appID, ClientID: clientID, key: key, now: now}, nil
}

func loadAppKey(path string) (*rsa.PrivateKey, error) {
	if path == "" {
		return nil, errors.New("github-app: need private_key_file")
	}
	pem, err := secretfile.Read(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("private key file %s does not exist (download one from the app's settings: Generate a private key)", path)
	case err != nil:
		return nil, fmt.Errorf("private key file: %w", err)
	}
	key, err := jwt.ParseRSAPrivateKeyFromPEM(pem)
	clear(pem)
	if err != nil {
		// jwt's errors describe the encoding, never the key material.
		return nil, fmt.Errorf("private key file %s is not an RSA private key in PEM: %v", path, err)
	}
	return key, nil
}

// JWT signs the app's JWT: RS256, issued a minute ago (GitHub's clock may be
// behind), valid nine minutes (GitHub allows ten), issued by the client id
// when set, else by the app id.
func (a *App) JWT() (string, error) {
	now := a.now()
	iss := a.ClientID
	if iss == "" {
		iss = strconv.FormatInt(a.AppID, 10)
	}
	signed, err := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.RegisteredClaims{
		Issuer:    iss,
		IssuedAt:  jwt.NewNumericDate(now.Add(-60 * time.Second)),
		ExpiresAt: jwt.NewNumericDate(now.Add(9 * time.Minute)),
	}).SignedString(a.key)
	if err != nil {
		return "", fmt.Errorf("sign app JWT: %w", err)
	}
	return signed, nil
}

// RenewWithin is how much life an InstallationTokens token must have left
// to be handed out again; with less, a new one is minted, so that no
// caller starts a batch of writes with a token about to die.
const RenewWithin = 5 * time.Minute

// InstallationTokens hands out an installation token of one app
// installation, narrowed to repos and perms, minting one only when the
// last has less than RenewWithin of its life left. It is for rotor's own
// calls as an app (a target writing secrets), not for tokens it rotates.
// Safe for concurrent use; concurrent callers share one mint.
type InstallationTokens struct {
	c              *Client
	app            *App
	installationID int64
	repos          []string
	perms          map[string]string

	mu  sync.Mutex
	tok token.Token
	exp time.Time
}

// InstallationTokens returns the token cache of app's installation
// installationID, narrowed to repos (names, without owner; none: all the
// installation has) and perms.
func (c *Client) InstallationTokens(app *App, installationID int64, repos []string, perms map[string]string) *InstallationTokens {
	return &InstallationTokens{c: c, app: app, installationID: installationID, repos: slices.Clone(repos), perms: maps.Clone(perms)}
}

// Token returns the cached token while it has RenewWithin of life left,
// else mints a new one (POST /app/installations/{id}/access_tokens). A
// mint that fails leaves the cache as it was, and says which permissions
// and repositories were asked for.
func (it *InstallationTokens) Token(ctx context.Context) (token.Token, error) {
	it.mu.Lock()
	defer it.mu.Unlock()
	if !it.tok.IsZero() && it.exp.Sub(it.app.now()) > RenewWithin {
		return it.tok, nil
	}
	appJWT, err := it.app.JWT()
	if err != nil {
		return token.Token{}, err
	}
	tok, exp, err := it.c.CreateInstallationToken(ctx, appJWT, it.installationID, it.repos, it.perms)
	if err != nil {
		if status(err) == http.StatusUnprocessableEntity {
			if missing := it.missing(ctx, appJWT); missing != "" {
				return token.Token{}, fmt.Errorf("the app's installation %d lacks %s, asked for %s "+
					"(give the app that permission in its settings, Permissions, and accept it in the installation): %w",
					it.installationID, missing, it.asked(), err)
			}
		}
		return token.Token{}, fmt.Errorf("installation %d, asking for %s: %w", it.installationID, it.asked(), err)
	}
	it.tok, it.exp = tok, exp
	return tok, nil
}

// asked describes the narrowing, for errors: GitHub refuses a mint that
// asks for more than the installation was granted.
func (it *InstallationTokens) asked() string {
	var ps []string
	for _, name := range slices.Sorted(maps.Keys(it.perms)) {
		ps = append(ps, name+": "+it.perms[name])
	}
	s := "permissions {" + strings.Join(ps, ", ") + "}"
	if len(it.repos) > 0 {
		s += " on repositories [" + strings.Join(it.repos, ", ") + "]"
	}
	return s
}

// missing names the permissions asked for that the installation was not
// granted ("secrets: write"), or "" when it cannot tell (then the repositories
// are the likelier cause).
func (it *InstallationTokens) missing(ctx context.Context, appJWT string) string {
	granted, err := it.c.InstallationPermissions(ctx, appJWT, it.installationID)
	if err != nil {
		return ""
	}
	rank := map[string]int{"read": 1, "write": 2, "admin": 3}
	var out []string
	for _, name := range slices.Sorted(maps.Keys(it.perms)) {
		if name == "metadata" && it.perms[name] == "read" {
			continue // every installation has it
		}
		if rank[granted[name]] < rank[it.perms[name]] {
			out = append(out, name+": "+it.perms[name])
		}
	}
	return strings.Join(out, ", ")
}
