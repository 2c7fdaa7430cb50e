package alert

import (
	"crypto/hmac"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/rotor-ci/rotor/internal/config"
)

// signedReceiver records bodies and whether their signature checks out
// under secret, as a receiver of rotor's webhooks would check it.
type signedReceiver struct {
	srv    *httptest.Server
	mu     sync.Mutex
	bodies []string
	valid  []bool
}

func newSignedReceiver(t *testing.T, secret []byte) *signedReceiver {
	r := &signedReceiver{}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		got := req.Header.Get(SignatureHeader)
		r.mu.Lock()
		r.bodies = append(r.bodies, string(b))
		r.valid = append(r.valid, got != "" && hmac.Equal([]byte(got), []byte(Sign(secret, b))))
		r.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *signedReceiver) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.bodies)
}

func writeFile(t *testing.T, path, content string, mode os.FileMode) string {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
	return path
}

// Attack 6: alert URLs are secrets but could only be written in the config.
// url_file keeps them out of it; deliveries are signed with a secret from a
// file, so a receiver can check that rotor sent them; both files are read
// again by Reload (SIGHUP).
func TestWebhook_urlFileSignedReloaded(t *testing.T) {
	dir := t.TempDir()
	secret := []byte("0123456789abcdef0123456789abcdef")
	first, second := newSignedReceiver(t, secret), newSignedReceiver(t, secret)
	urlFile := writeFile(t, filepath.Join(dir, "alert.url"), first.srv.URL+"/hook/SECRET-PATH\n", 0o600)
	secretFile := writeFile(t, filepath.Join(dir, "alert.secret"), string(secret)+"\n", 0o600)
	ns, err := FromConfig([]config.Alert{{Type: config.AlertWebhook, URLFile: urlFile, SecretFile: secretFile}})
	if err != nil {
		t.Fatal(err)
	}
	if name := ns[0].Name(); strings.Contains(name, "SECRET") || !strings.HasPrefix(name, "webhook:127.0.0.1:") {
		t.Errorf("Name() = %q: want the host only", name)
	}
	if err := ns[0].Notify(t.Context(), Alert{Event: EventRolledBack, Credential: "ci", Message: "m"}); err != nil {
		t.Fatal(err)
	}
	if first.count() != 1 || !first.valid[0] || !strings.Contains(first.bodies[0], `"event":"rotation_rolled_back"`) {
		t.Fatalf("first receiver: %v %v", first.bodies, first.valid)
	}
	// A receiver with another secret rejects it: the signature is over the
	// body under this secret, not a constant.
	if hmac.Equal([]byte(Sign([]byte("another secret, 16+ bytes"), []byte(first.bodies[0]))), []byte(Sign(secret, []byte(first.bodies[0])))) {
		t.Fatal("the signature does not depend on the secret")
	}

	// The URL moves; the file is rewritten; Reload picks it up.
	writeFile(t, urlFile, second.srv.URL+"\n", 0o600)
	if err := Reload(ns); err != nil {
		t.Fatal(err)
	}
	if err := ns[0].Notify(t.Context(), Alert{Event: EventRotationFailed, Credential: "ci"}); err != nil {
		t.Fatal(err)
	}
	if first.count() != 1 || second.count() != 1 || !second.valid[0] {
		t.Fatalf("after reload: first %d, second %d %v", first.count(), second.count(), second.valid)
	}

	// A broken file keeps what was loaded, and the error names the file
	// but never what it holds.
	writeFile(t, urlFile, "not a url SECRET-VALUE", 0o600)
	err = Reload(ns)
	if err == nil || !strings.Contains(err.Error(), urlFile) || strings.Contains(err.Error(), "SECRET-VALUE") {
		t.Fatalf("Reload(broken file) = %v, want an error naming %s without its contents", err, urlFile)
	}
	if err := ns[0].Notify(t.Context(), Alert{Event: EventRotationFailed, Credential: "ci"}); err != nil || second.count() != 2 {
		t.Fatalf("after a failed reload: %v, second %d", err, second.count())
	}
}

func TestFromConfig_unsafeFiles(t *testing.T) {
	dir := t.TempDir()
	good := writeFile(t, filepath.Join(dir, "good.url"), "https://hooks.example.com/x\n", 0o600)
	tests := []struct {
		name    string
		a       config.Alert
		wantErr string
	}{
		{name: "url file others may read", a: config.Alert{Type: "webhook", URLFile: writeFile(t, filepath.Join(dir, "loose.url"), "https://hooks.example.com/SECRET", 0o644)}, wantErr: "chmod 600"},
		{name: "url file missing", a: config.Alert{Type: "slack", URLFile: filepath.Join(dir, "none")}, wantErr: "url_file"},
		{name: "not a URL", a: config.Alert{Type: "slack", URLFile: writeFile(t, filepath.Join(dir, "bad.url"), "ftp://SECRET", 0o600)}, wantErr: "does not hold an http(s) URL"},
		{name: "short secret", a: config.Alert{Type: "webhook", URLFile: good, SecretFile: writeFile(t, filepath.Join(dir, "short"), "abc", 0o600)}, wantErr: "at least 16"},
		{name: "secret others may read", a: config.Alert{Type: "webhook", URL: "https://h.example.com", SecretFile: writeFile(t, filepath.Join(dir, "loose.secret"), strings.Repeat("s", 32), 0o640)}, wantErr: "chmod 600"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := FromConfig([]config.Alert{tt.a})
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), "server.alerts[0]") || strings.Contains(err.Error(), "SECRET") {
				t.Fatalf("FromConfig = %v, want an error on server.alerts[0] saying %q, without the file's contents", err, tt.wantErr)
			}
		})
	}
}

func TestConfig_alertURLFile(t *testing.T) {
	tests := []struct {
		name, alert, wantErr string
	}{
		{name: "url_file", alert: "{type: webhook, url_file: alert.url, secret_file: alert.secret}"},
		{name: "both", alert: "{type: webhook, url: \"https://x.example.com\", url_file: alert.url}", wantErr: "not both"},
		{name: "neither", alert: "{type: slack}", wantErr: "url_file naming a file"},
		{name: "slack signed", alert: "{type: slack, url_file: a, secret_file: s}", wantErr: "Slack does not check signatures"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := config.Parse([]byte("server:\n  alerts: ["+tt.alert+"]\n"), "/etc/rotor/rotor.yaml")
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if a := c.Server.Alerts[0]; a.URLFile != "/etc/rotor/alert.url" || a.SecretFile != "/etc/rotor/alert.secret" {
					t.Errorf("paths not resolved against the config's directory: %+v", a)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Parse = %v, want %q", err, tt.wantErr)
			}
		})
	}
}
