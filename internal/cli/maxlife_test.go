package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rotor-ci/rotor/internal/emulator"
	ghemu "github.com/rotor-ci/rotor/internal/emulator/github"
	"github.com/rotor-ci/rotor/internal/plan"
	"github.com/rotor-ci/rotor/internal/schedule"
	"github.com/rotor-ci/rotor/internal/status"
	"github.com/rotor-ci/rotor/internal/token"
)

// TestCLI_MaxLifetime: an organisation (the emulator's acme) caps
// fine-grained tokens at 30 days, and the config says so (source.
// max_lifetime). A bad max_lifetime is a config error naming file and
// line. The token in use lives 90 days, so the emulator blocks it on
// acme's repositories: status and plan warn and say what to do, and the
// credential is due at once. A new token that lives too long is refused
// before anything changes; one within the cap is rotated in and the
// warning goes.
func TestCLI_MaxLifetime(t *testing.T) {
	const user = "MyGitHubUserName"
	e := newE2EWorld(t, "10m", func(w *emulator.World) {
		w.GitHub.Orgs = append(w.GitHub.Orgs, ghemu.OrgSpec{Login: "acme", Owners: []string{user}, FineGrainedMaxLifetime: ghemu.MaxLifetime{Days: 30}})
		w.GitHub.Repos = append(w.GitHub.Repos, ghemu.RepoSpec{Owner: "acme", Name: "app", Private: true})
	})
	fineGrained := func(life time.Duration) token.Token {
		t.Helper()
		tok, _, err := e.sb.GitHub.CreateToken(user, ghemu.TokenSpec{Kind: ghemu.KindFineGrained, Repositories: []string{"acme/app"},
			Permissions: map[string]string{"contents": "read"}, ExpiresIn: ghemu.Duration{Duration: life}})
		if err != nil {
			t.Fatal(err)
		}
		e.tokens = append(e.tokens, token.New(tok.Reveal()))
		return token.New(tok.Reveal())
	}
	day := 24 * time.Hour
	long := fineGrained(90 * day)
	if ok, why := e.sb.GitHub.Authorize(long.Reveal(), "acme", "app"); ok || !strings.Contains(why, "30 days") {
		t.Fatalf("the emulator lets a 90-day token read acme/app (%v, %s): the test proves nothing", ok, why)
	}
	tokenFile := filepath.Join(e.dir, "ci", "org-token")
	if err := os.WriteFile(tokenFile, []byte(long.Reveal()), 0o600); err != nil {
		t.Fatal(err)
	}
	config := func(maxLifetime string) {
		t.Helper()
		cfg := fmt.Sprintf(`store: sqlite:rotor.db
key: file:rotor.key
github: {api_url: %s}
credentials:
  - name: org-token
    source:
      type: personal-token
      max_lifetime: %s
    rotate: {every: 20d, renew_before: 7d, grace: 10m}
    targets:
      - {type: file, path: ci/org-token}
`, e.sb.GitHubURL, maxLifetime)
		if err := os.WriteFile(e.config, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
	}

	for value, want := range map[string]string{
		"0":  "rotor.yaml:8: credentials[0].source.max_lifetime: 0: must be longer than 0",
		"5d": "rotor.yaml:8: credentials[0].source.max_lifetime: 5d is not longer than rotate.renew_before (7d)",
	} {
		config(value)
		if code, out := e.rotor("", "validate"); code != ExitUsage || !strings.Contains(out, want) {
			t.Fatalf("validate with max_lifetime %s: %d %s\nwant %q", value, code, out, want)
		}
	}
	config("30d")
	if code, out := e.rotor("", "validate"); code != 0 {
		t.Fatalf("validate: %d %s", code, out)
	}
	if code, out := e.rotor(long.Reveal()+"\n", "adopt", "org-token", "--token-stdin"); code != 0 {
		t.Fatalf("adopt: %d %s", code, out)
	}

	code, out := e.rotor("", "status")
	if code != 0 || !strings.Contains(out, "org-token: the organisation's maximum token lifetime (source.max_lifetime 30d) blocks the current token v1 "+long.Fingerprint()) ||
		!strings.Contains(out, "it lives at least 89d") || !strings.Contains(out, "expires within 30d and run 'rotor rotate org-token' now") || !strings.Contains(out, "now (MaxLifetime)") {
		t.Fatalf("status: %d %s", code, out)
	}
	code, out = e.rotor("", "status", "-o", "json")
	var sts []status.Credential
	if code != 0 || json.Unmarshal([]byte(strings.SplitN(out, "\n\n", 2)[0]), &sts) != nil || len(sts) != 1 ||
		sts[0].Due.Reason != schedule.ReasonMaxLifetime || len(sts[0].Warnings) != 1 {
		t.Fatalf("status -o json: %d %s", code, out)
	}
	code, out = e.rotor("", "plan", "-o", "json")
	var r plan.Report
	if code != 0 || json.Unmarshal([]byte(strings.SplitN(out, "\n\n", 2)[0]), &r) != nil {
		t.Fatalf("plan: %d %s", code, out)
	}
	found := false
	for _, w := range r.Warnings {
		found = found || (w.Kind == "MaxLifetime" && w.Credential == "org-token" && strings.Contains(w.Message, "blocks the current token"))
	}
	if !found {
		t.Fatalf("plan warnings %+v: want one of kind MaxLifetime", r.Warnings)
	}

	// A new token as long-lived is refused before any target changes.
	again := fineGrained(60 * day)
	code, out = e.rotor(again.Reveal()+"\n", "rotate", "org-token", "--token-stdin")
	if code != ExitFailure || !strings.Contains(out, "more than the organisation's maximum lifetime (30d) from now") {
		t.Fatalf("rotate with a 60-day token: %d %s", code, out)
	}
	if fp := e.fileHolds(tokenFile); fp != long.Fingerprint() {
		t.Fatalf("after the refusal the file holds %s, want the token it held", fp)
	}

	fresh := fineGrained(25 * day)
	if code, out := e.rotor(fresh.Reveal()+"\n", "rotate", "org-token", "--token-stdin"); code != 0 {
		t.Fatalf("rotate with a 25-day token: %d %s", code, out)
	}
	if fp := e.fileHolds(tokenFile); fp != fresh.Fingerprint() {
		t.Fatalf("the file holds %s, want the new token", fp)
	}
	code, out = e.rotor("", "status")
	if code != 0 || strings.Contains(out, "maximum token lifetime") || !strings.Contains(out, "(Expiring)") {
		t.Fatalf("status after the rotation: %d %s", code, out)
	}
	e.canary()
}

// fileHolds is the fingerprint of the token in a file target's file.
func (e *e2e) fileHolds(path string) string {
	e.t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		e.t.Fatal(err)
	}
	return token.Fingerprint(strings.TrimSpace(string(b)))
}
