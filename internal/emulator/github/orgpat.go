package github

import (
	"cmp"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// An organisation's view of the fine-grained tokens that may use its
// resources ("REST API endpoints for personal access tokens", organisation
// side): a GitHub App installed on the organisation with the "Personal
// access tokens" organisation permission lists them and revokes their
// access. Revoking ends the token's access to the organisation's resources
// and nothing else: the token keeps working for its user elsewhere
// (GET /user), unlike the credential revocation API.

const (
	docOrgPATs = "https://docs.github.com/rest/orgs/personal-access-tokens"
	orgPATPerm = "organization_personal_access_tokens"
)

func (s *Server) orgPATRoutes() {
	read := route{mode: authToken, acceptedPerms: orgPATPerm + "=read"}
	write := route{mode: authToken, acceptedPerms: orgPATPerm + "=write"}
	s.handle("GET /orgs/{org}/personal-access-tokens", read, s.listOrgPATs)
	s.handle("POST /orgs/{org}/personal-access-tokens", write, s.revokeOrgPATs)
	s.handle("POST /orgs/{org}/personal-access-tokens/{pat_id}", write, s.revokeOrgPAT)
}

// orgPATApp authorizes p: an installation token of an app installed on the
// path's organisation with the permission at level. "Only GitHub Apps can
// use this endpoint." Callers hold s.mu.
func (s *Server) orgPATApp(r *http.Request, p *principal, level string) (*org, *httpError) {
	og := s.st.orgs[key(r.PathValue("org"))]
	switch {
	case og == nil:
		return nil, &httpError{http.StatusNotFound, msgNotFound}
	case p.kind == byPAT:
		return nil, &httpError{http.StatusForbidden, msgNotByPAT}
	case p.kind != byInstallation:
		return nil, &httpError{http.StatusForbidden, msgNotByIntegration}
	}
	in := s.st.insts[p.instID]
	if in == nil || key(in.Account) != key(og.Login) || !grants(p.perms, orgPATPerm, level) {
		return nil, &httpError{http.StatusForbidden, msgNotByIntegration}
	}
	return og, nil
}

// orgGrants lists the live grants of an organisation: tokens not revoked
// or deleted whose grant it has not revoked, expired ones included (GitHub
// lists them with token_expired). Callers hold s.mu.
func (st *state) orgGrants(orgLogin string) []*pat {
	var out []*pat
	for _, p := range st.pats {
		if p.Grant != nil && key(p.Grant.Org) == key(orgLogin) && p.Grant.RevokedAt.IsZero() && p.RevokedAt.IsZero() {
			out = append(out, p)
		}
	}
	return out
}

// grantJSON is organization-programmatic-access-grant.
type grantJSON struct {
	ID                  int64                        `json:"id"`
	Owner               userJSON                     `json:"owner"`
	RepositorySelection string                       `json:"repository_selection"`
	RepositoriesURL     string                       `json:"repositories_url"`
	Permissions         map[string]map[string]string `json:"permissions"`
	AccessGrantedAt     string                       `json:"access_granted_at"`
	TokenID             int64                        `json:"token_id"`
	TokenName           string                       `json:"token_name"`
	TokenExpired        bool                         `json:"token_expired"`
	TokenExpiresAt      *string                      `json:"token_expires_at"`
	TokenLastUsedAt     *string                      `json:"token_last_used_at"`
}

// orgPermission tells an organisation permission from a repository one by
// its name, as GitHub names them.
func orgPermission(name string) bool {
	return strings.HasPrefix(name, "organization_") || name == "members"
}

// renderGrant; callers hold s.mu.
func (s *Server) renderGrant(r *http.Request, p *pat, now time.Time) grantJSON {
	owner := s.st.user(p.User)
	if owner == nil {
		owner = &user{Login: p.User}
	}
	perms := map[string]map[string]string{"organization": {}, "repository": {}, "other": {}}
	for name, level := range p.Permissions {
		if orgPermission(name) {
			perms["organization"][name] = level
		} else {
			perms["repository"][name] = level
		}
	}
	if len(p.Repositories) > 0 {
		perms["repository"]["metadata"] = cmp.Or(perms["repository"]["metadata"], "read")
	}
	sel := "none"
	if len(p.Repositories) > 0 {
		sel = "subset"
	}
	j := grantJSON{
		ID: p.Grant.ID, Owner: renderUser(r, owner), RepositorySelection: sel,
		RepositoriesURL: apiURL(r, fmt.Sprintf("/orgs/%s/personal-access-tokens/%d/repositories", p.Grant.Org, p.Grant.ID)),
		Permissions:     perms, AccessGrantedAt: ts(p.Grant.GrantedAt), TokenID: p.ID, TokenName: p.Note,
		TokenExpired: p.state(now) == StateExpired,
	}
	if !p.ExpiresAt.IsZero() {
		v := ts(p.ExpiresAt)
		j.TokenExpiresAt = &v
	}
	if !p.LastUsedAt.IsZero() {
		v := ts(p.LastUsedAt)
		j.TokenLastUsedAt = &v
	}
	return j
}

// listOrgPATs is GET /orgs/{org}/personal-access-tokens, with GitHub's
// filters: owner[], repository, permission (as "contents_read"),
// last_used_before, last_used_after, token_id[], sort=created_at and
// direction (default desc), paginated.
func (s *Server) listOrgPATs(w http.ResponseWriter, r *http.Request, p *principal) {
	q := r.URL.Query()
	perPage, page := pagination(q)
	var before, after time.Time
	for name, t := range map[string]*time.Time{"last_used_before": &before, "last_used_after": &after} {
		if v := q.Get(name); v != "" {
			parsed, err := time.Parse(time.RFC3339, v)
			if err != nil {
				writeError(w, http.StatusUnprocessableEntity, "Invalid request.\n\n"+name+" must be a timestamp in ISO 8601 format: YYYY-MM-DDTHH:MM:SSZ.", docOrgPATs)
				return
			}
			*t = parsed
		}
	}
	owners := append(q["owner[]"], q["owner"]...)
	tokenIDs := append(q["token_id[]"], q["token_id"]...)
	s.mu.Lock()
	og, herr := s.orgPATApp(r, p, "read")
	var all []grantJSON
	if herr == nil {
		now := s.now()
		grants := s.st.orgGrants(og.Login)
		slices.SortFunc(grants, func(a, b *pat) int {
			return cmp.Or(a.Grant.GrantedAt.Compare(b.Grant.GrantedAt), cmp.Compare(a.Grant.ID, b.Grant.ID))
		})
		if q.Get("direction") != "asc" {
			slices.Reverse(grants)
		}
		for _, t := range grants {
			switch {
			case len(owners) > 0 && !slices.ContainsFunc(owners, func(o string) bool { return strings.EqualFold(o, t.User) }),
				len(tokenIDs) > 0 && !slices.Contains(tokenIDs, strconv.FormatInt(t.ID, 10)),
				q.Get("repository") != "" && !slices.ContainsFunc(t.Repositories, func(full string) bool {
					_, name, _ := strings.Cut(full, "/")
					return strings.EqualFold(name, q.Get("repository"))
				}),
				q.Get("permission") != "" && !hasNamedPermission(t.Permissions, q.Get("permission")),
				!before.IsZero() && (t.LastUsedAt.IsZero() || !t.LastUsedAt.Before(before)),
				!after.IsZero() && (t.LastUsedAt.IsZero() || !t.LastUsedAt.After(after)):
				continue
			}
			all = append(all, s.renderGrant(r, t, now))
		}
	}
	s.mu.Unlock()
	if herr != nil {
		writeError(w, herr.status, herr.message, docOrgPATs)
		return
	}
	writeJSON(w, http.StatusOK, pageOf(w, r, all, perPage, page))
}

// hasNamedPermission reads GitHub's "name_level" form ("issues_read"):
// the token has the permission at that level or above.
func hasNamedPermission(perms map[string]string, named string) bool {
	i := strings.LastIndex(named, "_")
	if i < 0 {
		return false
	}
	return levels[named[i+1:]] > 0 && grants(perms, named[:i], named[i+1:])
}

type orgPATRequest struct {
	Action *string `json:"action"`
	PATIDs []int64 `json:"pat_ids"`
}

// revokeOrgPATs is POST /orgs/{org}/personal-access-tokens
// {action: revoke, pat_ids: [1..100]} → 202. Every id must be a grant of
// the organisation, else nothing changes (404).
func (s *Server) revokeOrgPATs(w http.ResponseWriter, r *http.Request, p *principal) {
	var in orgPATRequest
	herr := decodeJSON(r, &in)
	s.mu.Lock()
	og, aerr := s.orgPATApp(r, p, "write")
	switch {
	case aerr != nil:
		herr = aerr
	case herr != nil:
	case in.PATIDs == nil:
		herr = &httpError{http.StatusUnprocessableEntity, "Invalid request.\n\n\"pat_ids\" wasn't supplied."}
	case len(in.PATIDs) == 0 || len(in.PATIDs) > 100:
		herr = &httpError{http.StatusUnprocessableEntity, "Invalid request.\n\nFor 'properties/pat_ids', the array must have between 1 and 100 items."}
	default:
		herr = s.revokeGrants(og, in.Action, in.PATIDs)
	}
	s.mu.Unlock()
	if herr != nil {
		writeError(w, herr.status, herr.message, docOrgPATs)
		return
	}
	writeJSON(w, http.StatusAccepted, struct{}{})
}

// revokeOrgPAT is POST /orgs/{org}/personal-access-tokens/{pat_id}
// {action: revoke} → 204.
func (s *Server) revokeOrgPAT(w http.ResponseWriter, r *http.Request, p *principal) {
	var in orgPATRequest
	herr := decodeJSON(r, &in)
	id, err := strconv.ParseInt(r.PathValue("pat_id"), 10, 64)
	s.mu.Lock()
	og, aerr := s.orgPATApp(r, p, "write")
	switch {
	case aerr != nil:
		herr = aerr
	case err != nil:
		herr = &httpError{http.StatusNotFound, msgNotFound}
	case herr == nil:
		herr = s.revokeGrants(og, in.Action, []int64{id})
	}
	s.mu.Unlock()
	if herr != nil {
		writeError(w, herr.status, herr.message, docOrgPATs)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// revokeGrants revokes the organisation's grants with these ids, all or
// none. Callers hold s.mu.
func (s *Server) revokeGrants(og *org, action *string, ids []int64) *httpError {
	if action == nil {
		return &httpError{http.StatusUnprocessableEntity, "Invalid request.\n\n\"action\" wasn't supplied."}
	}
	if *action != "revoke" {
		return &httpError{http.StatusUnprocessableEntity, "Invalid request.\n\nFor 'properties/action', " + strconv.Quote(*action) + " is not a member of [\"revoke\"]."}
	}
	live := map[int64]*pat{}
	for _, t := range s.st.orgGrants(og.Login) {
		live[t.Grant.ID] = t
	}
	for _, id := range ids {
		if live[id] == nil {
			return &httpError{http.StatusNotFound, msgNotFound}
		}
	}
	now := s.now()
	for _, id := range ids {
		t := live[id]
		np, g := *t, *t.Grant
		g.RevokedAt = now
		np.Grant = &g
		s.st.pats[np.ID] = &np
		s.st.patByValue[np.Value] = &np
	}
	return nil
}

// OrgGrantInfo is an organisation's grant of a fine-grained token, as its
// settings page lists it.
type OrgGrantInfo struct {
	ID        int64     `json:"id"` // the pat_id
	Org       string    `json:"org"`
	TokenID   int64     `json:"token_id"`
	User      string    `json:"user"`
	GrantedAt time.Time `json:"granted_at"`
	RevokedAt time.Time `json:"revoked_at,omitzero"`
}

// OrgGrants lists every grant of every organisation, by id, revoked ones
// included.
func (s *Server) OrgGrants() []OrgGrantInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []OrgGrantInfo{}
	for _, p := range s.st.pats {
		if p.Grant != nil {
			out = append(out, OrgGrantInfo{ID: p.Grant.ID, Org: p.Grant.Org, TokenID: p.ID, User: p.User, GrantedAt: p.Grant.GrantedAt, RevokedAt: p.Grant.RevokedAt})
		}
	}
	slices.SortFunc(out, func(a, b OrgGrantInfo) int { return cmp.Compare(a.ID, b.ID) })
	return out
}
