package github

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// classicScopes are the scopes GitHub offers for classic tokens; parents
// imply their children (repo implies public_repo, …).
var classicScopes = map[string][]string{
	"repo":                      {"repo:status", "repo_deployment", "public_repo", "repo:invite", "security_events"},
	"repo:status":               nil,
	"repo_deployment":           nil,
	"public_repo":               nil,
	"repo:invite":               nil,
	"security_events":           nil,
	"workflow":                  nil,
	"write:packages":            {"read:packages"},
	"read:packages":             nil,
	"delete:packages":           nil,
	"admin:org":                 {"write:org", "read:org", "manage_runners:org"},
	"write:org":                 {"read:org"},
	"read:org":                  nil,
	"manage_runners:org":        nil,
	"admin:public_key":          {"write:public_key", "read:public_key"},
	"write:public_key":          {"read:public_key"},
	"read:public_key":           nil,
	"admin:repo_hook":           {"write:repo_hook", "read:repo_hook"},
	"write:repo_hook":           {"read:repo_hook"},
	"read:repo_hook":            nil,
	"admin:org_hook":            nil,
	"gist":                      nil,
	"notifications":             nil,
	"user":                      {"read:user", "user:email", "user:follow"},
	"read:user":                 nil,
	"user:email":                nil,
	"user:follow":               nil,
	"delete_repo":               nil,
	"write:discussion":          {"read:discussion"},
	"read:discussion":           nil,
	"admin:enterprise":          {"manage_runners:enterprise", "manage_billing:enterprise", "read:enterprise"},
	"manage_runners:enterprise": nil,
	"manage_billing:enterprise": nil,
	"read:enterprise":           nil,
	"audit_log":                 {"read:audit_log"},
	"read:audit_log":            nil,
	"codespace":                 {"codespace:secrets"},
	"codespace:secrets":         nil,
	"copilot":                   {"manage_billing:copilot"},
	"manage_billing:copilot":    nil,
	"project":                   {"read:project"},
	"read:project":              nil,
	"admin:gpg_key":             {"write:gpg_key", "read:gpg_key"},
	"write:gpg_key":             {"read:gpg_key"},
	"read:gpg_key":              nil,
	"admin:ssh_signing_key":     {"write:ssh_signing_key", "read:ssh_signing_key"},
	"write:ssh_signing_key":     {"read:ssh_signing_key"},
	"read:ssh_signing_key":      nil,
}

// normaliseScopes checks and de-duplicates scopes, sorted as GitHub lists
// them in X-OAuth-Scopes.
func normaliseScopes(in []string) ([]string, error) {
	out := make([]string, 0, len(in))
	for _, s := range in {
		s = strings.TrimSpace(s)
		if _, ok := classicScopes[s]; !ok {
			return nil, fmt.Errorf("%w: unknown scope %q", ErrInvalid, s)
		}
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	slices.Sort(out)
	return out, nil
}

// hasScope reports whether scopes grant want, directly or through a parent.
func hasScope(scopes []string, want string) bool {
	for _, s := range scopes {
		if s == want || slices.Contains(classicScopes[s], want) {
			return true
		}
	}
	return false
}

// Permission levels, weakest first.
var levels = map[string]int{"read": 1, "write": 2, "admin": 3}

// normalisePermissions checks names and levels; names are lower snake case
// as GitHub writes them ("contents", "pull_requests").
func normalisePermissions(in map[string]string) (map[string]string, error) {
	out := make(map[string]string, len(in))
	for name, level := range in {
		if name == "" || strings.Trim(name, "abcdefghijklmnopqrstuvwxyz_") != "" {
			return nil, fmt.Errorf("%w: permission name %q", ErrInvalid, name)
		}
		if levels[level] == 0 {
			return nil, fmt.Errorf("%w: permission %s: level %q is not read, write or admin", ErrInvalid, name, level)
		}
		out[name] = level
	}
	return out, nil
}

// grants reports whether perms allow at least level on name. Metadata read
// comes with every repository grant, as on GitHub.
func grants(perms map[string]string, name, level string) bool {
	if name == "metadata" && level == "read" {
		return true
	}
	return levels[perms[name]] >= levels[level]
}

// subset reports the first permission in want that have does not grant.
func subset(want, have map[string]string) (string, bool) {
	for _, name := range slices.Sorted(maps.Keys(want)) {
		if !grants(have, name, want[name]) {
			return name, false
		}
	}
	return "", true
}

func withMetadata(p map[string]string) map[string]string {
	out := maps.Clone(p)
	if out == nil {
		out = map[string]string{}
	}
	if out["metadata"] == "" {
		out["metadata"] = "read"
	}
	return out
}
