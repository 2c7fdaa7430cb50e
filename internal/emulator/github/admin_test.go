package github

import (
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"strings"
	"testing"
)

func TestServer_Admin(t *testing.T) {
	e := newEnv(t, testWorld())
	tests := []struct {
		name, method, path, body string
		want                     int
	}{
		{"user", "POST", "/_emulator/users", `{"login":"dave"}`, 201},
		{"duplicate user", "POST", "/_emulator/users", `{"login":"Dave"}`, 409},
		{"bad login", "POST", "/_emulator/users", `{"login":"-x"}`, 422},
		{"unknown field", "POST", "/_emulator/users", `{"login":"eve","admin":true}`, 400},
		{"malformed", "POST", "/_emulator/users", `{"login":`, 400},
		{"repo", "POST", "/_emulator/repos", `{"owner":"dave","name":"r","private":true,"branches":["main"],"collaborators":["alice"]}`, 201},
		{"repo of unknown owner", "POST", "/_emulator/repos", `{"owner":"zed","name":"r"}`, 404},
		{"bad branch", "POST", "/_emulator/repos", `{"owner":"dave","name":"r2","branches":["a..b"]}`, 422},
		{"fine-grained token", "POST", "/_emulator/tokens", `{"user":"dave","kind":"fine-grained","repositories":["dave/r"],"permissions":{"contents":"read"},"expires_in":"720h"}`, 201},
		{"fine-grained token on a hidden repo", "POST", "/_emulator/tokens", `{"user":"dave","kind":"fine-grained","repositories":["carol/secret"]}`, 404},
		{"classic token with an unknown scope", "POST", "/_emulator/tokens", `{"user":"dave","kind":"classic","scopes":["rpo"]}`, 422},
		{"classic token with permissions", "POST", "/_emulator/tokens", `{"user":"dave","kind":"classic","permissions":{"contents":"read"}}`, 422},
		{"unknown kind", "POST", "/_emulator/tokens", `{"user":"dave","kind":"oauth"}`, 422},
		{"bad duration", "POST", "/_emulator/tokens", `{"user":"dave","kind":"classic","expires_in":"soon"}`, 400},
		{"a value cannot be chosen", "POST", "/_emulator/tokens", `{"user":"dave","kind":"classic","value":"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"}`, 400},
		{"app", "POST", "/_emulator/apps", `{"name":"Dave Bot","owner":"dave","installations":[{"account":"dave","repositories":["r"]}]}`, 201},
		{"duplicate app", "POST", "/_emulator/apps", `{"name":"dave-bot","owner":"dave"}`, 409},
		{"app installed on a foreign repo", "POST", "/_emulator/apps", `{"name":"x","owner":"dave","installations":[{"account":"dave","repositories":["secret"]}]}`, 404},
		{"app installation beyond the app", "POST", "/_emulator/apps", `{"name":"y","owner":"dave","installations":[{"account":"dave","permissions":{"administration":"write"}}]}`, 422},
		{"get app", "GET", "/_emulator/apps/dave-bot", ``, 200},
		{"get unknown app", "GET", "/_emulator/apps/nope", ``, 404},
		{"unknown admin route", "GET", "/_emulator/nope", ``, 404},
		{"wrong method", "PUT", "/_emulator/tokens", ``, 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := e.do(t, tt.method, tt.path, "", tt.body)
			if resp.StatusCode != tt.want {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.want, body)
			}
			if !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
				t.Errorf("Content-Type %q", resp.Header.Get("Content-Type"))
			}
		})
	}
	t.Run("the created app's key signs its JWTs", func(t *testing.T) {
		resp, body := e.do(t, "POST", "/_emulator/apps", "", `{"name":"keyed","owner":"dave","installations":[{"account":"dave"}]}`)
		if resp.StatusCode != 201 {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
		var out createdApp
		if err := json.Unmarshal([]byte(body), &out); err != nil {
			t.Fatal(err)
		}
		block, _ := pem.Decode([]byte(out.PrivateKeyPEM))
		if block == nil || block.Type != "RSA PRIVATE KEY" {
			t.Fatalf("no PKCS#1 PEM in %q", out.PrivateKeyPEM)
		}
		key, err := x509.ParsePKCS1PrivateKey(block.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		if len(out.InstallationIDs) != 1 || out.Installations[0].RepositorySelection != "all" {
			t.Fatalf("app = %+v", out.AppInfo)
		}
		resp, body = e.do(t, "POST", "/app/installations/"+itoa(out.InstallationIDs[0])+"/access_tokens", "Bearer "+e.jwtFor(t, out.ID, key, nil), "")
		if resp.StatusCode != 201 || !strings.Contains(body, `"repository_selection":"all"`) {
			t.Fatalf("access token: %d %s", resp.StatusCode, body)
		}
		// GET never shows the key again.
		_, body = e.do(t, "GET", "/_emulator/apps/keyed", "", "")
		if strings.Contains(body, "PRIVATE KEY") {
			t.Fatal("GET app shows the private key")
		}
	})
}

func itoa(n int64) string { b, _ := json.Marshal(n); return string(b) }

func TestServer_BadInput(t *testing.T) {
	e := newEnv(t, testWorld())
	appID, insts := e.srv.App("rotor-ci")
	jwtAuth := "Bearer " + e.jwtFor(t, appID, testKey(), nil)
	tokensPath := "/app/installations/" + itoa(insts[0]) + "/access_tokens"
	tests := []struct {
		name, method, path, auth, body string
		want                           int
		message                        string
	}{
		{"malformed JSON", "POST", tokensPath, jwtAuth, `{"repositories":`, 400, "Problems parsing JSON"},
		{"wrong type", "POST", tokensPath, jwtAuth, `{"repositories":"private"}`, 422, ""},
		{"too many ids", "POST", tokensPath, jwtAuth, `{"repository_ids":[` + strings.TrimSuffix(strings.Repeat("1,", 501), ",") + `]}`, 422, ""},
		{"body too large", "POST", "/credentials/revoke", "", `{"credentials":["` + strings.Repeat("a", 1<<20) + `"]}`, 413, ""},
		{"unknown route", "GET", "/nope", "", "", 404, "Not Found"},
		{"unknown route under api/v3", "GET", "/api/v3/nope", "", "", 404, "Not Found"},
		{"wrong method", "POST", "/user", "token " + aliceClassic, "", 404, "Not Found"},
		{"wrong method on revoke", "GET", "/credentials/revoke", "", "", 404, "Not Found"},
		{"trailing slash", "GET", "/user/", "token " + aliceClassic, "", 404, "Not Found"},
		{"unclean path", "GET", "/repos/alice/../alice/public", "", "", 404, "Not Found"},
		{"double slash", "GET", "//user", "token " + aliceClassic, "", 404, "Not Found"},
		{"api/v3 works", "GET", "/api/v3/repos/alice/public", "", "", 200, ""},
		{"bad installation id", "POST", "/app/installations/abc/access_tokens", jwtAuth, "", 404, "Not Found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := e.do(t, tt.method, tt.path, tt.auth, tt.body)
			if resp.StatusCode != tt.want {
				t.Fatalf("status %d, want %d: %.200s", resp.StatusCode, tt.want, body)
			}
			if tt.want >= 400 {
				var eb errorBody
				if err := json.Unmarshal([]byte(body), &eb); err != nil || eb.Message == "" {
					t.Fatalf("body %.200q is not a GitHub error", body)
				}
				if tt.message != "" && eb.Message != tt.message {
					t.Fatalf("message %q, want %q", eb.Message, tt.message)
				}
			}
		})
	}
}

func TestServer_PlainBaseURL(t *testing.T) {
	e := newEnv(t, testWorld())
	resp, body := e.do(t, http.MethodGet, "/repos/alice/private", "token "+aliceClassic, "")
	if resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	var r struct {
		URL string `json:"url"`
	}
	_ = json.Unmarshal([]byte(body), &r)
	if r.URL != e.http.URL+"/repos/alice/private" {
		t.Fatalf("url = %q", r.URL)
	}
}
