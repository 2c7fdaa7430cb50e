package config

import (
	"errors"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Config is a parsed, validated rotor.yaml.
type Config struct {
	// Store is "sqlite:PATH" (default sqlite:rotor.db) or "postgres://…".
	Store string `yaml:"store"`
	// Key is the sealing key: "file:PATH" (default file:rotor.key), an age
	// identity, or "awskms:ARN", an AWS KMS key (docs/kms.md).
	Key         string       `yaml:"key"`
	GitHub      GitHub       `yaml:"github"`
	AWS         AWS          `yaml:"aws"`
	Server      Server       `yaml:"server"`
	Credentials []Credential `yaml:"credentials"`

	// PreviousKeys open versions sealed before a key migration; they never
	// seal. Empty unless a migration is under way (docs/kms.md).
	PreviousKeys []string `yaml:"previous_keys"`

	file string // as given to Load or Parse
	dir  string // absolute directory of file
}

// GitHub is where rotor talks to GitHub.
type GitHub struct {
	// APIURL is the REST API base: https://api.github.com (default),
	// https://HOST/api/v3 for GitHub Enterprise Server, or the emulator.
	APIURL string `yaml:"api_url"`
}

// AWS configures every AWS client rotor builds.
type AWS struct {
	Region      string `yaml:"region"`       // empty: from the AWS environment or profile
	EndpointURL string `yaml:"endpoint_url"` // the emulator or moto
	Profile     string `yaml:"profile"`      // a named profile
}

// Server configures rotor serve.
type Server struct {
	Listen        string   `yaml:"listen"`          // default 127.0.0.1:8080
	AuthTokenFile string   `yaml:"auth_token_file"` // bearer token for the API (0600)
	WatchEvery    Duration `yaml:"watch_every"`     // default 5m
	Alerts        []Alert  `yaml:"alerts"`
	// TLSCertFile and TLSKeyFile (PEM; the key 0600) make the API HTTPS;
	// rotor reloads them when they change. A listen address other than
	// loopback needs them, or InsecureListen.
	TLSCertFile string `yaml:"tls_cert_file"`
	TLSKeyFile  string `yaml:"tls_key_file"`
	// InsecureListen allows plain HTTP on a non-loopback address (TLS
	// terminated in front of rotor, by a proxy or a service mesh).
	InsecureListen bool `yaml:"insecure_listen"`
}

// TLS reports whether the API is served over TLS.
func (s Server) TLS() bool { return s.TLSCertFile != "" }

// IsLoopback reports whether a listen address (host:port) can be reached
// only from this machine: localhost or a loopback IP. An empty host,
// 0.0.0.0, :: and any other name or address listen beyond the machine.
func IsLoopback(listen string) bool {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Alert is one place rotor serve reports failed rotations to.
type Alert struct {
	Type string `yaml:"type"` // webhook | slack
	URL  string `yaml:"url"`
	// URLFile holds the URL instead (0600), read at start and on SIGHUP:
	// webhook URLs are secrets, and a config is often not.
	URLFile string `yaml:"url_file"`
	// SecretFile (webhook) holds a shared secret (0600, at least 16 bytes)
	// that signs every delivery (HMAC-SHA256 of the body).
	SecretFile string `yaml:"secret_file"`
	Line       int    `yaml:"-"`
}

// Alert types.
const (
	AlertWebhook = "webhook"
	AlertSlack   = "slack"
)

// Credential is one named token with one purpose.
type Credential struct {
	Name        string   `yaml:"name"`
	Application string   `yaml:"application"`
	Source      Source   `yaml:"source"`
	Rotate      Rotate   `yaml:"rotate"`
	Targets     []Target `yaml:"targets"`
	// Line is where the credential starts in the file, for later messages.
	Line int `yaml:"-"`
}

// Source types.
const (
	SourcePersonalToken = "personal-token"
	SourceGitHubApp     = "github-app"
	SourceGitHubAppUser = "github-app-user"
)

// Source says where new versions of a credential come from.
type Source struct {
	Type string `yaml:"type"` // personal-token | github-app | github-app-user

	// personal-token
	Scopes              []string `yaml:"scopes"` // default: what the targets need
	AllowIdentityChange bool     `yaml:"allow_identity_change"`
	// MaxLifetime is the maximum lifetime that the organisation owning the
	// credential's repositories allows a personal access token (its
	// "personal access token policy"; GitHub has no API to read it). A
	// token whose lifetime, creation to expiry, is longer is blocked on
	// the organisation's resources (not revoked): rotor refuses such a new
	// token, and plan and status warn about a current one. 0: no policy.
	MaxLifetime Duration `yaml:"max_lifetime"`

	// github-app
	AppID          int64             `yaml:"app_id"`
	ClientID       string            `yaml:"client_id"`
	InstallationID int64             `yaml:"installation_id"`
	PrivateKeyFile string            `yaml:"private_key_file"`
	Repositories   []string          `yaml:"repositories"`
	Permissions    map[string]string `yaml:"permissions"`

	// github-app-user (and client_id above): a GitHub App user token that
	// rotor refreshes; the first one comes from 'rotor authorize NAME'.
	ClientSecretFile string `yaml:"client_secret_file"` // optional for device-flow grants

	// personal-token: OrgRevoke also ends an old fine-grained token's
	// access to an organisation through the organisation's API, as a GitHub
	// App installed there (docs/github-app-user.md, "Revocation").
	OrgRevoke OrgRevoke `yaml:"org_revoke"`
}

// OrgRevoke names an organisation and a GitHub App installed on it with
// the organisation permission "Personal access tokens" (write): rotor
// lists the organisation's fine-grained token grants and revokes the one
// of a token it retires, in addition to revoking the token itself.
type OrgRevoke struct {
	Org            string `yaml:"org"`
	AppID          int64  `yaml:"app_id"`
	ClientID       string `yaml:"client_id"`
	InstallationID int64  `yaml:"installation_id"`
	PrivateKeyFile string `yaml:"private_key_file"` // PEM, mode 0600
}

// App names a GitHub App installation that rotor acts as itself (a
// github-actions-secret target's writer), with the fields and rules of a
// github-app source.
type App struct {
	AppID          int64  `yaml:"app_id"`
	ClientID       string `yaml:"client_id"`
	InstallationID int64  `yaml:"installation_id"`
	PrivateKeyFile string `yaml:"private_key_file"` // PEM, mode 0600
}

// IsZero reports whether no field is set.
func (a App) IsZero() bool { return a == App{} }

// Configured reports whether the source has an org_revoke section.
func (o OrgRevoke) Configured() bool { return o.Org != "" }

// Rotate is a credential's schedule.
type Rotate struct {
	Every       Duration `yaml:"every"`        // default 30d (github-app: 50m)
	RenewBefore Duration `yaml:"renew_before"` // default 7d (github-app: 10m)
	Grace       Duration `yaml:"grace"`        // default 10m
	Jitter      Duration `yaml:"jitter"`
}

// Target types.
const (
	TargetCodePipeline   = "codepipeline"
	TargetFile           = "file"
	TargetSecretsManager = "secretsmanager"
	TargetSSM            = "ssm"
	// TargetGitHubActionsSecret keeps the token in GitHub Actions (or
	// Dependabot) secrets of repositories, environments or an organisation.
	TargetGitHubActionsSecret = "github-actions-secret"
)

// Verify modes of a github-actions-secret target.
const (
	VerifyUpdatedAt = "updated_at"
	VerifyWorkflow  = "workflow"
)

// Verify modes of a codepipeline target.
const (
	VerifyReadback  = "readback"
	VerifyExecution = "execution"
)

// Policies of a codepipeline target: in_flight, on_expiry, other_actions.
const (
	InFlightWait       = "wait"
	InFlightSkip       = "skip"
	InFlightInterrupt  = "interrupt"
	OnExpiryInterrupt  = "interrupt"
	OnExpiryWait       = "wait"
	OtherActionsCarry  = "carry"
	OtherActionsRefuse = "refuse"
)

// Target is one place a credential lives. It carries the fields of every
// target type; validation allows only the ones of its Type.
type Target struct {
	Type string `yaml:"type"`

	// codepipeline
	Pipelines                []string `yaml:"pipelines"`
	Match                    Match    `yaml:"match"`
	Verify                   string   `yaml:"verify"` // readback (default) | execution
	AllowCloudFormationDrift bool     `yaml:"allow_cloudformation_drift"`
	Concurrency              int      `yaml:"concurrency"`
	// A pipeline with an execution in progress, which an update would
	// stop: wait (default) until it is idle, at most max_wait (default
	// 30m); skip it for now; or interrupt it.
	InFlight string   `yaml:"in_flight"`
	MaxWait  Duration `yaml:"max_wait"`
	// OnExpiry: what a wait does shortly before the token the pipeline
	// holds expires (a GitHub App token lives one hour): interrupt
	// (default) or wait.
	OnExpiry string `yaml:"on_expiry"`
	// OtherActions: the pipeline's actions this credential does not
	// rotate go back exactly as read, which AWS keeps (carry, default), or
	// the pipeline is refused (refuse).
	OtherActions string `yaml:"other_actions"`
	// Accounts spreads one codepipeline target over several accounts and
	// regions: each account is reached by assuming its role, and each
	// account × region is discovered and applied with its own limiter.
	Accounts []Account `yaml:"accounts"`
	// AWSOrganization finds the accounts through AWS Organizations
	// instead: every active account (under ou, when set), reached by
	// assuming role_name in it. (aws_: github-actions-secret's
	// organization is a GitHub organisation.)
	AWSOrganization Organization `yaml:"aws_organization"`

	// codepipeline, secretsmanager, ssm
	Region     string `yaml:"region"` // overrides aws.region
	RoleARN    string `yaml:"role_arn"`
	ExternalID string `yaml:"external_id"`
	KMSKeyID   string `yaml:"kms_key_id"` // secretsmanager, ssm

	// file
	Path string `yaml:"path"`
	// Create lets rotor create the file when it is missing (the first
	// rotation); without it a missing file is an error.
	Create bool `yaml:"create"`
	// Owner and Group (names or numeric ids) and Mode ("0600", "0640",
	// "0400" or "0440"; default "0600") are given to each new file before
	// the token is written into it.
	Owner string `yaml:"owner"`
	Group string `yaml:"group"`
	Mode  string `yaml:"mode"`

	// secretsmanager
	SecretID string `yaml:"secret_id"`
	JSONKey  string `yaml:"json_key"`

	// ssm: the parameter's name; github-actions-secret: the secret's
	Name string `yaml:"name"`

	// github-actions-secret (also name, match, create, verify, concurrency)
	Repositories []string `yaml:"repositories"` // "owner/name"
	Environment  string   `yaml:"environment"`  // that environment's secret of each repository
	Organization string   `yaml:"organization"` // the organisation's secret
	Dependabot   bool     `yaml:"dependabot"`   // Dependabot secrets instead of Actions secrets
	// TokenFile holds the token the target reads and writes secrets with
	// (0600): repo scope or the secrets permission; admin:org or
	// organization_secrets for an organisation secret.
	TokenFile string `yaml:"token_file"`
	// App, instead of TokenFile: the target writes as this GitHub App's
	// installation, with a token rotor mints and narrows to the
	// permissions the secrets need (and to the named repositories).
	App      App      `yaml:"app"`
	Workflow Workflow `yaml:"workflow"` // verify: workflow

	// Line is where the target starts in the file, for later messages.
	Line int `yaml:"-"`
}

// Account is one AWS account of a codepipeline target that spans several.
type Account struct {
	RoleARN    string   `yaml:"role_arn"`
	ExternalID string   `yaml:"external_id"`
	Regions    []string `yaml:"regions"`
}

// Organization discovers a codepipeline target's accounts through AWS
// Organizations (ListAccounts, or ListAccountsForParent under OU).
type Organization struct {
	OU         string   `yaml:"ou"`
	RoleName   string   `yaml:"role_name"`
	ExternalID string   `yaml:"external_id"`
	Regions    []string `yaml:"regions"`
}

// Match selects GitHub source actions by what they read; empty fields match anything.
type Match struct {
	Owner  string `yaml:"owner"`
	Repo   string `yaml:"repo"`
	Branch string `yaml:"branch"`
}

// IsZero reports whether no field is set.
func (m Match) IsZero() bool { return m == Match{} }

// Workflow is the workflow a github-actions-secret target with verify:
// workflow dispatches (workflow_dispatch) to prove the token works from
// GitHub Actions.
type Workflow struct {
	File       string   `yaml:"file"`       // e.g. check-token.yml
	Ref        string   `yaml:"ref"`        // branch or tag
	Repository string   `yaml:"repository"` // owner/name; default: each secret's repository
	Timeout    Duration `yaml:"timeout"`    // default 10m
}

// IsZero reports whether no field is set.
func (w Workflow) IsZero() bool { return w == Workflow{} }

// Load reads and parses the config file at path.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		msg := err.Error()
		if errors.Is(err, fs.ErrNotExist) {
			msg = "no such file: write one with 'rotor init' or name another with -c"
		} else if pe, ok := errors.AsType[*fs.PathError](err); ok {
			msg = pe.Err.Error()
		}
		return nil, Errors{{File: path, Msg: msg}}
	}
	return Parse(data, path)
}

