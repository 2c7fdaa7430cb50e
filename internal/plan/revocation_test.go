package plan

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/rotor-ci/rotor/internal/config"
	"github.com/rotor-ci/rotor/internal/rotation"
	"github.com/rotor-ci/rotor/internal/token"
)

func TestRoutes(t *testing.T) {
	orgRevoke := config.OrgRevoke{Org: "acme", AppID: 123, InstallationID: 456}
	v := func(k token.Kind) *rotation.Version { return &rotation.Version{Kind: k} }
	tests := []struct {
		name   string
		source string
		org    config.OrgRevoke
		cur    *rotation.Version
		want   []string // route names, in order
		app    string   // the organisation route's app
	}{
		{name: "app, no token yet", source: config.SourceGitHubApp, want: []string{RouteInstallation}},
		{name: "app token", source: config.SourceGitHubApp, cur: v(token.KindInstallation), want: []string{RouteInstallation}},
		{name: "app credential still on an adopted personal token", source: config.SourceGitHubApp, cur: v(token.KindClassicPAT), want: []string{RouteCredentials}},
		{name: "classic", source: config.SourcePersonalToken, cur: v(token.KindClassicPAT), want: []string{RouteCredentials}},
		{name: "fine-grained", source: config.SourcePersonalToken, cur: v(token.KindFineGrained), want: []string{RouteCredentials}},
		{name: "OAuth token", source: config.SourcePersonalToken, cur: v(token.KindOAuth), want: []string{RouteCredentials}},
		{name: "app user token", source: config.SourceGitHubAppUser, want: []string{RouteCredentials}},
		{name: "fine-grained with org_revoke", source: config.SourcePersonalToken, org: orgRevoke, cur: v(token.KindFineGrained),
			want: []string{RouteOrganisation, RouteCredentials}, app: "app 123 (installation 456)"},
		{name: "no token yet, org_revoke", source: config.SourcePersonalToken, org: config.OrgRevoke{Org: "acme", ClientID: "Iv23li", InstallationID: 9},
			want: []string{RouteOrganisation, RouteCredentials}, app: "app Iv23li (installation 9)"},
		{name: "classic with org_revoke: the organisation route is for fine-grained tokens", source: config.SourcePersonalToken, org: orgRevoke, cur: v(token.KindClassicPAT),
			want: []string{RouteCredentials}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cc := config.Credential{Name: "c", Source: config.Source{Type: tt.source, OrgRevoke: tt.org}}
			rs := Routes(cc, tt.cur)
			var got []string
			for _, r := range rs {
				got = append(got, r.Route)
				if r.Route == RouteOrganisation && (r.App != tt.app || r.Org != "acme" || !strings.HasPrefix(r.Call, "POST /orgs/acme/")) {
					t.Errorf("organisation route %+v; want app %q of acme", r, tt.app)
				}
			}
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("routes (-want +got):\n%s", d)
			}
		})
	}
}

func TestOrgRevokeMissing(t *testing.T) {
	fine := &rotation.Version{Kind: token.KindFineGrained, Identity: "octocat", Fingerprint: "sha256:0123456789ab"}
	own := []rotation.Binding{{ID: "b", Repositories: []string{"octocat/app", "OctoCat/lib"}}}
	theirs := []rotation.Binding{{ID: "b", Repositories: []string{"octocat/app", "acme/app"}}}
	tests := []struct {
		name     string
		source   config.Source
		cur      *rotation.Version
		bindings []rotation.Binding
		want     string // in the warning; "" for none
	}{
		{name: "own repositories only", source: config.Source{Type: config.SourcePersonalToken}, cur: fine, bindings: own},
		{name: "an organisation's repository", source: config.Source{Type: config.SourcePersonalToken}, cur: fine, bindings: theirs,
			want: "its bindings read repositories of acme, not of the token's user octocat"},
		{name: "an organisation's lifetime policy", source: config.Source{Type: config.SourcePersonalToken, MaxLifetime: config.Duration(90 * 24 * time.Hour)}, cur: fine, bindings: own,
			want: "source.max_lifetime is an organisation's policy"},
		{name: "org_revoke set", source: config.Source{Type: config.SourcePersonalToken, OrgRevoke: config.OrgRevoke{Org: "acme"}}, cur: fine, bindings: theirs},
		{name: "a classic token", source: config.Source{Type: config.SourcePersonalToken}, cur: &rotation.Version{Kind: token.KindClassicPAT, Identity: "octocat"}, bindings: theirs},
		{name: "no token yet", source: config.Source{Type: config.SourcePersonalToken, MaxLifetime: config.Duration(time.Hour)}, bindings: theirs},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := orgRevokeMissing(config.Credential{Name: "c", Source: tt.source}, tt.cur, tt.bindings)
			switch {
			case tt.want == "" && got != "":
				t.Errorf("warned %q; want nothing", got)
			case tt.want != "" && (!strings.Contains(got, tt.want) || !strings.Contains(got, "source.org_revoke is not set")):
				t.Errorf("warning %q; want it to say %q", got, tt.want)
			}
		})
	}
}
