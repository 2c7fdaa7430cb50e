package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rotor-ci/rotor/internal/emulator"
	ghemu "github.com/rotor-ci/rotor/internal/emulator/github"
	"github.com/rotor-ci/rotor/internal/token"
)

// A personal-token credential with org_revoke: rotating from one
// fine-grained token of the organisation to another revokes the old
// token's grant through the organisation's API (confirmed by its absence
// from the list) and the token itself through the revocation API; the new
// token's grant is untouched; the audit log says so.
func TestCLI_OrgRevoke(t *testing.T) {
	e := newE2EWorld(t, "0", func(w *emulator.World) {
		w.GitHub.Orgs = append(w.GitHub.Orgs, ghemu.OrgSpec{Login: "acme", Owners: []string{emulator.SeedUser}})
		w.GitHub.Repos = append(w.GitHub.Repos, ghemu.RepoSpec{Owner: "acme", Name: "app", Private: true})
		w.GitHub.Apps = append(w.GitHub.Apps, ghemu.AppSpec{Name: "pat-admin", Owner: "acme",
			Permissions:   map[string]string{"organization_personal_access_tokens": "write"},
			Installations: []ghemu.InstallationSpec{{Account: "acme"}}})
	})
	pem, err := e.sb.GitHub.AppPrivateKeyPEM("pat-admin")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(e.dir, "pat-admin.pem"), pem, 0o600); err != nil {
		t.Fatal(err)
	}
	appID, insts := e.sb.GitHub.App("pat-admin")
	cfg := fmt.Sprintf(`store: sqlite:rotor.db
key: file:rotor.key
github: {api_url: %s}
credentials:
  - name: acme-deploy
    source:
      type: personal-token
      org_revoke: {org: acme, app_id: %d, installation_id: %d, private_key_file: pat-admin.pem}
    rotate: {every: 30d, renew_before: 7d, grace: 0s}
    targets:
      - {type: file, path: ci/acme-token}
`, e.sb.GitHubURL, appID, insts[0])
	if err := os.WriteFile(e.config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	fineGrained := func(note string, expiresIn time.Duration) (token.Token, int64) {
		tok, info, err := e.sb.GitHub.CreateToken(emulator.SeedUser, ghemu.TokenSpec{Kind: ghemu.KindFineGrained, Note: note,
			Repositories: []string{"acme/app"}, Permissions: map[string]string{"contents": "read"}, ExpiresIn: ghemu.Duration{Duration: expiresIn}})
		if err != nil || info.OrgGrantID == 0 {
			t.Fatalf("create %s: %v (grant %d)", note, err, info.OrgGrantID)
		}
		e.tokens = append(e.tokens, token.New(tok.Reveal()))
		return token.New(tok.Reveal()), info.OrgGrantID
	}
	revoked := func(grant int64) bool {
		for _, g := range e.sb.GitHub.OrgGrants() {
			if g.ID == grant {
				return !g.RevokedAt.IsZero()
			}
		}
		t.Fatalf("no grant %d", grant)
		return false
	}
	old, oldGrant := fineGrained("rotor acme-deploy", 30*24*time.Hour)
	if err := os.WriteFile(filepath.Join(e.dir, "ci", "acme-token"), []byte(old.Reveal()), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out := e.rotor("", "validate"); code != 0 {
		t.Fatalf("validate: %d %s", code, out)
	}
	if code, out := e.rotor(old.Reveal()+"\n", "adopt", "acme-deploy", "--token-stdin"); code != 0 {
		t.Fatalf("adopt: %d %s", code, out)
	}
	fresh, freshGrant := fineGrained("rotor acme-deploy 2", 60*24*time.Hour)
	if code, out := e.rotor(fresh.Reveal()+"\n", "rotate", "acme-deploy", "--token-stdin"); code != 0 {
		t.Fatalf("rotate: %d %s", code, out)
	}
	if !revoked(oldGrant) || revoked(freshGrant) {
		t.Fatalf("grants after the rotation: %+v; want %d revoked, %d not", e.sb.GitHub.OrgGrants(), oldGrant, freshGrant)
	}
	if st := e.state(old.Fingerprint()); st != ghemu.StateRevoked {
		t.Fatalf("the old token is %q, want revoked by the revocation API too", st)
	}
	code, out := e.rotor("", "audit", "list", "-o", "json")
	if code != 0 || !strings.Contains(out, `"event": "org_access_revoked"`) || !strings.Contains(out, `\"outcome\":\"revoked\"`) ||
		!strings.Contains(out, fmt.Sprintf(`\"pat_id\":%d`, oldGrant)) {
		t.Fatalf("audit list: exit %d\n%s", code, out)
	}
	if code, out := e.rotor("", "audit", "verify"); code != 0 {
		t.Fatalf("audit verify: %d %s", code, out)
	}
	e.canary()
}
