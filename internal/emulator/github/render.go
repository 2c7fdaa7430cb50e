package github

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
)

// The JSON shapes below carry the fields go-github and rotor read, named
// and typed as GitHub names and types them.

type userJSON struct {
	Login     string `json:"login"`
	ID        int64  `json:"id"`
	NodeID    string `json:"node_id"`
	AvatarURL string `json:"avatar_url"`
	URL       string `json:"url"`
	HTMLURL   string `json:"html_url"`
	ReposURL  string `json:"repos_url"`
	Type      string `json:"type"`
	SiteAdmin bool   `json:"site_admin"`
	CreatedAt string `json:"created_at,omitempty"`
	UpdatedAt string `json:"updated_at,omitempty"`
}

type repoPerms struct {
	Admin    bool `json:"admin"`
	Maintain bool `json:"maintain"`
	Push     bool `json:"push"`
	Triage   bool `json:"triage"`
	Pull     bool `json:"pull"`
}

type repoJSON struct {
	ID            int64      `json:"id"`
	NodeID        string     `json:"node_id"`
	Name          string     `json:"name"`
	FullName      string     `json:"full_name"`
	Private       bool       `json:"private"`
	Visibility    string     `json:"visibility"`
	Owner         userJSON   `json:"owner"`
	HTMLURL       string     `json:"html_url"`
	Description   *string    `json:"description"`
	Fork          bool       `json:"fork"`
	URL           string     `json:"url"`
	ArchiveURL    string     `json:"archive_url"`
	DefaultBranch string     `json:"default_branch"`
	Archived      bool       `json:"archived"`
	Disabled      bool       `json:"disabled"`
	CreatedAt     string     `json:"created_at"`
	UpdatedAt     string     `json:"updated_at"`
	PushedAt      string     `json:"pushed_at"`
	Permissions   *repoPerms `json:"permissions,omitempty"`
}

func nodeID(prefix string, id int64) string {
	return prefix + "_" + base64.RawURLEncoding.EncodeToString([]byte(fmt.Sprint(id)))
}

func htmlURL(r *http.Request, path string) string {
	return strings.TrimSuffix(apiURL(r, ""), "/api/v3") + path
}

func renderUser(r *http.Request, u *user, full bool) userJSON {
	j := userJSON{
		Login: u.Login, ID: u.ID, NodeID: nodeID("U", u.ID),
		AvatarURL: htmlURL(r, "/"+u.Login+".png"), URL: apiURL(r, "/users/"+u.Login),
		HTMLURL: htmlURL(r, "/"+u.Login), ReposURL: apiURL(r, "/users/"+u.Login+"/repos"), Type: "User",
	}
	if full {
		j.CreatedAt, j.UpdatedAt = ts(u.CreatedAt), ts(u.CreatedAt)
	}
	return j
}

// renderRepo renders rp as p sees it. Callers hold s.mu.
func (s *Server) renderRepo(r *http.Request, rp *repo, p *principal) repoJSON {
	owner := s.st.user(rp.Owner)
	if owner == nil {
		owner = &user{Login: rp.Owner}
	}
	vis := "public"
	if rp.Private {
		vis = "private"
	}
	full := rp.fullName()
	j := repoJSON{
		ID: rp.ID, NodeID: nodeID("R", rp.ID), Name: rp.Name, FullName: full, Private: rp.Private, Visibility: vis,
		Owner: renderUser(r, owner, false), HTMLURL: htmlURL(r, "/"+full), URL: apiURL(r, "/repos/"+full),
		ArchiveURL: apiURL(r, "/repos/"+full+"/{archive_format}{/ref}"), DefaultBranch: rp.defaultBranch(),
		CreatedAt: ts(rp.CreatedAt), UpdatedAt: ts(rp.CreatedAt), PushedAt: ts(rp.CreatedAt),
	}
	if p != nil {
		j.Permissions = s.repoPermissions(rp, p)
	}
	return j
}

// repoPermissions is the permissions object of a repository for p: the
// user's role for a personal token, the token's grants for an installation.
func (s *Server) repoPermissions(rp *repo, p *principal) *repoPerms {
	switch p.kind {
	case byPAT:
		switch {
		case strings.EqualFold(rp.Owner, p.user):
			return &repoPerms{Admin: true, Maintain: true, Push: true, Triage: true, Pull: true}
		case rp.member(p.user):
			return &repoPerms{Push: true, Triage: true, Pull: true}
		}
		return &repoPerms{Pull: true}
	case byInstallation:
		return &repoPerms{
			Admin: grants(p.perms, "administration", "write"), Push: grants(p.perms, "contents", "write"),
			Triage: grants(p.perms, "issues", "write"), Pull: true,
		}
	}
	return nil
}
