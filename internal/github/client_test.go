package github

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/rotor-ci/rotor/internal/token"
)

var t0 = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)

// fakeClock never sleeps; it records the waits asked of it.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	sleeps []time.Duration
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sleeps = append(c.sleeps, d)
	c.now = c.now.Add(d)
	return ctx.Err()
}

func (c *fakeClock) waits() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.sleeps...)
}

// serve starts h and a client for it with a fake clock and no jitter-prone
// backoff surprises (BaseDelay 1s, MaxDelay 8s).
func serve(t *testing.T, h http.HandlerFunc) (*Client, *fakeClock) {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	clock := &fakeClock{now: t0}
	c, err := New(srv.URL, WithClock(clock), WithUserAgent("rotor-test"),
		WithRetryPolicy(RetryPolicy{MaxAttempts: 3, BaseDelay: time.Second, MaxDelay: 8 * time.Second, MaxWait: 2 * time.Minute}))
	if err != nil {
		t.Fatal(err)
	}
	return c, clock
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func badCredentials(w http.ResponseWriter) {
	writeJSON(w, 401, map[string]string{"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest"})
}

func notFound(w http.ResponseWriter) {
	writeJSON(w, 404, map[string]string{"message": "Not Found", "documentation_url": "https://docs.github.com/rest"})
}

// requireSafe fails if err's text shows a secret or a header.
func requireSafe(t *testing.T, err error, secrets ...string) {
	t.Helper()
	if err == nil {
		return
	}
	msg := fmt.Sprintf("%v %+v %#v", err, err, err)
	for _, s := range secrets {
		if s != "" && strings.Contains(msg, s) {
			t.Fatalf("error shows a secret: %s", msg)
		}
	}
	for _, h := range []string{"Authorization", "Bearer"} {
		if strings.Contains(msg, h) {
			t.Fatalf("error shows %s: %s", h, msg)
		}
	}
}

func TestNew(t *testing.T) {
	for _, u := range []string{"", "ftp://x", "api.github.com", "http://"} {
		if _, err := New(u); err == nil {
			t.Errorf("New(%q) accepted", u)
		}
	}
	c, err := New("https://ghe.example.com/api/v3")
	if err != nil || c.BaseURL() != "https://ghe.example.com/api/v3/" {
		t.Errorf("New(ghes) = %v, %v", c, err)
	}
}

func TestClient_Identify(t *testing.T) {
	classic := token.Generate(token.KindClassicPAT)
	fine := token.Generate(token.KindFineGrained)
	inst := token.Generate(token.KindInstallation)
	exp := time.Date(2027, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		name     string
		tok      token.Token
		handler  func(calls int, w http.ResponseWriter, r *http.Request)
		want     Identity
		wantErr  error
		wantHits int
	}{
		{
			name: "classic token with scopes and expiry",
			tok:  classic,
			handler: func(_ int, w http.ResponseWriter, r *http.Request) {
				w.Header().Set("X-OAuth-Scopes", "repo, admin:repo_hook")
				w.Header().Set("GitHub-Authentication-Token-Expiration", "2027-01-02 03:04:05 UTC")
				writeJSON(w, 200, map[string]any{"login": "octocat"})
			},
			want:     Identity{Login: "octocat", Scopes: []string{"repo", "admin:repo_hook"}, ExpiresAt: exp},
			wantHits: 1,
		},
		{
			name: "classic token without scopes has an empty list",
			tok:  classic,
			handler: func(_ int, w http.ResponseWriter, r *http.Request) {
				w.Header().Set("X-OAuth-Scopes", "")
				writeJSON(w, 200, map[string]any{"login": "octocat"})
			},
			want:     Identity{Login: "octocat", Scopes: []string{}},
			wantHits: 1,
		},
		{
			name: "fine-grained token has no scopes header",
			tok:  fine,
			handler: func(_ int, w http.ResponseWriter, r *http.Request) {
				w.Header().Set("GitHub-Authentication-Token-Expiration", "2027-01-02 04:04:05 +0100")
				writeJSON(w, 200, map[string]any{"login": "octocat"})
			},
			want:     Identity{Login: "octocat", ExpiresAt: exp},
			wantHits: 1,
		},
		{
			name:     "bad credentials",
			tok:      classic,
			handler:  func(_ int, w http.ResponseWriter, r *http.Request) { badCredentials(w) },
			wantErr:  ErrBadCredentials,
			wantHits: 1,
		},
		{
			name: "server error is retried",
			tok:  classic,
			handler: func(calls int, w http.ResponseWriter, r *http.Request) {
				if calls == 1 {
					writeJSON(w, 502, map[string]string{"message": "Server Error"})
					return
				}
				writeJSON(w, 200, map[string]any{"login": "octocat"})
			},
			want:     Identity{Login: "octocat"},
			wantHits: 2,
		},
		{
			name: "installation token lists its repositories",
			tok:  inst,
			handler: func(calls int, w http.ResponseWriter, r *http.Request) {
				if r.URL.Path != "/installation/repositories" {
					notFound(w)
					return
				}
				w.Header().Set("GitHub-Authentication-Token-Expiration", "2027-01-02 03:04:05 UTC")
				if r.URL.Query().Get("page") == "" {
					w.Header().Set("Link", fmt.Sprintf(`<http://%s/installation/repositories?page=2&per_page=100>; rel="next"`, r.Host))
					writeJSON(w, 200, map[string]any{"total_count": 2, "repositories": []any{map[string]any{"full_name": "o/a"}}})
					return
				}
				writeJSON(w, 200, map[string]any{"total_count": 2, "repositories": []any{map[string]any{"full_name": "o/b"}}})
			},
			want:     Identity{Login: InstallationLogin, ExpiresAt: exp, Repositories: []string{"o/a", "o/b"}},
			wantHits: 2,
		},
		{
			name:     "installation token refused",
			tok:      inst,
			handler:  func(_ int, w http.ResponseWriter, r *http.Request) { badCredentials(w) },
			wantErr:  ErrBadCredentials,
			wantHits: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var hits atomic.Int32
			c, _ := serve(t, func(w http.ResponseWriter, r *http.Request) {
				n := int(hits.Add(1))
				if got, want := r.Header.Get("Authorization"), "Bearer "+tt.tok.Reveal(); got != want {
					t.Errorf("Authorization header is not the token's")
				}
				if r.UserAgent() != "rotor-test" {
					t.Errorf("User-Agent = %q", r.UserAgent())
				}
				if strings.Contains(r.URL.String(), tt.tok.Reveal()) {
					t.Errorf("the token is in the URL")
				}
				tt.handler(n, w, r)
			})
			got, err := c.Identify(context.Background(), tt.tok)
			requireSafe(t, err, tt.tok.Reveal())
			if !errors.Is(err, tt.wantErr) || (err != nil) != (tt.wantErr != nil) {
				t.Fatalf("Identify() error = %v, want %v", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got, cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) })); diff != "" {
				t.Errorf("Identify() mismatch (-want +got):\n%s", diff)
			}
			if int(hits.Load()) != tt.wantHits {
				t.Errorf("GitHub saw %d requests, want %d", hits.Load(), tt.wantHits)
			}
		})
	}
}

