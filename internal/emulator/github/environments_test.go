package github

import (
	"context"
	"net/http"
	"strings"
	"testing"

	gh "github.com/google/go-github/v93/github"
)

// GET /repos/{owner}/{repo}/environments lists the declared environments
// to whoever reads the repository, with GitHub's token rules: repo scope
// for a private repository, actions:read for a fine-grained token; ids are
// stable; pages as GitHub pages.
func TestEnvironments_List(t *testing.T) {
	w := orgWorld()
	for i := range w.Repos {
		if w.Repos[i].Owner == "acme" && w.Repos[i].Name == "app" {
			w.Repos[i].Environments = []string{"production", "staging"}
		}
	}
	e := newEnv(t, w)
	ctx := context.Background()
	// Tokens that expire: acme keeps GitHub's default maximum lifetime.
	fgActions := e.newToken(t, TokenSpec{User: "alice", Kind: KindFineGrained, Repositories: []string{"acme/app"}, Permissions: map[string]string{"actions": "read"}, ExpiresIn: Duration{30 * day}})
	fgContents := e.newToken(t, TokenSpec{User: "alice", Kind: KindFineGrained, Repositories: []string{"acme/app"}, Permissions: map[string]string{"contents": "read"}, ExpiresIn: Duration{30 * day}})
	daveTok := e.newToken(t, TokenSpec{User: "dave", Kind: KindClassic, Scopes: []string{"repo"}})

	list := func(tok, owner, repo string, opts *gh.EnvironmentListOptions) (*gh.EnvResponse, int) {
		t.Helper()
		got, resp, _ := e.client(t, tok).Repositories.ListEnvironments(ctx, owner, repo, opts)
		return got, statusOf(resp)
	}
	first, status := list(aliceClassic, "acme", "app", nil)
	if status != http.StatusOK || first.GetTotalCount() != 2 || len(first.Environments) != 2 ||
		first.Environments[0].GetName() != "production" || first.Environments[1].GetName() != "staging" ||
		first.Environments[0].GetID() == first.Environments[1].GetID() || first.Environments[0].GetID() <= 0 ||
		!strings.HasSuffix(first.Environments[0].GetURL(), "/repos/acme/app/environments/production") {
		t.Fatalf("list: %d %+v", status, first)
	}
	if again, _ := list(aliceClassic, "acme", "app", nil); again.Environments[0].GetID() != first.Environments[0].GetID() {
		t.Fatal("an environment's id changed between two lists")
	}
	page, status := list(aliceClassic, "acme", "app", &gh.EnvironmentListOptions{ListOptions: gh.ListOptions{PerPage: 1, Page: 2}})
	if status != http.StatusOK || page.GetTotalCount() != 2 || len(page.Environments) != 1 || page.Environments[0].GetName() != "staging" {
		t.Fatalf("page 2 of 1: %d %+v", status, page)
	}
	for _, tt := range []struct {
		name, tok, owner, repo string
		want                   int
	}{
		{"a member who reads it", e.tok["bob-classic"], "acme", "app", http.StatusOK},
		{"fine-grained, actions:read", fgActions, "acme", "app", http.StatusOK},
		{"fine-grained without actions:read", fgContents, "acme", "app", http.StatusForbidden},
		{"classic without repo, private repository", e.tok["alice-noscope"], "acme", "app", http.StatusNotFound},
		{"a user who cannot see it", daveTok, "acme", "app", http.StatusNotFound},
		{"anyone, a public repository", "", "acme", "site", http.StatusOK},
		{"no such repository", aliceClassic, "acme", "nope", http.StatusNotFound},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, status := list(tt.tok, tt.owner, tt.repo, nil); status != tt.want {
				t.Fatalf("status %d, want %d", status, tt.want)
			}
		})
	}
}
