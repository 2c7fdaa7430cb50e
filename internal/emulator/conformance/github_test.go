package conformance_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/rotor-ci/rotor/internal/emulator/conformance"
	"github.com/rotor-ci/rotor/internal/emulator/ghtoken"
	ghemu "github.com/rotor-ci/rotor/internal/emulator/github"
)

func openAPI(t *testing.T) conformance.Paths {
	t.Helper()
	p := conformance.Locate()
	if p.OpenAPI == "" {
		t.Skip("SKIP: " + p.WhyNoGitHub)
	}
	return p
}

// TestRoutes_GitHub: every REST route the GitHub emulator serves is in
// GitHub's description, so none escapes the check (present and future).
func TestRoutes_GitHub(t *testing.T) {
	openAPI(t)
	srv, err := ghemu.New(ghemu.World{}, ghemu.Options{})
	if err != nil {
		t.Fatal(err)
	}
	routes := srv.Routes()
	if len(routes) < 10 {
		t.Fatalf("the emulator lists only %d routes: %v", len(routes), routes)
	}
	for _, r := range routes {
		method, path, _ := strings.Cut(r, " ")
		if _, ok := conformance.GitHubDotCom[r]; ok {
			continue // github.com's, not the API's: checked against its pages
		}
		described, ok, err := conformance.Describes(method, path)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			t.Errorf("the emulator serves %s, which GitHub's description (@octokit/openapi %s) does not describe (nearest path: %q)", r, conformance.DescriptionVersion(), described)
		}
	}
	t.Logf("%d routes, @octokit/openapi %s", len(routes), conformance.DescriptionVersion())
}

// recorded is one exchange of @octokit/fixtures.
type recorded struct {
	Scope    string          `json:"scope"`
	Method   string          `json:"method"`
	Path     string          `json:"path"`
	Status   int             `json:"status"`
	Response json.RawMessage `json:"response"`
	Headers  map[string]any  `json:"headers"`
	Req      map[string]any  `json:"reqheaders"`
}

// TestFixtures replays the exchanges GitHub recorded (npm
// @octokit/fixtures) that hit an endpoint the emulator serves, against an
// emulator holding the same repository, and compares the status, the
// headers rotor reads and the set of members.
func TestFixtures(t *testing.T) {
	p := openAPI(t)
	if p.Fixtures == "" {
		t.Skip("SKIP: @octokit/fixtures is not installed beside @octokit/openapi")
	}
	files, _ := filepath.Glob(filepath.Join(p.Fixtures, "*", "normalized-fixture.json"))
	probe, _ := ghemu.New(ghemu.World{}, ghemu.Options{})
	routes := probe.Routes()
	replayed := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var exs []recorded
		if err := json.Unmarshal(b, &exs); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, ex := range exs {
			method := strings.ToUpper(ex.Method)
			if ex.Scope != "https://api.github.com:443" || ex.Status >= 300 && ex.Status != 302 {
				continue
			}
			described, _, err := conformance.Describes(method, ex.Path)
			if err != nil || !served(routes, method, described) {
				continue
			}
			name := filepath.Base(filepath.Dir(f)) + " " + method + " " + ex.Path
			t.Run(name, func(t *testing.T) {
				replay(t, ex, exs)
				replayed++
			})
		}
	}
	if replayed < 2 {
		t.Fatalf("only %d recorded exchanges hit an emulated endpoint; want get-repository and get-archive at least", replayed)
	}
	t.Logf("%d recorded exchanges replayed", replayed)
}

func served(routes []string, method, described string) bool {
	return slices.ContainsFunc(routes, func(r string) bool {
		m, p, _ := strings.Cut(r, " ")
		d, ok, _ := conformance.Describes(m, p)
		return ok && m == method && d == described
	})
}

// replay seeds an emulator with the recorded repository, sends the same
// request with a token of the owner, and compares.
func replay(t *testing.T, ex recorded, all []recorded) {
	parts := strings.Split(strings.TrimPrefix(ex.Path, "/"), "/")
	owner, repo := parts[1], parts[2]
	branch := "main"
	if len(parts) > 4 {
		branch = parts[4]
	}
	tok := ghtoken.Generate(ghtoken.KindClassicPAT).Reveal()
	emu, err := ghemu.New(ghemu.World{
		Users:  []ghemu.UserSpec{{Login: owner}},
		Repos:  []ghemu.RepoSpec{{Owner: owner, Name: repo, Branches: []string{branch}}},
		Tokens: []ghemu.WorldToken{{TokenSpec: ghemu.TokenSpec{User: owner, Kind: ghemu.KindClassic, Scopes: []string{"repo"}}, Value: tok}},
	}, ghemu.Options{})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(conformance.Wrap(t, "github", emu))
	defer srv.Close()
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, _ := http.NewRequest(strings.ToUpper(ex.Method), srv.URL+ex.Path, nil)
	req.Header.Set("Authorization", "token "+tok)
	req.Header.Set("Accept", fmt.Sprint(ex.Req["accept"]))
	resp, err := noFollow.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != ex.Status {
		t.Fatalf("status %d, GitHub answered %d", resp.StatusCode, ex.Status)
	}
	for name := range conformance.RotorHeaders {
		if _, recordedIt := ex.Headers[strings.ToLower(name)]; recordedIt && resp.Header.Get(name) == "" {
			t.Errorf("header %s: GitHub sent it, the emulator did not", name)
		}
	}
	if ex.Status == http.StatusFound {
		// GitHub's Location is its download host; the emulator's serves the
		// same answer as the recorded download.
		loc := resp.Header.Get("Location")
		var dl *recorded
		for i := range all {
			if all[i].Scope != ex.Scope {
				dl = &all[i]
			}
		}
		if loc == "" || dl == nil {
			t.Fatalf("Location %q; recorded download %v", loc, dl)
		}
		got, err := http.Get(loc)
		if err != nil {
			t.Fatal(err)
		}
		got.Body.Close()
		if got.StatusCode != dl.Status || got.Header.Get("Content-Type") != dl.Headers["content-type"] {
			t.Errorf("download: %d %q, GitHub's download host answered %d %q", got.StatusCode, got.Header.Get("Content-Type"), dl.Status, dl.Headers["content-type"])
		}
		return
	}
	var want, have map[string]any
	if err := json.Unmarshal(ex.Response, &want); err != nil {
		t.Fatalf("recorded body: %v", err)
	}
	if err := json.NewDecoder(resp.Body).Decode(&have); err != nil {
		t.Fatal(err)
	}
	for k := range want {
		if _, ok := have[k]; !ok {
			t.Errorf("member %q: GitHub sent it, the emulator did not", k)
		}
	}
	for k := range have {
		if _, ok := want[k]; !ok && !documented(k) {
			t.Errorf("member %q: the emulator sent it, GitHub did not and its description does not name it", k)
		}
	}
}

// documented lists members newer than the recordings (2017) that GitHub's
// description names for a repository; the body check validates them.
func documented(k string) bool {
	return slices.Contains([]string{"visibility", "is_template", "topics", "has_discussions", "user_view_type"}, k)
}
