//go:build unix

package cli

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// fileState is what a refusal must leave as it was.
type fileState struct {
	data     string
	mode     os.FileMode
	uid, gid uint32
	ino      uint64
}

func stateOf(t *testing.T, path string) fileState {
	t.Helper()
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	return fileState{data: string(b), mode: fi.Mode(), uid: st.Uid, gid: st.Gid, ino: st.Ino}
}

// Attack 1 through the CLI: a file target pointed at a file of
// passwd-style lines (0644). validate warns, plan fails naming the file,
// adopt and rotate refuse, and the file keeps its bytes, mode, owner and
// inode; the pipeline keeps its token.
func TestCLI_FileTargetRefusesForeignFile(t *testing.T) {
	e := newE2E(t, "10m")
	passwd := filepath.Join(e.dir, "ci", "passwd")
	if err := os.WriteFile(passwd, []byte("root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(e.config)
	if err := os.WriteFile(e.config, []byte(strings.Replace(string(b), "path: ci/github-token", "path: ci/passwd", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	before := stateOf(t, passwd)
	pipeline := e.pipelineToken()
	const refusal = "something other than one GitHub token"

	if code, out := e.rotor("", "validate"); code != 0 || !strings.Contains(out, "warning: on this host:") || !strings.Contains(out, refusal) {
		t.Fatalf("validate: exit %d, want 0 with a host warning:\n%s", code, out)
	}
	if code, out := e.rotor("", "plan"); code != ExitFailure || !strings.Contains(out, refusal) || !strings.Contains(out, passwd) {
		t.Fatalf("plan: exit %d, want 1 naming %s:\n%s", code, passwd, out)
	}
	old := e.tokens[0]
	if code, out := e.rotor(old.Reveal()+"\n", "adopt", "pipeline-token", "--token-stdin", "--confirm-unverifiable"); code == 0 || !strings.Contains(out, refusal) {
		t.Fatalf("adopt: exit %d, want a refusal:\n%s", code, out)
	}
	fresh := e.newToken("MyGitHubUserName", "repo", "admin:repo_hook")
	if code, out := e.rotor(fresh.Reveal()+"\n", "rotate", "pipeline-token", "--token-stdin", "--bootstrap"); code != ExitFailure || !strings.Contains(out, refusal) {
		t.Fatalf("rotate --bootstrap: exit %d, want 1 with the refusal:\n%s", code, out)
	}
	if after := stateOf(t, passwd); after != before {
		t.Fatalf("the file changed:\nbefore %+v\nafter  %+v", before, after)
	}
	if e.pipelineToken() != pipeline {
		t.Fatal("the pipeline's token changed")
	}
	e.canary()
}

// Attack 3 through the CLI: a second credential, whose file target should
// hold its own token, is given the first credential's current token.
// adopt refuses it (the file holds another token; and once the file holds
// it too, it is another credential's), rotate and retire of the second
// credential then touch nothing, and the first credential's token stays
// live in GitHub and in its targets.
func TestCLI_AdoptRefusesAnotherCredentialsToken(t *testing.T) {
	e := newE2E(t, "0")
	b, _ := os.ReadFile(e.config)
	cfg := string(b) + `  - name: other
    application: other-app
    source: {type: personal-token, scopes: [repo]}
    rotate: {every: 30d, renew_before: 7d, grace: 0}
    targets:
      - {type: file, path: ci/other-token}
`
	if err := os.WriteFile(e.config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	old := e.tokens[0]
	if code, out := e.rotor(old.Reveal()+"\n", "adopt", "pipeline-token", "--token-stdin", "--confirm-unverifiable"); code != 0 {
		t.Fatalf("adopt pipeline-token: %d %s", code, out)
	}
	otherFile := filepath.Join(e.dir, "ci", "other-token")
	own := e.newToken("MyGitHubUserName", "repo")
	if err := os.WriteFile(otherFile, []byte(own.Reveal()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	before := stateOf(t, otherFile)

	// The file holds its own token: adopting a token it does not hold is
	// refused, naming the file target; so is pipeline-token's.
	stray := e.newToken("MyGitHubUserName", "repo")
	code, out := e.rotor(stray.Reveal()+"\n", "adopt", "other", "--token-stdin")
	if code == 0 || !strings.Contains(out, "does not hold this token") || !strings.Contains(out, "targets[0] (file) file:"+otherFile) {
		t.Fatalf("adopt other with a token its file does not hold: exit %d, want a refusal naming the file target:\n%s", code, out)
	}
	code, out = e.rotor(old.Reveal()+"\n", "adopt", "other", "--token-stdin")
	if code == 0 || !strings.Contains(out, "credential pipeline-token") {
		t.Fatalf("adopt other with pipeline-token's token: exit %d, want a refusal naming pipeline-token:\n%s", code, out)
	}
	if after := stateOf(t, otherFile); after != before {
		t.Fatal("the refused adopt changed the file")
	}
	// Someone copies that token into the file too: now it is refused as
	// pipeline-token's.
	if err := os.WriteFile(otherFile, []byte(old.Reveal()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	before = stateOf(t, otherFile)
	code, out = e.rotor(old.Reveal()+"\n", "adopt", "other", "--token-stdin")
	if code == 0 || !strings.Contains(out, "credential pipeline-token") {
		t.Fatalf("adopt other with pipeline-token's current token: exit %d, want a refusal naming pipeline-token:\n%s", code, out)
	}
	// What the attack did next: rotate and retire the second credential.
	fresh := e.newToken("MyGitHubUserName", "repo")
	if code, out := e.rotor(fresh.Reveal()+"\n", "rotate", "other", "--token-stdin"); code == 0 || !strings.Contains(out, "rotor adopt") {
		t.Fatalf("rotate other: exit %d, want a refusal (no current token):\n%s", code, out)
	}
	if code, out := e.rotor(fresh.Reveal()+"\n", "rotate", "other", "--token-stdin", "--bootstrap"); code == 0 || !strings.Contains(out, "rotor does not know") {
		t.Fatalf("rotate other --bootstrap: exit %d, want the file target's refusal:\n%s", code, out)
	}
	if code, out := e.rotor("", "retire", "other"); code != 0 || !strings.Contains(out, "nothing to retire") {
		t.Fatalf("retire other: exit %d: %s", code, out)
	}
	if after := stateOf(t, otherFile); after != before {
		t.Fatal("the file changed")
	}
	if st := e.state(old.Fingerprint()); st != "active" {
		t.Fatalf("pipeline-token's token is %q in GitHub, want active", st)
	}
	if e.pipelineToken() != old.Fingerprint() || e.fileToken() != old.Fingerprint() {
		t.Fatal("pipeline-token's targets changed")
	}
	if code, out := e.rotor("", "history", "other"); code != 0 || strings.Contains(out, "current") {
		t.Fatalf("history other: exit %d, want no version:\n%s", code, out)
	}
	e.canary()
}

// CodePipeline shows its token as ****: adopt says so, and wants
// --confirm-unverifiable.
func TestCLI_AdoptUnverifiableTarget(t *testing.T) {
	e := newE2E(t, "10m")
	old := e.tokens[0]
	code, out := e.rotor(old.Reveal()+"\n", "adopt", "pipeline-token", "--token-stdin")
	if code == 0 || !strings.Contains(out, "****") || !strings.Contains(out, "--confirm-unverifiable") || !strings.Contains(out, "targets[0] (codepipeline)") {
		t.Fatalf("adopt without --confirm-unverifiable: exit %d:\n%s", code, out)
	}
	if code, out := e.rotor("", "status", "-o", "json"); code != 0 || strings.Contains(out, old.Fingerprint()) {
		t.Fatalf("a refused adopt recorded the token:\n%s", out)
	}
	if code, out := e.rotor(old.Reveal()+"\n", "adopt", "pipeline-token", "--token-stdin", "--confirm-unverifiable"); code != 0 {
		t.Fatalf("adopt --confirm-unverifiable: exit %d:\n%s", code, out)
	}
	e.canary()
}
