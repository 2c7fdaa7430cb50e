package github

import (
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/rotor-ci/rotor/internal/emulator/ghtoken"
)

// routes lists the REST endpoints; each pattern is also the fault
// operation name ("GET /repos/{owner}/{repo}").
func (s *Server) routes() {
	s.api = http.NewServeMux()
	repoRead := route{acceptedScopes: "repo", acceptedPerms: "metadata=read"}
	contents := route{acceptedScopes: "repo", acceptedPerms: "contents=read"}
	s.handle("GET /user", route{mode: authToken}, s.getAuthenticatedUser)
	s.handle("GET /users/{login}", route{}, s.getUser)
	s.handle("GET /repos/{owner}/{repo}", repoRead, s.getRepo)
	s.handle("GET /user/repos", route{mode: authToken, acceptedScopes: "repo", acceptedPerms: "metadata=read"}, s.listUserRepos)
	s.handle("GET /orgs/{org}/repos", route{acceptedScopes: "repo", acceptedPerms: "metadata=read"}, s.listOrgRepos)
	s.handle("GET /repos/{owner}/{repo}/tarball/{ref...}", contents, s.getTarball)
	s.handle("GET /rate_limit", route{free: true}, s.getRateLimit)
	// The revocation API's own budget: "60 unauthenticated requests per
	// hour" (REST API endpoints for revocation), per client address.
	s.handle("POST /credentials/revoke", route{mode: authNone, budget: &budget{resource: revokeResource, limit: func(s *Server) int { return s.revokeLimit }}}, s.revokeCredentials)
	s.handle("GET /installation/repositories", route{mode: authToken, acceptedPerms: "metadata=read"}, s.listInstallationRepos)
	s.handle("DELETE /installation/token", route{mode: authToken}, s.deleteInstallationToken)
	s.handle("GET /app", route{mode: authJWT}, s.getApp)
	s.handle("GET /app/installations", route{mode: authJWT}, s.listInstallations)
	s.handle("GET /app/installations/{id}", route{mode: authJWT}, s.getInstallation)
	s.handle("POST /app/installations/{id}/access_tokens", route{mode: authJWT}, s.createInstallationToken)
	s.secretRoutes()
	s.workflowRoutes()
	s.environmentRoutes()
	s.orgPATRoutes()
	s.oauthRoutes()
	s.adminRoutes()
	s.hookRoutes()
}

func (s *Server) getAuthenticatedUser(w http.ResponseWriter, r *http.Request, p *principal) {
	if !p.actsAsUser() {
		writeError(w, http.StatusForbidden, msgNotByIntegration, docGetUser)
		return
	}
	s.mu.Lock()
	u := s.st.user(p.user)
	var j fullUserJSON
	if u != nil {
		j = s.renderFullUser(r, u, true)
	}
	s.mu.Unlock()
	if u == nil {
		writeError(w, http.StatusUnauthorized, msgBadCredentials, docREST)
		return
	}
	writeJSON(w, http.StatusOK, j)
}

func (s *Server) getUser(w http.ResponseWriter, r *http.Request, _ *principal) {
	s.mu.Lock()
	u := s.st.user(r.PathValue("login"))
	var j fullUserJSON
	if u != nil {
		j = s.renderFullUser(r, u, false)
	}
	s.mu.Unlock()
	if u == nil {
		writeNotFound(w)
		return
	}
	writeJSON(w, http.StatusOK, j)
}

// visibleRepo finds the path's repository if p may read it (n). Callers
// hold s.mu; nil means answer 404.
func (s *Server) visibleRepo(r *http.Request, p *principal, n need) *repo {
	rp := s.st.repo(r.PathValue("owner"), r.PathValue("repo"))
	if rp == nil {
		return nil
	}
	if ok, _ := s.access(p, rp, n); !ok {
		return nil
	}
	return rp
}

