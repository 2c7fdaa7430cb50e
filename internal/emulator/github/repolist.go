package github

import (
	"net/http"
)

// Listing an owner's repositories ("REST API endpoints for repositories":
// List organization repositories, List repositories for the authenticated
// user): what a client uses to find every repository of an owner that its
// token can see, e.g. to look for a secret of one name in each.

// listOrgRepos answers GET /orgs/{org}/repos: the organisation's
// repositories the caller can see (public ones to anyone), by id. The type
// and sort parameters are not modelled: every repository, in creation
// order.
func (s *Server) listOrgRepos(w http.ResponseWriter, r *http.Request, p *principal) {
	perPage, page := pagination(r.URL.Query())
	s.mu.Lock()
	og := s.st.orgs[key(r.PathValue("org"))]
	var all []repoJSON
	if og != nil {
		for _, rp := range s.st.sortedRepos() {
			if key(rp.Owner) != key(og.Login) {
				continue
			}
			if ok, _ := s.access(p, rp, needMetadata); ok {
				all = append(all, s.renderRepo(r, rp, principalOrNil(p)))
			}
		}
	}
	s.mu.Unlock()
	if og == nil {
		writeNotFound(w)
		return
	}
	writeJSON(w, http.StatusOK, pageOf(w, r, all, perPage, page))
}

// listUserRepos answers GET /user/repos: the repositories the token's user
// has a role on (owner, collaborator, organisation owner or member) and
// the token may see. GitHub's affiliation, visibility and type filters are
// not modelled: every such repository, in creation order. An installation
// token is refused as on GitHub (it acts for no user).
func (s *Server) listUserRepos(w http.ResponseWriter, r *http.Request, p *principal) {
	if !p.actsAsUser() {
		writeError(w, http.StatusForbidden, msgNotByIntegration, docREST)
		return
	}
	perPage, page := pagination(r.URL.Query())
	s.mu.Lock()
	var all []repoJSON
	for _, rp := range s.st.sortedRepos() {
		if s.st.role(rp, p.user) == roleNone {
			continue
		}
		if ok, _ := s.access(p, rp, needMetadata); ok {
			all = append(all, s.renderRepo(r, rp, p))
		}
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, pageOf(w, r, all, perPage, page))
}

// sortedRepos lists every repository by id. Callers hold s.mu.
func (st *state) sortedRepos() []*repo {
	out := make([]*repo, 0, len(st.repos))
	for _, rp := range st.repos {
		out = append(out, rp)
	}
	sortRepos(out)
	return out
}
