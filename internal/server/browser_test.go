package server

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rotor-ci/rotor/internal/config"
)

// chromiumFlags are the flags .ci/run's Chromium is started with.
var chromiumFlags = []string{"--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"}

func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("SKIP: chromium is not installed (apt-get install -y chromium); the dashboard's browser test did not run")
	return ""
}

// TestDashboard_browser loads the dashboard in headless Chromium and checks
// that its JavaScript, talking to the real API with the bearer token,
// filled the page. The token reaches the browser the way a person's does:
// into sessionStorage, by a one-line page the test serves on the same
// origin (never in a URL).
func TestDashboard_browser(t *testing.T) {
	bin := chromium(t)
	h := newHarness(t, cred("ci-app", config.SourceGitHubApp), cred("legacy-pat", config.SourcePersonalToken))
	h.adopt("ci-app")
	h.adopt("legacy-pat")
	s := h.server(Options{})
	rotated(t, h, s, "ci-app")
	s.tick(context.Background()) // the personal token is due: a reminder
	s.jobs.Wait()

	mux := http.NewServeMux()
	mux.HandleFunc("GET /__test/signin", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprintf(w, `<!doctype html><script>sessionStorage.setItem("rotor.apiToken", %q); location.replace("/");</script>`, testToken)
	})
	mux.Handle("/", s.Handler())
	srv := httptest.NewServer(mux)
	defer srv.Close()

	run := func(extra ...string) string {
		args := append(append([]string{}, chromiumFlags...), "--user-data-dir="+t.TempDir(), "--virtual-time-budget=5000")
		args = append(args, extra...)
		args = append(args, srv.URL+"/__test/signin")
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, bin, args...)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("chromium: %v\n%s", err, stderr.String())
		}
		return string(out)
	}

	dom := run("--dump-dom")
	for _, want := range []string{
		`data-loaded="true"`,
		`data-credential="ci-app"`,
		`data-credential="legacy-pat"`,
		"rotor rotate legacy-pat",          // a personal token is rotated by a person
		"needs a person: PersonalTokenDue", // and the page says so
		"Rotate now",                       // the app can be rotated from the page
		"run.started",                      // the audit log
	} {
		if !strings.Contains(dom, want) {
			t.Errorf("the dashboard's DOM lacks %q", want)
		}
	}
	if strings.Contains(dom, testToken) {
		t.Error("the API token is in the DOM")
	}
	if t.Failed() {
		t.Logf("DOM:\n%s", dom)
	}

	shot := filepath.Join(t.TempDir(), "dashboard.png")
	run("--screenshot="+shot, "--window-size=1400,1000", "--hide-scrollbars")
	b, err := os.ReadFile(shot)
	if err != nil {
		t.Fatalf("no screenshot: %v", err)
	}
	if len(b) < 1000 || string(b[1:4]) != "PNG" {
		t.Errorf("screenshot %s is not a PNG (%d bytes)", shot, len(b))
	}
	if dir := os.Getenv("ROTOR_SCREENSHOT_DIR"); dir != "" {
		_ = os.WriteFile(filepath.Join(dir, "dashboard.png"), b, 0o644)
	}
	t.Logf("screenshot: %s (%d bytes)", shot, len(b))
}
