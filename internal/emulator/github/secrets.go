package github

import (
	"cmp"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/crypto/nacl/box"

	"github.com/rotor-ci/rotor/internal/emulator/ghtoken"
)

// GitHub Actions and Dependabot secrets ("REST API endpoints for GitHub
// Actions secrets", "… for Dependabot secrets"): a sealed-box public key per
// repository, environment and organisation, and secrets written encrypted
// for it. The emulator opens each box with the key's private half, as
// GitHub does, so a stale key_id or a corrupt box fails as on GitHub; it
// keeps the value in its state and never answers it.

// Secret services and levels as SecretScope names them.
const (
	ServiceActions    = "actions"
	ServiceDependabot = "dependabot"
	LevelRepo         = "repo"
	LevelEnvironment  = "env"
	LevelOrg          = "org"
)

// GitHub's limits ("Secrets reference"): 48 KB a value; 100 secrets a
// repository or environment, 1,000 an organisation.
const maxSecretSize = 48 * 1024

var maxSecrets = map[string]int{LevelRepo: 100, LevelEnvironment: 100, LevelOrg: 1000}

// SecretScope names a set of secrets with one public key: a repository's,
// an environment's or an organisation's, for Actions or Dependabot.
type SecretScope struct {
	Service     string `json:"service"`               // ServiceActions or ServiceDependabot
	Level       string `json:"level"`                 // LevelRepo, LevelEnvironment or LevelOrg
	Account     string `json:"account"`               // the repository's owner, or the organisation
	Repo        string `json:"repo,omitempty"`        // the repository's name (repo and env)
	Environment string `json:"environment,omitempty"` // env only
}

func (sc SecretScope) key() string {
	return strings.ToLower(strings.Join([]string{sc.Service, sc.Level, sc.Account, sc.Repo, sc.Environment}, "|"))
}

func (sc SecretScope) String() string {
	switch sc.Level {
	case LevelEnvironment:
		return fmt.Sprintf("%s secrets of %s/%s environment %s", sc.Service, sc.Account, sc.Repo, sc.Environment)
	case LevelOrg:
		return fmt.Sprintf("%s secrets of organisation %s", sc.Service, sc.Account)
	}
	return fmt.Sprintf("%s secrets of %s/%s", sc.Service, sc.Account, sc.Repo)
}

// secretStore is one scope's key pair and secrets. Its maps are changed in
// place, under Server.mu; nothing outside the lock keeps them.
type secretStore struct {
	Scope   SecretScope        `json:"scope"`
	KeyID   string             `json:"key_id"`
	Public  []byte             `json:"public_key"`
	Private []byte             `json:"private_key"`
	Secrets map[string]*secret `json:"secrets"` // by upper-case name
}

type secret struct {
	Name      string    `json:"name"`
	Value     string    `json:"value"` // decrypted; never answered
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
	// Organisation secrets: which of its repositories may use it.
	Visibility    string  `json:"visibility,omitempty"`
	SelectedRepos []int64 `json:"selected_repository_ids,omitempty"`
}

// newKeyPair makes a Curve25519 key pair and a key id of GitHub's form
// (a decimal number of 18 or 19 digits).
func newKeyPair() (id string, pub, priv []byte) {
	pk, sk, err := box.GenerateKey(rand.Reader)
	if err != nil {
		panic(err) // crypto/rand does not fail
	}
	n, _ := rand.Int(rand.Reader, new(big.Int).Exp(big.NewInt(10), big.NewInt(18), nil))
	return strconv.FormatInt(n.Int64()+100000000000000000, 10), pk[:], sk[:]
}

// store finds or makes the scope's store: a scope gets its key the first
// time anyone asks for it. Callers hold s.mu.
func (st *state) store(sc SecretScope) *secretStore {
	k := sc.key()
	if ss := st.secrets[k]; ss != nil {
		return ss
	}
	id, pub, priv := newKeyPair()
	ss := &secretStore{Scope: sc, KeyID: id, Public: pub, Private: priv, Secrets: map[string]*secret{}}
	st.secrets[k] = ss
	return ss
}

// open decrypts a sealed box written for the store's key.
func (ss *secretStore) open(ct []byte) ([]byte, bool) {
	var pub, priv [32]byte
	copy(pub[:], ss.Public)
	copy(priv[:], ss.Private)
	return box.OpenAnonymous(nil, ct, &pub, &priv)
}