// principalOrNil is the principal as rendering wants it: none for an
// anonymous request, which sees no permissions object.
func principalOrNil(p *principal) *principal {
	if p.kind == anonymous {
		return nil
	}
	return p
}

func (s *Server) getRepo(w http.ResponseWriter, r *http.Request, p *principal) {
	s.mu.Lock()
	rp := s.visibleRepo(r, p, needMetadata)
	var j repoJSON
	if rp != nil {
		j = s.renderRepo(r, rp, principalOrNil(p))
	}
	s.mu.Unlock()
	if rp == nil {
		writeNotFound(w)
		return
	}
	writeJSON(w, http.StatusOK, j)
}

// commitSHA is a branch's head: stable, so a tarball is the same bytes each
// time.
func commitSHA(rp *repo, branch string) string {
	sum := sha1.Sum([]byte(key(rp.Owner, rp.Name) + "@" + branch))
	return hex.EncodeToString(sum[:])
}

// resolveRef finds the branch a ref names: "", a branch name, heads/…,
// refs/heads/… or a head's full commit SHA.
func resolveRef(rp *repo, ref string) (branch, sha string) {
	if ref == "" {
		return rp.defaultBranch(), commitSHA(rp, rp.defaultBranch())
	}
	name := strings.TrimPrefix(strings.TrimPrefix(ref, "refs/"), "heads/")
	for _, b := range rp.Branches {
		if c := commitSHA(rp, b); b == name || b == ref || c == ref {
			return b, c
		}
	}
	return "", ""
}

// getTarball answers as GitHub does: 302 to the download host
// (codeload.github.com), whose URL carries a short-lived token of its own
// (the recorded get-archive exchange; GitHub's description documents only
// the 302). The emulator serves that host's part under CodeloadPrefix.
func (s *Server) getTarball(w http.ResponseWriter, r *http.Request, p *principal) {
	s.mu.Lock()
	rp := s.visibleRepo(r, p, needContents)
	var sha string
	if rp != nil && r.PathValue("ref") != "" { // the description has no tarball without a ref
		_, sha = resolveRef(rp, r.PathValue("ref"))
	}
	s.mu.Unlock()
	if sha == "" {
		writeNotFound(w)
		return
	}
	w.Header().Set("Location", htmlURL(r, s.codeloadPath(rp.Owner, rp.Name, sha)))
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusFound)
}

func (s *Server) getRateLimit(w http.ResponseWriter, _ *http.Request, p *principal) {
	core := map[string]int64{"limit": int64(p.rate.limit), "used": int64(p.rate.used), "remaining": int64(p.rate.remaining()), "reset": p.rate.reset.Unix()}
	other := func(limit int64) map[string]int64 {
		return map[string]int64{"limit": limit, "used": 0, "remaining": limit, "reset": p.rate.reset.Unix()}
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"resources": map[string]any{"core": core, "search": other(30), "graphql": other(int64(p.rate.limit)), "integration_manifest": other(5000)},
		"rate":      core,
	})
}

// revocable are the kinds the credential revocation API accepts.
var revocable = map[ghtoken.Kind]bool{
	ghtoken.KindClassicPAT: true, ghtoken.KindFineGrained: true, ghtoken.KindOAuth: true, ghtoken.KindAppUser: true, ghtoken.KindAppRefresh: true,
}

