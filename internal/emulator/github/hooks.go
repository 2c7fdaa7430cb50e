package github

import (
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rotor-ci/rotor/internal/emulator/ghtoken"
)

// Repository webhooks (GitHub REST API, "Repository webhooks":
// docs.github.com/en/rest/repos/webhooks): what CodePipeline's
// RegisterWebhookWithThirdParty creates with a GitHub (version 1) action's
// token, and DeregisterWebhookWithThirdParty deletes. A classic token needs
// admin:repo_hook (write:repo_hook to create, read:repo_hook to list), a
// fine-grained or installation token the webhooks permission, and the user
// must own the repository; GitHub answers 404 otherwise. Hooks are kept in
// memory only (not in snapshots) and deliver nothing: the emulated
// repositories never change.
//
// This file also serves POST /_emulator/apps/{name}/installations, which
// installs an existing app on one more account as a person does on the
// app's page ("Install App"): the CodeConnections emulator plays AWS's
// console handshake with it.

// hookStore is the repositories' webhooks; its own lock keeps it apart
// from the rest of the state.
type hookStore struct {
	mu    sync.Mutex
	next  int64
	hooks map[string][]*hook // lower(owner/repo)
}

type hook struct {
	ID        int64
	Name      string
	Active    bool
	Events    []string
	URL       string
	Content   string
	Secret    string
	Insecure  string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Hook is a repository webhook as the Go API shows it (no secret).
type Hook struct {
	ID     int64    `json:"id"`
	Repo   string   `json:"repository"`
	URL    string   `json:"url"`
	Events []string `json:"events"`
	Active bool     `json:"active"`
	// SecretSet says whether the hook signs its deliveries.
	SecretSet bool `json:"secret_set"`
}

const docHooks = "https://docs.github.com/rest/repos/webhooks"

// hookRoutes registers the webhook endpoints and the admin installation
// endpoint; routes() calls it after adminRoutes.
func (s *Server) hookRoutes() {
	read := route{mode: authToken, acceptedScopes: "admin:repo_hook, read:repo_hook, repo, write:repo_hook", acceptedPerms: "webhooks=read"}
	write := route{mode: authToken, acceptedScopes: "admin:repo_hook, repo, write:repo_hook", acceptedPerms: "webhooks=write"}
	admin := route{mode: authToken, acceptedScopes: "admin:repo_hook, repo", acceptedPerms: "webhooks=write"}
	s.handle("GET /repos/{owner}/{repo}/hooks", read, s.listHooks)
	s.handle("POST /repos/{owner}/{repo}/hooks", write, s.createHook)
	s.handle("GET /repos/{owner}/{repo}/hooks/{hook_id}", read, s.getHook)
	s.handle("DELETE /repos/{owner}/{repo}/hooks/{hook_id}", admin, s.deleteHook)
	s.admin.HandleFunc("POST /_emulator/apps/{name}/installations", s.adminInstallApp)
}

// hookRepo returns the path's repository when p may manage its hooks at
// level ("read", "write", "admin"); otherwise it answers 404, as GitHub
// does, and returns nil.
func (s *Server) hookRepo(w http.ResponseWriter, r *http.Request, p *principal, level string) *repo {
	s.mu.Lock()
	rp := s.hookAccess(r, p, level)
	s.mu.Unlock()
	if rp == nil {
		writeNotFound(w)
	}
	return rp
}

// hookAccess is hookRepo's decision. Callers hold s.mu.
func (s *Server) hookAccess(r *http.Request, p *principal, level string) *repo {
	rp := s.st.repo(r.PathValue("owner"), r.PathValue("repo"))
	if rp == nil {
		return nil
	}
	// A fine-grained token or an installation has "webhooks" read or write.
	perm := "write"
	if level == "read" {
		perm = "read"
	}
	ok := false
	switch p.kind {
	case byPAT:
		switch {
		case !strings.EqualFold(rp.Owner, p.user): // repository admins only; collaborators are not
		case p.patKind == ghtoken.KindClassicPAT:
			ok = hasScope(p.scopes, level+":repo_hook")
		default:
			ok = slices.ContainsFunc(p.repos, func(n string) bool { return strings.EqualFold(n, rp.fullName()) }) && grants(p.perms, "webhooks", perm)
		}
	case byInstallation:
		t := s.st.instTokens[p.instValue]
		ok = t != nil && slices.ContainsFunc(s.st.tokenRepos(t), func(x *repo) bool { return x == rp }) && grants(p.perms, "webhooks", perm)
	}
	if !ok {
		return nil
	}
	return rp
}

type hookConfigJSON struct {
	URL         string `json:"url"`
	ContentType string `json:"content_type"`
	Secret      string `json:"secret,omitempty"`
	InsecureSSL string `json:"insecure_ssl"`
}

type hookResponseJSON struct {
	Code    *int    `json:"code"`
	Status  *string `json:"status"`
	Message *string `json:"message"`
}

type hookJSON struct {
	Type          string           `json:"type"`
	ID            int64            `json:"id"`
	Name          string           `json:"name"`
	Active        bool             `json:"active"`
	Events        []string         `json:"events"`
	Config        hookConfigJSON   `json:"config"`
	UpdatedAt     string           `json:"updated_at"`
	CreatedAt     string           `json:"created_at"`
	URL           string           `json:"url"`
	TestURL       string           `json:"test_url"`
	PingURL       string           `json:"ping_url"`
	DeliveriesURL string           `json:"deliveries_url"`
	LastResponse  hookResponseJSON `json:"last_response"`
}

func renderHook(r *http.Request, rp *repo, h *hook) hookJSON {
	base := fmt.Sprintf("/repos/%s/%s/hooks/%d", rp.Owner, rp.Name, h.ID)
	cfg := hookConfigJSON{URL: h.URL, ContentType: h.Content, InsecureSSL: h.Insecure}
	if h.Secret != "" {
		cfg.Secret = "********" // GitHub never shows a hook's secret
	}
	return hookJSON{Type: "Repository", ID: h.ID, Name: h.Name, Active: h.Active, Events: slices.Clone(h.Events), Config: cfg,
		UpdatedAt: ts(h.UpdatedAt), CreatedAt: ts(h.CreatedAt), URL: apiURL(r, base), TestURL: apiURL(r, base+"/test"),
		PingURL: apiURL(r, base+"/pings"), DeliveriesURL: apiURL(r, base+"/deliveries")}
}

func (s *Server) listHooks(w http.ResponseWriter, r *http.Request, p *principal) {
	rp := s.hookRepo(w, r, p, "read")
	if rp == nil {
		return
	}
	s.hooks.mu.Lock()
	out := []hookJSON{}
	for _, h := range s.hooks.hooks[key(rp.Owner, rp.Name)] {
		out = append(out, renderHook(r, rp, h))
	}
	s.hooks.mu.Unlock()
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) getHook(w http.ResponseWriter, r *http.Request, p *principal) {
	rp := s.hookRepo(w, r, p, "read")
	if rp == nil {
		return
	}
	id, _ := strconv.ParseInt(r.PathValue("hook_id"), 10, 64)
	s.hooks.mu.Lock()
	defer s.hooks.mu.Unlock()
	for _, h := range s.hooks.hooks[key(rp.Owner, rp.Name)] {
		if h.ID == id {
			writeJSON(w, http.StatusOK, renderHook(r, rp, h))
			return
		}
	}
	writeNotFound(w)
}

type validationError struct {
	Message          string              `json:"message"`
	Errors           []map[string]string `json:"errors"`
	DocumentationURL string              `json:"documentation_url"`
}

func hookInvalid(w http.ResponseWriter, message string) {
	writeJSON(w, http.StatusUnprocessableEntity, validationError{Message: "Validation Failed",
		Errors: []map[string]string{{"resource": "Hook", "code": "custom", "message": message}}, DocumentationURL: docHooks + "#create-a-repository-webhook"})
}

func (s *Server) createHook(w http.ResponseWriter, r *http.Request, p *principal) {
	var in struct {
		Name   *string `json:"name"`
		Config *struct {
			URL         string `json:"url"`
			ContentType string `json:"content_type"`
			Secret      string `json:"secret"`
			InsecureSSL any    `json:"insecure_ssl"`
		} `json:"config"`
		Events []string `json:"events"`
		Active *bool    `json:"active"`
	}
	if herr := decodeJSON(r, &in); herr != nil {
		writeHTTPError(w, herr)
		return
	}
	rp := s.hookRepo(w, r, p, "write")
	if rp == nil {
		return
	}
	switch {
	case in.Name != nil && *in.Name != "web":
		hookInvalid(w, "Name must be 'web'")
		return
	case in.Config == nil || in.Config.URL == "":
		hookInvalid(w, "Config must contain a url")
		return
	case in.Config.ContentType != "" && in.Config.ContentType != "json" && in.Config.ContentType != "form":
		hookInvalid(w, "Content type must be json or form")
		return
	}
	now := s.now()
	h := &hook{Name: "web", Active: in.Active == nil || *in.Active, Events: in.Events, URL: in.Config.URL,
		Content: in.Config.ContentType, Secret: in.Config.Secret, Insecure: "0", CreatedAt: now, UpdatedAt: now}
	if h.Content == "" {
		h.Content = "form" // GitHub's default
	}
	if len(h.Events) == 0 {
		h.Events = []string{"push"}
	}
	switch v := in.Config.InsecureSSL.(type) {
	case string:
		h.Insecure = v
	case float64:
		h.Insecure = strconv.FormatFloat(v, 'f', -1, 64)
	}
	k := key(rp.Owner, rp.Name)
	s.hooks.mu.Lock()
	if slices.ContainsFunc(s.hooks.hooks[k], func(x *hook) bool { return x.URL == h.URL }) {
		s.hooks.mu.Unlock()
		hookInvalid(w, "Hook already exists on this repository")
		return
	}
	if s.hooks.hooks == nil {
		s.hooks.hooks = map[string][]*hook{}
	}
	s.hooks.next++
	h.ID = 500000000 + s.hooks.next
	s.hooks.hooks[k] = append(s.hooks.hooks[k], h)
	out := renderHook(r, rp, h)
	s.hooks.mu.Unlock()
	w.Header().Set("Location", out.URL)
	writeJSON(w, http.StatusCreated, out)
}

func (s *Server) deleteHook(w http.ResponseWriter, r *http.Request, p *principal) {
	rp := s.hookRepo(w, r, p, "admin")
	if rp == nil {
		return
	}
	id, _ := strconv.ParseInt(r.PathValue("hook_id"), 10, 64)
	k := key(rp.Owner, rp.Name)
	s.hooks.mu.Lock()
	defer s.hooks.mu.Unlock()
	i := slices.IndexFunc(s.hooks.hooks[k], func(h *hook) bool { return h.ID == id })
	if i < 0 {
		writeNotFound(w)
		return
	}
	s.hooks.hooks[k] = slices.Delete(s.hooks.hooks[k], i, i+1)
	w.WriteHeader(http.StatusNoContent)
}

// Hooks lists every repository's webhooks, for tests and the demo.
func (s *Server) Hooks() []Hook {
	s.hooks.mu.Lock()
	defer s.hooks.mu.Unlock()
	var out []Hook
	for _, k := range slices.Sorted(maps.Keys(s.hooks.hooks)) {
		for _, h := range s.hooks.hooks[k] {
			out = append(out, Hook{ID: h.ID, Repo: k, URL: h.URL, Events: slices.Clone(h.Events), Active: h.Active, SecretSet: h.Secret != ""})
		}
	}
	return out
}

// InstallApp installs an existing app on one more account, on the
// repositories named (none: all of the account's), with the app's
// permissions: "Install App" on the app's page. It fails with ErrExists
// when the app is already installed there.
func (s *Server) InstallApp(appName string, spec InstallationSpec) (InstallationInfo, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.st.appByName(appName)
	if a == nil {
		return InstallationInfo{}, fmt.Errorf("app %q: %w", appName, ErrNotFound)
	}
	if s.st.user(spec.Account) == nil {
		return InstallationInfo{}, fmt.Errorf("account %q: %w", spec.Account, ErrNotFound)
	}
	for _, in := range s.st.insts {
		if in.AppID == a.ID && strings.EqualFold(in.Account, spec.Account) {
			return InstallationInfo{}, fmt.Errorf("app %q on account %q: %w", appName, spec.Account, ErrExists)
		}
	}
	in := &installation{AppID: a.ID, Account: s.st.user(spec.Account).Login, Permissions: a.Permissions, CreatedAt: s.now()}
	for _, n := range spec.Repositories {
		rp := s.st.repo(in.Account, repoName(in.Account, n))
		if rp == nil {
			return InstallationInfo{}, fmt.Errorf("repository %q: %w", n, ErrNotFound)
		}
		if !slices.Contains(in.Repositories, rp.Name) {
			in.Repositories = append(in.Repositories, rp.Name)
		}
	}
	s.st.next.Installation++
	in.ID = s.st.next.Installation
	s.st.insts[in.ID] = in
	return InstallationInfo{ID: in.ID, Account: in.Account, RepositorySelection: in.selection(), Repositories: slices.Clone(in.Repositories), Permissions: in.Permissions}, nil
}

func (s *Server) adminInstallApp(w http.ResponseWriter, r *http.Request) {
	var in InstallationSpec
	if !adminDecode(w, r, &in) {
		return
	}
	info, err := s.InstallApp(r.PathValue("name"), in)
	if err != nil {
		adminError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, info)
}