// Secret names as GitHub allows them ("Naming your secrets").
var secretNameRe = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

func checkSecretName(name string) *httpError {
	if !secretNameRe.MatchString(name) || strings.HasPrefix(strings.ToUpper(name), "GITHUB_") {
		return &httpError{http.StatusUnprocessableEntity, "Invalid request.\n\nSecret names can only contain alphanumeric characters ([a-z], [A-Z], [0-9]) or underscores (_), " +
			"must not start with a number and must not start with the GITHUB_ prefix."}
	}
	return nil
}

// Documentation pages the secrets' error bodies name.
const (
	docActionsSecrets    = "https://docs.github.com/rest/actions/secrets"
	docDependabotSecrets = "https://docs.github.com/rest/dependabot/secrets"
)

// GitHub's answer to a box it cannot open with the current key: a stale
// key_id, another key's box, or bytes that are no box (as reported in
// integrations/terraform-provider-github#2315).
const msgBadBox = "Bad request - validation failed due to an improperly encrypted secret"

// secretsAPI is one family of secrets endpoints: a service at a level.
type secretsAPI struct {
	s       *Server
	service string
	level   string
	op      op // what reading needs; writing needs level "write"
}

func (a secretsAPI) doc() string {
	if a.service == ServiceDependabot {
		return docDependabotSecrets
	}
	return docActionsSecrets
}

// scope authorizes p for the request and names the scope it addresses.
// Callers hold s.mu.
func (a secretsAPI) scope(r *http.Request, p *principal, write bool) (SecretScope, *httpError) {
	o := a.op
	if write {
		o.level = "write"
	}
	if a.level == LevelOrg {
		og, herr := a.s.authorizeOrg(r, p, o)
		if herr != nil {
			return SecretScope{}, herr
		}
		return SecretScope{Service: a.service, Level: LevelOrg, Account: og.Login}, nil
	}
	rp, herr := a.s.authorizeRepo(r, p, o)
	if herr != nil {
		return SecretScope{}, herr
	}
	sc := SecretScope{Service: a.service, Level: LevelRepo, Account: rp.Owner, Repo: rp.Name}
	if a.level == LevelEnvironment {
		env := rp.environment(r.PathValue("environment_name"))
		if env == "" {
			return SecretScope{}, &httpError{http.StatusNotFound, msgNotFound}
		}
		sc.Level, sc.Environment = LevelEnvironment, env
	}
	return sc, nil
}

// secretRoutes registers the secrets endpoints of both services at every
// level, and the repository's view of its organisation's secrets.
func (s *Server) secretRoutes() {
	for _, svc := range []string{ServiceActions, ServiceDependabot} {
		repoPerm, orgPerm := "secrets", "organization_secrets"
		if svc == ServiceDependabot {
			repoPerm, orgPerm = "dependabot_secrets", "organization_dependabot_secrets"
		}
		// Reading the public key needs read access; the rest needs
		// collaborator (write) access, as GitHub's pages say for the API.
		repo := secretsAPI{s, svc, LevelRepo, op{perm: repoPerm, level: "read", scope: "repo", role: roleWrite, denied: msgRepoAdminRight}}
		org := secretsAPI{s, svc, LevelOrg, op{perm: orgPerm, level: "read", scope: "admin:org", role: roleAdmin, denied: msgOrgAdminRight}}
		apis := []struct {
			prefix string
			api    secretsAPI
		}{{"/repos/{owner}/{repo}/" + svc + "/secrets", repo}, {"/orgs/{org}/" + svc + "/secrets", org}}
		if svc == ServiceActions {
			// Environment secrets need the environments permission
			// besides secrets (GitHub's pages for the endpoints).
			env := repo
			env.level = LevelEnvironment
			env.op.also = "environments"
			apis = append(apis, struct {
				prefix string
				api    secretsAPI
			}{"/repos/{owner}/{repo}/environments/{environment_name}/secrets", env})
		}
		for _, x := range apis {
			read := route{mode: authToken, acceptedScopes: x.api.op.scope, acceptedPerms: x.api.op.acceptedPerms("read")}
			write := route{mode: authToken, acceptedScopes: x.api.op.scope, acceptedPerms: x.api.op.acceptedPerms("write")}
			keyAPI := x.api
			keyAPI.op.role = roleRead
			s.handle("GET "+x.prefix+"/public-key", read, keyAPI.publicKey)
			s.handle("GET "+x.prefix, read, x.api.list)
			s.handle("GET "+x.prefix+"/{secret_name}", read, x.api.get)
			s.handle("PUT "+x.prefix+"/{secret_name}", write, x.api.put)
			s.handle("DELETE "+x.prefix+"/{secret_name}", write, x.api.delete)
			if x.api.level == LevelOrg {
				s.handle("GET "+x.prefix+"/{secret_name}/repositories", read, x.api.listSelected)
				s.handle("PUT "+x.prefix+"/{secret_name}/repositories", write, x.api.setSelected)
				s.handle("PUT "+x.prefix+"/{secret_name}/repositories/{repository_id}", write, x.api.addSelected)
				s.handle("DELETE "+x.prefix+"/{secret_name}/repositories/{repository_id}", write, x.api.removeSelected)
			}
		}
	}
	orgView := secretsAPI{s, ServiceActions, LevelRepo, op{perm: "secrets", level: "read", scope: "repo", role: roleWrite, denied: msgRepoAdminRight}}
	s.handle("GET /repos/{owner}/{repo}/actions/organization-secrets", route{mode: authToken, acceptedScopes: "repo", acceptedPerms: "secrets=read"}, orgView.listOrgForRepo)
}

