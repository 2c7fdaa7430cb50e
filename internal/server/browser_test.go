package server

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
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

// probeJS runs in the page under test (the test serves it and adds it to
// the page it serves; the production page has no such hook). Once the
// page's JavaScript has filled the view and its pictures have loaded, it
// writes the layout facts the test checks into <pre id="__probe">, which
// --dump-dom then carries out.
const probeJS = `"use strict";
(function wait() {
  const imgs = [...document.querySelectorAll("img.chart")].filter((i) => i.offsetParent !== null);
  if (document.body.dataset.loaded !== "true" || imgs.some((i) => !i.complete || i.naturalWidth === 0)) { setTimeout(wait, 50); return; }
  const box = (e) => { const r = e.getBoundingClientRect(); return { left: r.left, right: r.right, width: r.width, height: r.height }; };
  const facts = {
    view: document.body.dataset.view,
    innerWidth: window.innerWidth,
    scrollWidth: document.documentElement.scrollWidth,
    health: [...document.querySelectorAll("[data-health]")].filter((e) => e.offsetParent !== null).map((e) => Object.assign(box(e), { state: e.dataset.health })),
    charts: imgs.map((i) => Object.assign(box(i), { id: i.id, natural: i.naturalWidth, alt: i.alt })),
  };
  const pre = document.createElement("pre");
  pre.id = "__probe";
  pre.textContent = JSON.stringify(facts);
  document.body.append(pre);
})();
`

type layout struct {
	View        string  `json:"view"`
	InnerWidth  float64 `json:"innerWidth"`
	ScrollWidth float64 `json:"scrollWidth"`
	Health      []struct {
		Left, Right, Width float64
		State              string
	} `json:"health"`
	Charts []struct {
		Left, Right, Width float64
		ID                 string
		Natural            int
		Alt                string
	} `json:"charts"`
}

var (
	probeRE = regexp.MustCompile(`<pre id="__probe">([^<]*)</pre>`)
	domRE   = regexp.MustCompile(`<pre id="__dom">([^<]*)</pre>`)
)

// phoneWidth is the phone the dashboard must fit (CSS px).
const phoneWidth = 480

