package cli

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rotor-ci/rotor/internal/emulator"
	ghemu "github.com/rotor-ci/rotor/internal/emulator/github"
	"github.com/rotor-ci/rotor/internal/token"
)

// withUserCredential adds a github-app-user credential whose GitHub App
// (device flow on, contents read) is installed on the seed user, and which
// writes its token to a pipeline of its own and to a file.
func (e *e2e) withUserCredential() {
	e.t.Helper()
	info, _, err := e.sb.GitHub.CreateApp(ghemu.AppSpec{Name: "rotor-user", Owner: emulator.SeedUser, DeviceFlow: true,
		Permissions:   map[string]string{"contents": "read", "metadata": "read"},
		Installations: []ghemu.InstallationSpec{{Account: emulator.SeedUser}}})
	if err != nil {
		e.t.Fatal(err)
	}
	seed, _ := e.sb.CodePipeline.StoredToken("MyFirstPipeline", "Source")
	e.clonePipeline("UserPipeline", token.New(seed.Reveal()))
	cfg, err := os.ReadFile(e.config)
	if err != nil {
		e.t.Fatal(err)
	}
	cfg = append(cfg, fmt.Sprintf(`  - name: user-token
    application: UserPipeline
    source: {type: github-app-user, client_id: %s}
    targets:
      - {type: codepipeline, pipelines: [UserPipeline]}
      - {type: file, path: ci/user-token, create: true}
`, info.ClientID)...)
	if err := os.WriteFile(e.config, cfg, 0o600); err != nil {
		e.t.Fatal(err)
	}
}

var userCodeRE = regexp.MustCompile(`enter the code ([A-Z]{4}-[A-Z]{4})`)

// authorize runs 'rotor authorize' and plays the person who enters the
// code it prints and approves as login.
func (e *e2e) authorize(login string, args ...string) (int, string) {
	e.t.Helper()
	pr, pw := io.Pipe()
	var errOut strings.Builder
	approved := make(chan error, 1)
	read := make(chan struct{})
	go func() {
		defer close(read)
		sc := bufio.NewScanner(pr)
		done := false
		for sc.Scan() {
			line := sc.Text()
			errOut.WriteString(line + "\n")
			if m := userCodeRE.FindStringSubmatch(line); m != nil && !done {
				done = true
				approved <- e.sb.GitHub.ApproveDevice(m[1], login)
			}
		}
		if !done {
			approved <- nil
		}
	}()
	var out strings.Builder
	code := Main(context.Background(), append([]string{"--config", e.config, "authorize", "user-token"}, args...), IO{In: strings.NewReader(""), Out: &out, Err: pw})
	pw.Close()
	<-read
	if err := <-approved; err != nil {
		e.t.Fatalf("approve: %v", err)
	}
	all := out.String() + "\n" + errOut.String()
	e.outputs = append(e.outputs, all)
	return code, all
}

func (e *e2e) userPipelineToken() string {
	tok, _ := e.sb.CodePipeline.StoredToken("UserPipeline", "Source")
	return tok.Fingerprint()
}

func (e *e2e) userFileToken() string {
	b, err := os.ReadFile(filepath.Join(e.dir, "ci", "user-token"))
	if err != nil {
		e.t.Fatal(err)
	}
	return token.Fingerprint(string(b))
}

// pairState is the emulator's state of the user token pair whose access
// token has fingerprint fp.
func (e *e2e) pairState(fp string) string {
	for _, p := range e.sb.GitHub.UserTokens() {
		if p.AccessFingerprint == fp {
			return p.State
		}
	}
	return "unknown"
}

