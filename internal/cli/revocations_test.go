package cli

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	ghemu "github.com/rotor-ci/rotor/internal/emulator/github"
	"github.com/rotor-ci/rotor/internal/github"
	"github.com/rotor-ci/rotor/internal/plan"
	"github.com/rotor-ci/rotor/internal/revoke"
	"github.com/rotor-ci/rotor/internal/seal"
	"github.com/rotor-ci/rotor/internal/status"
	"github.com/rotor-ci/rotor/internal/wiring"
)

// A retired token that waits in the revocation queue (the hour's budget of
// POST /credentials/revoke spent, by another replica say) is in rotor
// status, table and -o json, with its age; rotor plan names the route each
// credential's old token takes; a later flush with budget revokes it and
// status says nothing more.
func TestCLI_RevocationQueued(t *testing.T) {
	e := newE2E(t, "0s")
	old, _ := e.sb.CodePipeline.StoredToken("MyFirstPipeline", "Source")
	if code, out := e.rotor(old.Reveal()+"\n", "adopt", "pipeline-token", "--token-stdin", "--confirm-unverifiable"); code != 0 {
		t.Fatalf("adopt: %d %s", code, out)
	}

	code, out := e.rotor("", "plan", "pipeline-token", "-o", "json")
	var p plan.Report
	if err := json.Unmarshal([]byte(strings.TrimSpace(out)), &p); code != 0 || err != nil {
		t.Fatalf("plan -o json: exit %d, %v\n%s", code, err, out)
	}
	if r := p.Credentials[0].Revocation; len(r) != 1 || r[0].Route != plan.RouteCredentials || r[0].Call != "POST /credentials/revoke" {
		t.Fatalf("plan's revocation route: %+v; want the queued POST /credentials/revoke alone", r)
	}
	if code, out := e.rotor("", "plan", "pipeline-token"); code != 0 || !strings.Contains(out, "  revoked by: POST /credentials/revoke (queued in the store and sent in batches of up to 1,000") ||
		!strings.Contains(out, "60 calls an hour shared by every credential and replica") {
		t.Fatalf("plan: exit %d\n%s", code, out)
	}

	// Another replica spent the hour's budget.
	ctx := t.Context()
	st, err := wiring.OpenStore(ctx, "sqlite:"+filepath.Join(e.dir, "rotor.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for range revoke.CallsPerHour {
		if ok, _, err := st.(revoke.Store).TakeRevokeCall(ctx, time.Now(), revoke.CallsPerHour); !ok || err != nil {
			t.Fatalf("take a call: %v %v", ok, err)
		}
	}
	fresh := e.newToken("MyGitHubUserName", "repo", "admin:repo_hook")
	if code, out := e.rotor(fresh.Reveal()+"\n", "rotate", "pipeline-token", "--token-stdin"); code != 0 {
		t.Fatalf("rotate: %d %s", code, out)
	}
	if code, out := e.rotor("", "retire"); code != 0 {
		t.Fatalf("retire: %d %s", code, out)
	}
	if s := e.state(old.Fingerprint()); s != ghemu.StateActive {
		t.Fatalf("the old token is %q: the spent budget should have kept it queued", s)
	}

	code, out = e.rotor("", "status", "-o", "json")
	var sts []status.Credential
	if err := json.Unmarshal([]byte(strings.TrimSpace(out)), &sts); code != 0 || err != nil {
		t.Fatalf("status -o json: exit %d, %v\n%s", code, err, out)
	}
	r := sts[0].Revocations
	if r == nil || r.Queued != 1 || r.Sent != 0 || len(r.Alive) != 0 || r.OldestAt.IsZero() || time.Since(r.OldestAt) > time.Minute {
		t.Fatalf("status revocations: %+v; want one queued just now", r)
	}
	if len(sts[0].Warnings) != 0 {
		t.Errorf("a queued revocation is no warning: %q", sts[0].Warnings)
	}
	if code, out := e.rotor("", "status"); code != 0 || !strings.Contains(out, "pipeline-token: revocations: 1 queued for POST /credentials/revoke (oldest ") {
		t.Fatalf("status: exit %d\n%s", code, out)
	}

	// The budget back (an hour on): a flush sends it and confirms it.
	sealer, err := seal.Open("file:rotor.key", e.dir)
	if err != nil {
		t.Fatal(err)
	}
	gh, err := github.New(e.sb.GitHubURL)
	if err != nil {
		t.Fatal(err)
	}
	q := &revoke.Queue{Store: st.(revoke.Store), Sealer: sealer, GitHub: wiring.RevocationGitHub(gh), Now: func() time.Time { return time.Now().Add(time.Hour + time.Minute) }}
	if rep, err := q.Flush(ctx); err != nil || rep.Confirmed != 1 {
		t.Fatalf("flush: %+v %v", rep, err)
	}
	if s := e.state(old.Fingerprint()); s != ghemu.StateRevoked {
		t.Fatalf("the old token is %q after the flush, want revoked", s)
	}
	if code, out := e.rotor("", "status"); code != 0 || strings.Contains(out, "revocations:") {
		t.Fatalf("status after the flush: exit %d\n%s", code, out)
	}
	e.canary()
}