func TestClient_CanRead(t *testing.T) {
	tok := token.Generate(token.KindClassicPAT)
	tests := []struct {
		name     string
		handler  http.HandlerFunc
		wantErr  error
		wantText string
		wantHits int
	}{
		{
			name: "readable",
			handler: func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path != "/repos/octo/test-repo" {
					notFound(w)
					return
				}
				writeJSON(w, 200, map[string]any{"full_name": "octo/test-repo"})
			},
			wantHits: 1,
		},
		{
			name:     "hidden repository",
			handler:  func(w http.ResponseWriter, r *http.Request) { notFound(w) },
			wantErr:  ErrNoAccess,
			wantText: "give the token access to octo/test-repo",
			wantHits: 1,
		},
		{
			name:     "bad credentials",
			handler:  func(w http.ResponseWriter, r *http.Request) { badCredentials(w) },
			wantErr:  ErrBadCredentials,
			wantHits: 1,
		},
		{
			name: "forbidden is an answer, not a rate limit",
			handler: func(w http.ResponseWriter, r *http.Request) {
				writeJSON(w, 403, map[string]string{"message": "Resource protected by organization SAML enforcement."})
			},
			wantText: "403 Resource protected by organization SAML enforcement.",
			wantHits: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var hits atomic.Int32
			c, _ := serve(t, func(w http.ResponseWriter, r *http.Request) { hits.Add(1); tt.handler(w, r) })
			err := c.CanRead(context.Background(), tok, "octo", "test-repo")
			requireSafe(t, err, tok.Reveal())
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Fatalf("CanRead() error = %v, want %v", err, tt.wantErr)
			}
			if tt.wantText != "" && (err == nil || !strings.Contains(err.Error(), tt.wantText)) {
				t.Fatalf("CanRead() error = %v, want it to say %q", err, tt.wantText)
			}
			if tt.wantErr == nil && tt.wantText == "" && err != nil {
				t.Fatalf("CanRead() error = %v", err)
			}
			if int(hits.Load()) != tt.wantHits {
				t.Errorf("GitHub saw %d requests, want %d", hits.Load(), tt.wantHits)
			}
		})
	}
}