func (s *Server) revokeCredentials(w http.ResponseWriter, r *http.Request, _ *principal) {
	var in struct {
		Credentials []string `json:"credentials"`
	}
	if herr := decodeJSON(r, &in); herr != nil {
		writeError(w, herr.status, herr.message, docRevoke)
		return
	}
	switch {
	case in.Credentials == nil:
		writeError(w, http.StatusUnprocessableEntity, "Invalid request.\n\n\"credentials\" wasn't supplied.", docRevoke)
		return
	case len(in.Credentials) == 0 || len(in.Credentials) > 1000:
		writeError(w, http.StatusUnprocessableEntity, "Invalid request.\n\nFor 'properties/credentials', the array must have between 1 and 1000 items.", docRevoke)
		return
	}
	for _, c := range in.Credentials {
		if strings.TrimSpace(c) == "" {
			writeError(w, http.StatusUnprocessableEntity, "Invalid request.\n\nFor 'items', \"\" is too short (minimum is 1 characters).", docRevoke)
			return
		}
	}
	s.mu.Lock()
	for _, c := range in.Credentials {
		c = strings.TrimSpace(c)
		switch k := ghtoken.KindOf(c); {
		case k == ghtoken.KindAppUser || k == ghtoken.KindAppRefresh:
			s.revokeUserToken(c)
		case revocable[k]:
			s.revokeValue(c) // unknown values are ignored, as GitHub does
		}
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusAccepted, struct{}{})
}

const msgNeedsInstallation = "You must authenticate with an installation access token in order to use this endpoint."

func (s *Server) listInstallationRepos(w http.ResponseWriter, r *http.Request, p *principal) {
	if p.kind != byInstallation {
		writeError(w, http.StatusForbidden, msgNeedsInstallation, docREST)
		return
	}
	perPage, page := pagination(r.URL.Query())
	s.mu.Lock()
	var all []repoJSON
	selection := "selected"
	if t := s.st.instTokens[p.instValue]; t != nil {
		for _, rp := range s.st.tokenRepos(t) {
			all = append(all, s.renderRepo(r, rp, p))
		}
		if in := s.st.insts[t.InstallationID]; in != nil && len(t.Repositories) == 0 {
			selection = in.selection()
		}
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{
		"total_count": len(all), "repository_selection": selection, "repositories": pageOf(w, r, all, perPage, page),
	})
}

func nonNilSlice[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// pagination reads per_page (default 30, at most 100) and page (from 1).
func pagination(q url.Values) (perPage, page int) {
	perPage, page = 30, 1
	if n, err := strconv.Atoi(q.Get("per_page")); err == nil && n > 0 {
		perPage = min(n, 100)
	}
	if n, err := strconv.Atoi(q.Get("page")); err == nil && n > 0 {
		page = n
	}
	return perPage, page
}

// pageOf is one page of all, per_page and page as pagination read them,
// with GitHub's Link header set for it.
func pageOf[T any](w http.ResponseWriter, r *http.Request, all []T, perPage, page int) []T {
	setLinks(w, r, len(all), perPage, page)
	from, to := min((page-1)*perPage, len(all)), min(page*perPage, len(all))
	return nonNilSlice(all[from:to])
}

// setLinks writes GitHub's Link header for a page of total items.
func setLinks(w http.ResponseWriter, r *http.Request, total, perPage, page int) {
	last := max((total+perPage-1)/perPage, 1)
	link := func(n int, rel string) string {
		q := r.URL.Query()
		q.Set("per_page", strconv.Itoa(perPage))
		q.Set("page", strconv.Itoa(n))
		return fmt.Sprintf(`<%s?%s>; rel="%s"`, apiURL(r, r.URL.Path), q.Encode(), rel)
	}
	var links []string
	if page < last {
		links = append(links, link(page+1, "next"), link(last, "last"))
	}
	if page > 1 {
		links = append(links, link(1, "first"), link(min(page-1, last), "prev"))
	}
	if len(links) > 0 {
		w.Header().Set("Link", strings.Join(links, ", "))
	}
}

func (s *Server) deleteInstallationToken(w http.ResponseWriter, _ *http.Request, p *principal) {
	if p.kind != byInstallation {
		writeError(w, http.StatusForbidden, msgNeedsInstallation, docREST)
		return
	}
	s.mu.Lock()
	if t := s.st.instTokens[p.instValue]; t != nil && t.RevokedAt.IsZero() {
		nt := *t
		nt.RevokedAt = s.now()
		s.st.instTokens[p.instValue] = &nt
	}
	s.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}