func (a secretsAPI) publicKey(w http.ResponseWriter, r *http.Request, p *principal) {
	a.s.mu.Lock()
	sc, herr := a.scope(r, p, false)
	var id string
	var pub []byte
	if herr == nil {
		ss := a.s.st.store(sc)
		id, pub = ss.KeyID, ss.Public
	}
	a.s.mu.Unlock()
	if herr != nil {
		writeError(w, herr.status, herr.message, a.doc())
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"key_id": id, "key": base64.StdEncoding.EncodeToString(pub)})
}

// secretJSON is actions-secret (name and times) and, for an organisation,
// organization-actions-secret (visibility, and the selected repositories'
// URL when it has them).
type secretJSON struct {
	Name                    string `json:"name"`
	CreatedAt               string `json:"created_at"`
	UpdatedAt               string `json:"updated_at"`
	Visibility              string `json:"visibility,omitempty"`
	SelectedRepositoriesURL string `json:"selected_repositories_url,omitempty"`
}

func (a secretsAPI) render(r *http.Request, sc SecretScope, sec *secret) secretJSON {
	j := secretJSON{Name: sec.Name, CreatedAt: ts(sec.CreatedAt), UpdatedAt: ts(sec.UpdatedAt), Visibility: sec.Visibility}
	if sc.Level == LevelOrg && sec.Visibility == "selected" {
		j.SelectedRepositoriesURL = apiURL(r, fmt.Sprintf("/orgs/%s/%s/secrets/%s/repositories", sc.Account, sc.Service, sec.Name))
	}
	return j
}

func (a secretsAPI) list(w http.ResponseWriter, r *http.Request, p *principal) {
	perPage, page := pagination(r.URL.Query())
	a.s.mu.Lock()
	sc, herr := a.scope(r, p, false)
	var all []secretJSON
	if herr == nil {
		if ss := a.s.st.secrets[sc.key()]; ss != nil {
			for _, sec := range ss.Secrets {
				all = append(all, a.render(r, sc, sec))
			}
		}
	}
	a.s.mu.Unlock()
	if herr != nil {
		writeError(w, herr.status, herr.message, a.doc())
		return
	}
	writeSecrets(w, r, all, perPage, page)
}

// writeSecrets answers a list of secrets: by name, one page, total_count.
func writeSecrets(w http.ResponseWriter, r *http.Request, all []secretJSON, perPage, page int) {
	slices.SortFunc(all, func(x, y secretJSON) int { return cmp.Compare(x.Name, y.Name) })
	writeJSON(w, http.StatusOK, map[string]any{"total_count": len(all), "secrets": pageOf(w, r, all, perPage, page)})
}