func TestClient_CreateInstallationToken(t *testing.T) {
	minted := token.Generate(token.KindInstallation)
	const jwt = "header.payload.signature"
	exp := time.Date(2026, 11, 28, 13, 0, 0, 0, time.UTC)
	tests := []struct {
		name     string
		handler  func(calls int, w http.ResponseWriter, r *http.Request)
		wantErr  error
		wantText string
		wantHits int
	}{
		{
			name: "created",
			handler: func(_ int, w http.ResponseWriter, r *http.Request) {
				var body map[string]any
				_ = json.NewDecoder(r.Body).Decode(&body)
				want := map[string]any{"repositories": []any{"test-repo"}, "permissions": map[string]any{"contents": "read"}}
				if diff := cmp.Diff(want, body); diff != "" || r.Method != "POST" || r.URL.Path != "/app/installations/678/access_tokens" {
					t.Errorf("request %s %s body mismatch (-want +got):\n%s", r.Method, r.URL.Path, diff)
				}
				writeJSON(w, 201, map[string]any{"token": minted.Reveal(), "expires_at": exp.Format(time.RFC3339)})
			},
			wantHits: 1,
		},
		{
			name:     "bad JWT",
			handler:  func(_ int, w http.ResponseWriter, r *http.Request) { badCredentials(w) },
			wantText: "GitHub refused the app's JWT",
			wantHits: 1,
		},
		{
			name:     "no such installation",
			handler:  func(_ int, w http.ResponseWriter, r *http.Request) { notFound(w) },
			wantErr:  ErrNotFound,
			wantText: "installation 678",
			wantHits: 1,
		},
		{
			name: "repository not in the installation",
			handler: func(_ int, w http.ResponseWriter, r *http.Request) {
				writeJSON(w, 422, map[string]any{"message": "There is at least one repository that does not exist or is not accessible to the parent installation.", "errors": []any{map[string]any{"resource": "Installation", "field": "repositories", "code": "invalid"}}})
			},
			wantText: "422 There is at least one repository that does not exist or is not accessible to the parent installation.; repositories: invalid",
			wantHits: 1,
		},
		{
			name: "a server error is not retried: GitHub may have made the token",
			handler: func(_ int, w http.ResponseWriter, r *http.Request) {
				writeJSON(w, 500, map[string]string{"message": "Server Error"})
			},
			wantText: "500 Server Error",
			wantHits: 1,
		},
		{
			name: "a rate limit is retried: GitHub did nothing",
			handler: func(calls int, w http.ResponseWriter, r *http.Request) {
				if calls == 1 {
					w.Header().Set("Retry-After", "3")
					writeJSON(w, 429, map[string]string{"message": "You have exceeded a secondary rate limit"})
					return
				}
				writeJSON(w, 201, map[string]any{"token": minted.Reveal(), "expires_at": exp.Format(time.RFC3339)})
			},
			wantHits: 2,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var hits atomic.Int32
			c, _ := serve(t, func(w http.ResponseWriter, r *http.Request) {
				if r.Header.Get("Authorization") != "Bearer "+jwt {
					t.Errorf("the app JWT is not the Authorization")
				}
				tt.handler(int(hits.Add(1)), w, r)
			})
			tok, gotExp, err := c.CreateInstallationToken(context.Background(), jwt, 678, []string{"test-repo"}, map[string]string{"contents": "read"})
			requireSafe(t, err, jwt, minted.Reveal())
			if int(hits.Load()) != tt.wantHits {
				t.Errorf("GitHub saw %d requests, want %d", hits.Load(), tt.wantHits)
			}
			if tt.wantErr == nil && tt.wantText == "" {
				if err != nil {
					t.Fatal(err)
				}
				if !tok.Equal(minted) || !gotExp.Equal(exp) {
					t.Errorf("got token %v expiring %v, want %v expiring %v", tok, gotExp, minted, exp)
				}
				return
			}
			if err == nil || (tt.wantErr != nil && !errors.Is(err, tt.wantErr)) || !strings.Contains(err.Error(), tt.wantText) {
				t.Fatalf("error = %v, want %v saying %q", err, tt.wantErr, tt.wantText)
			}
		})
	}
}

