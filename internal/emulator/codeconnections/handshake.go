package codeconnections

import (
	"bytes"
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	token "github.com/rotor-ci/rotor/internal/emulator/ghtoken" // the emulators' own token code, not rotor's
)

// The GitHub App AWS's console installs to finish a connection, and the
// GitHub user the emulator registers it under.
const (
	ConnectorApp   = "AWS Connector for GitHub"
	ConnectorOwner = "aws"
)

// connectorPermissions are what the emulated connector app asks for: read
// the code and the repository, what a source action needs.
var connectorPermissions = map[string]string{"contents": "read", "metadata": "read", "pull_requests": "read"}

// connector is the connector app in the GitHub emulator: its id and the
// private key GitHub showed once.
type connector struct {
	AppID  int64  `json:"app_id"`
	KeyPEM string `json:"private_key_pem"`
	key    *rsa.PrivateKey
}

type cachedToken struct {
	tok     token.Token
	expires time.Time
}

// ErrNotAvailable is a connection a source action cannot use yet.
var ErrNotAvailable = errors.New("connection is not available")

// Handshake plays what a person does in AWS's console for a PENDING GitHub
// connection: install the AWS Connector for GitHub app on githubAccount
// (on repositories, or all of the account's when none), through the GitHub
// emulator's admin API, and make the connection AVAILABLE. An account
// where the app is installed already keeps its installation, as the
// console offers to reuse it.
func (s *Server) Handshake(ctx context.Context, connectionArn, githubAccount string, repositories []string) (Connection, error) {
	s.mu.Lock()
	conn := s.connections[connectionArn]
	var status, provider string
	if conn != nil {
		status, provider = conn.Status, conn.ProviderType
	}
	s.mu.Unlock()
	switch {
	case conn == nil:
		return Connection{}, fmt.Errorf("connection %s: %w", connectionArn, errNoConnection)
	case provider != providerGitHub:
		return Connection{}, fmt.Errorf("connection %s is a %s connection; the emulator completes GitHub connections only", connectionArn, provider)
	case status != statusPending:
		return Connection{}, fmt.Errorf("connection %s is %s: only a PENDING connection can be completed (%w)", connectionArn, status, errNotPending)
	case githubAccount == "":
		return Connection{}, errors.New("github_account is required: the GitHub user or organisation to install the connector app on")
	}
	appID, err := s.ensureConnector(ctx)
	if err != nil {
		return Connection{}, err
	}
	inst, err := s.install(ctx, appID, githubAccount, repositories)
	if err != nil {
		return Connection{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if conn = s.connections[connectionArn]; conn == nil {
		return Connection{}, fmt.Errorf("connection %s: deleted during the handshake: %w", connectionArn, errNoConnection)
	}
	conn.Status, conn.GitHubAccount, conn.InstallationID = statusAvailable, githubAccount, inst
	return conn.public(), nil
}

var (
	errNoConnection = errors.New("no such connection")
	errNotPending   = errors.New("not pending")
)

// ensureConnector creates the connector app in the GitHub emulator the
// first time (and its owner, the user "aws").
func (s *Server) ensureConnector(ctx context.Context) (int64, error) {
	s.mu.Lock()
	c := s.connector
	s.mu.Unlock()
	if c != nil {
		return c.AppID, nil
	}
	if status, body, err := s.admin(ctx, http.MethodPost, "/_emulator/users", map[string]string{"login": ConnectorOwner}); err != nil {
		return 0, err
	} else if status != http.StatusCreated && status != http.StatusConflict {
		return 0, fmt.Errorf("github emulator: create user %s: %d %s", ConnectorOwner, status, clip(string(body)))
	}
	status, body, err := s.admin(ctx, http.MethodPost, "/_emulator/apps", map[string]any{"name": ConnectorApp, "owner": ConnectorOwner, "permissions": connectorPermissions})
	if err != nil {
		return 0, err
	}
	if status == http.StatusConflict {
		return 0, fmt.Errorf("github emulator: an app named %q exists already and this emulator does not hold its key (keep both emulators' state in one state file)", ConnectorApp)
	}
	if status != http.StatusCreated {
		return 0, fmt.Errorf("github emulator: create the connector app: %d %s", status, clip(string(body)))
	}
	var created struct {
		ID            int64  `json:"id"`
		PrivateKeyPEM string `json:"private_key_pem"`
	}
	if err := json.Unmarshal(body, &created); err != nil {
		return 0, fmt.Errorf("github emulator: create the connector app: %w", err)
	}
	c = &connector{AppID: created.ID, KeyPEM: created.PrivateKeyPEM}
	if c.key, err = parseKey(c.KeyPEM); err != nil {
		return 0, err
	}
	s.mu.Lock()
	if s.connector == nil {
		s.connector = c
	}
	c = s.connector
	s.mu.Unlock()
	return c.AppID, nil
}

func parseKey(keyPEM string) (*rsa.PrivateKey, error) {
	blk, _ := pem.Decode([]byte(keyPEM))
	if blk == nil {
		return nil, errors.New("connector app: the private key is not PEM")
	}
	k, err := x509.ParsePKCS1PrivateKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("connector app: %w", err)
	}
	return k, nil
}

// install installs the connector app on account, or finds the
// installation it has there.
func (s *Server) install(ctx context.Context, appID int64, account string, repos []string) (int64, error) {
	status, body, err := s.admin(ctx, http.MethodPost, "/_emulator/apps/"+pathEscape(ConnectorApp)+"/installations", map[string]any{"account": account, "repositories": repos})
	if err != nil {
		return 0, err
	}
	switch status {
	case http.StatusCreated:
		var in struct {
			ID int64 `json:"id"`
		}
		if err := json.Unmarshal(body, &in); err != nil {
			return 0, fmt.Errorf("github emulator: install the connector app: %w", err)
		}
		return in.ID, nil
	case http.StatusConflict: // installed there already: the console reuses it
		status, body, err = s.admin(ctx, http.MethodGet, "/_emulator/apps/"+pathEscape(ConnectorApp), nil)
		if err != nil {
			return 0, err
		}
		var app struct {
			Installations []struct {
				ID      int64  `json:"id"`
				Account string `json:"account"`
			} `json:"installations"`
		}
		if status != http.StatusOK || json.Unmarshal(body, &app) != nil {
			return 0, fmt.Errorf("github emulator: read the connector app: %d %s", status, clip(string(body)))
		}
		for _, in := range app.Installations {
			if strings.EqualFold(in.Account, account) {
				return in.ID, nil
			}
		}
		return 0, fmt.Errorf("github emulator: the connector app is installed on %s but no installation is listed", account)
	}
	return 0, fmt.Errorf("github emulator: install the connector app on %s: %d %s", account, status, clip(string(body)))
}

func pathEscape(s string) string { return strings.ReplaceAll(s, " ", "%20") }

// admin calls the GitHub emulator's admin API.
func (s *Server) admin(ctx context.Context, method, path string, in any) (int, []byte, error) {
	if s.githubURL == "" {
		return 0, nil, errors.New("no GitHub emulator URL is configured")
	}
	var rd io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return 0, nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, s.githubURL+path, rd)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("github emulator: %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, body, nil
}

// Connection is a connection as the Go API shows it.
type Connection struct {
	Arn            string `json:"connection_arn"`
	Name           string `json:"connection_name"`
	Status         string `json:"status"`
	Account        string `json:"account"`
	Region         string `json:"region"`
	ProviderType   string `json:"provider_type"`
	GitHubAccount  string `json:"github_account,omitempty"`
	InstallationID int64  `json:"installation_id,omitempty"`
}

func (c *connection) public() Connection {
	return Connection{Arn: c.Arn, Name: c.Name, Status: c.Status, Account: c.Account, Region: c.Region,
		ProviderType: c.ProviderType, GitHubAccount: c.GitHubAccount, InstallationID: c.InstallationID}
}

// Connections lists every connection of every account, by ARN.
func (s *Server) Connections() []Connection {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Connection, 0, len(s.connections))
	for _, c := range s.connections {
		out = append(out, c.public())
	}
	slices.SortFunc(out, func(a, b Connection) int { return strings.Compare(a.Arn, b.Arn) })
	return out
}

