package cli

import (
	"crypto/hmac"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/rotor-ci/rotor/internal/alert"
	"github.com/rotor-ci/rotor/internal/emulator/fault"
)

// alertSink is a webhook receiver that checks each delivery's signature.
type alertSink struct {
	srv    *httptest.Server
	secret []byte
	mu     sync.Mutex
	got    []alert.Alert
	bodies []string
	bad    int
}

func newAlertSink(t *testing.T, secret string) *alertSink {
	s := &alertSink{secret: []byte(secret)}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var a alert.Alert
		_ = json.Unmarshal(b, &a)
		s.mu.Lock()
		defer s.mu.Unlock()
		if !hmac.Equal([]byte(r.Header.Get(alert.SignatureHeader)), []byte(alert.Sign(s.secret, b))) {
			s.bad++
		}
		s.got = append(s.got, a)
		s.bodies = append(s.bodies, string(b))
	}))
	t.Cleanup(s.srv.Close)
	return s
}

// withAlerts adds a signed webhook, its URL and secret in files, to the
// e2e config.
func (e *e2e) withAlerts(sink *alertSink) {
	e.t.Helper()
	urlFile, secretFile := filepath.Join(e.dir, "alert.url"), filepath.Join(e.dir, "alert.secret")
	if err := os.WriteFile(urlFile, []byte(sink.srv.URL+"\n"), 0o600); err != nil {
		e.t.Fatal(err)
	}
	if err := os.WriteFile(secretFile, sink.secret, 0o600); err != nil {
		e.t.Fatal(err)
	}
	b, err := os.ReadFile(e.config)
	if err != nil {
		e.t.Fatal(err)
	}
	cfg := strings.Replace(string(b), "credentials:\n", "server:\n  alerts: [{type: webhook, url_file: alert.url, secret_file: alert.secret}]\ncredentials:\n", 1)
	if err := os.WriteFile(e.config, []byte(cfg), 0o600); err != nil {
		e.t.Fatal(err)
	}
}

// A failed or rolled-back `rotor rotate` alerts server.alerts, signed, as
// rotor serve would: before, only runs of serve did.
func TestCLI_RotateFailureAlerts(t *testing.T) {
	for _, tt := range []struct {
		name      string
		fileFirst bool // the file takes the new token before the pipeline refuses it
		code      int
		event     string
	}{
		{name: "failed before any binding changed", code: ExitFailure, event: alert.EventRotationFailed},
		{name: "rolled back", fileFirst: true, code: ExitRolledBack, event: alert.EventRolledBack},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := newE2E(t, "10m")
			sink := newAlertSink(t, "a-shared-secret-of-32-characters")
			e.withAlerts(sink)
			if tt.fileFirst {
				e.reorderTargets()
			}
			old := e.tokens[0]
			if code, out := e.rotor(old.Reveal()+"\n", "adopt", "pipeline-token", "--token-stdin", "--confirm-unverifiable"); code != 0 {
				t.Fatalf("adopt: %d %s", code, out)
			}
			e.sb.Faults.SetRules([]fault.Rule{{Service: "codepipeline", Operation: "UpdatePipeline", Resource: "MyFirstPipeline", Fail: true}})
			fresh := e.newToken("MyGitHubUserName", "repo", "admin:repo_hook")
			code, out := e.rotor(fresh.Reveal()+"\n", "rotate", "pipeline-token", "--token-stdin")
			if code != tt.code {
				t.Fatalf("rotate: exit %d, want %d\n%s", code, tt.code, out)
			}
			sink.mu.Lock()
			defer sink.mu.Unlock()
			if len(sink.got) != 1 || sink.got[0].Event != tt.event || sink.got[0].Credential != "pipeline-token" || sink.got[0].RunID == 0 {
				t.Fatalf("alerts received: %+v", sink.got)
			}
			if sink.bad != 0 {
				t.Errorf("%d deliveries without a valid signature", sink.bad)
			}
			e.outputs = append(e.outputs, sink.bodies...)
			e.canary()
		})
	}
}