// lookup finds the path's secret in an authorized scope. Callers hold s.mu.
func (a secretsAPI) lookup(r *http.Request, p *principal, write bool) (SecretScope, *secretStore, *secret, *httpError) {
	sc, herr := a.scope(r, p, write)
	if herr != nil {
		return sc, nil, nil, herr
	}
	ss := a.s.st.secrets[sc.key()]
	if ss == nil || ss.Secrets[strings.ToUpper(r.PathValue("secret_name"))] == nil {
		return sc, ss, nil, &httpError{http.StatusNotFound, msgNotFound}
	}
	return sc, ss, ss.Secrets[strings.ToUpper(r.PathValue("secret_name"))], nil
}

func (a secretsAPI) get(w http.ResponseWriter, r *http.Request, p *principal) {
	a.s.mu.Lock()
	sc, _, sec, herr := a.lookup(r, p, false)
	var j secretJSON
	if herr == nil {
		j = a.render(r, sc, sec)
	}
	a.s.mu.Unlock()
	if herr != nil {
		writeError(w, herr.status, herr.message, a.doc())
		return
	}
	writeJSON(w, http.StatusOK, j)
}

type putSecretRequest struct {
	EncryptedValue *string           `json:"encrypted_value"`
	KeyID          *string           `json:"key_id"`
	Visibility     *string           `json:"visibility"`
	SelectedIDs    []json.RawMessage `json:"selected_repository_ids"`
}

// base64Re is the description's pattern for encrypted_value.
var base64Re = regexp.MustCompile(`^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=|[A-Za-z0-9+/]{4})$`)

func (a secretsAPI) put(w http.ResponseWriter, r *http.Request, p *principal) {
	var in putSecretRequest
	var status int
	herr := decodeJSON(r, &in)
	a.s.mu.Lock()
	if herr == nil {
		status, herr = a.putLocked(r, p, in)
	} else if _, aerr := a.scope(r, p, true); aerr != nil {
		herr = aerr // authorization decides before the body is looked at
	}
	a.s.mu.Unlock()
	if herr != nil {
		writeError(w, herr.status, herr.message, a.doc())
		return
	}
	if status == http.StatusCreated {
		writeJSON(w, status, struct{}{})
		return
	}
	w.WriteHeader(status)
}

// putLocked creates or updates the secret: 201 or 204. Callers hold s.mu.
func (a secretsAPI) putLocked(r *http.Request, p *principal, in putSecretRequest) (int, *httpError) {
	sc, herr := a.scope(r, p, true)
	if herr != nil {
		return 0, herr
	}
	name := r.PathValue("secret_name")
	if herr := checkSecretName(name); herr != nil {
		return 0, herr
	}
	ss := a.s.st.store(sc)
	existing := ss.Secrets[strings.ToUpper(name)]
	var visibility string
	var selected []int64
	if sc.Level == LevelOrg {
		if in.Visibility == nil {
			return 0, &httpError{http.StatusUnprocessableEntity, "Invalid request.\n\n\"visibility\" wasn't supplied."}
		}
		visibility = *in.Visibility
		ids, herr := a.s.selectedRepos(sc.Account, visibility, in.SelectedIDs)
		if herr != nil {
			return 0, herr
		}
		selected = ids
	} else if in.Visibility != nil || in.SelectedIDs != nil {
		return 0, &httpError{http.StatusUnprocessableEntity, "Invalid request.\n\nvisibility and selected_repository_ids are for organization secrets."}
	}
	var value []byte
	switch {
	case in.EncryptedValue == nil && (existing == nil || sc.Level != LevelOrg):
		// Only an organisation secret's access may change without a new value.
		return 0, &httpError{http.StatusUnprocessableEntity, "Invalid request.\n\n\"encrypted_value\" wasn't supplied."}
	case in.EncryptedValue != nil:
		// The value is not echoed (GitHub does, but a client that forgot to
		// encrypt would see its secret in logs).
		if !base64Re.MatchString(*in.EncryptedValue) {
			return 0, &httpError{http.StatusUnprocessableEntity, "Invalid request.\n\nencrypted_value does not match " + base64Re.String() + "."}
		}
		if in.KeyID == nil {
			return 0, &httpError{http.StatusUnprocessableEntity, "Invalid request.\n\n\"key_id\" wasn't supplied."}
		}
		ct, _ := base64.StdEncoding.DecodeString(*in.EncryptedValue)
		v, ok := ss.open(ct)
		if *in.KeyID != ss.KeyID || !ok {
			return 0, &httpError{http.StatusUnprocessableEntity, msgBadBox}
		}
		if len(v) > maxSecretSize {
			return 0, &httpError{http.StatusUnprocessableEntity, "Invalid request.\n\nSecrets are limited to 48 KB."}
		}
		value = v
	}
	now := a.s.now()
	status := http.StatusNoContent
	if limit := maxSecrets[sc.Level]; existing == nil && len(ss.Secrets) >= limit {
		return 0, &httpError{http.StatusUnprocessableEntity, fmt.Sprintf("Invalid request.\n\nThe %s already has the maximum number of secrets, %d.", map[string]string{
			LevelRepo: "repository", LevelEnvironment: "environment", LevelOrg: "organization"}[sc.Level], limit)}
	}
	if existing == nil {
		existing = &secret{Name: strings.ToUpper(name), CreatedAt: now}
		ss.Secrets[existing.Name] = existing
		status = http.StatusCreated
	}
	if value != nil {
		existing.Value = string(value)
	}
	existing.UpdatedAt = now
	if sc.Level == LevelOrg {
		existing.Visibility, existing.SelectedRepos = visibility, selected
	}
	return status, nil
}

