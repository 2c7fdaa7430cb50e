package github

import (
	"bytes"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/rotor-ci/rotor/internal/emulator/ghtoken"
)

type appJSON struct {
	ID                 int64             `json:"id"`
	Slug               string            `json:"slug"`
	ClientID           string            `json:"client_id"`
	NodeID             string            `json:"node_id"`
	Owner              userJSON          `json:"owner"`
	Name               string            `json:"name"`
	Description        string            `json:"description"`
	ExternalURL        string            `json:"external_url"`
	HTMLURL            string            `json:"html_url"`
	CreatedAt          string            `json:"created_at"`
	UpdatedAt          string            `json:"updated_at"`
	Permissions        map[string]string `json:"permissions"`
	Events             []string          `json:"events"`
	InstallationsCount int               `json:"installations_count"`
}

type installationJSON struct {
	ID                  int64             `json:"id"`
	ClientID            string            `json:"client_id"`
	AppID               int64             `json:"app_id"`
	AppSlug             string            `json:"app_slug"`
	TargetID            int64             `json:"target_id"`
	TargetType          string            `json:"target_type"`
	Account             userJSON          `json:"account"`
	RepositorySelection string            `json:"repository_selection"`
	AccessTokensURL     string            `json:"access_tokens_url"`
	RepositoriesURL     string            `json:"repositories_url"`
	HTMLURL             string            `json:"html_url"`
	Permissions         map[string]string `json:"permissions"`
	Events              []string          `json:"events"`
	CreatedAt           string            `json:"created_at"`
	UpdatedAt           string            `json:"updated_at"`
	SingleFileName      *string           `json:"single_file_name"`
	SuspendedBy         *userJSON         `json:"suspended_by"`
	SuspendedAt         *string           `json:"suspended_at"`
}

// renderInstallation; callers hold s.mu.
func (s *Server) renderInstallation(r *http.Request, a *app, in *installation) installationJSON {
	acct := s.st.user(in.Account)
	if acct == nil {
		acct = &user{Login: in.Account}
	}
	return installationJSON{
		ID: in.ID, ClientID: a.ClientID, AppID: a.ID, AppSlug: a.Slug, TargetID: acct.ID, TargetType: acct.typeName(),
		Account: renderUser(r, acct), RepositorySelection: in.selection(),
		AccessTokensURL: apiURL(r, fmt.Sprintf("/app/installations/%d/access_tokens", in.ID)),
		RepositoriesURL: apiURL(r, "/installation/repositories"),
		HTMLURL:         htmlURL(r, fmt.Sprintf("/settings/installations/%d", in.ID)),
		Permissions:     maps.Clone(in.Permissions), Events: []string{},
		CreatedAt: ts(in.CreatedAt), UpdatedAt: ts(in.CreatedAt),
	}
}

func (s *Server) getApp(w http.ResponseWriter, r *http.Request, p *principal) {
	s.mu.Lock()
	a := s.st.apps[p.appID]
	if a == nil {
		s.mu.Unlock()
		writeNotFound(w)
		return
	}
	owner := s.st.user(a.Owner)
	if owner == nil {
		owner = &user{Login: a.Owner}
	}
	j := appJSON{
		ID: a.ID, Slug: a.Slug, ClientID: a.ClientID, NodeID: nodeID("A", a.ID), Owner: renderUser(r, owner),
		Name: a.Name, ExternalURL: htmlURL(r, "/"+a.Owner), HTMLURL: htmlURL(r, "/apps/"+a.Slug),
		CreatedAt: ts(a.CreatedAt), UpdatedAt: ts(a.CreatedAt), Permissions: maps.Clone(a.Permissions),
		Events: []string{}, InstallationsCount: len(s.appInstallations(a.ID)),
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, j)
}

func (s *Server) listInstallations(w http.ResponseWriter, r *http.Request, p *principal) {
	s.mu.Lock()
	out := []installationJSON{}
	if a := s.st.apps[p.appID]; a != nil {
		for _, in := range s.appInstallations(a.ID) {
			out = append(out, s.renderInstallation(r, a, in))
		}
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, out)
}

// ownInstallation finds the path's installation if it belongs to p's app.
// Callers hold s.mu.
func (s *Server) ownInstallation(r *http.Request, p *principal) (*app, *installation) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		return nil, nil
	}
	in := s.st.insts[id]
	a := s.st.apps[p.appID]
	if in == nil || a == nil || in.AppID != a.ID {
		return nil, nil
	}
	return a, in
}

