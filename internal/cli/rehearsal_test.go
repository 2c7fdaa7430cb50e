package cli

import (
	"bufio"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rotor-ci/rotor/internal/rotorbin"
)

// readmeBlock returns the shell block of README.md between
// <!-- name --> and <!-- /name -->, without its ``` fence.
func readmeBlock(t *testing.T, name string) string {
	t.Helper()
	root, err := rotorbin.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)<!-- " + regexp.QuoteMeta(name) + " -->\\s*```sh\\n(.*?)```\\s*<!-- /" + regexp.QuoteMeta(name) + " -->").FindSubmatch(b)
	if m == nil {
		t.Fatalf("README.md has no <!-- %s --> sh block", name)
	}
	return string(m[1])
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestREADME_rehearsal runs the README's rehearsal as written — 'rotor
// emulator' in the background, then every command of the rehearsal block
// in bash with the built rotor on PATH — only moved to free ports. It is
// what keeps the README's first steps from rotting.
func TestREADME_rehearsal(t *testing.T) {
	if testing.Short() {
		t.Skip("SKIP: README rehearsal (builds rotor and runs it): not with -short")
	}
	for _, tool := range []string{"bash", "curl"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("SKIP: README rehearsal: %s is not installed", tool)
		}
	}
	emuCmd, script := strings.TrimSpace(readmeBlock(t, "rehearsal-emulator")), readmeBlock(t, "rehearsal")
	gh, aws := freePort(t), freePort(t)
	ports := strings.NewReplacer("127.0.0.1:8081", gh, "127.0.0.1:8082", aws)
	if !strings.Contains(emuCmd, "127.0.0.1:8081") || !strings.Contains(script, "127.0.0.1:8082") {
		t.Fatalf("the README's rehearsal no longer uses ports 8081 and 8082; update this test:\n%s\n%s", emuCmd, script)
	}
	emuCmd, script = ports.Replace(emuCmd), ports.Replace(script)

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	binDir := t.TempDir()
	if _, err := rotorbin.Build(ctx, binDir); err != nil {
		t.Fatal(err)
	}
	env := []string{"PATH=" + binDir + string(os.PathListSeparator) + os.Getenv("PATH"), "HOME=" + t.TempDir(), "XDG_CACHE_HOME=" + t.TempDir(),
		"AWS_CONFIG_FILE=" + os.DevNull, "AWS_SHARED_CREDENTIALS_FILE=" + os.DevNull, "AWS_EC2_METADATA_DISABLED=true", "NO_COLOR=1"}

	// The emulator, as the README starts it; it is ready once it printed
	// its last endpoint line.
	emu := exec.CommandContext(ctx, "bash", "-c", "exec "+emuCmd)
	emu.Env, emu.Dir = env, t.TempDir()
	stdout, err := emu.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var emuErr strings.Builder
	emu.Stderr = &emuErr
	if err := emu.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = emu.Process.Kill(); _ = emu.Wait() }()
	banner := make(chan string, 1)
	go func() {
		var all strings.Builder
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			all.WriteString(sc.Text() + "\n")
			if strings.HasPrefix(sc.Text(), "rotor status") { // the last line of its notes
				banner <- all.String()
			}
		}
		banner <- all.String()
	}()
	var notes string
	select {
	case notes = <-banner:
	case <-time.After(30 * time.Second):
		t.Fatalf("rotor emulator printed nothing in 30s; stderr:\n%s", emuErr.String())
	}
	for _, want := range []string{"github http://" + gh, "endpoint_url: http://" + aws, "rotor init --emulator http://" + aws, "AWS_ACCESS_KEY_ID="} {
		if !strings.Contains(notes, want) {
			t.Errorf("rotor emulator's output lacks %q:\n%s", want, notes)
		}
	}

	// The rehearsal, in a shell that stops at the first failing command.
	sh := exec.CommandContext(ctx, "bash", "-euo", "pipefail", "-c", script)
	sh.Env, sh.Dir = env, t.TempDir()
	out, err := sh.CombinedOutput()
	t.Logf("rehearsal output:\n%s", out)
	if err != nil {
		t.Fatalf("the README's rehearsal fails: %v", err)
	}
	for _, want := range []string{"adopted as current", "version 2 is current", "1/1 healthy", "audit chain ok"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("rehearsal output lacks %q", want)
		}
	}
	if regexp.MustCompile(`gh[pousr]_[A-Za-z0-9]{20,}`).Match(out) {
		t.Error("a token value reached the rehearsal's output")
	}
}
