package plan

import (
	"fmt"
	"slices"
	"strings"

	"github.com/rotor-ci/rotor/internal/config"
	"github.com/rotor-ci/rotor/internal/revoke"
	"github.com/rotor-ci/rotor/internal/rotation"
	"github.com/rotor-ci/rotor/internal/token"
)

// Route is one way a credential's old token is revoked when it retires
// (docs/github-app-user.md, "Revocation by each token's route").
type Route struct {
	// Route is installation_token, credentials_revoke or organisation.
	Route string `json:"route"`
	Call  string `json:"call"` // the GitHub call
	Org   string `json:"org,omitempty"`
	App   string `json:"app,omitempty"` // the organisation's app, for organisation
	Note  string `json:"note"`
}

// Route names.
const (
	RouteInstallation = "installation_token"
	RouteCredentials  = "credentials_revoke"
	RouteOrganisation = "organisation"
)

// Routes are the routes by which cc's current token cur will be revoked
// when a rotation retires it: by its kind (the source's own kind when
// there is no current token yet), and the source's org_revoke. A pure
// function of the config and the store: no call to GitHub.
func Routes(cc config.Credential, cur *rotation.Version) []Route {
	kind := token.KindUnknown
	if cur != nil {
		kind = cur.Kind
	}
	if kind == token.KindUnknown {
		switch cc.Source.Type {
		case config.SourceGitHubApp:
			kind = token.KindInstallation
		case config.SourceGitHubAppUser:
			kind = token.KindAppUser
		}
	}
	if kind == token.KindInstallation {
		return []Route{{Route: RouteInstallation, Call: "DELETE /installation/token",
			Note: "with the token itself, when it retires after the grace period; no hourly budget"}}
	}
	var out []Route
	if o := cc.Source.OrgRevoke; o.Configured() && kind != token.KindClassicPAT && kind != token.KindOAuth && kind != token.KindAppUser {
		app := fmt.Sprintf("app %d", o.AppID)
		if o.AppID == 0 {
			app = "app " + o.ClientID
		}
		out = append(out, Route{Route: RouteOrganisation, Call: fmt.Sprintf("POST /orgs/%s/personal-access-tokens/{pat_id}", o.Org), Org: o.Org,
			App:  fmt.Sprintf("%s (installation %d)", app, o.InstallationID),
			Note: fmt.Sprintf("first, for a fine-grained token: ends its access to %s at once, confirmed by the grant's absence, audited as %s", o.Org, revoke.OrgEvent)})
	}
	note := fmt.Sprintf("queued in the store and sent in batches of up to 1,000: %d calls an hour shared by every credential and replica; confirmed by GET /user answering 401", revoke.CallsPerHour)
	if kind == token.KindAppUser {
		note += "; a user token that a refresh ended already is confirmed without a call, and the grant's own user token is never sent"
	}
	return append(out, Route{Route: RouteCredentials, Call: "POST /credentials/revoke", Note: note})
}

// orgRevokeMissing says, when cc's current token is fine-grained and,
// from what plan already knows (the config and the bindings found, no call
// to GitHub), reaches an organisation while source.org_revoke is not set,
// what that means; "" otherwise.
func orgRevokeMissing(cc config.Credential, cur *rotation.Version, bindings []rotation.Binding) string {
	if cur == nil || cur.Kind != token.KindFineGrained || cc.Source.OrgRevoke.Configured() || cc.Source.Type != config.SourcePersonalToken {
		return ""
	}
	var why []string
	if cc.Source.MaxLifetime > 0 {
		why = append(why, "source.max_lifetime is an organisation's policy")
	}
	if cur.Identity != "" {
		// A fine-grained token's resource owner is its user or an
		// organisation: a repository of another owner is the
		// organisation's (or another account's public one).
		var owners []string
		for _, b := range bindings {
			for _, full := range b.Repositories {
				owner, _, ok := strings.Cut(full, "/")
				if ok && !strings.EqualFold(owner, cur.Identity) && !slices.Contains(owners, owner) {
					owners = append(owners, owner)
				}
			}
		}
		if len(owners) > 0 {
			slices.Sort(owners)
			why = append(why, fmt.Sprintf("its bindings read repositories of %s, not of the token's user %s", strings.Join(owners, ", "), cur.Identity))
		}
	}
	if len(why) == 0 {
		return ""
	}
	return fmt.Sprintf("the current token %s is fine-grained and appears to reach an organisation (%s), but source.org_revoke is not set: "+
		"when it retires, its access ends only when the revocation queue sends it (%d calls an hour, shared); "+
		"org_revoke ends it at once through the organisation's API (docs/github-app-user.md)", cur.Fingerprint, strings.Join(why, "; "), revoke.CallsPerHour)
}