// SetStatus sets a connection's status, as the console or GitHub would
// (an uninstalled app makes a connection ERROR): for tests.
func (s *Server) SetStatus(arn, status string) error {
	if status != statusPending && status != statusAvailable && status != statusError {
		return fmt.Errorf("status %q: want PENDING, AVAILABLE or ERROR", status)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.connections[arn]
	if c == nil {
		return fmt.Errorf("connection %s: %w", arn, errNoConnection)
	}
	c.Status = status
	return nil
}

// ConnectionStatus reports a connection's status and where it lives, for
// a source action that wants to use it; ok is false when there is none.
func (s *Server) ConnectionStatus(arn string) (status, account, region string, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.connections[arn]
	if c == nil {
		return "", "", "", false
	}
	return c.Status, c.Account, c.Region, true
}

// InstallationToken mints (or reuses, until five minutes before it
// expires) an installation token of the connector app for the
// connection's installation, through the GitHub emulator's REST API: an
// RS256 app JWT, then POST /app/installations/{id}/access_tokens. It fails
// with ErrNotAvailable when the connection is not AVAILABLE.
func (s *Server) InstallationToken(ctx context.Context, arn string) (token.Token, error) {
	s.mu.Lock()
	c := s.connections[arn]
	var inst int64
	var status string
	if c != nil {
		inst, status = c.InstallationID, c.Status
	}
	con := s.connector
	cached, hit := s.tokens[inst]
	s.mu.Unlock()
	switch {
	case c == nil:
		return token.Token{}, fmt.Errorf("connection %s: %w", arn, errNoConnection)
	case status != statusAvailable || con == nil || inst == 0:
		return token.Token{}, fmt.Errorf("connection %s is %s: %w", arn, status, ErrNotAvailable)
	case hit && s.now().Add(5*time.Minute).Before(cached.expires):
		return cached.tok, nil
	}
	now := s.now()
	jwtStr, err := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{
		"iat": now.Add(-60 * time.Second).Unix(), "exp": now.Add(9 * time.Minute).Unix(), "iss": strconv.FormatInt(con.AppID, 10),
	}).SignedString(con.key)
	if err != nil {
		return token.Token{}, fmt.Errorf("connector app JWT: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.githubURL+"/app/installations/"+strconv.FormatInt(inst, 10)+"/access_tokens", nil)
	if err != nil {
		return token.Token{}, err
	}
	req.Header.Set("Authorization", "Bearer "+jwtStr)
	req.Header.Set("Accept", "application/vnd.github+json")
	resp, err := s.client.Do(req)
	if err != nil {
		return token.Token{}, fmt.Errorf("installation token: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusCreated {
		var msg struct{ Message string }
		_ = json.Unmarshal(body, &msg)
		return token.Token{}, fmt.Errorf("installation token: GitHub answered %d: %s", resp.StatusCode, clip(msg.Message))
	}
	var out struct {
		Token     string    `json:"token"`
		ExpiresAt time.Time `json:"expires_at"`
	}
	if err := json.Unmarshal(body, &out); err != nil || out.Token == "" {
		return token.Token{}, fmt.Errorf("installation token: unreadable answer")
	}
	tok := token.New(out.Token)
	s.mu.Lock()
	s.tokens[inst] = cachedToken{tok, out.ExpiresAt}
	s.mu.Unlock()
	return tok, nil
}
