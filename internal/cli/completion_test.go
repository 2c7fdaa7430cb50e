package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/rotor-ci/rotor/internal/token"
)

// complete runs cobra's hidden __complete command, as the shell scripts of
// 'rotor completion' do, and returns the offered values (descriptions cut).
func complete(t *testing.T, args ...string) []string {
	t.Helper()
	var out, errb bytes.Buffer
	if code := Main(t.Context(), append([]string{"__complete"}, args...), IO{In: strings.NewReader(""), Out: &out, Err: &errb}); code != 0 {
		t.Fatalf("__complete %v: exit %d\n%s", args, code, errb.String())
	}
	var got []string
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		if line == "" || strings.HasPrefix(line, ":") {
			continue
		}
		got = append(got, strings.SplitN(line, "\t", 2)[0])
	}
	return got
}

func TestCompletion_credentialNamesAndFlagValues(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "rotor.yaml")
	if err := os.WriteFile(cfg, []byte(`store: sqlite:rotor.db
key: file:rotor.key
credentials:
  - name: app-one
    application: One
    source: {type: personal-token}
    targets: [{type: file, path: one.token, create: true}]
  - name: app-two
    source: {type: personal-token}
    targets: [{type: file, path: two.token, create: true}]
`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		want []string
	}{
		{[]string{"--config", cfg, "rotate", ""}, []string{"app-one", "app-two"}},
		{[]string{"--config", cfg, "rotate", "app-one", ""}, nil},                 // rotate takes one name
		{[]string{"--config", cfg, "retire", "app-one", ""}, []string{"app-two"}}, // retire takes several, once each
		{[]string{"--config", cfg, "history", "app-t"}, []string{"app-two"}},
		{[]string{"--config", filepath.Join(dir, "missing.yaml"), "status", ""}, nil},
		{[]string{"status", "-o", ""}, []string{"table", "json", "yaml"}},
		{[]string{"--log-level", ""}, []string{"debug", "info", "warn", "error"}},
		{[]string{"scan", "--fail-on", ""}, []string{"current", "previous", "any", "none"}},
		{[]string{"scan", "--format", ""}, []string{"table", "json", "yaml", "sarif"}},
	} {
		if got := complete(t, c.args...); !slices.Equal(got, c.want) {
			t.Errorf("__complete %v = %q, want %q", c.args, got, c.want)
		}
	}
}

// Pipeline names come from the config and from the inventory a discovery
// left on disk, without an AWS call: the emulator is closed before asking.
func TestCompletion_pipelineNamesFromInventory(t *testing.T) {
	e := newE2E(t, "0s")
	e.clonePipeline("Elsewhere", token.New("ghp_"+strings.Repeat("x", 36)))
	if code, out := e.rotor("", "plan"); code != 0 {
		t.Fatalf("plan: exit %d\n%s", code, out)
	}
	e.sb.Close()
	app := &App{}
	root := newRootCmd(app)
	app.ConfigPath = e.config // after newRootCmd, which sets the flag's default
	got, _ := completePipelines(app)(root, nil, "")
	if !slices.Contains(got, "MyFirstPipeline") || !slices.Contains(got, "Elsewhere") {
		t.Fatalf("pipeline completion = %q, want MyFirstPipeline (config) and Elsewhere (inventory)", got)
	}
	// rotor migrate --pipeline gets them from the shell.
	if got := complete(t, "--config", e.config, "migrate", "pipeline-token", "--pipeline", ""); !slices.Contains(got, "Elsewhere") {
		t.Errorf("__complete migrate --pipeline = %q", got)
	}
	got, _ = completePipelines(app)(root, nil, "Else")
	if !slices.Equal(got, []string{"Elsewhere"}) {
		t.Fatalf("pipeline completion of Else = %q", got)
	}
}
