package config

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Config is a parsed, validated rotor.yaml.
type Config struct {
	// Store is "sqlite:PATH" (default sqlite:rotor.db) or "postgres://…".
	Store string `yaml:"store"`
	// Key is the sealing key: "file:PATH" (default file:rotor.key), an age
	// identity, or "awskms:KEY" for AWS KMS.
	Key         string       `yaml:"key"`
	GitHub      GitHub       `yaml:"github"`
	AWS         AWS          `yaml:"aws"`
	Server      Server       `yaml:"server"`
	Credentials []Credential `yaml:"credentials"`

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
}

// Alert is one place rotor serve reports failed rotations to.
type Alert struct {
	Type string `yaml:"type"` // webhook | slack
	URL  string `yaml:"url"`
	Line int    `yaml:"-"`
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
)

// Source says where new versions of a credential come from.
type Source struct {
	Type string `yaml:"type"` // personal-token | github-app

	// personal-token
	Scopes              []string `yaml:"scopes"` // default: what the targets need
	AllowIdentityChange bool     `yaml:"allow_identity_change"`

	// github-app
	AppID          int64             `yaml:"app_id"`
	ClientID       string            `yaml:"client_id"`
	InstallationID int64             `yaml:"installation_id"`
	PrivateKeyFile string            `yaml:"private_key_file"`
	Repositories   []string          `yaml:"repositories"`
	Permissions    map[string]string `yaml:"permissions"`
}

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
)

// Verify modes of a codepipeline target.
const (
	VerifyReadback  = "readback"
	VerifyExecution = "execution"
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

	// codepipeline, secretsmanager, ssm
	Region     string `yaml:"region"` // overrides aws.region
	RoleARN    string `yaml:"role_arn"`
	ExternalID string `yaml:"external_id"`
	KMSKeyID   string `yaml:"kms_key_id"` // secretsmanager, ssm

	// file
	Path string `yaml:"path"`

	// secretsmanager
	SecretID string `yaml:"secret_id"`
	JSONKey  string `yaml:"json_key"`

	// ssm
	Name string `yaml:"name"`

	// Line is where the target starts in the file, for later messages.
	Line int `yaml:"-"`
}

// Match selects GitHub source actions by what they read; empty fields match anything.
type Match struct {
	Owner  string `yaml:"owner"`
	Repo   string `yaml:"repo"`
	Branch string `yaml:"branch"`
}

// IsZero reports whether no field is set.
func (m Match) IsZero() bool { return m == Match{} }

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
