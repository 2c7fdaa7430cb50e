package github

import (
	"crypto/rsa"
	"strings"
	"time"

	"github.com/rotor-ci/rotor/internal/emulator/ghtoken"
)

// The records below are the emulator's database, read and written only under
// Server.mu. The slices and maps inside a record are never changed in place
// (a change replaces them or the record), so a principal or a snapshot copied
// under the lock may keep referring to them after it is released.

type user struct {
	ID    int64  `json:"id"`
	Login string `json:"login"`
	// Type is "Organization" for an organisation's account; empty for a
	// user (GitHub's "User"). ("Bot" only in rendering an app's actor.)
	Type      string    `json:"type,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

const typeOrg = "Organization"

func (u *user) isOrg() bool { return u.Type == typeOrg }

// typeName is the account's type as GitHub's JSON writes it.
func (u *user) typeName() string {
	if u.Type != "" {
		return u.Type
	}
	return "User"
}

type repo struct {
	ID            int64     `json:"id"`
	Owner         string    `json:"owner"`
	Name          string    `json:"name"`
	Private       bool      `json:"private"`
	Branches      []string  `json:"branches"`
	Collaborators []string  `json:"collaborators,omitempty"`
	Environments  []string  `json:"environments,omitempty"`
	Workflows     []int64   `json:"workflows,omitempty"` // ids, in declaration order
	CreatedAt     time.Time `json:"created_at"`
}

func (r *repo) fullName() string { return r.Owner + "/" + r.Name }

func (r *repo) defaultBranch() string { return r.Branches[0] }

// environment finds a declared environment by name, ignoring case as
// GitHub does; "" when there is none.
func (r *repo) environment(name string) string {
	for _, e := range r.Environments {
		if strings.EqualFold(e, name) {
			return e
		}
	}
	return ""
}

// pat is a personal access token, classic or fine-grained.
type pat struct {
	ID           int64             `json:"id"`
	User         string            `json:"user"`
	Kind         ghtoken.Kind      `json:"kind"`
	Note         string            `json:"note,omitempty"`
	Scopes       []string          `json:"scopes,omitempty"`
	Repositories []string          `json:"repositories,omitempty"`
	Permissions  map[string]string `json:"permissions,omitempty"`
	Value        string            `json:"value"`
	ExpiresIn    time.Duration     `json:"expires_in,omitempty"`
	CreatedAt    time.Time         `json:"created_at"`
	ExpiresAt    time.Time         `json:"expires_at,omitzero"`
	LastUsedAt   time.Time         `json:"last_used_at,omitzero"`
	RevokedAt    time.Time         `json:"revoked_at,omitzero"`
	// ResourceOwner is a fine-grained token's account; Grant its
	// organisation's approval when that account is an organisation.
	ResourceOwner string    `json:"resource_owner,omitempty"`
	Grant         *orgGrant `json:"org_grant,omitempty"`
}

// orgGrant is an organisation's approval of a fine-grained token: what
// GET /orgs/{org}/personal-access-tokens lists (its id is the pat_id) and
// the organisation may revoke, which ends the token's access to the
// organisation's resources and nothing else.
type orgGrant struct {
	ID        int64     `json:"id"`
	Org       string    `json:"org"`
	GrantedAt time.Time `json:"granted_at"`
	RevokedAt time.Time `json:"revoked_at,omitzero"`
}

func (g *orgGrant) id() int64 {
	if g == nil {
		return 0
	}
	return g.ID
}

func (p *pat) state(now time.Time) TokenState {
	switch {
	case !p.RevokedAt.IsZero():
		return StateRevoked
	case !p.ExpiresAt.IsZero() && !now.Before(p.ExpiresAt):
		return StateExpired
	}
	return StateActive
}

type app struct {
	ID          int64             `json:"id"`
	Slug        string            `json:"slug"`
	Name        string            `json:"name"`
	ClientID    string            `json:"client_id"`
	Owner       string            `json:"owner"`
	Permissions map[string]string `json:"permissions"`
	KeyPEM      string            `json:"private_key_pem"`
	CreatedAt   time.Time         `json:"created_at"`
	// ClientSecrets are the app's client secrets (the refresh grant needs
	// one); DeviceFlow is the "Enable Device Flow" setting.
	ClientSecrets []string `json:"client_secrets,omitempty"`
	DeviceFlow    bool     `json:"device_flow,omitempty"`
	key           *rsa.PrivateKey
}

type installation struct {
	ID           int64             `json:"id"`
	AppID        int64             `json:"app_id"`
	Account      string            `json:"account"`
	Repositories []string          `json:"repositories,omitempty"` // names; none = all of the account's
	Permissions  map[string]string `json:"permissions"`
	CreatedAt    time.Time         `json:"created_at"`
}

func (in *installation) selection() string {
	if len(in.Repositories) == 0 {
		return "all"
	}
	return "selected"
}

// instToken is an installation access token (ghs_).
type instToken struct {
	Value          string            `json:"value"`
	InstallationID int64             `json:"installation_id"`
	Repositories   []string          `json:"repositories,omitempty"` // names; none = the installation's
	Permissions    map[string]string `json:"permissions"`
	CreatedAt      time.Time         `json:"created_at"`
	ExpiresAt      time.Time         `json:"expires_at"`
	RevokedAt      time.Time         `json:"revoked_at,omitzero"`
}

func (t *instToken) live(now time.Time) bool {
	return t.RevokedAt.IsZero() && now.Before(t.ExpiresAt)
}

type ids struct {
	User         int64 `json:"user"`
	Repo         int64 `json:"repo"`
	Token        int64 `json:"token"`
	App          int64 `json:"app"`
	Installation int64 `json:"installation"`
	Grant        int64 `json:"grant,omitempty"`
	Workflow     int64 `json:"workflow,omitempty"`
	Run          int64 `json:"run,omitempty"`
}

// state is everything Snapshot saves. Guarded by Server.mu.
type state struct {
	users      map[string]*user // lower(login)
	repos      map[string]*repo // lower(owner/name)
	pats       map[int64]*pat   // id
	patByValue map[string]*pat  // value
	apps       map[int64]*app   // id
	insts      map[int64]*installation
	instTokens map[string]*instToken // value
	orgs       map[string]*org       // lower(login)
	secrets    map[string]*secretStore
	workflows  map[int64]*workflow
	runs       map[int64]*run
	// userTokens and userRefresh index the same records by their ghu_ and
	// ghr_ values.
	userTokens  map[string]*userToken
	userRefresh map[string]*userToken
	devices     map[string]*deviceCode // by device code
	next        ids
}

func newState() state {
	return state{
		users:       map[string]*user{},
		repos:       map[string]*repo{},
		pats:        map[int64]*pat{},
		patByValue:  map[string]*pat{},
		apps:        map[int64]*app{},
		insts:       map[int64]*installation{},
		instTokens:  map[string]*instToken{},
		orgs:        map[string]*org{},
		secrets:     map[string]*secretStore{},
		workflows:   map[int64]*workflow{},
		runs:        map[int64]*run{},
		userTokens:  map[string]*userToken{},
		userRefresh: map[string]*userToken{},
		devices:     map[string]*deviceCode{},
		// Different ranges per kind make ids in test output easy to tell apart.
		next: ids{User: 1000, Repo: 200000, Token: 0, App: 300, Installation: 4000000, Grant: 7000, Workflow: 160000, Run: 9000000},
	}
}

func key(s ...string) string { return strings.ToLower(strings.Join(s, "/")) }

func (st *state) user(login string) *user { return st.users[key(login)] }

func (st *state) repo(owner, name string) *repo { return st.repos[key(owner, name)] }

func (st *state) appByName(name string) *app {
	for _, a := range st.apps {
		if strings.EqualFold(a.Name, name) || strings.EqualFold(a.Slug, name) {
			return a
		}
	}
	return nil
}

// instRepos lists the repositories an installation covers, in id order.
func (st *state) instRepos(in *installation) []*repo {
	var out []*repo
	if len(in.Repositories) == 0 {
		for _, r := range st.repos {
			if strings.EqualFold(r.Owner, in.Account) {
				out = append(out, r)
			}
		}
	} else {
		for _, n := range in.Repositories {
			if r := st.repo(in.Account, n); r != nil {
				out = append(out, r)
			}
		}
	}
	sortRepos(out)
	return out
}

// tokenRepos lists the repositories an installation token may use.
func (st *state) tokenRepos(t *instToken) []*repo {
	in := st.insts[t.InstallationID]
	if in == nil {
		return nil
	}
	if len(t.Repositories) == 0 {
		return st.instRepos(in)
	}
	var out []*repo
	for _, n := range t.Repositories {
		if r := st.repo(in.Account, n); r != nil {
			out = append(out, r)
		}
	}
	sortRepos(out)
	return out
}
