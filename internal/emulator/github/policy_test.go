package github

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/goccy/go-yaml"
)

const day = 24 * time.Hour

// An organisation's maximum lifetime for fine-grained tokens blocks (403,
// GitHub's message) a member's token whose lifetime exceeds it, on every
// resource of the organisation, public ones included, and nowhere else;
// the token is not revoked.
func TestPolicy_FineGrainedMaxLifetime(t *testing.T) {
	w := orgWorld()
	w.Orgs[0].FineGrainedMaxLifetime = MaxLifetime{Days: 90}
	w.Orgs = append(w.Orgs,
		OrgSpec{Login: "beta", Owners: []string{"alice"}},                                                  // GitHub's default: 366 days
		OrgSpec{Login: "gamma", Owners: []string{"alice"}, FineGrainedMaxLifetime: MaxLifetime{Off: true}}, // no maximum
	)
	w.Repos = append(w.Repos, RepoSpec{Owner: "beta", Name: "b"}, RepoSpec{Owner: "gamma", Name: "g"})
	e := newEnv(t, w)
	ctx := context.Background()
	ok90 := e.newToken(t, TokenSpec{User: "alice", Kind: KindFineGrained, Repositories: []string{"acme/app"}, Permissions: map[string]string{"contents": "read"}, ExpiresIn: Duration{90 * day}})
	longTok, longInfo, err := e.srv.CreateToken("alice", TokenSpec{Kind: KindFineGrained, Repositories: []string{"acme/app"}, Permissions: map[string]string{"contents": "read"}, ExpiresIn: Duration{120 * day}})
	if err != nil {
		t.Fatal(err)
	}
	long := longTok.Reveal()
	never := e.newToken(t, TokenSpec{User: "alice", Kind: KindFineGrained, Permissions: map[string]string{"contents": "read"}})
	year := e.newToken(t, TokenSpec{User: "alice", Kind: KindFineGrained, ExpiresIn: Duration{400 * day}})
	outsider := e.newToken(t, TokenSpec{User: "dave", Kind: KindFineGrained, ExpiresIn: Duration{400 * day}})

	wantMsg := "The 'acme' organization forbids access via a fine-grained personal access tokens if the token's lifetime is greater than 90 days. " +
		"Please adjust your token's lifetime at the following URL: " + e.http.URL + "/settings/personal-access-tokens/"
	for _, tt := range []struct {
		name, tok, path string
		want            int
	}{
		{"within the maximum", ok90, "/repos/acme/app", http.StatusOK},
		{"longer, private repository", long, "/repos/acme/app", http.StatusForbidden},
		{"longer, tarball", long, "/repos/acme/app/tarball/main", http.StatusForbidden},
		{"never expires, public repository", never, "/repos/acme/site", http.StatusForbidden},
		{"never expires, organisation secrets", never, "/orgs/acme/actions/secrets", http.StatusForbidden},
		{"never expires, the user's own repository", never, "/repos/alice/public", http.StatusOK},
		{"never expires, GET /user", never, "/user", http.StatusOK},
		{"a non-member's token", outsider, "/repos/acme/site", http.StatusOK},
		{"GitHub's default maximum, 366 days", year, "/repos/beta/b", http.StatusForbidden},
		{"no maximum", year, "/repos/gamma/g", http.StatusOK},
		{"a classic token", aliceClassic, "/repos/acme/site", http.StatusOK},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := e.do(t, http.MethodGet, tt.path, "token "+tt.tok, "")
			if resp.StatusCode != tt.want {
				t.Fatalf("%d %s, want %d", resp.StatusCode, body, tt.want)
			}
			if tt.want == http.StatusForbidden && strings.Contains(tt.path, "acme") {
				var eb errorBody
				_ = json.Unmarshal([]byte(body), &eb)
				if !strings.HasPrefix(eb.Message, wantMsg) {
					t.Fatalf("message %q", eb.Message)
				}
			}
		})
	}
	// The answer names the token's settings page, and keeps the headers.
	resp, body := e.do(t, http.MethodGet, "/repos/acme/app", "token "+long, "")
	if !strings.Contains(body, "/settings/personal-access-tokens/"+strconv.FormatInt(longInfo.ID, 10)) ||
		resp.Header.Get("GitHub-Authentication-Token-Expiration") != longInfo.ExpiresAt.UTC().Format(expirationLayout) {
		t.Fatalf("%s %v", body, resp.Header)
	}
	// Not revoked: the token's state is unchanged and it works elsewhere.
	for _, info := range e.srv.Tokens() {
		if info.ID == longInfo.ID && info.State != StateActive {
			t.Fatalf("state %s", info.State)
		}
	}
	if ok, reason := e.srv.Authorize(long, "acme", "app"); ok || !strings.Contains(reason, "forbids access") {
		t.Fatalf("Authorize: %v %q", ok, reason)
	}
	// go-github sees a 403 it can read.
	_, gresp, err := e.client(t, long).Repositories.Get(ctx, "acme", "app")
	if statusOf(gresp) != http.StatusForbidden || err == nil || !strings.Contains(err.Error(), "forbids access") {
		t.Fatalf("go-github: %d %v", statusOf(gresp), err)
	}
}

func TestMaxLifetime_Text(t *testing.T) {
	for in, want := range map[string]MaxLifetime{"90d": {Days: 90}, "2160h": {Days: 90}, "off": {Off: true}, "366d": {Days: 366}, "1d": {Days: 1}} {
		var m MaxLifetime
		if err := m.UnmarshalText([]byte(in)); err != nil || m != want {
			t.Errorf("%q: %+v %v", in, m, err)
		}
	}
	for _, in := range []string{"0d", "367d", "36h", "soon", "-1d", ""} {
		var m MaxLifetime
		if err := m.UnmarshalText([]byte(in)); err == nil {
			t.Errorf("%q accepted as %+v", in, m)
		}
	}
	// In a world file.
	var w World
	src := "users: [{login: a}]\norgs: [{login: o, owners: [a], fine_grained_max_lifetime: 30d}, {login: p, owners: [a], fine_grained_max_lifetime: off}]\n"
	if err := yaml.UnmarshalWithOptions([]byte(src), &w, yaml.Strict()); err != nil {
		t.Fatal(err)
	}
	if w.Orgs[0].FineGrainedMaxLifetime.days() != 30 || w.Orgs[1].FineGrainedMaxLifetime.days() != 0 {
		t.Fatalf("%+v", w.Orgs)
	}
	if err := yaml.UnmarshalWithOptions([]byte("orgs: [{login: o, owners: [a], fine_grained_max_lifetime: 400d}]"), &w, yaml.Strict()); err == nil {
		t.Fatal("400d accepted")
	}
}
