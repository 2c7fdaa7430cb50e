package installyaml

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/rotor-ci/rotor/internal/config"
)

// TestInstall_YAML: what the harnesses write is a config rotor loads, with
// every field where they put it.
func TestInstall_YAML(t *testing.T) {
	in := Install{
		Comment: "written by a test",
		GitHub:  GitHub{APIURL: "http://127.0.0.1:1"},
		AWS:     AWS{EndpointURL: "http://127.0.0.1:2"},
		Server:  &Server{Listen: "127.0.0.1:0", AuthTokenFile: "api.token", WatchEvery: "1h", Alerts: []Alert{{Type: "webhook", URL: "http://127.0.0.1:3/"}}},
		Credentials: []Credential{
			{Name: "pat", Application: "a", Source: Personal(), Rotate: Rotate{Every: "30d", RenewBefore: "7d", Grace: "1s"},
				Targets: []Target{{Pipelines: []string{"p1"}, Verify: "execution"}}},
			{Name: "app", Application: "b", Source: App(7, 8, "app.pem", "r"), Rotate: Rotate{Every: "50m", RenewBefore: "10m", Grace: "1s"},
				Targets: []Target{{Match: &Match{Owner: "o", Repo: "r"}, InFlight: "skip"}}},
		},
	}
	text, err := in.YAML()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cfg, err := config.Parse([]byte(text), filepath.Join(dir, "rotor.yaml"))
	if err != nil {
		t.Fatalf("config.Parse: %v\n%s", err, text)
	}
	if cfg.Store != "sqlite:"+filepath.Join(dir, "rotor.db") && cfg.Store != "sqlite:rotor.db" {
		t.Errorf("store = %q", cfg.Store)
	}
	if cfg.GitHub.APIURL != "http://127.0.0.1:1" || cfg.AWS.EndpointURL != "http://127.0.0.1:2" || cfg.AWS.Region != "us-east-1" {
		t.Errorf("github/aws = %+v %+v", cfg.GitHub, cfg.AWS)
	}
	if len(cfg.Server.Alerts) != 1 || cfg.Server.Listen != "127.0.0.1:0" {
		t.Errorf("server = %+v", cfg.Server)
	}
	pat, ok := cfg.Credential("pat")
	if !ok || pat.Source.Type != config.SourcePersonalToken || pat.Rotate.Every.D() != 30*24*time.Hour || pat.Targets[0].Pipelines[0] != "p1" || pat.Targets[0].Verify != "execution" {
		t.Errorf("pat = %+v", pat)
	}
	app, ok := cfg.Credential("app")
	if !ok || app.Source.AppID != 7 || app.Source.InstallationID != 8 || app.Targets[0].Match.Repo != "r" || app.Targets[0].InFlight != "skip" {
		t.Errorf("app = %+v", app)
	}
}
