package server

import (
	"context"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rotor-ci/rotor/internal/config"
	"github.com/rotor-ci/rotor/internal/rotation"
)

// getSVG reads a picture and checks it is well-formed SVG.
func getSVG(t *testing.T, s *Server, path string) string {
	t.Helper()
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	req.Header.Set("Authorization", "Bearer "+testToken)
	s.Handler().ServeHTTP(rec, req)
	if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "image/svg+xml" {
		t.Fatalf("GET %s: %d %s\n%s", path, rec.Code, rec.Header().Get("Content-Type"), rec.Body)
	}
	body := rec.Body.String()
	dec := xml.NewDecoder(strings.NewReader(body))
	root := ""
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("GET %s: not well-formed XML: %v\n%s", path, err, body)
		}
		if se, ok := tok.(xml.StartElement); ok && root == "" {
			root = se.Name.Local
		}
	}
	if root != "svg" {
		t.Fatalf("GET %s: root element %q", path, root)
	}
	return body
}

// The pictures draw what the store holds: a rotation's versions (current,
// then grace), a rolled-back and a succeeded run, bindings by health; and
// they escape what they draw.
func TestCharts(t *testing.T) {
	const odd = `x<y&"z"`
	h := newHarness(t, cred("app", config.SourceGitHubApp), cred(odd, config.SourceGitHubApp))
	h.tgts["app"] = newTarget("app:binding-a", "app:binding-b")
	h.adopt("app")
	s := h.server(Options{})
	rotated(t, h, s, "app")
	h.tgts["app"].failNext = true
	h.clock.Advance(2 * time.Hour)
	s.tick(context.Background())
	s.jobs.Wait()

	tl := getSVG(t, s, "/v1/credentials/app/timeline.svg")
	for _, want := range []string{`class="current"`, `class="grace"`, ">v1<", ">v2<", ">current<", ">retired<", "now"} {
		if !strings.Contains(tl, want) {
			t.Errorf("timeline lacks %s:\n%s", want, tl)
		}
	}
	act := getSVG(t, s, "/v1/credentials/app/activity.svg")
	for _, want := range []string{`class="succeeded"`, `class="rolled_back"`, "1 succeeded, 1 rolled back, 0 failed"} {
		if !strings.Contains(act, want) {
			t.Errorf("activity lacks %s:\n%s", want, act)
		}
	}
	b := getSVG(t, s, "/v1/credentials/app/bindings.svg")
	if !strings.Contains(b, "file: 2 healthy") || !strings.Contains(b, "2/2 healthy") {
		t.Errorf("bindings by target:\n%s", b)
	}
	all := getSVG(t, s, "/v1/charts/bindings.svg")
	if !strings.Contains(all, ">app<") || !strings.Contains(all, "x&lt;y&amp;&#34;z&#34;") {
		t.Errorf("overview lacks a row per credential, escaped:\n%s", all)
	}
	getSVG(t, s, "/v1/credentials/x%3Cy&%22z%22/timeline.svg") // no versions yet: still a picture

	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/v1/credentials/app/timeline.svg", nil))
	if rec.Code != http.StatusUnauthorized {
		t.Errorf("a picture without the token: %d", rec.Code)
	}
}

// The credential page's data: every binding with the version it holds and
// when it last switched and verified; the runs with their steps.
func TestCredentialDetail(t *testing.T) {
	h, s := rotatedTwice(t)
	h.tgts["app"].refuse = map[string]bool{"app:binding-b": true}
	h.clock.Advance(2 * time.Hour)
	s.tick(context.Background()) // rolls back cleanly
	s.jobs.Wait()

	var d CredentialDetail
	getJSON(t, s, "/v1/credentials/app", &d)
	cur := d.Current.Seq
	if len(d.BindingDetails) != 2 {
		t.Fatalf("binding_details = %+v", d.BindingDetails)
	}
	for _, b := range d.BindingDetails {
		if b.Holds != cur || b.VerifiedAt == nil || b.SwitchedAt == nil || b.Health != "healthy" {
			t.Errorf("%s: holds v%d (want v%d), verified %v, switched %v, %s", b.ID, b.Holds, cur, b.VerifiedAt, b.SwitchedAt, b.Health)
		}
		if b.LastExecution == nil && !strings.Contains(b.ExecutionNote, "keeps no pipeline execution history") {
			t.Errorf("%s: neither an execution nor a note saying why not", b.ID)
		}
	}
	// binding-a was written and rolled back: it switched after it was
	// last verified. binding-b refused the write: it did not switch.
	a, bb := d.BindingDetails[0], d.BindingDetails[1]
	if !a.SwitchedAt.After(*a.VerifiedAt) || !bb.SwitchedAt.Equal(*bb.VerifiedAt) {
		t.Errorf("switched/verified: a %v/%v, b %v/%v", a.SwitchedAt, a.VerifiedAt, bb.SwitchedAt, bb.VerifiedAt)
	}
	if len(d.Runs) != 2 || d.Runs[0].Status != rotation.RunRolledBack {
		t.Fatalf("runs = %+v", d.Runs)
	}
	for _, r := range d.Runs {
		var events []string
		for _, st := range r.Steps {
			events = append(events, st.Event)
		}
		if len(events) < 3 || events[0] != "run.started" {
			t.Errorf("run %d steps %v", r.ID, events)
		}
	}
}
