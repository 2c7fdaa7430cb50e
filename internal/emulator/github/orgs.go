package github

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// OrgSpec declares an organisation. Its login shares the namespace of user
// logins, as on GitHub. Owners are its administrators (at least one);
// members get the base permission, read, on its repositories.
type OrgSpec struct {
	Login   string   `yaml:"login" json:"login"`
	Owners  []string `yaml:"owners" json:"owners"`
	Members []string `yaml:"members,omitempty" json:"members,omitempty"`
	// FineGrainedMaxLifetime is the organisation's maximum lifetime of a
	// fine-grained personal access token: a token of a member whose
	// lifetime is longer is refused (403) on the organisation's
	// resources, not revoked. Absent: GitHub's default, 366 days; "off":
	// no maximum.
	FineGrainedMaxLifetime MaxLifetime `yaml:"fine_grained_max_lifetime,omitempty" json:"fine_grained_max_lifetime,omitzero"`
}

// GitHub's bounds on an organisation's maximum token lifetime, in days
// ("Setting a personal access token policy for your organization").
const (
	defaultMaxLifetimeDays = 366
	maxMaxLifetimeDays     = 366
)

// MaxLifetime is an organisation's maximum token lifetime as the world
// file writes it: whole days ("90d", or a Go duration of whole days such
// as "2160h"), or "off". The zero value is GitHub's default (366 days).
type MaxLifetime struct {
	Days int  // 1–366; 0 with Off false means the default
	Off  bool // no maximum
}

func (m MaxLifetime) days() int {
	switch {
	case m.Off:
		return 0
	case m.Days == 0:
		return defaultMaxLifetimeDays
	}
	return m.Days
}

func (m MaxLifetime) IsZero() bool { return m == MaxLifetime{} }

func (m MaxLifetime) MarshalText() ([]byte, error) {
	if m.Off {
		return []byte("off"), nil
	}
	return []byte(strconv.Itoa(m.days()) + "d"), nil
}

func (m *MaxLifetime) UnmarshalText(b []byte) error {
	s := strings.TrimSpace(string(b))
	if s == "off" {
		*m = MaxLifetime{Off: true}
		return nil
	}
	d, err := ParseDuration(s)
	if err != nil {
		return fmt.Errorf("maximum lifetime %q: want whole days from 1d to %dd, or off", s, maxMaxLifetimeDays)
	}
	days := int(d.Duration / (24 * time.Hour))
	if d.Duration%(24*time.Hour) != 0 || days < 1 || days > maxMaxLifetimeDays {
		return fmt.Errorf("maximum lifetime %q: want whole days from 1d to %dd, or off", s, maxMaxLifetimeDays)
	}
	*m = MaxLifetime{Days: days}
	return nil
}

// org is an organisation: its account is a user record of type
// Organization; this is what only organisations have.
type org struct {
	Login   string   `json:"login"`
	Owners  []string `json:"owners"`
	Members []string `json:"members,omitempty"`
	// MaxLifetimeDays is the fine-grained token lifetime policy; 0: none.
	MaxLifetimeDays int `json:"max_lifetime_days,omitempty"`
}

// CreateOrg adds an organisation, as a person does on github.com. Its
// owners and members must be users.
func (s *Server) CreateOrg(spec OrgSpec) error {
	if !validLogin(spec.Login) {
		return fmt.Errorf("org %q: %w: a login is up to 39 letters, digits and single inner hyphens", spec.Login, ErrInvalid)
	}
	if len(spec.Owners) == 0 {
		return fmt.Errorf("org %q: %w: an organisation needs at least one owner", spec.Login, ErrInvalid)
	}
	s.lockAdvance()
	defer s.mu.Unlock()
	if s.st.user(spec.Login) != nil {
		return fmt.Errorf("org %q: %w", spec.Login, ErrExists)
	}
	o := &org{Login: spec.Login, MaxLifetimeDays: spec.FineGrainedMaxLifetime.days()}
	for _, list := range []struct {
		field string
		in    []string
		out   *[]string
	}{{"owner", spec.Owners, &o.Owners}, {"member", spec.Members, &o.Members}} {
		for _, l := range list.in {
			u := s.st.user(l)
			if u == nil || u.isOrg() {
				return fmt.Errorf("org %q: %s %q: %w", spec.Login, list.field, l, ErrNotFound)
			}
			if slices.ContainsFunc(o.Owners, func(x string) bool { return strings.EqualFold(x, l) }) ||
				slices.ContainsFunc(o.Members, func(x string) bool { return strings.EqualFold(x, l) }) {
				continue // an owner listed as a member too is an owner
			}
			*list.out = append(*list.out, u.Login)
		}
	}
	s.st.next.User++
	s.st.users[key(spec.Login)] = &user{ID: s.st.next.User, Login: spec.Login, Type: typeOrg, CreatedAt: s.now()}
	s.st.orgs[key(spec.Login)] = o
	return nil
}

// role is what a user may do with a repository or an organisation.
type role int

const (
	roleNone role = iota
	roleRead
	roleWrite
	roleAdmin
)

// orgRole is login's role in the organisation account: owners admin,
// members read. Callers hold s.mu.
func (st *state) orgRole(account, login string) role {
	o := st.orgs[key(account)]
	if o == nil {
		return roleNone
	}
	eq := func(x string) bool { return strings.EqualFold(x, login) }
	switch {
	case slices.ContainsFunc(o.Owners, eq):
		return roleAdmin
	case slices.ContainsFunc(o.Members, eq):
		return roleRead
	}
	return roleNone
}

// role is login's role on rp: the owning user or the organisation's owners
// admin, collaborators write, the organisation's members read (GitHub's
// default base permission). Callers hold s.mu.
func (st *state) role(rp *repo, login string) role {
	if strings.EqualFold(rp.Owner, login) {
		return roleAdmin
	}
	r := st.orgRole(rp.Owner, login)
	if r == roleAdmin {
		return roleAdmin
	}
	if slices.ContainsFunc(rp.Collaborators, func(c string) bool { return strings.EqualFold(c, login) }) {
		return roleWrite
	}
	return r
}

// policyBlock is GitHub's answer (403) when p is a fine-grained token of a
// member of the organisation account whose lifetime exceeds the
// organisation's maximum: the token is refused on that organisation's
// resources, public ones included, and keeps working elsewhere
// ("Setting a personal access token policy for your organization"). The
// message is GitHub's word for word. "" when nothing blocks. Callers hold
// s.mu.
func (s *Server) policyBlock(p *principal, account, htmlBase string) string {
	if p.kind != byPAT || !p.fineGrained() {
		return ""
	}
	o := s.st.orgs[key(account)]
	if o == nil || o.MaxLifetimeDays == 0 || s.st.orgRole(account, p.user) == roleNone {
		return ""
	}
	limit := time.Duration(o.MaxLifetimeDays) * 24 * time.Hour
	if !p.expires.IsZero() && p.expires.Sub(p.created) <= limit {
		return ""
	}
	return fmt.Sprintf("The '%s' organization forbids access via a fine-grained personal access tokens if the token's lifetime is greater than %d days. "+
		"Please adjust your token's lifetime at the following URL: %s/settings/personal-access-tokens/%d", o.Login, o.MaxLifetimeDays, htmlBase, p.patID)
}

// grantRevoked reports whether the organisation account revoked the
// fine-grained token p's access. Callers hold s.mu.
func (s *Server) grantRevoked(p *principal, account string) bool {
	t := s.st.pats[p.patID]
	return t != nil && t.Grant != nil && strings.EqualFold(t.Grant.Org, account) && !t.Grant.RevokedAt.IsZero()
}
