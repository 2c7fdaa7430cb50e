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

	// A second init refuses to overwrite the config (usage error, exit 2).
	if err := os.WriteFile(cfgPath, []byte("# mine\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, errs, code = runSubcommand(t, newInitCmd, &App{ConfigPath: "rotor.yaml"}, "--dir", dir)
	if code != 2 || !strings.Contains(errs, "already exists") {
		t.Errorf("second init: exit %d, stderr %q; want 2 and 'already exists'", code, errs)
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