// selectedRepos checks an organisation secret's access: visibility all,
// private or selected, and for selected the ids of the organisation's
// repositories (numbers or numeric strings, as the description allows).
// Callers hold s.mu.
func (s *Server) selectedRepos(orgLogin, visibility string, raw []json.RawMessage) ([]int64, *httpError) {
	switch visibility {
	case "all", "private", "selected":
	default:
		return nil, &httpError{http.StatusUnprocessableEntity, "Invalid request.\n\nFor 'properties/visibility', " + strconv.Quote(visibility) + " is not a member of [\"all\", \"private\", \"selected\"]."}
	}
	if visibility != "selected" {
		if len(raw) > 0 {
			return nil, &httpError{http.StatusUnprocessableEntity, "Invalid request.\n\nselected_repository_ids can only be given when visibility is selected."}
		}
		return nil, nil
	}
	var ids []int64
	for _, m := range raw {
		var n int64
		var str string
		if json.Unmarshal(m, &n) != nil {
			if json.Unmarshal(m, &str) != nil {
				return nil, &httpError{http.StatusUnprocessableEntity, "Invalid request.\n\nselected_repository_ids must be repository ids."}
			}
			var err error
			if n, err = strconv.ParseInt(str, 10, 64); err != nil {
				return nil, &httpError{http.StatusUnprocessableEntity, "Invalid request.\n\nselected_repository_ids must be repository ids."}
			}
		}
		if herr := s.orgRepoID(orgLogin, n); herr != nil {
			return nil, herr
		}
		if !slices.Contains(ids, n) {
			ids = append(ids, n)
		}
	}
	slices.Sort(ids)
	return ids, nil
}

// orgRepoID checks that id is one of the organisation's repositories.
// Callers hold s.mu.
func (s *Server) orgRepoID(orgLogin string, id int64) *httpError {
	for _, rp := range s.st.repos {
		if rp.ID == id && key(rp.Owner) == key(orgLogin) {
			return nil
		}
	}
	return &httpError{http.StatusUnprocessableEntity, fmt.Sprintf("Invalid request.\n\nRepository %d is not a repository of the organization %s.", id, orgLogin)}
}

func (a secretsAPI) delete(w http.ResponseWriter, r *http.Request, p *principal) {
	a.s.mu.Lock()
	_, ss, sec, herr := a.lookup(r, p, true)
	if herr == nil {
		delete(ss.Secrets, sec.Name)
	}
	a.s.mu.Unlock()
	if herr != nil {
		writeError(w, herr.status, herr.message, a.doc())
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a secretsAPI) listSelected(w http.ResponseWriter, r *http.Request, p *principal) {
	perPage, page := pagination(r.URL.Query())
	a.s.mu.Lock()
	_, _, sec, herr := a.lookup(r, p, false)
	var all []repoJSON
	if herr == nil {
		for _, rp := range a.s.st.reposByID(sec.SelectedRepos) {
			all = append(all, a.s.renderRepo(r, rp, nil))
		}
	}
	a.s.mu.Unlock()
	if herr != nil {
		writeError(w, herr.status, herr.message, a.doc())
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"total_count": len(all), "repositories": pageOf(w, r, all, perPage, page)})
}

