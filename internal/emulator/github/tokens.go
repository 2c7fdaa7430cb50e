package github

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/rotor-ci/rotor/internal/emulator/ghtoken"
)

// TokenState is a personal token's state as the web UI shows it.
type TokenState string

const (
	StateActive  TokenState = "active"
	StateRevoked TokenState = "revoked"
	StateExpired TokenState = "expired"
)

// TokenInfo is what the web UI shows about a personal token: never its value.
type TokenInfo struct {
	ID           int64             `json:"id"`
	User         string            `json:"user"`
	Kind         string            `json:"kind"` // KindClassic or KindFineGrained
	Note         string            `json:"note,omitempty"`
	Scopes       []string          `json:"scopes,omitempty"`
	Repositories []string          `json:"repositories,omitempty"`
	Permissions  map[string]string `json:"permissions,omitempty"`
	// ResourceOwner is a fine-grained token's resource owner; OrgGrantID
	// the id of its organisation grant (the pat_id of the organisation's
	// token API), 0 when the owner is the user.
	ResourceOwner string     `json:"resource_owner,omitempty"`
	OrgGrantID    int64      `json:"org_grant_id,omitempty"`
	Fingerprint   string     `json:"fingerprint"`
	State         TokenState `json:"state"`
	CreatedAt     time.Time  `json:"created_at"`
	ExpiresAt     time.Time  `json:"expires_at,omitzero"` // zero: never expires
	LastUsedAt    time.Time  `json:"last_used_at,omitzero"`
}

func (p *pat) info(now time.Time) TokenInfo {
	kind := KindClassic
	if p.Kind == ghtoken.KindFineGrained {
		kind = KindFineGrained
	}
	return TokenInfo{
		ID: p.ID, User: p.User, Kind: kind, Note: p.Note,
		Scopes:        slices.Clone(p.Scopes),
		Repositories:  slices.Clone(p.Repositories),
		Permissions:   maps.Clone(p.Permissions),
		ResourceOwner: p.ResourceOwner,
		OrgGrantID:    p.Grant.id(),
		Fingerprint:   ghtoken.Fingerprint(p.Value),
		State:         p.state(now),
		CreatedAt:     p.CreatedAt,
		ExpiresAt:     p.ExpiresAt,
		LastUsedAt:    p.LastUsedAt,
	}
}

// CreateToken creates a personal access token for user, as a person does in
// Settings → Developer settings (GitHub has no API for it). spec.User is
// ignored in favour of user. The value is returned once; Tokens never shows
// it again. A spec.Value, when set, must be well-formed and unused.
func (s *Server) CreateToken(user string, spec TokenSpec) (ghtoken.Token, TokenInfo, error) {
	spec.User = user
	s.lockAdvance()
	defer s.mu.Unlock()
	p, err := s.newPAT(spec)
	if err != nil {
		return ghtoken.Token{}, TokenInfo{}, err
	}
	return ghtoken.New(p.Value), p.info(s.now()), nil
}

