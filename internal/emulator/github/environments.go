package github

import (
	"fmt"
	"hash/fnv"
	"net/http"
	"net/url"
	"strings"
)

// Deployment environments ("REST API endpoints for deployment
// environments"): the emulator keeps a repository's environments as names
// declared with it, which hold Actions secrets of their own (secrets.go).
// Listing them is what a client needs to find those secrets.

const docEnvironments = "https://docs.github.com/rest/deployments/environments#list-environments"

// environmentJSON is GitHub's environment. The emulator keeps no record of
// an environment beyond its name, so its id is derived from the repository
// and the name (the same across restarts and snapshots), and it was
// created, and last updated, with its repository.
type environmentJSON struct {
	ID        int64  `json:"id"`
	NodeID    string `json:"node_id"`
	Name      string `json:"name"`
	URL       string `json:"url"`
	HTMLURL   string `json:"html_url"`
	CreatedAt string `json:"created_at"`
	UpdatedAt string `json:"updated_at"`
}

func (s *Server) environmentRoutes() {
	// Anyone who reads the repository lists its environments: a classic
	// token needs repo for a private one, a fine-grained token or an app
	// actions:read.
	read := op{perm: "actions", level: "read", role: roleRead}
	s.handle("GET /repos/{owner}/{repo}/environments", route{acceptedScopes: "repo", acceptedPerms: "actions=read"},
		func(w http.ResponseWriter, r *http.Request, p *principal) { s.listEnvironments(w, r, p, read) })
}

func (s *Server) listEnvironments(w http.ResponseWriter, r *http.Request, p *principal, o op) {
	perPage, page := pagination(r.URL.Query())
	s.mu.Lock()
	// As for workflow runs: a public repository's are anyone's to read.
	rp, herr := s.runsRepo(r, p, o)
	var all []environmentJSON
	if herr == nil {
		for _, name := range rp.Environments {
			all = append(all, renderEnvironment(r, rp, name))
		}
	}
	s.mu.Unlock()
	if herr != nil {
		writeError(w, herr.status, herr.message, docEnvironments)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"total_count": len(all), "environments": pageOf(w, r, all, perPage, page)})
}

func renderEnvironment(r *http.Request, rp *repo, name string) environmentJSON {
	h := fnv.New64a()
	fmt.Fprintf(h, "%d/%s", rp.ID, strings.ToLower(name))
	id := int64(h.Sum64() >> 24) // positive, and within a JavaScript number
	return environmentJSON{
		ID: id, NodeID: nodeID("EN", id), Name: name,
		URL:       apiURL(r, fmt.Sprintf("/repos/%s/%s/environments/%s", rp.Owner, rp.Name, url.PathEscape(name))),
		HTMLURL:   htmlURL(r, fmt.Sprintf("/%s/%s/deployments/activity_log?environments_filter=%s", rp.Owner, rp.Name, url.QueryEscape(name))),
		CreatedAt: ts(rp.CreatedAt), UpdatedAt: ts(rp.CreatedAt),
	}
}