func (a secretsAPI) setSelected(w http.ResponseWriter, r *http.Request, p *principal) {
	var in struct {
		IDs []json.RawMessage `json:"selected_repository_ids"`
	}
	herr := decodeJSON(r, &in)
	a.s.mu.Lock()
	sc, _, sec, herr2 := a.lookup(r, p, true)
	if herr2 == nil && herr == nil {
		switch {
		case in.IDs == nil:
			herr = &httpError{http.StatusUnprocessableEntity, "Invalid request.\n\n\"selected_repository_ids\" wasn't supplied."}
		case sec.Visibility != "selected":
			herr = &httpError{http.StatusUnprocessableEntity, "Invalid request.\n\nThe secret's visibility is not selected."}
		default:
			var ids []int64
			if ids, herr = a.s.selectedRepos(sc.Account, "selected", in.IDs); herr == nil {
				sec.SelectedRepos = ids
			}
		}
	}
	a.s.mu.Unlock()
	if herr2 != nil {
		herr = herr2
	}
	if herr != nil {
		writeError(w, herr.status, herr.message, a.doc())
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a secretsAPI) addSelected(w http.ResponseWriter, r *http.Request, p *principal) {
	a.changeSelected(w, r, p, true)
}

func (a secretsAPI) removeSelected(w http.ResponseWriter, r *http.Request, p *principal) {
	a.changeSelected(w, r, p, false)
}

// changeSelected adds or removes one repository: 409 when the secret's
// visibility is not selected, as documented.
func (a secretsAPI) changeSelected(w http.ResponseWriter, r *http.Request, p *principal, add bool) {
	id, err := strconv.ParseInt(r.PathValue("repository_id"), 10, 64)
	a.s.mu.Lock()
	sc, _, sec, herr := a.lookup(r, p, true)
	conflict := false
	if herr == nil {
		switch {
		case err != nil:
			herr = &httpError{http.StatusNotFound, msgNotFound}
		case sec.Visibility != "selected":
			conflict = true
		case add:
			// A repository outside the organisation: 404, as for any
			// resource in the path the caller cannot use.
			if a.s.orgRepoID(sc.Account, id) != nil {
				herr = &httpError{http.StatusNotFound, msgNotFound}
			} else if !slices.Contains(sec.SelectedRepos, id) {
				sec.SelectedRepos = append(slices.Clone(sec.SelectedRepos), id)
				slices.Sort(sec.SelectedRepos)
			}
		default:
			sec.SelectedRepos = slices.DeleteFunc(slices.Clone(sec.SelectedRepos), func(x int64) bool { return x == id })
		}
	}
	a.s.mu.Unlock()
	switch {
	case herr != nil:
		writeError(w, herr.status, herr.message, a.doc())
	case conflict:
		w.WriteHeader(http.StatusConflict) // documented without a body
	default:
		w.WriteHeader(http.StatusNoContent)
	}
}

// listOrgForRepo lists the organisation secrets the repository may use:
// GET /repos/{owner}/{repo}/actions/organization-secrets.
func (a secretsAPI) listOrgForRepo(w http.ResponseWriter, r *http.Request, p *principal) {
	perPage, page := pagination(r.URL.Query())
	a.s.mu.Lock()
	rp, herr := a.s.authorizeRepo(r, p, a.op)
	var all []secretJSON
	if herr == nil {
		sc := SecretScope{Service: ServiceActions, Level: LevelOrg, Account: rp.Owner}
		for _, sec := range a.s.st.orgSecretsFor(rp) {
			all = append(all, a.render(r, sc, sec))
		}
	}
	a.s.mu.Unlock()
	if herr != nil {
		writeError(w, herr.status, herr.message, a.doc())
		return
	}
	writeSecrets(w, r, all, perPage, page)
}

// orgSecretsFor lists the Actions secrets of rp's organisation that rp may
// use: visibility all, private (rp is private) or selected with rp among
// them. Callers hold s.mu.
func (st *state) orgSecretsFor(rp *repo) []*secret {
	ss := st.secrets[SecretScope{Service: ServiceActions, Level: LevelOrg, Account: rp.Owner}.key()]
	if ss == nil {
		return nil
	}
	var out []*secret
	for _, sec := range ss.Secrets {
		if sec.Visibility == "all" || (sec.Visibility == "private" && rp.Private) || (sec.Visibility == "selected" && slices.Contains(sec.SelectedRepos, rp.ID)) {
			out = append(out, sec)
		}
	}
	return out
}

// reposByID lists the repositories with these ids, in id order. Callers
// hold s.mu.
func (st *state) reposByID(ids []int64) []*repo {
	var out []*repo
	for _, rp := range st.repos {
		if slices.Contains(ids, rp.ID) {
			out = append(out, rp)
		}
	}
	sortRepos(out)
	return out
}

// SecretInfo describes a secret as the admin API lists it: where it is,
// when it was written, and a fingerprint of its value (ghtoken.Fingerprint:
// the form rotor's records use), never the value.
type SecretInfo struct {
	SecretScope
	Name                  string    `json:"name"`
	CreatedAt             time.Time `json:"created_at"`
	UpdatedAt             time.Time `json:"updated_at"`
	Visibility            string    `json:"visibility,omitempty"`
	SelectedRepositoryIDs []int64   `json:"selected_repository_ids,omitempty"`
	Fingerprint           string    `json:"fingerprint"`
}

// Secrets lists every secret of every scope, without values.
func (s *Server) Secrets() []SecretInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []SecretInfo{}
	for _, ss := range s.st.secrets {
		for _, sec := range ss.Secrets {
			out = append(out, SecretInfo{
				SecretScope: ss.Scope, Name: sec.Name, CreatedAt: sec.CreatedAt, UpdatedAt: sec.UpdatedAt,
				Visibility: sec.Visibility, SelectedRepositoryIDs: slices.Clone(sec.SelectedRepos),
				Fingerprint: ghtoken.Fingerprint(sec.Value),
			})
		}
	}
	slices.SortFunc(out, func(a, b SecretInfo) int {
		return cmp.Or(cmp.Compare(a.key(), b.key()), cmp.Compare(a.Name, b.Name))
	})
	return out
}

