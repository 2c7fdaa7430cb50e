package github

import (
	"context"
	"crypto/rsa"
	"encoding/json"
	"testing"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/google/go-cmp/cmp"
)

// The world-file section exactly as documented.
const worldYAML = `
users: [{login: MyGitHubUserName}]
repos: [{owner: MyGitHubUserName, name: test-repo, private: true, branches: [master], collaborators: []}]
tokens:
  - {user: MyGitHubUserName, kind: classic, note: codepipeline, scopes: [repo, "admin:repo_hook"], value: 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, expires_in: 720h}
  - {user: MyGitHubUserName, kind: fine-grained, repositories: [MyGitHubUserName/test-repo], permissions: {contents: read}, expires_in: 30d}
apps:
  - {name: rotor-ci, owner: MyGitHubUserName, installations: [{account: MyGitHubUserName, repositories: [test-repo]}]}
rate_limit: 5000
`

func TestWorld_YAML(t *testing.T) {
	var w World
	if err := yaml.UnmarshalWithOptions([]byte(worldYAML), &w, yaml.Strict()); err != nil {
		t.Fatal(err)
	}
	want := World{
		Users: []UserSpec{{Login: "MyGitHubUserName"}},
		Repos: []RepoSpec{{Owner: "MyGitHubUserName", Name: "test-repo", Private: true, Branches: []string{"master"}, Collaborators: []string{}}},
		Tokens: []WorldToken{
			{TokenSpec: TokenSpec{User: "MyGitHubUserName", Kind: "classic", Note: "codepipeline", Scopes: []string{"repo", "admin:repo_hook"}, ExpiresIn: Duration{720 * time.Hour}}, Value: aliceClassic},
			{TokenSpec: TokenSpec{User: "MyGitHubUserName", Kind: "fine-grained", Repositories: []string{"MyGitHubUserName/test-repo"}, Permissions: map[string]string{"contents": "read"}, ExpiresIn: Duration{30 * 24 * time.Hour}}},
		},
		Apps:      []AppSpec{{Name: "rotor-ci", Owner: "MyGitHubUserName", Installations: []InstallationSpec{{Account: "MyGitHubUserName", Repositories: []string{"test-repo"}}}}},
		RateLimit: 5000,
	}
	if diff := cmp.Diff(want, w, cmp.Comparer(func(a, b Duration) bool { return a == b })); diff != "" {
		t.Fatalf("world (-want +got):\n%s", diff)
	}
	// JSON reads the same shape.
	js, err := yaml.YAMLToJSON([]byte(worldYAML))
	if err != nil {
		t.Fatal(err)
	}
	var wj World
	if err := json.Unmarshal(js, &wj); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, wj); diff != "" {
		t.Fatalf("JSON world (-want +got):\n%s", diff)
	}

	clock := newClock()
	srv, err := New(w, Options{Clock: clock.Now, KeyGen: func() (*rsa.PrivateKey, error) { return testKey(), nil }})
	if err != nil {
		t.Fatal(err)
	}
	if ok, reason := srv.Authorize(aliceClassic, "MyGitHubUserName", "test-repo"); !ok {
		t.Fatalf("the world's token cannot fetch: %s", reason)
	}
	infos := srv.Tokens()
	if len(infos) != 2 || infos[1].Kind != KindFineGrained || !infos[1].ExpiresAt.Equal(clock.Now().Add(30*24*time.Hour)) {
		t.Fatalf("tokens = %+v", infos)
	}
	_ = context.Background()
}

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in      string
		want    time.Duration
		wantErr bool
	}{
		{"720h", 720 * time.Hour, false},
		{"30d", 30 * 24 * time.Hour, false},
		{"90m", 90 * time.Minute, false},
		{"0", 0, false},
		{"d", 0, true},
		{"-1d", 0, true},
		{"-5m", 0, true},
		{"soon", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseDuration(tt.in)
			if (err != nil) != tt.wantErr || got.Duration != tt.want {
				t.Fatalf("ParseDuration(%q) = %v, %v", tt.in, got, err)
			}
		})
	}
}