// TestDashboard_browser loads the dashboard in headless Chromium and checks
// that its JavaScript, talking to the real API with the bearer token,
// filled the overview and a credential's page, drew the pictures, and laid
// them out within the screen at desktop and phone width. The token reaches
// the browser the way a person's does: into sessionStorage, by a one-line
// page the test serves on the same origin (never in a URL).
func TestDashboard_browser(t *testing.T) {
	bin := chromium(t)
	h := newHarness(t, cred("ci-app", config.SourceGitHubApp), cred("legacy-pat", config.SourcePersonalToken))
	h.tgts["ci-app"] = newTarget("ci-app:binding-a", "ci-app:binding-b")
	// Its bindings are in two AWS accounts: its page has a table of them.
	h.tgts["ci-app"].attrs = map[string]map[string]string{
		"ci-app:binding-a": {"account": "111111111111", "region": "us-east-1"},
		"ci-app:binding-b": {"account": "222222222222", "region": "eu-west-1"},
	}
	h.adopt("ci-app")
	h.adopt("legacy-pat")
	s := h.server(Options{})
	rotated(t, h, s, "ci-app")
	// A clean rollback: the page must say every binding is on a live
	// token (degraded: not rotated), not "unhealthy".
	h.tgts["ci-app"].refuse = map[string]bool{"ci-app:binding-b": true}
	h.clock.Advance(2 * time.Hour)
	s.tick(context.Background()) // rolls ci-app back; the personal token is due: a reminder
	s.jobs.Wait()

	mux := http.NewServeMux()
	mux.HandleFunc("GET /__test/signin", func(w http.ResponseWriter, r *http.Request) {
		next := r.URL.Query().Get("next")
		if !strings.HasPrefix(next, "#credential=") {
			next = ""
		}
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprintf(w, `<!doctype html><script>sessionStorage.setItem("rotor.apiToken", %q); location.replace("/" + %q);</script>`, testToken, next)
	})
	// Headless Chromium's window is at least 500 px wide, so a phone's
	// 480 px is an iframe of that width (the page's media queries see the
	// iframe's viewport); the frame's probe result and DOM are copied out
	// for --dump-dom.
	mux.HandleFunc("GET /__test/phone", func(w http.ResponseWriter, r *http.Request) {
		next := r.URL.Query().Get("next")
		if !strings.HasPrefix(next, "#credential=") {
			next = ""
		}
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprintf(w, `<!doctype html><style>body{margin:0}iframe{border:0;display:block}</style>
<script>sessionStorage.setItem("rotor.apiToken", %q);</script>
<iframe id="f" width="%d" height="1600" src="/%s"></iframe>
<script>(function copy() {
  const d = document.getElementById("f").contentDocument, p = d && d.getElementById("__probe");
  if (!p) { setTimeout(copy, 50); return; }
  for (const [id, text] of [["__probe", p.textContent], ["__dom", d.documentElement.outerHTML]]) {
    const e = document.createElement("pre"); e.id = id; e.textContent = text; document.body.append(e);
  }
})();</script>`, testToken, phoneWidth, next)
	})
	mux.HandleFunc("GET /__test/probe.js", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/javascript")
		fmt.Fprint(w, probeJS)
	})
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, r)
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.Header().Del("Content-Length")
		// The phone-width test frames the page (see /__test/phone).
		w.Header().Del("X-Frame-Options")
		w.Header().Set("Content-Security-Policy", strings.Replace(w.Header().Get("Content-Security-Policy"), "frame-ancestors 'none'", "frame-ancestors 'self'", 1))
		w.WriteHeader(rec.Code)
		fmt.Fprint(w, strings.Replace(rec.Body.String(), "</head>", `<script src="/__test/probe.js" defer></script></head>`, 1))
	})
	mux.Handle("/", s.Handler())
	srv := httptest.NewServer(mux)
	defer srv.Close()

	run := func(next string, width int, extra ...string) string {
		args := append(append([]string{}, chromiumFlags...), "--user-data-dir="+t.TempDir(), "--virtual-time-budget=8000", "--hide-scrollbars")
		args = append(args, extra...)
		page := "/__test/signin"
		if width == phoneWidth {
			page, width = "/__test/phone", 500
		}
		args = append(args, fmt.Sprintf("--window-size=%d,1600", width), srv.URL+page+"?next="+strings.ReplaceAll(next, "#", "%23"))
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
	// look loads a view at a width, checks its layout and returns its DOM.
	look := func(next string, width int) string {
		t.Helper()
		dom := run(next, width, "--dump-dom")
		if m := domRE.FindStringSubmatch(dom); m != nil {
			dom = html.UnescapeString(m[1]) // the framed page's
		}
		if strings.Contains(dom, testToken) {
			t.Errorf("%s at %d px: the API token is in the DOM", next, width)
		}
		m := probeRE.FindStringSubmatch(dom)
		if m == nil {
			t.Fatalf("%q at %d px: the page never finished loading (no probe result); DOM:\n%s", next, width, dom)
		}
		var l layout
		if err := json.Unmarshal([]byte(html.UnescapeString(m[1])), &l); err != nil {
			t.Fatalf("probe result %s: %v", m[1], err)
		}
		where := fmt.Sprintf("%s view at %d px", l.View, width)
		if l.InnerWidth > float64(width) || l.InnerWidth < float64(width)*0.9 {
			t.Errorf("%s: the viewport is %v px wide", where, l.InnerWidth)
		}
		if l.ScrollWidth > l.InnerWidth {
			t.Errorf("%s: the page is %v px wide, wider than the screen (%v px)", where, l.ScrollWidth, l.InnerWidth)
		}
		if len(l.Health) == 0 {
			t.Errorf("%s: no health shown", where)
		}
		for _, b := range l.Health {
			if b.Width <= 0 || b.Left < 0 || b.Right > l.InnerWidth {
				t.Errorf("%s: a %s health badge at %v..%v px falls off the %v px screen", where, b.State, b.Left, b.Right, l.InnerWidth)
			}
		}
		for _, c := range l.Charts {
			if c.Natural == 0 || c.Width < l.InnerWidth/3 || c.Left < 0 || c.Right > l.InnerWidth || c.Alt == "" {
				t.Errorf("%s: picture %s: %+v (want drawn, within the screen, with alt text)", where, c.ID, c)
			}
		}
		if t.Failed() {
			t.Logf("DOM:\n%s", dom)
		}
		return dom
	}

	for _, width := range []int{1400, phoneWidth} {
		dom := look("", width)
		for _, want := range []string{
			`data-credential="ci-app"`,
			`data-credential="legacy-pat"`,
			"rotor rotate legacy-pat", // a personal token is rotated by a person
			`data-health="needs_person"`,
			"needs a person: PersonalTokenDue", // and the page says so
			`data-health="degraded"`,           // ci-app rolled back cleanly
			"2/2 bindings healthy",             // …with every binding on the live token
			"Rotate now",                       // the app can be rotated from the page
			"run.started",                      // the audit log
			`id="chart-bindings"`,
		} {
			if !strings.Contains(dom, want) {
				t.Errorf("overview at %d px lacks %q", width, want)
			}
		}
		if strings.Contains(dom, `data-health="unhealthy"`) {
			t.Errorf("overview at %d px calls a clean rollback unhealthy", width)
		}

		dom = look("#credential=ci-app", width)
		for _, want := range []string{
			`data-binding="ci-app:binding-a"`, `data-binding="ci-app:binding-b"`,
			`data-run="1"`, `data-run="2"`,
			"run.started", "run.rolled_back", // the runs' steps
			"keeps no pipeline execution history", // said, not left blank
			"chart-timeline", "chart-activity", "chart-target",
			`data-account="111111111111 us-east-1"`, `data-account="222222222222 eu-west-1"`, // the rolled-back run, by account
			"1 rolled_back", "1 refused",
		} {
			if !strings.Contains(dom, want) {
				t.Errorf("ci-app's page at %d px lacks %q", width, want)
			}
		}
		if strings.Contains(dom, `id="accounts-wrap" class="scroll" hidden`) {
			t.Errorf("ci-app's page at %d px hides its accounts", width)
		}
	}

	// Screenshots at both widths: PNGs of the size asked for.
	for _, shot := range []struct {
		name, next    string
		width, height int
	}{{"dashboard-desktop.png", "", 1400, 1600}, {"credential-phone.png", "#credential=ci-app", phoneWidth, 1600}} {
		file := filepath.Join(t.TempDir(), shot.name)
		run(shot.next, shot.width, "--screenshot="+file)
		if shot.width == phoneWidth {
			shot.width = 500 // the window around the 480 px frame
		}
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatalf("no screenshot: %v", err)
		}
		if len(b) < 1000 || string(b[1:4]) != "PNG" {
			t.Fatalf("screenshot %s is not a PNG (%d bytes)", file, len(b))
		}
		if w := binary.BigEndian.Uint32(b[16:20]); int(w) != shot.width {
			t.Errorf("screenshot %s is %d px wide, want %d", shot.name, w, shot.width)
		}
		if dir := os.Getenv("ROTOR_SCREENSHOT_DIR"); dir != "" {
			_ = os.WriteFile(filepath.Join(dir, shot.name), b, 0o644)
		}
		t.Logf("screenshot: %s (%d bytes)", file, len(b))
	}
}