// checkScope validates a scope named from outside (the admin API) against
// the state and returns it with the names as GitHub spells them. Callers
// hold s.mu.
func (s *Server) checkScope(sc SecretScope) (SecretScope, error) {
	switch sc.Service {
	case ServiceActions, ServiceDependabot:
	default:
		return sc, fmt.Errorf("secret scope: %w: service %q is not actions or dependabot", ErrInvalid, sc.Service)
	}
	switch sc.Level {
	case LevelOrg:
		og := s.st.orgs[key(sc.Account)]
		if og == nil {
			return sc, fmt.Errorf("secret scope: organisation %q: %w", sc.Account, ErrNotFound)
		}
		return SecretScope{Service: sc.Service, Level: LevelOrg, Account: og.Login}, nil
	case LevelRepo, LevelEnvironment:
		rp := s.st.repo(sc.Account, sc.Repo)
		if rp == nil {
			return sc, fmt.Errorf("secret scope: repository %s/%s: %w", sc.Account, sc.Repo, ErrNotFound)
		}
		out := SecretScope{Service: sc.Service, Level: sc.Level, Account: rp.Owner, Repo: rp.Name}
		if sc.Level == LevelEnvironment {
			if sc.Service != ServiceActions {
				return sc, fmt.Errorf("secret scope: %w: environments hold Actions secrets only", ErrInvalid)
			}
			if out.Environment = rp.environment(sc.Environment); out.Environment == "" {
				return sc, fmt.Errorf("secret scope: environment %q of %s: %w", sc.Environment, rp.fullName(), ErrNotFound)
			}
		}
		return out, nil
	}
	return sc, fmt.Errorf("secret scope: %w: level %q is not repo, env or org", ErrInvalid, sc.Level)
}

// RotateSecretKey gives the scope a new public key, as GitHub may at any
// time: a box sealed for the old key is refused from now on (422), which
// lets a client's "the key changed between read and write" path be tested.
// It returns the new key id.
func (s *Server) RotateSecretKey(sc SecretScope) (string, error) {
	s.lockAdvance()
	defer s.mu.Unlock()
	sc, err := s.checkScope(sc)
	if err != nil {
		return "", err
	}
	ss := s.st.store(sc)
	ss.KeyID, ss.Public, ss.Private = newKeyPair()
	return ss.KeyID, nil
}