func TestClient_RevokeInstallationToken(t *testing.T) {
	tok := token.Generate(token.KindInstallation)
	tests := []struct {
		name     string
		status   int
		wantErr  bool
		wantHits int
	}{
		{"revoked", 204, false, 1},
		{"already dead", 401, false, 1},
		{"server keeps failing", 503, true, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var hits atomic.Int32
			c, clock := serve(t, func(w http.ResponseWriter, r *http.Request) {
				hits.Add(1)
				if r.Method != "DELETE" || r.URL.Path != "/installation/token" || r.Header.Get("Authorization") != "Bearer "+tok.Reveal() {
					t.Errorf("unexpected request %s %s", r.Method, r.URL.Path)
				}
				if tt.status == 204 {
					w.WriteHeader(204)
					return
				}
				writeJSON(w, tt.status, map[string]string{"message": http.StatusText(tt.status)})
			})
			err := c.RevokeInstallationToken(context.Background(), tok)
			requireSafe(t, err, tok.Reveal())
			if (err != nil) != tt.wantErr {
				t.Fatalf("RevokeInstallationToken() = %v, want error %v", err, tt.wantErr)
			}
			if int(hits.Load()) != tt.wantHits {
				t.Errorf("GitHub saw %d requests, want %d", hits.Load(), tt.wantHits)
			}
			if tt.wantErr && len(clock.waits()) != tt.wantHits-1 {
				t.Errorf("waited %v between tries", clock.waits())
			}
		})
	}
}

