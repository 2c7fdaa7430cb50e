package github

import (
	"context"
	"net/http"
	"slices"
	"testing"

	gh "github.com/google/go-github/v93/github"
)

func TestRepoLists(t *testing.T) {
	w := testWorld()
	w.Orgs = []OrgSpec{{Login: "acme", Owners: []string{"carol"}, Members: []string{"bob"}}}
	w.Repos = append(w.Repos, RepoSpec{Owner: "acme", Name: "deploy", Private: true}, RepoSpec{Owner: "acme", Name: "site"})
	e := newEnv(t, w)
	ctx := context.Background()
	names := func(rs []*gh.Repository) []string {
		var out []string
		for _, r := range rs {
			out = append(out, r.GetFullName())
		}
		return out
	}
	for _, tt := range []struct {
		name string
		tok  string
		want []string
	}{
		{"alice sees hers and bob's collaboration", "alice-classic", []string{"alice/private", "alice/public", "alice/other"}},
		{"bob: collaborator and organisation member", "bob-classic", []string{"alice/private", "acme/deploy", "acme/site"}},
		{"a fine-grained token lists what it may see", "alice-fg", []string{"alice/private", "alice/public"}},
	} {
		t.Run("user "+tt.name, func(t *testing.T) {
			rs, _, err := e.client(t, e.tok[tt.tok]).Repositories.ListByAuthenticatedUser(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			if got := names(rs); !slices.Equal(got, tt.want) {
				t.Errorf("GET /user/repos = %v, want %v", got, tt.want)
			}
		})
	}
	for _, tt := range []struct {
		name string
		tok  string
		want []string
	}{
		{"member", "bob-classic", []string{"acme/deploy", "acme/site"}},
		{"outsider sees the public one", "alice-classic", []string{"acme/site"}},
		{"anonymous", "", []string{"acme/site"}},
	} {
		t.Run("org "+tt.name, func(t *testing.T) {
			rs, _, err := e.client(t, e.tok[tt.tok]).Repositories.ListByOrg(ctx, "acme", nil)
			if err != nil {
				t.Fatal(err)
			}
			if got := names(rs); !slices.Equal(got, tt.want) {
				t.Errorf("GET /orgs/acme/repos = %v, want %v", got, tt.want)
			}
		})
	}
	_, resp, err := e.client(t, e.tok["alice-classic"]).Repositories.ListByOrg(ctx, "nope", nil)
	if err == nil || resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown organisation: %v", err)
	}
	inst := e.installationToken(t, nil)
	_, resp, err = e.client(t, inst).Repositories.ListByAuthenticatedUser(ctx, nil)
	if err == nil || resp.StatusCode != http.StatusForbidden {
		t.Errorf("installation token on /user/repos: %v, want 403", err)
	}
}
