package github

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/rotor-ci/rotor/internal/emulator/ghtoken"
)

// World is the emulator's section of a world file: the GitHub that exists
// when the emulator starts. Every name it mentions must be declared: a repo's
// owner and collaborators, a token's user and repositories, an app's owner and
// its installations' accounts.
type World struct {
	Users  []UserSpec   `yaml:"users,omitempty" json:"users,omitempty"`
	Orgs   []OrgSpec    `yaml:"orgs,omitempty" json:"orgs,omitempty"`
	Repos  []RepoSpec   `yaml:"repos,omitempty" json:"repos,omitempty"`
	Tokens []WorldToken `yaml:"tokens,omitempty" json:"tokens,omitempty"`
	Apps   []AppSpec    `yaml:"apps,omitempty" json:"apps,omitempty"`
	// RateLimit is the primary rate limit per token (and per app JWT) per
	// hour; 0 means GitHub's 5000.
	RateLimit int `yaml:"rate_limit,omitempty" json:"rate_limit,omitempty"`
	// UnauthenticatedRateLimit is the hourly budget per client IP address for
	// requests without credentials; 0 means GitHub's 60.
	UnauthenticatedRateLimit int `yaml:"unauthenticated_rate_limit,omitempty" json:"unauthenticated_rate_limit,omitempty"`
	// CredentialsRevokeRateLimit is POST /credentials/revoke's own hourly
	// budget per client IP address; 0 means GitHub's 60.
	CredentialsRevokeRateLimit int `yaml:"credentials_revoke_rate_limit,omitempty" json:"credentials_revoke_rate_limit,omitempty"`
	// DeviceFlowInterval is the polling interval in seconds a device code
	// answer gives; 0 means GitHub's 5. A test harness that approves at
	// once lowers it so that each authorization does not wait 5 s.
	DeviceFlowInterval int `yaml:"device_flow_interval,omitempty" json:"device_flow_interval,omitempty"`
}

// UserSpec declares a user account.
type UserSpec struct {
	Login string `yaml:"login" json:"login"`
}

// RepoSpec declares a repository. Branches default to [main]; the first is the
// default branch. Collaborators (logins) may read a private repository besides
// its owner.
type RepoSpec struct {
	Owner         string   `yaml:"owner" json:"owner"`
	Name          string   `yaml:"name" json:"name"`
	Private       bool     `yaml:"private,omitempty" json:"private,omitempty"`
	Branches      []string `yaml:"branches,omitempty" json:"branches,omitempty"`
	Collaborators []string `yaml:"collaborators,omitempty" json:"collaborators,omitempty"`
	// Environments are the repository's deployment environments, which
	// may hold secrets of their own.
	Environments []string `yaml:"environments,omitempty" json:"environments,omitempty"`
	// Workflows are GitHub Actions workflows in the repository (see
	// WorkflowSpec).
	Workflows []WorkflowSpec `yaml:"workflows,omitempty" json:"workflows,omitempty"`
}

// Token kinds as the world file and the admin API name them.
const (
	KindClassic     = "classic"
	KindFineGrained = "fine-grained"
)

// TokenSpec describes a personal access token to create, as a person would
// fill in GitHub's "new token" form.
type TokenSpec struct {
	User string `yaml:"user" json:"user"`
	// Kind is KindClassic (ghp_) or KindFineGrained (github_pat_).
	Kind string `yaml:"kind" json:"kind"`
	Note string `yaml:"note,omitempty" json:"note,omitempty"`
	// Scopes of a classic token ("repo", "admin:repo_hook", …).
	Scopes []string `yaml:"scopes,omitempty" json:"scopes,omitempty"`
	// Repositories ("owner/name") and Permissions ({"contents": "read"}) of a
	// fine-grained token. No repositories means public repositories only.
	// ResourceOwner is its account: the user or an organisation the user
	// belongs to; absent, the owner of its first repository, else the user.
	ResourceOwner string            `yaml:"resource_owner,omitempty" json:"resource_owner,omitempty"`
	Repositories  []string          `yaml:"repositories,omitempty" json:"repositories,omitempty"`
	Permissions   map[string]string `yaml:"permissions,omitempty" json:"permissions,omitempty"`
	// ExpiresIn is the lifetime from creation ("720h", "30d"); zero means the
	// token never expires.
	ExpiresIn Duration `yaml:"expires_in,omitempty" json:"expires_in,omitzero"`
	// Value, when set, is used instead of a generated value. It must have
	// the kind's format (and checksum). Never read from JSON or YAML: the
	// admin API always generates, the world file uses WorldToken.Value.
	Value ghtoken.Token `yaml:"-" json:"-"`
}

// WorldToken is a token in the world file, whose value may be given in the
// clear: the world file is test fixture data.
type WorldToken struct {
	TokenSpec `yaml:",inline"`
	Value     string `yaml:"value,omitempty" json:"value,omitempty"`
}

// AppSpec declares a GitHub App. Permissions default to contents:read and
// metadata:read; each installation's permissions default to the app's and
// must be a subset of them.
type AppSpec struct {
	Name          string             `yaml:"name" json:"name"`
	Owner         string             `yaml:"owner" json:"owner"`
	Permissions   map[string]string  `yaml:"permissions,omitempty" json:"permissions,omitempty"`
	Installations []InstallationSpec `yaml:"installations,omitempty" json:"installations,omitempty"`
	// DeviceFlow is the app's "Enable Device Flow" setting, off by default
	// as on GitHub: POST /login/device/code needs it.
	DeviceFlow bool `yaml:"device_flow,omitempty" json:"device_flow,omitempty"`
	// ClientSecret, when set, is a client secret of the app (40 lower-case
	// hex digits), for world files; the admin API generates them.
	ClientSecret string `yaml:"client_secret,omitempty" json:"client_secret,omitempty"`
}

// InstallationSpec installs an app on an account. Repositories are names of
// the account's repositories ("test-repo" or "owner/test-repo"); none means
// all of them, including ones created later (repository_selection "all").
type InstallationSpec struct {
	Account      string            `yaml:"account" json:"account"`
	Repositories []string          `yaml:"repositories,omitempty" json:"repositories,omitempty"`
	Permissions  map[string]string `yaml:"permissions,omitempty" json:"permissions,omitempty"`
}

// Duration is a time.Duration written as Go writes it ("720h", "90m") or in
// whole days ("30d").
type Duration struct{ time.Duration }

// ParseDuration reads a Go duration or a number of days ("30d").
func ParseDuration(s string) (Duration, error) {
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n < 0 {
			return Duration{}, fmt.Errorf("duration %q: want a whole number of days like 30d", s)
		}
		return Duration{time.Duration(n) * 24 * time.Hour}, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return Duration{}, fmt.Errorf("duration %q: want a Go duration like 720h or days like 30d", s)
	}
	if d < 0 {
		return Duration{}, fmt.Errorf("duration %q is negative", s)
	}
	return Duration{d}, nil
}

func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

func (d *Duration) UnmarshalText(b []byte) error {
	v, err := ParseDuration(string(b))
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// IsZero lets omitzero drop an unset duration.
func (d Duration) IsZero() bool { return d.Duration == 0 }
