package github

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	gh "github.com/google/go-github/v93/github"
)

// patWorld is orgWorld plus two apps on acme with the organisation's
// "Personal access tokens" permission: pat-admin (write) and pat-reader
// (read).
func patWorld() World {
	w := orgWorld()
	for _, a := range []struct{ name, level string }{{"pat-admin", "write"}, {"pat-reader", "read"}} {
		w.Apps = append(w.Apps, AppSpec{
			Name: a.name, Owner: "alice", Permissions: map[string]string{orgPATPerm: a.level},
			Installations: []InstallationSpec{{Account: "acme"}},
		})
	}
	return w
}

func TestOrgPATs_ListAndRevoke(t *testing.T) {
	e := newEnv(t, patWorld())
	ctx := context.Background()
	deploy, deployInfo, err := e.srv.CreateToken("alice", TokenSpec{Kind: KindFineGrained, Note: "deploy", Repositories: []string{"acme/app"}, Permissions: map[string]string{"contents": "read"}, ExpiresIn: Duration{30 * 24 * time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(time.Minute)
	bobTok, bobInfo, err := e.srv.CreateToken("bob", TokenSpec{Kind: KindFineGrained, Note: "bob", ResourceOwner: "acme", Permissions: map[string]string{"organization_secrets": "read"}, ExpiresIn: Duration{90 * 24 * time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	e.newToken(t, TokenSpec{User: "alice", Kind: KindFineGrained, Repositories: []string{"alice/private"}}) // alice's own account: not acme's
	if deployInfo.ResourceOwner != "acme" || deployInfo.OrgGrantID == 0 || bobInfo.OrgGrantID == 0 {
		t.Fatalf("grants: %+v %+v", deployInfo, bobInfo)
	}
	admin := e.client(t, e.appToken(t, "pat-admin", "acme"))

	list, resp, err := admin.Organizations.ListFineGrainedPersonalAccessTokens(ctx, "acme", &gh.ListFineGrainedPATOptions{})
	if err != nil || len(list) != 2 {
		t.Fatalf("list: %d %v %v", statusOf(resp), list, err)
	}
	// Newest first by default.
	first, second := list[0], list[1]
	if first.GetTokenID() != bobInfo.ID || second.GetTokenID() != deployInfo.ID || second.GetID() != deployInfo.OrgGrantID ||
		second.GetTokenName() != "deploy" || second.GetOwner().GetLogin() != "alice" || second.GetRepositorySelection() != "subset" ||
		second.GetTokenExpired() || !second.GetTokenExpiresAt().Time.Equal(deployInfo.ExpiresAt) || second.TokenLastUsedAt != nil ||
		second.GetPermissions().Repo["contents"] != "read" || first.GetPermissions().Org["organization_secrets"] != "read" {
		t.Fatalf("grants: %+v\n%+v", first, second)
	}
	// Use shows as token_last_used_at.
	if _, _, err := e.client(t, deploy.Reveal()).Repositories.Get(ctx, "acme", "app"); err != nil {
		t.Fatal(err)
	}
	used := e.clock.Now()
	for _, tt := range []struct {
		opts *gh.ListFineGrainedPATOptions
		want []int64
	}{
		{&gh.ListFineGrainedPATOptions{Direction: "asc"}, []int64{deployInfo.ID, bobInfo.ID}},
		{&gh.ListFineGrainedPATOptions{Owner: []string{"bob"}}, []int64{bobInfo.ID}},
		{&gh.ListFineGrainedPATOptions{TokenID: []int64{deployInfo.ID}}, []int64{deployInfo.ID}},
		{&gh.ListFineGrainedPATOptions{Repository: "app"}, []int64{deployInfo.ID}},
		{&gh.ListFineGrainedPATOptions{Permission: "organization_secrets_read"}, []int64{bobInfo.ID}},
		{&gh.ListFineGrainedPATOptions{LastUsedAfter: used.Add(-time.Second).Format(time.RFC3339)}, []int64{deployInfo.ID}},
		{&gh.ListFineGrainedPATOptions{LastUsedBefore: used.Add(-time.Second).Format(time.RFC3339)}, nil},
		{&gh.ListFineGrainedPATOptions{ListOptions: gh.ListOptions{PerPage: 1, Page: 2}}, []int64{deployInfo.ID}},
	} {
		got, _, err := admin.Organizations.ListFineGrainedPersonalAccessTokens(ctx, "acme", tt.opts)
		var ids []int64
		for _, g := range got {
			ids = append(ids, g.GetTokenID())
		}
		if err != nil || fmt.Sprint(ids) != fmt.Sprint(tt.want) {
			t.Errorf("%+v: %v, want %v (%v)", tt.opts, ids, tt.want, err)
		}
	}
	got, _, _ := admin.Organizations.ListFineGrainedPersonalAccessTokens(ctx, "acme", &gh.ListFineGrainedPATOptions{TokenID: []int64{deployInfo.ID}})
	if len(got) != 1 || got[0].TokenLastUsedAt == nil || !got[0].GetTokenLastUsedAt().Time.Equal(used) {
		t.Fatalf("last used: %+v", got)
	}

	// Revoke one: 204. The token still works for its user; acme's
	// resources are closed to it; the list no longer has it.
	resp2, body := e.do(t, http.MethodPost, fmt.Sprintf("/orgs/acme/personal-access-tokens/%d", deployInfo.OrgGrantID), "token "+e.appToken(t, "pat-admin", "acme"), `{"action":"revoke"}`)
	if resp2.StatusCode != http.StatusNoContent {
		t.Fatalf("revoke one: %d %s", resp2.StatusCode, body)
	}
	if status, _ := e.userStatus(t, deploy.Reveal()); status != http.StatusOK {
		t.Fatalf("GET /user after the organisation's revocation: %d (the token lives on)", status)
	}
	if _, resp, _ := e.client(t, deploy.Reveal()).Repositories.Get(ctx, "acme", "app"); statusOf(resp) != http.StatusNotFound {
		t.Fatalf("acme/app after the revocation: %d", statusOf(resp))
	}
	if ok, reason := e.srv.Authorize(deploy.Reveal(), "acme", "app"); ok || !strings.Contains(reason, "revoked") {
		t.Fatalf("Authorize: %v %q", ok, reason)
	}
	if list, _, _ := admin.Organizations.ListFineGrainedPersonalAccessTokens(ctx, "acme", &gh.ListFineGrainedPATOptions{}); len(list) != 1 || list[0].GetTokenID() != bobInfo.ID {
		t.Fatalf("list after revocation: %+v", list)
	}
	grants := e.srv.OrgGrants()
	if len(grants) != 2 || grants[0].RevokedAt.IsZero() || !grants[1].RevokedAt.IsZero() {
		t.Fatalf("admin grants: %+v", grants)
	}
	// Again: it is gone.
	if resp, _ := e.do(t, http.MethodPost, fmt.Sprintf("/orgs/acme/personal-access-tokens/%d", deployInfo.OrgGrantID), "token "+e.appToken(t, "pat-admin", "acme"), `{"action":"revoke"}`); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("revoke twice: %d", resp.StatusCode)
	}

	// Expired tokens are listed as expired.
	e.clock.Advance(91 * 24 * time.Hour)
	list, _, _ = e.client(t, e.appToken(t, "pat-admin", "acme")).Organizations.ListFineGrainedPersonalAccessTokens(ctx, "acme", &gh.ListFineGrainedPATOptions{})
	if len(list) != 1 || !list[0].GetTokenExpired() {
		t.Fatalf("expired: %+v", list)
	}
	// The batch: all or nothing, then 202.
	tok := "token " + e.appToken(t, "pat-admin", "acme")
	for body, want := range map[string]int{
		fmt.Sprintf(`{"action":"revoke","pat_ids":[%d,999999]}`, bobInfo.OrgGrantID): http.StatusNotFound,
		fmt.Sprintf(`{"action":"approve","pat_ids":[%d]}`, bobInfo.OrgGrantID):       http.StatusUnprocessableEntity,
		`{"action":"revoke","pat_ids":[]}`:                                           http.StatusUnprocessableEntity,
		`{"action":"revoke","pat_ids":[` + strings.Repeat("1,", 100) + `1]}`:         http.StatusUnprocessableEntity,
		`{"action":"revoke"}`: http.StatusUnprocessableEntity,
	} {
		if resp, out := e.do(t, http.MethodPost, "/orgs/acme/personal-access-tokens", tok, body); resp.StatusCode != want {
			t.Errorf("%s: %d %s, want %d", body, resp.StatusCode, out, want)
		}
	}
	if resp, out := e.do(t, http.MethodPost, "/orgs/acme/personal-access-tokens", tok, fmt.Sprintf(`{"action":"revoke","pat_ids":[%d]}`, bobInfo.OrgGrantID)); resp.StatusCode != http.StatusAccepted {
		t.Fatalf("batch: %d %s", resp.StatusCode, out)
	}
	if list, _, _ := e.client(t, e.appToken(t, "pat-admin", "acme")).Organizations.ListFineGrainedPersonalAccessTokens(ctx, "acme", &gh.ListFineGrainedPATOptions{}); len(list) != 0 {
		t.Fatalf("after the batch: %+v", list)
	}
	_ = bobTok
}

func TestOrgPATs_OnlyTheOrganisationsApp(t *testing.T) {
	e := newEnv(t, patWorld())
	ctx := context.Background()
	_, info, _ := e.srv.CreateToken("alice", TokenSpec{Kind: KindFineGrained, ResourceOwner: "acme", ExpiresIn: Duration{24 * time.Hour}})
	revoke := fmt.Sprintf(`{"action":"revoke","pat_ids":[%d]}`, info.OrgGrantID)
	for _, tt := range []struct {
		name, tok string
		list      int
		revoke    int
		msg       string
	}{
		{"a classic token of the owner", e.newToken(t, TokenSpec{User: "alice", Kind: KindClassic, Scopes: []string{"admin:org"}}), http.StatusForbidden, http.StatusForbidden, msgNotByPAT},
		{"an app without the permission", e.appToken(t, "secrets-bot", "acme"), http.StatusForbidden, http.StatusForbidden, msgNotByIntegration},
		{"the app installed on another account", e.appToken(t, "secrets-bot", "alice"), http.StatusForbidden, http.StatusForbidden, msgNotByIntegration},
		{"read only", e.appToken(t, "pat-reader", "acme"), http.StatusOK, http.StatusForbidden, msgNotByIntegration},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if resp, body := e.do(t, http.MethodGet, "/orgs/acme/personal-access-tokens", "token "+tt.tok, ""); resp.StatusCode != tt.list {
				t.Errorf("list: %d %s", resp.StatusCode, body)
			}
			resp, body := e.do(t, http.MethodPost, "/orgs/acme/personal-access-tokens", "token "+tt.tok, revoke)
			if resp.StatusCode != tt.revoke || !strings.Contains(body, tt.msg) {
				t.Errorf("revoke: %d %s", resp.StatusCode, body)
			}
		})
	}
	if resp, _ := e.do(t, http.MethodGet, "/orgs/nope/personal-access-tokens", "token "+e.appToken(t, "pat-admin", "acme"), ""); resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown organisation: %d", resp.StatusCode)
	}
	if list, _, _ := e.client(t, e.appToken(t, "pat-admin", "acme")).Organizations.ListFineGrainedPersonalAccessTokens(ctx, "acme", &gh.ListFineGrainedPATOptions{}); len(list) != 1 {
		t.Fatalf("nothing was revoked: %+v", list)
	}
	// A fine-grained token's resource owner must be the user's or an
	// organisation the user belongs to, and its repositories that owner's.
	for name, spec := range map[string]TokenSpec{
		"outsider":                {User: "dave", Kind: KindFineGrained, ResourceOwner: "acme"},
		"repositories of another": {User: "alice", Kind: KindFineGrained, ResourceOwner: "acme", Repositories: []string{"alice/private"}},
		"mixed repositories":      {User: "alice", Kind: KindFineGrained, Repositories: []string{"acme/app", "alice/private"}},
		"an organisation's token": {User: "acme", Kind: KindClassic},
	} {
		if _, _, err := e.srv.CreateToken(spec.User, spec); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