func TestCLI_AuthorizeAndRefresh(t *testing.T) {
	if testing.Short() {
		t.Skip("SKIP: the device flow polls every 5 s")
	}
	e := newE2E(t, "0s")
	e.withUserCredential()

	// No authorization yet: a rotation says exactly what to do.
	code, out := e.rotor("", "rotate", "user-token", "--bootstrap")
	if code != 1 || !strings.Contains(out, "rotor authorize user-token") {
		t.Fatalf("rotate before authorize: exit %d, want 1 and the authorize command:\n%s", code, out)
	}

	code, out = e.authorize(emulator.SeedUser)
	if code != 0 {
		t.Fatalf("authorize: exit %d\n%s", code, out)
	}
	if !strings.Contains(out, "authorized as GitHub user "+emulator.SeedUser) {
		t.Errorf("authorize does not say whose authorization it got:\n%s", out)
	}
	first := e.userPipelineToken()
	if e.userFileToken() != first || e.pairState(first) != "active" {
		t.Fatalf("after authorize: pipeline %s, file %s, pair %s; want both on one active user token", first, e.userFileToken(), e.pairState(first))
	}
	// A second authorize refuses to throw away a working grant.
	if code, out := e.rotor("", "authorize", "user-token"); code != 2 || !strings.Contains(out, "--force") {
		t.Fatalf("authorize over a working grant: exit %d\n%s", code, out)
	}

	// The refresh: a new pair, the old one ended by GitHub, every target
	// moved, the pipeline's source still fetches.
	code, out = e.rotor("", "rotate", "user-token")
	if code != 0 {
		t.Fatalf("rotate (refresh): exit %d\n%s", code, out)
	}
	second := e.userPipelineToken()
	if second == first || e.userFileToken() != second || e.pairState(second) != "active" || e.pairState(first) != "refreshed" {
		t.Fatalf("after refresh: pipeline %s (was %s), file %s, new pair %s, old pair %s",
			second, first, e.userFileToken(), e.pairState(second), e.pairState(first))
	}

	code, out = e.rotor("", "status", "user-token")
	if code != 0 || !strings.Contains(out, "refresh token") {
		t.Errorf("status: exit %d, want the refresh grant shown:\n%s", code, out)
	}

	// Six months on, the refresh token has expired: a person is needed,
	// and rotor says who and how; authorize again and all is well.
	if _, err := e.sb.GitHub.Advance(184 * 24 * time.Hour); err != nil {
		t.Fatal(err)
	}
	code, out = e.rotor("", "rotate", "user-token")
	if code != 1 || !strings.Contains(out, "PersonNeeded") || !strings.Contains(out, "rotor authorize user-token") {
		t.Fatalf("rotate with an expired refresh token: exit %d\n%s", code, out)
	}
	code, out = e.rotor("", "status", "user-token")
	if code != 0 || !strings.Contains(out, "person needed") {
		t.Errorf("status does not show that a person is needed: exit %d\n%s", code, out)
	}
	code, out = e.authorize(emulator.SeedUser)
	if code != 0 {
		t.Fatalf("authorize again: exit %d\n%s", code, out)
	}
	third := e.userPipelineToken()
	if third == second || e.pairState(third) != "active" || e.userFileToken() != third {
		t.Fatalf("after recovery: pipeline %s, pair %s", third, e.pairState(third))
	}
	e.canary()
}

// TestCLI_AuthorizeForceKeepsGrace: replacing a working authorization
// (--force) moves every target to the new grant's token and leaves the
// replaced user token working through its grace period, for the places
// that still use it: its refresh token is not revoked right after the
// rotation (which would end both), the version's retirement ends them.
func TestCLI_AuthorizeForceKeepsGrace(t *testing.T) {
	if testing.Short() {
		t.Skip("SKIP: the device flow polls every 5 s")
	}
	e := newE2E(t, "1h")
	e.withUserCredential()
	if code, out := e.authorize(emulator.SeedUser); code != 0 {
		t.Fatalf("authorize: exit %d\n%s", code, out)
	}
	first := e.userPipelineToken()
	code, out := e.authorize(emulator.SeedUser, "--force")
	if code != 0 || !strings.Contains(out, "is retired after the grace period") {
		t.Fatalf("authorize --force: exit %d, want 0 and when the replaced authorization ends:\n%s", code, out)
	}
	second := e.userPipelineToken()
	if second == first || e.userFileToken() != second || e.pairState(second) != "active" {
		t.Fatalf("after authorize --force: pipeline %s (was %s), file %s, new pair %s", second, first, e.userFileToken(), e.pairState(second))
	}
	if st := e.pairState(first); st != "active" {
		t.Errorf("the replaced user token is %s within its grace period, want active", st)
	}
	e.canary()
}