func TestClient_RevokeCredentials(t *testing.T) {
	tests := []struct {
		name      string
		n         int
		status    int
		wantErr   error
		wantText  string
		wantSizes []int
	}{
		{name: "accepted", n: 2, status: 202, wantSizes: []int{2}},
		{name: "batches of a thousand", n: 1500, status: 202, wantSizes: []int{1000, 500}},
		{name: "older GitHub without the API", n: 1, status: 404, wantErr: ErrRevocationUnsupported, wantSizes: []int{1}},
		{name: "invalid request", n: 1, status: 422, wantText: "GitHub refused the request", wantSizes: []int{1}},
		{name: "nothing to revoke", n: 0, status: 202},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			toks := make([]token.Token, tt.n)
			for i := range toks {
				toks[i] = token.Generate(token.KindClassicPAT)
			}
			var mu sync.Mutex
			var sizes []int
			c, _ := serve(t, func(w http.ResponseWriter, r *http.Request) {
				if r.Header.Get("Authorization") != "" {
					t.Error("revocation must be unauthenticated")
				}
				var body struct{ Credentials []string }
				data, _ := io.ReadAll(r.Body)
				_ = json.Unmarshal(data, &body)
				mu.Lock()
				if len(sizes) == 0 && len(body.Credentials) > 0 && body.Credentials[0] != toks[0].Reveal() {
					t.Error("the first token is not the first sent")
				}
				sizes = append(sizes, len(body.Credentials))
				mu.Unlock()
				if tt.status == 202 {
					writeJSON(w, 202, map[string]any{})
					return
				}
				writeJSON(w, tt.status, map[string]string{"message": http.StatusText(tt.status)})
			})
			err := c.RevokeCredentials(context.Background(), toks)
			for _, tok := range toks[:min(3, len(toks))] {
				requireSafe(t, err, tok.Reveal())
			}
			if tt.wantErr == nil && tt.wantText == "" && err != nil {
				t.Fatal(err)
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Fatalf("error = %v, want %v", err, tt.wantErr)
			}
			if tt.wantText != "" && (err == nil || errors.Is(err, ErrRevocationUnsupported) || !strings.Contains(err.Error(), tt.wantText)) {
				t.Fatalf("error = %v, want one saying %q", err, tt.wantText)
			}
			if diff := cmp.Diff(tt.wantSizes, sizes); diff != "" {
				t.Errorf("batch sizes (-want +got):\n%s", diff)
			}
		})
	}
}

func TestClient_rateLimits(t *testing.T) {
	tok := token.Generate(token.KindClassicPAT)
	ok := func(w http.ResponseWriter) { writeJSON(w, 200, map[string]any{"login": "octocat"}) }
	tests := []struct {
		name      string
		handler   func(calls int, w http.ResponseWriter)
		wantWaits []time.Duration
		wantErr   error
		wantHits  int
	}{
		{
			name: "primary limit: wait until reset",
			handler: func(calls int, w http.ResponseWriter) {
				if calls == 1 {
					w.Header().Set("X-RateLimit-Remaining", "0")
					w.Header().Set("X-RateLimit-Reset", fmt.Sprint(t0.Add(30*time.Second).Unix()))
					writeJSON(w, 403, map[string]string{"message": "API rate limit exceeded"})
					return
				}
				ok(w)
			},
			wantWaits: []time.Duration{31 * time.Second},
			wantHits:  2,
		},
		{
			name: "primary limit too far away: give up at once",
			handler: func(calls int, w http.ResponseWriter) {
				w.Header().Set("X-RateLimit-Remaining", "0")
				w.Header().Set("X-RateLimit-Reset", fmt.Sprint(t0.Add(time.Hour).Unix()))
				writeJSON(w, 403, map[string]string{"message": "API rate limit exceeded"})
			},
			wantErr:  ErrRateLimited,
			wantHits: 1,
		},
		{
			name: "secondary limit with retry-after",
			handler: func(calls int, w http.ResponseWriter) {
				if calls == 1 {
					w.Header().Set("Retry-After", "5")
					writeJSON(w, 403, map[string]string{"message": "You have exceeded a secondary rate limit"})
					return
				}
				ok(w)
			},
			wantWaits: []time.Duration{5 * time.Second},
			wantHits:  2,
		},
		{
			name: "secondary limit without headers: a minute, then two",
			handler: func(calls int, w http.ResponseWriter) {
				if calls < 3 {
					writeJSON(w, 403, map[string]string{"message": "You have exceeded a secondary rate limit.", "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits"})
					return
				}
				ok(w)
			},
			wantWaits: []time.Duration{time.Minute, 2 * time.Minute},
			wantHits:  3,
		},
		{
			name: "secondary limit that outlasts the retries",
			handler: func(calls int, w http.ResponseWriter) {
				writeJSON(w, 403, map[string]string{"message": "You have exceeded a secondary rate limit."})
			},
			wantWaits: []time.Duration{time.Minute, 2 * time.Minute},
			wantErr:   ErrRateLimited,
			wantHits:  3,
		},
		{
			name: "429 without headers",
			handler: func(calls int, w http.ResponseWriter) {
				writeJSON(w, 429, map[string]string{"message": "Too Many Requests"})
			},
			wantWaits: []time.Duration{time.Minute, 2 * time.Minute},
			wantErr:   ErrRateLimited,
			wantHits:  3,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var hits atomic.Int32
			c, clock := serve(t, func(w http.ResponseWriter, r *http.Request) { tt.handler(int(hits.Add(1)), w) })
			_, err := c.Identify(context.Background(), tok)
			requireSafe(t, err, tok.Reveal())
			if (err != nil) != (tt.wantErr != nil) || !errors.Is(err, tt.wantErr) {
				t.Fatalf("error = %v, want %v", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.wantWaits, clock.waits()); diff != "" {
				t.Errorf("waits (-want +got):\n%s", diff)
			}
			if int(hits.Load()) != tt.wantHits {
				t.Errorf("GitHub saw %d requests, want %d", hits.Load(), tt.wantHits)
			}
		})
	}
}

