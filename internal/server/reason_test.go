package server

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/rotor-ci/rotor/internal/alert"
	"github.com/rotor-ci/rotor/internal/config"
	"github.com/rotor-ci/rotor/internal/token"
)

// syncBuffer is a log destination safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Attack 4: the API's free-text reason was logged verbatim, so a token
// pasted into it reached the log. The request is still served, and the log
// names the token by fingerprint only.
func TestServer_rotate_reasonRedacted(t *testing.T) {
	h := newHarness(t, cred("app", config.SourceGitHubApp))
	h.adopt("app")
	var logs syncBuffer
	notifiers, err := alert.FromConfig(h.cfg.Server.Alerts)
	if err != nil {
		t.Fatal(err)
	}
	// A plain handler, without the CLI's RedactAttr: the server itself
	// must redact what it logs.
	s, err := New(Deps{Config: h.cfg, Store: h.st, Engine: h.eng, Credential: h.credFn, Alerts: notifiers,
		Log: slog.New(slog.NewJSONHandler(&logs, nil))}, Options{Now: h.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	canary := token.Generate(token.KindFineGrained)
	body, _ := json.Marshal(map[string]string{"reason": "old one leaked: " + canary.Reveal()})
	code, resp := do(t, srv.URL, "POST", "/v1/credentials/app/rotate", "Bearer "+testToken, string(body))
	if code != 202 {
		t.Fatalf("rotate: %d %v", code, resp)
	}
	out := logs.String()
	if strings.Contains(out, canary.Reveal()[11:]) {
		t.Fatalf("the log holds the token from the reason:\n%s", token.RedactText(out))
	}
	if !strings.Contains(out, "old one leaked: [github_pat_… "+canary.Fingerprint()+"]") {
		t.Errorf("the log lacks the redacted reason:\n%s", out)
	}
}
