package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rotor-ci/rotor/internal/config"
)

func TestInit(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "etc", "rotor")
	out, errs, code := runSubcommand(t, newInitCmd, &App{ConfigPath: "rotor.yaml"}, "--dir", dir)
	if code != 0 {
		t.Fatalf("exit code %d: %s", code, errs)
	}
	cfgPath := filepath.Join(dir, "rotor.yaml")
	keyPath := filepath.Join(dir, "rotor.key")
	data, err := os.ReadFile(cfgPath)
	if err != nil || string(data) != config.Example() {
		t.Fatalf("rotor.yaml is not the example (err %v)", err)
	}
	if _, err := config.Load(cfgPath); err != nil {
		t.Errorf("the written config does not validate: %v", err)
	}
	fi, err := os.Stat(keyPath)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v, mode %v; want 0600", err, fi)
	}
	for _, want := range []string{"wrote " + cfgPath, "created the sealing key " + keyPath, "is created by the first command that opens it", "rotor validate -c " + cfgPath, "Generate new token", "not Regenerate"} {
		if !strings.Contains(out, want) {
			t.Errorf("output does not say %q:\n%s", want, out)
		}
	}
	key, _ := os.ReadFile(keyPath)
	if strings.Contains(out, strings.TrimSpace(string(key[strings.LastIndex(strings.TrimSpace(string(key)), "\n")+1:]))) {
		t.Fatal("init printed the secret key")
	}

	// A second init keeps a config someone wrote, and the key.
	if err := os.WriteFile(cfgPath, []byte("# mine\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, errs, code = runSubcommand(t, newInitCmd, &App{ConfigPath: "rotor.yaml"}, "--dir", dir)
	if code != 0 || !strings.Contains(out, "kept "+cfgPath) || !strings.Contains(out, "kept the existing sealing key") {
		t.Errorf("second init: exit %d, out %q, stderr %q; want 0, config and key kept", code, out, errs)
	}
	if data, _ := os.ReadFile(cfgPath); string(data) != "# mine\n" {
		t.Error("the config was overwritten without --force")
	}

	// --force replaces the config but never the key.
	out, errs, code = runSubcommand(t, newInitCmd, &App{ConfigPath: "rotor.yaml"}, "--dir", dir, "--force")
	if code != 0 {
		t.Fatalf("init --force: exit %d: %s", code, errs)
	}
	if data, _ := os.ReadFile(cfgPath); string(data) != config.Example() {
		t.Error("--force did not rewrite the config")
	}
	if again, _ := os.ReadFile(keyPath); string(again) != string(key) {
		t.Fatal("init --force replaced the sealing key")
	}
	if !strings.Contains(out, "kept the existing sealing key") {
		t.Errorf("output does not say the key was kept:\n%s", out)
	}
}

func TestInit_configFlag(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	out, errs, code := runSubcommand(t, newInitCmd, &App{ConfigPath: "rotor.yaml"})
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if _, err := os.Stat(filepath.Join(dir, "rotor.key")); err != nil {
		t.Errorf("no key next to the config: %v", err)
	}
	if strings.Contains(out, " -c ") {
		t.Errorf("next steps name -c for the default config:\n%s", out)
	}
}

// TestInit_HandWrittenConfig: next to a hand-written rotor.yaml, init
// creates the missing key and store and leaves the config alone; a config
// with errors is named and nothing is created.
func TestInit_HandWrittenConfig(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "rotor.yaml")
	mine := "store: sqlite:state/rotor.db\nkey: file:keys/rotor.key\ncredentials: []\n"
	if err := os.MkdirAll(filepath.Join(dir, "state"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "keys"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfgPath, []byte(mine), 0o644); err != nil {
		t.Fatal(err)
	}
	out, errs, code := runSubcommand(t, newInitCmd, &App{ConfigPath: cfgPath})
	if code != 0 {
		t.Fatalf("init next to a hand-written config: exit %d: %s", code, errs)
	}
	if data, _ := os.ReadFile(cfgPath); string(data) != mine {
		t.Error("init changed the hand-written config")
	}
	if fi, err := os.Stat(filepath.Join(dir, "keys", "rotor.key")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("key: %v %v, want created 0600", err, fi)
	}
	if _, err := os.Stat(filepath.Join(dir, "state", "rotor.db")); err != nil {
		t.Errorf("store not created: %v", err)
	}
	for _, want := range []string{"kept " + cfgPath, "created the sealing key", "is ready"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	// Every other command now finds what it needs.
	if _, errs, code := runSubcommand(t, newStatusCmd, &App{ConfigPath: cfgPath}); code != 0 {
		t.Errorf("status after init: exit %d: %s", code, errs)
	}

	bad := filepath.Join(t.TempDir(), "rotor.yaml")
	if err := os.WriteFile(bad, []byte("stor: sqlite:x.db\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, errs, code = runSubcommand(t, newInitCmd, &App{ConfigPath: bad})
	if code != 2 || !strings.Contains(errs, "stor") || !strings.Contains(errs, "is kept") {
		t.Errorf("init next to an invalid config: exit %d, stderr %q; want 2 naming the error", code, errs)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(bad), "rotor.key")); err == nil {
		t.Error("init created a key next to an invalid config")
	}
}
