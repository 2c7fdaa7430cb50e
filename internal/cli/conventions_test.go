package cli

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	ghemu "github.com/rotor-ci/rotor/internal/emulator/github"

	"github.com/spf13/cobra"
)

// Every command's --help shows an example of its use (the root too: the
// first thing a new user reads).
func TestEveryCommandHasExample(t *testing.T) {
	n := 0
	walk(newRootCmd(&App{}), func(c *cobra.Command) {
		n++
		if strings.TrimSpace(c.Example) == "" {
			t.Errorf("%q has no Example for its --help", c.CommandPath())
		}
	})
	if n < 15 {
		t.Fatalf("walked only %d commands", n)
	}
}

// Every command that changes something takes --dry-run.
func TestChangingCommandsHaveDryRun(t *testing.T) {
	root := newRootCmd(&App{})
	for _, path := range [][]string{{"adopt"}, {"rotate"}, {"retire"}, {"migrate-store"}, {"migrate-key"}} {
		c, _, err := root.Find(path)
		if err != nil {
			t.Fatal(err)
		}
		if c.Flags().Lookup("dry-run") == nil {
			t.Errorf("%q changes something and has no --dry-run", c.CommandPath())
		}
	}
}

// adopt, retire and migrate-store with --dry-run check what they would do
// and change nothing.
func TestDryRun_changesNothing(t *testing.T) {
	e := newE2E(t, "1s")
	old, _ := e.sb.CodePipeline.StoredToken("MyFirstPipeline", "Source")
	if code, out := e.rotor(old.Reveal()+"\n", "adopt", "pipeline-token", "--token-stdin", "--confirm-unverifiable", "--dry-run"); code != 0 || !strings.Contains(out, "would be adopted") {
		t.Fatalf("adopt --dry-run: exit %d\n%s", code, out)
	}
	if code, out := e.rotor("", "history", "pipeline-token"); code != ExitUsage || !strings.Contains(out, "not adopted") {
		t.Fatalf("adopt --dry-run recorded something: history exit %d\n%s", code, out)
	}
	// A dry run still checks: another user's token is refused.
	stranger := e.newToken("someone-else", "repo", "admin:repo_hook")
	if code, out := e.rotor(stranger.Reveal()+"\n", "adopt", "pipeline-token", "--token-stdin", "--dry-run"); code == 0 {
		t.Fatalf("adopt --dry-run of a token the file target does not hold passed:\n%s", out)
	}
	if code, out := e.rotor(old.Reveal()+"\n", "adopt", "pipeline-token", "--token-stdin", "--confirm-unverifiable"); code != 0 {
		t.Fatalf("adopt: exit %d\n%s", code, out)
	}
	fresh := e.newToken("MyGitHubUserName", "repo", "admin:repo_hook")
	if code, out := e.rotor(fresh.Reveal()+"\n", "rotate", "pipeline-token", "--token-stdin"); code != 0 {
		t.Fatalf("rotate: exit %d\n%s", code, out)
	}
	time.Sleep(1100 * time.Millisecond) // the grace period
	code, out := e.rotor("", "retire", "--dry-run", "-o", "json")
	if code != 0 || !strings.Contains(out, `"seq": 1`) {
		t.Fatalf("retire --dry-run: exit %d, want version 1 listed\n%s", code, out)
	}
	if st := e.state(old.Fingerprint()); st != ghemu.StateActive {
		t.Fatalf("retire --dry-run revoked the old token: %s", st)
	}
	if code, out := e.rotor("", "retire"); code != 0 || e.state(old.Fingerprint()) == ghemu.StateActive {
		t.Fatalf("retire: exit %d, old token %s\n%s", code, e.state(old.Fingerprint()), out)
	}

	target := filepath.Join(t.TempDir(), "copy.db")
	code, out = e.rotor("", "migrate-store", "--from", "sqlite:"+filepath.Join(e.dir, "rotor.db"), "--to", "sqlite:"+target, "--dry-run", "-o", "json")
	if code != 0 || !strings.Contains(out, `"dry_run": true`) || !strings.Contains(out, `"versions": 2`) {
		t.Fatalf("migrate-store --dry-run: exit %d\n%s", code, out)
	}
	if _, err := os.Stat(target); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("migrate-store --dry-run created the target: %v", err)
	}
	e.canary()
}