// newPAT validates spec and stores the token. Callers hold s.mu.
func (s *Server) newPAT(spec TokenSpec) (*pat, error) {
	u := s.st.user(spec.User)
	if u == nil || u.isOrg() {
		return nil, fmt.Errorf("token: user %q: %w", spec.User, ErrNotFound)
	}
	p := &pat{User: u.Login, Note: spec.Note, ExpiresIn: spec.ExpiresIn.Duration}
	switch spec.Kind {
	case KindClassic, "":
		p.Kind = ghtoken.KindClassicPAT
		if len(spec.Repositories) > 0 || len(spec.Permissions) > 0 {
			return nil, fmt.Errorf("token: %w: a classic token has scopes, not repositories or permissions", ErrInvalid)
		}
		scopes, err := normaliseScopes(spec.Scopes)
		if err != nil {
			return nil, fmt.Errorf("token: %w", err)
		}
		p.Scopes = scopes
	case KindFineGrained:
		p.Kind = ghtoken.KindFineGrained
		if len(spec.Scopes) > 0 {
			return nil, fmt.Errorf("token: %w: a fine-grained token has repositories and permissions, not scopes", ErrInvalid)
		}
		// A fine-grained token has one resource owner: the user or an
		// organisation the user belongs to; its repositories are that
		// account's ("Managing your personal access tokens").
		owner := cmp.Or(spec.ResourceOwner, u.Login)
		if spec.ResourceOwner == "" && len(spec.Repositories) > 0 {
			owner, _, _ = strings.Cut(spec.Repositories[0], "/")
		}
		acct := s.st.user(owner)
		if acct == nil || (acct.isOrg() && s.st.orgRole(acct.Login, u.Login) == roleNone) || (!acct.isOrg() && acct != u) {
			return nil, fmt.Errorf("token: resource owner %q: %w: the user's own account or an organisation the user belongs to", owner, ErrNotFound)
		}
		p.ResourceOwner = acct.Login
		for _, full := range spec.Repositories {
			owner, name, ok := strings.Cut(full, "/")
			r := s.st.repo(owner, name)
			if !ok || r == nil || (r.Private && s.st.role(r, u.Login) == roleNone) {
				return nil, fmt.Errorf("token: repository %q: %w", full, ErrNotFound)
			}
			if !strings.EqualFold(r.Owner, acct.Login) {
				return nil, fmt.Errorf("token: repository %q: %w: a fine-grained token's repositories all belong to its resource owner %s", full, ErrInvalid, acct.Login)
			}
			if !slices.Contains(p.Repositories, r.fullName()) {
				p.Repositories = append(p.Repositories, r.fullName())
			}
		}
		perms, err := normalisePermissions(spec.Permissions)
		if err != nil {
			return nil, fmt.Errorf("token: %w", err)
		}
		p.Permissions = perms
	default:
		return nil, fmt.Errorf("token: %w: kind %q is not %s or %s", ErrInvalid, spec.Kind, KindClassic, KindFineGrained)
	}
	if v := spec.Value; !v.IsZero() {
		k, err := ghtoken.Check(v.Reveal())
		if err != nil {
			return nil, fmt.Errorf("token: %w: value: %w", ErrInvalid, err)
		}
		if k != p.Kind {
			return nil, fmt.Errorf("token: %w: value is a %s, kind says %s", ErrInvalid, k.Describe(), p.Kind.Describe())
		}
		if s.st.patByValue[v.Reveal()] != nil {
			return nil, fmt.Errorf("token: value %s: %w", v.Fingerprint(), ErrExists)
		}
		p.Value = v.Reveal()
	} else {
		p.Value = s.freshValue(p.Kind)
	}
	s.st.next.Token++
	p.ID = s.st.next.Token
	p.CreatedAt = s.now()
	if p.ExpiresIn > 0 {
		p.ExpiresAt = p.CreatedAt.Add(p.ExpiresIn)
	}
	if acct := s.st.user(p.ResourceOwner); acct != nil && acct.isOrg() {
		// The organisation approves it at once (approval requests are not
		// modelled): the grant its token API lists and revokes.
		s.st.next.Grant++
		p.Grant = &orgGrant{ID: s.st.next.Grant, Org: acct.Login, GrantedAt: p.CreatedAt}
	}
	s.st.pats[p.ID] = p
	s.st.patByValue[p.Value] = p
	return p, nil
}

// freshValue generates a value no token holds. Callers hold s.mu.
func (s *Server) freshValue(k ghtoken.Kind) string {
	for {
		v := ghtoken.Generate(k).Reveal()
		if s.st.patByValue[v] == nil && s.st.instTokens[v] == nil && s.st.userTokens[v] == nil && s.st.userRefresh[v] == nil {
			return v
		}
	}
}

// Regenerate gives token id a new value, as the web UI's "Regenerate token"
// does: the old value stops working at once. An expiring token gets its
// lifetime again from now. A revoked token cannot be regenerated.
func (s *Server) Regenerate(id int64) (ghtoken.Token, TokenInfo, error) {
	s.lockAdvance()
	defer s.mu.Unlock()
	p := s.st.pats[id]
	if p == nil {
		return ghtoken.Token{}, TokenInfo{}, fmt.Errorf("token %d: %w", id, ErrNotFound)
	}
	if !p.RevokedAt.IsZero() {
		return ghtoken.Token{}, TokenInfo{}, fmt.Errorf("token %d: %w", id, ErrRevoked)
	}
	// Replace the record rather than mutate it: principals copied from it
	// stay consistent.
	np := *p
	np.Value = s.freshValue(p.Kind)
	if np.ExpiresIn > 0 {
		np.ExpiresAt = s.now().Add(np.ExpiresIn)
	}
	delete(s.st.patByValue, p.Value)
	s.st.pats[id] = &np
	s.st.patByValue[np.Value] = &np
	return ghtoken.New(np.Value), np.info(s.now()), nil
}

// DeleteToken deletes token id, as the web UI's "Delete" does: its value
// stops working at once and the token is no longer listed.
func (s *Server) DeleteToken(id int64) error {
	s.lockAdvance()
	defer s.mu.Unlock()
	p := s.st.pats[id]
	if p == nil {
		return fmt.Errorf("token %d: %w", id, ErrNotFound)
	}
	delete(s.st.pats, id)
	delete(s.st.patByValue, p.Value)
	return nil
}

// Tokens lists the personal tokens, by id, without their values.
func (s *Server) Tokens() []TokenInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	out := make([]TokenInfo, 0, len(s.st.pats))
	for _, p := range s.st.pats {
		out = append(out, p.info(now))
	}
	slices.SortFunc(out, func(a, b TokenInfo) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

// revokeValue revokes the personal token with this value, if there is one,
// as the credential revocation API does. Callers hold s.mu.
func (s *Server) revokeValue(v string) {
	p := s.st.patByValue[v]
	if p == nil || !p.RevokedAt.IsZero() {
		return
	}
	np := *p
	np.RevokedAt = s.now()
	s.st.pats[np.ID] = &np
	s.st.patByValue[v] = &np
}