// Parse parses and validates data as the config file filename; relative
// paths resolve against filename's directory.
func Parse(data []byte, filename string) (*Config, error) {
	dir, err := filepath.Abs(filepath.Dir(filename))
	if err != nil {
		return nil, Errors{{File: filename, Msg: err.Error()}}
	}
	c := &Config{file: filename, dir: dir}
	p := &parser{file: filename}
	if err := p.decode(data, c); err != nil {
		return nil, err
	}
	c.setDefaults(p.present)
	if errs := p.validate(c); len(errs) > 0 {
		return nil, errs.sorted()
	}
	c.resolvePaths()
	return c, nil
}

// File is the path the config was loaded from, as given.
func (c *Config) File() string { return c.file }

// Dir is the absolute directory of the config file.
func (c *Config) Dir() string { return c.dir }

// ResolvePath makes p absolute relative to the config's directory. An empty
// or absolute p is returned unchanged.
func (c *Config) ResolvePath(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(c.dir, p)
}

// Credential finds a credential by name.
func (c *Config) Credential(name string) (*Credential, bool) {
	for i := range c.Credentials {
		if c.Credentials[i].Name == name {
			return &c.Credentials[i], true
		}
	}
	return nil, false
}

// StorePath is the SQLite database file when Store is sqlite:, else "".
func (c *Config) StorePath() string {
	p, ok := strings.CutPrefix(c.Store, "sqlite:")
	if !ok {
		return ""
	}
	p, _, _ = strings.Cut(p, "?")
	return p
}

// KeyPath is the sealing key's file when Key is file:, else "".
func (c *Config) KeyPath() string {
	p, _ := strings.CutPrefix(c.Key, "file:")
	if p == c.Key {
		return ""
	}
	return p
}

// TargetCount is the number of targets over all credentials.
func (c *Config) TargetCount() int {
	n := 0
	for _, cr := range c.Credentials {
		n += len(cr.Targets)
	}
	return n
}

// FileMode is a file target's mode: Mode parsed, or 0600. Validation has
// refused any other value than those FileModes lists.
func (t Target) FileMode() fs.FileMode {
	if m, err := strconv.ParseUint(t.Mode, 8, 32); err == nil && t.Mode != "" {
		return fs.FileMode(m)
	}
	return 0o600
}

// FileModes are the modes a file target may have: the owner reads, the
// group at most reads, others nothing, nobody executes.
var FileModes = []string{"0600", "0400", "0640", "0440"}
