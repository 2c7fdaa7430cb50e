package personal

import "slices"

// implied lists the classic scopes that a broader scope includes, as
// GitHub's scope documentation describes them: a token with "repo" needs no
// separate "public_repo".
var implied = map[string][]string{
	"repo":                  {"repo:status", "repo_deployment", "public_repo", "repo:invite", "security_events"},
	"admin:repo_hook":       {"write:repo_hook", "read:repo_hook"},
	"write:repo_hook":       {"read:repo_hook"},
	"admin:org":             {"write:org", "read:org", "manage_runners:org"},
	"write:org":             {"read:org"},
	"admin:public_key":      {"write:public_key", "read:public_key"},
	"write:public_key":      {"read:public_key"},
	"admin:org_hook":        {},
	"admin:gpg_key":         {"write:gpg_key", "read:gpg_key"},
	"write:gpg_key":         {"read:gpg_key"},
	"admin:ssh_signing_key": {"write:ssh_signing_key", "read:ssh_signing_key"},
	"write:ssh_signing_key": {"read:ssh_signing_key"},
	"user":                  {"read:user", "user:email", "user:follow"},
	"write:packages":        {"read:packages"},
	"write:discussion":      {"read:discussion"},
	"project":               {"read:project"},
	"codespace":             {"codespace:secrets"},
	"admin:enterprise":      {"manage_runners:enterprise", "manage_billing:enterprise", "read:enterprise"},
}

// missingScopes returns the scopes of need that have are not, directly or
// through a broader scope.
func missingScopes(have, need []string) []string {
	granted := map[string]bool{}
	var grant func(string)
	grant = func(s string) {
		if granted[s] {
			return
		}
		granted[s] = true
		for _, sub := range implied[s] {
			grant(sub)
		}
	}
	for _, s := range have {
		grant(s)
	}
	var missing []string
	for _, s := range need {
		if !granted[s] && !slices.Contains(missing, s) {
			missing = append(missing, s)
		}
	}
	return missing
}