func (s *Server) getInstallation(w http.ResponseWriter, r *http.Request, p *principal) {
	s.mu.Lock()
	a, in := s.ownInstallation(r, p)
	var j installationJSON
	if in != nil {
		j = s.renderInstallation(r, a, in)
	}
	s.mu.Unlock()
	if in == nil {
		writeNotFound(w)
		return
	}
	writeJSON(w, http.StatusOK, j)
}

type accessTokenRequest struct {
	Repositories  []string          `json:"repositories"`
	RepositoryIDs []int64           `json:"repository_ids"`
	Permissions   map[string]string `json:"permissions"`
}

const (
	msgNotInInstallation = "There is at least one repository that does not exist or is not accessible to the parent installation."
	msgPermsNotGranted   = "The permissions requested are not granted to this installation."
)

func (s *Server) createInstallationToken(w http.ResponseWriter, r *http.Request, p *principal) {
	var req accessTokenRequest
	b, herr := readBody(r)
	if herr == nil && len(bytes.TrimSpace(b)) > 0 { // no body: no narrowing
		herr = decodeBytes(b, &req)
	}
	if herr != nil {
		writeError(w, herr.status, herr.message, docInstToken)
		return
	}
	if len(req.RepositoryIDs) > 500 || len(req.Repositories) > 500 {
		writeError(w, http.StatusUnprocessableEntity, "Invalid request.\n\nToo many repositories: at most 500.", docInstToken)
		return
	}
	perms, err := normalisePermissions(req.Permissions)
	if err != nil {
		writeError(w, http.StatusUnprocessableEntity, msgPermsNotGranted, docInstToken)
		return
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	_, in := s.ownInstallation(r, p)
	if in == nil {
		writeNotFound(w)
		return
	}
	covered := s.st.instRepos(in)
	var chosen []*repo
	choose := func(rp *repo) bool {
		if rp == nil || !slices.Contains(covered, rp) {
			return false
		}
		if !slices.Contains(chosen, rp) {
			chosen = append(chosen, rp)
		}
		return true
	}
	for _, n := range req.Repositories {
		if !choose(s.st.repo(in.Account, n)) {
			writeError(w, http.StatusUnprocessableEntity, msgNotInInstallation, docInstToken)
			return
		}
	}
	for _, id := range req.RepositoryIDs {
		if !choose(repoByID(covered, id)) {
			writeError(w, http.StatusUnprocessableEntity, msgNotInInstallation, docInstToken)
			return
		}
	}
	if len(perms) == 0 {
		perms = maps.Clone(in.Permissions)
	} else if _, ok := subset(perms, in.Permissions); !ok {
		writeError(w, http.StatusUnprocessableEntity, msgPermsNotGranted, docInstToken)
		return
	}
	perms = withMetadata(perms)

	now := s.now()
	t := &instToken{
		Value: s.freshValue(ghtoken.KindInstallation), InstallationID: in.ID, Permissions: perms,
		CreatedAt: now, ExpiresAt: now.Add(installationTokenTTL),
	}
	sortRepos(chosen)
	for _, rp := range chosen {
		t.Repositories = append(t.Repositories, rp.Name)
	}
	s.st.instTokens[t.Value] = t
	s.sweep(now)

	out := map[string]any{
		"token": t.Value, "expires_at": ts(t.ExpiresAt), "permissions": perms,
		"repository_selection": in.selection(),
	}
	if len(chosen) > 0 {
		out["repository_selection"] = "selected"
	}
	if out["repository_selection"] == "selected" {
		var repos []repoJSON
		tp := &principal{kind: byInstallation, instID: in.ID, perms: perms}
		for _, rp := range s.st.tokenRepos(t) {
			repos = append(repos, s.renderRepo(r, rp, tp))
		}
		out["repositories"] = nonNilSlice(repos)
	}
	writeJSON(w, http.StatusCreated, out)
}

func repoByID(rs []*repo, id int64) *repo {
	for _, r := range rs {
		if r.ID == id {
			return r
		}
	}
	return nil
}

// sweep forgets dead installation tokens and stale rate windows once they
// have doubled, so a long benchmark does not grow without bound. A forgotten
// token is as dead as a remembered one (401). Callers hold s.mu.
func (s *Server) sweep(now time.Time) {
	if len(s.st.instTokens) < s.sweepAt {
		return
	}
	for v, t := range s.st.instTokens {
		if !t.live(now) {
			delete(s.st.instTokens, v)
		}
	}
	for k, w := range s.rate {
		if !now.Before(w.start.Add(time.Hour)) {
			delete(s.rate, k)
		}
	}
	s.sweepAt = max(2*len(s.st.instTokens), minSweep)
}

const minSweep = 1024
