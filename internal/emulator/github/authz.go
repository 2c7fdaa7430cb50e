package github

import (
	"net/http"
	"slices"
)

// Messages of refusals on resources the caller can see.
const (
	msgNotByPAT       = "Resource not accessible by personal access token"
	msgRepoAdminRight = "Must have admin rights to Repository."
	msgOrgAdminRight  = "Must have admin rights to Organization."
)

// op is what an endpoint needs of the caller on a repository or an
// organisation, per kind of credential (GitHub's "Permissions required for
// fine-grained personal access tokens" and each endpoint's page).
type op struct {
	perm   string // fine-grained token and GitHub App permission ("secrets")
	also   string // a second permission needed at the same level ("environments" for environment secrets); "" none
	level  string // "read" or "write"
	scope  string // classic token scope, also on public repositories; "" none
	role   role   // the least role of the token's user
	denied string // the message when the user's role falls short
}

// granted reports whether perms (a fine-grained token's, an installation
// token's or an installation's) allow o.
func (o op) granted(perms map[string]string) bool {
	return grants(perms, o.perm, o.level) && (o.also == "" || grants(perms, o.also, o.level))
}

// acceptedPerms is o's X-Accepted-GitHub-Permissions at level: the
// permissions of one set, all needed, separated by commas.
func (o op) acceptedPerms(level string) string {
	if o.also == "" {
		return o.perm + "=" + level
	}
	return o.perm + "=" + level + "," + o.also + "=" + level
}

// authorizeRepo finds the path's repository and decides whether p may do o
// on it. A repository p cannot see is 404; one it sees but may not use as
// o needs is 403 with GitHub's message, except a classic token without the
// scope, which GitHub answers 404 as for a hidden resource. Callers hold
// s.mu.
func (s *Server) authorizeRepo(r *http.Request, p *principal, o op) (*repo, *httpError) {
	rp := s.visibleRepo(r, p, needMetadata)
	if rp == nil {
		return nil, &httpError{http.StatusNotFound, msgNotFound}
	}
	switch p.kind {
	case byPAT:
		if !p.fineGrained() {
			if o.scope != "" && !hasScope(p.scopes, o.scope) {
				return nil, &httpError{http.StatusNotFound, msgNotFound}
			}
			break
		}
		if !p.listsRepo(rp) || s.grantRevoked(p, rp.Owner) || !o.granted(p.perms) {
			return nil, &httpError{http.StatusForbidden, msgNotByPAT}
		}
	case byInstallation:
		t := s.st.instTokens[p.instValue]
		if t == nil || !slices.Contains(s.st.tokenRepos(t), rp) || !o.granted(p.perms) {
			return nil, &httpError{http.StatusForbidden, msgNotByIntegration}
		}
	case byUserToken:
		in := s.st.appInstallationFor(p.appID, rp)
		if in == nil || !o.granted(in.Permissions) {
			return nil, &httpError{http.StatusForbidden, msgNotByIntegration}
		}
	default:
		return nil, &httpError{http.StatusUnauthorized, msgRequiresAuth}
	}
	if p.actsAsUser() && s.st.role(rp, p.user) < o.role {
		return nil, &httpError{http.StatusForbidden, o.denied}
	}
	return rp, nil
}

// authorizeOrg finds the path's organisation and decides whether p may do
// o on it, as authorizeRepo does for a repository; an organisation the
// user does not belong to is 404. Callers hold s.mu.
func (s *Server) authorizeOrg(r *http.Request, p *principal, o op) (*org, *httpError) {
	og := s.st.orgs[key(r.PathValue("org"))]
	if og == nil {
		return nil, &httpError{http.StatusNotFound, msgNotFound}
	}
	switch p.kind {
	case byPAT:
		if s.st.orgRole(og.Login, p.user) == roleNone {
			return nil, &httpError{http.StatusNotFound, msgNotFound}
		}
		if !p.fineGrained() {
			if o.scope != "" && !hasScope(p.scopes, o.scope) {
				return nil, &httpError{http.StatusNotFound, msgNotFound}
			}
			break
		}
		t := s.st.pats[p.patID]
		if t == nil || t.Grant == nil || key(t.Grant.Org) != key(og.Login) || s.grantRevoked(p, og.Login) || !o.granted(p.perms) {
			return nil, &httpError{http.StatusForbidden, msgNotByPAT}
		}
	case byInstallation:
		in := s.st.insts[p.instID]
		if in == nil || key(in.Account) != key(og.Login) || !o.granted(p.perms) {
			return nil, &httpError{http.StatusForbidden, msgNotByIntegration}
		}
	case byUserToken:
		if s.st.orgRole(og.Login, p.user) == roleNone {
			return nil, &httpError{http.StatusNotFound, msgNotFound}
		}
		in := s.st.ghuInstallation(p.appID, og.Login)
		if in == nil || !o.granted(in.Permissions) {
			return nil, &httpError{http.StatusForbidden, msgNotByIntegration}
		}
	default:
		return nil, &httpError{http.StatusUnauthorized, msgRequiresAuth}
	}
	if p.actsAsUser() && s.st.orgRole(og.Login, p.user) < o.role {
		return nil, &httpError{http.StatusForbidden, o.denied}
	}
	return og, nil
}
