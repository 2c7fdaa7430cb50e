package github

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// CreateUser adds a user account. Logins are GitHub's: letters, digits and
// single inner hyphens, at most 39 characters; unique ignoring case.
func (s *Server) CreateUser(login string) error {
	if !validLogin(login) {
		return fmt.Errorf("user %q: %w: a login is up to 39 letters, digits and single inner hyphens", login, ErrInvalid)
	}
	s.lockAdvance()
	defer s.mu.Unlock()
	if s.st.user(login) != nil {
		return fmt.Errorf("user %q: %w", login, ErrExists)
	}
	s.st.next.User++
	s.st.users[key(login)] = &user{ID: s.st.next.User, Login: login, CreatedAt: s.now()}
	return nil
}

func validLogin(l string) bool {
	if l == "" || len(l) > 39 || strings.HasPrefix(l, "-") || strings.HasSuffix(l, "-") || strings.Contains(l, "--") {
		return false
	}
	return strings.Trim(l, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-") == ""
}

// CreateRepo adds a repository. Its owner and collaborators must exist;
// branches default to [main].
func (s *Server) CreateRepo(spec RepoSpec) error {
	full := spec.Owner + "/" + spec.Name
	if !validRepoName(spec.Name) {
		return fmt.Errorf("repo %q: %w: a name is up to 100 letters, digits, '.', '-' and '_'", full, ErrInvalid)
	}
	branches := spec.Branches
	if len(branches) == 0 {
		branches = []string{"main"}
	}
	var uniq []string
	for _, b := range branches {
		if !validBranch(b) {
			return fmt.Errorf("repo %q: branch %q: %w", full, b, ErrInvalid)
		}
		if !slices.Contains(uniq, b) {
			uniq = append(uniq, b)
		}
	}
	s.lockAdvance()
	defer s.mu.Unlock()
	owner := s.st.user(spec.Owner)
	if owner == nil {
		return fmt.Errorf("repo %q: owner %q: %w", full, spec.Owner, ErrNotFound)
	}
	if s.st.repo(spec.Owner, spec.Name) != nil {
		return fmt.Errorf("repo %q: %w", full, ErrExists)
	}
	var collab []string
	for _, c := range spec.Collaborators {
		u := s.st.user(c)
		if u == nil || u.isOrg() {
			return fmt.Errorf("repo %q: collaborator %q: %w", full, c, ErrNotFound)
		}
		if !slices.Contains(collab, u.Login) {
			collab = append(collab, u.Login)
		}
	}
	var envs []string
	for _, e := range spec.Environments {
		if strings.TrimSpace(e) == "" || len(e) > 255 || strings.ContainsAny(e, "/\x00\n") {
			return fmt.Errorf("repo %q: environment %q: %w: a name is 1 to 255 characters without '/'", full, e, ErrInvalid)
		}
		if !slices.ContainsFunc(envs, func(x string) bool { return strings.EqualFold(x, e) }) {
			envs = append(envs, e)
		}
	}
	rp := &repo{
		Owner: owner.Login, Name: spec.Name, Private: spec.Private,
		Branches: uniq, Collaborators: collab, Environments: envs, CreatedAt: s.now(),
	}
	if err := s.addWorkflows(rp, spec.Workflows); err != nil {
		return err
	}
	s.st.next.Repo++
	rp.ID = s.st.next.Repo
	s.st.repos[key(spec.Owner, spec.Name)] = rp
	return nil
}

func validRepoName(n string) bool {
	if n == "" || n == "." || n == ".." || len(n) > 100 {
		return false
	}
	return strings.Trim(n, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == ""
}

// validBranch is a simplified git check-ref-format.
func validBranch(b string) bool {
	if b == "" || len(b) > 255 || strings.HasPrefix(b, "/") || strings.HasSuffix(b, "/") || strings.HasSuffix(b, ".") ||
		strings.Contains(b, "..") || strings.Contains(b, "//") || strings.Contains(b, "@{") || strings.HasPrefix(b, "-") {
		return false
	}
	for _, r := range b {
		if r <= ' ' || r == 0x7f || strings.ContainsRune("~^:?*[\\", r) {
			return false
		}
	}
	return true
}

func sortRepos(rs []*repo) {
	slices.SortFunc(rs, func(a, b *repo) int { return cmp.Compare(a.ID, b.ID) })
}