func TestClient_networkErrors(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens: every dial is refused
	clock := &fakeClock{now: t0}
	c, err := New("http://"+addr, WithClock(clock), WithRetryPolicy(RetryPolicy{MaxAttempts: 3, BaseDelay: time.Second, MaxDelay: 8 * time.Second}))
	if err != nil {
		t.Fatal(err)
	}
	tok := token.Generate(token.KindClassicPAT)
	_, err = c.Identify(context.Background(), tok)
	requireSafe(t, err, tok.Reveal())
	if err == nil {
		t.Fatal("Identify() against nothing succeeded")
	}
	waits := clock.waits()
	if len(waits) != 2 || waits[0] > time.Second || waits[0] < 800*time.Millisecond || waits[1] > 2*time.Second || waits[1] < 1600*time.Millisecond {
		t.Errorf("waits = %v, want about 1s then 2s", waits)
	}
	// A refused dial never reached GitHub, so even a POST is tried again.
	clock.sleeps = nil
	_, _, err = c.CreateInstallationToken(context.Background(), "jwt", 1, nil, nil)
	if err == nil || len(clock.waits()) != 2 {
		t.Errorf("CreateInstallationToken() = %v after waits %v, want an error after 2 waits", err, clock.waits())
	}
}

func TestClient_canceled(t *testing.T) {
	c, _ := serve(t, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 502, map[string]string{"message": "Bad Gateway"})
	})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := c.Identify(ctx, token.Generate(token.KindClassicPAT))
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Identify(canceled) = %v, want context.Canceled", err)
	}
}

// TestClient_attemptTimeout: a request that is never sent twice (a mint)
// is bounded by the caller's deadline when that is later than the attempt
// timeout, so that an answer that comes after the attempt timeout (as it
// does for a process paused while GitHub answered) is not dropped with the
// token in it. An idempotent request keeps the attempt timeout.
func TestClient_attemptTimeout(t *testing.T) {
	minted := token.Generate(token.KindInstallation)
	const slow = 300 * time.Millisecond
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(slow)
		if r.Method == http.MethodPost {
			writeJSON(w, 201, map[string]any{"token": minted.Reveal(), "expires_at": time.Now().Add(time.Hour).UTC().Format(time.RFC3339)})
			return
		}
		writeJSON(w, 200, map[string]any{"login": "octocat"})
	}))
	t.Cleanup(srv.Close)
	c, err := New(srv.URL, WithClock(&fakeClock{now: t0}),
		WithRetryPolicy(RetryPolicy{MaxAttempts: 1, AttemptTimeout: 50 * time.Millisecond}))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	got, _, err := c.CreateInstallationToken(ctx, "header.payload.signature", 678, nil, nil)
	if err != nil || !got.Equal(minted) {
		t.Fatalf("a mint answered after the attempt timeout, within the caller's deadline: %v, %v; want the token", got.Fingerprint(), err)
	}
	if _, err := c.Identify(ctx, token.Generate(token.KindClassicPAT)); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("an idempotent GET answered after the attempt timeout: %v, want the attempt's deadline", err)
	}
}
