package github

import (
	"crypto/rsa"
	"strings"
	"time"

	"github.com/rotor-ci/rotor/internal/token"
)

// The records below are the emulator's database, read and written only under
// Server.mu. The slices and maps inside a record are never changed in place
// (a change replaces them or the record), so a principal or a snapshot copied
// under the lock may keep referring to them after it is released.

type user struct {
	ID        int64     `json:"id"`
	Login     string    `json:"login"`
	CreatedAt time.Time `json:"created_at"`
}

type repo struct {
	ID            int64     `json:"id"`
	Owner         string    `json:"owner"`
	Name          string    `json:"name"`
	Private       bool      `json:"private"`
	Branches      []string  `json:"branches"`
	Collaborators []string  `json:"collaborators,omitempty"`
	CreatedAt     time.Time `json:"created_at"`
}

func (r *repo) fullName() string { return r.Owner + "/" + r.Name }

func (r *repo) defaultBranch() string { return r.Branches[0] }

// member reports whether login may see the repository when it is private.
func (r *repo) member(login string) bool {
	if strings.EqualFold(r.Owner, login) {
		return true
	}
	for _, c := range r.Collaborators {
		if strings.EqualFold(c, login) {
			return true
		}
	}
	return false
}

// pat is a personal access token, classic or fine-grained.
type pat struct {
	ID           int64             `json:"id"`
	User         string            `json:"user"`
	Kind         token.Kind        `json:"kind"`
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
	key         *rsa.PrivateKey
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
	next       ids
}

func newState() state {
	return state{
		users:      map[string]*user{},
		repos:      map[string]*repo{},
		pats:       map[int64]*pat{},
		patByValue: map[string]*pat{},
		apps:       map[int64]*app{},
		insts:      map[int64]*installation{},
		instTokens: map[string]*instToken{},
		// Different ranges per kind make ids in test output easy to tell apart.
		next: ids{User: 1000, Repo: 200000, Token: 0, App: 300, Installation: 4000000},
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
