package torture

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rotor-ci/rotor/internal/token"
)

// Wire is what crossed the wire between rotor and the emulators, recorded
// by the proxies in front of them. Each record's time is taken after the
// emulator handled the request and before rotor can see the answer, so a
// record of an update always precedes the revocation rotor sends after it.
type Wire struct {
	mu      sync.Mutex
	mints   []Mint
	revokes []Revoke
	grants  []UserGrant
	updates []Update
	calls   map[string]int // "github GET /user 200", "codepipeline UpdatePipeline 400"
	values  map[string]token.Token
	// pids lists the running rotor processes, to tell which one asked.
	pids func() []int
}

// Mint is a token GitHub issued to rotor: an installation token, or a
// GitHub App user token (a refresh's or the device flow's answer).
type Mint struct {
	Time        time.Time
	Kind        string // "" (installation token) or "user"
	Fingerprint string
	ExpiresAt   time.Time
	PID         int       // the rotor process that asked, 0 when unknown
	Asked       time.Time // when the request arrived (the answer came at Time)
	// Running lists the rotor processes running as the request arrived,
	// when PID is unknown: the asker's socket was gone already, because
	// it was killed between sending and the lookup.
	Running []int
}

// UserGrant is one request to GitHub's token endpoint that redeemed a
// refresh token, or a device flow poll that GitHub answered with a pair.
type UserGrant struct {
	Time, Asked time.Time
	ClientID    string
	Grant       string // "refresh_token" or "device_code"
	Used        string // the refresh token sent (refresh_token grants)
	Error       string // GitHub's OAuth error code; "" when it issued a pair
	Access      string // the pair issued
	Refresh     string
	PID         int
	Running     []int
}

// Revoke is a revocation GitHub accepted.
type Revoke struct {
	Time        time.Time
	Fingerprint string
	Via         string // "DELETE /installation/token" or "POST /credentials/revoke"
}

// Update is an UpdatePipeline the CodePipeline emulator accepted.
type Update struct {
	Time     time.Time
	Pipeline string
	Version  int
	Tokens   map[string]string // "stage/action" → fingerprint sent
	// Carried are actions sent back "****", exactly as GetPipeline shows
	// them: AWS keeps what they hold (had rotor edited such an action,
	// the emulator would store "****", and its fetches and the at-rest
	// check would show it).
	Carried []string
	Unknown []string        // actions sent a value that is no token GitHub ever issued ("")
	Masked  json.RawMessage // the declaration as the emulator answered it
}

func newWire() *Wire { return &Wire{calls: map[string]int{}, values: map[string]token.Token{}} }

func (w *Wire) count(k string) {
	w.mu.Lock()
	w.calls[k]++
	w.mu.Unlock()
}

// remember keeps a token value for the leak search.
func (w *Wire) remember(t token.Token) {
	if t.IsZero() {
		return
	}
	w.mu.Lock()
	w.values[t.Fingerprint()] = t
	w.mu.Unlock()
}

// Snapshot copies the records.
func (w *Wire) Snapshot() (mints []Mint, revokes []Revoke, updates []Update, calls map[string]int) {
	mints, revokes, updates, calls, _ = w.snapshot()
	return
}

// UserGrants copies the record of the token endpoint.
func (w *Wire) UserGrants() []UserGrant {
	_, _, _, _, g := w.snapshot()
	return g
}

func (w *Wire) snapshot() (mints []Mint, revokes []Revoke, updates []Update, calls map[string]int, grants []UserGrant) {
	w.mu.Lock()
	defer w.mu.Unlock()
	calls = make(map[string]int, len(w.calls))
	for k, v := range w.calls {
		calls[k] = v
	}
	return append([]Mint(nil), w.mints...), append([]Revoke(nil), w.revokes...), append([]Update(nil), w.updates...), calls, append([]UserGrant(nil), w.grants...)
}

// Values returns every token value the wire saw, by fingerprint.
func (w *Wire) Values() map[string]token.Token {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make(map[string]token.Token, len(w.values))
	for k, v := range w.values {
		out[k] = v
	}
	return out
}

// proxy serves an emulator on a loopback port of its own, recording
// through inspect. When down is set it drops every connection unanswered,
// as an unreachable host would.
type proxy struct {
	URL  string
	down atomic.Bool
	// lose, when set, says which answers to drop after the emulator acted
	// on the request: the change happened, the caller never hears of it
	// (a timeout, a reset connection).
	lose atomic.Pointer[func(*http.Request) bool]
	srv  *http.Server
}

// reset drops the connection without an answer.
func reset(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if c, _, err := hj.Hijack(); err == nil {
			if tc, ok := c.(*net.TCPConn); ok {
				tc.SetLinger(0) // a reset, not a polite close
			}
			c.Close()
			return
		}
	}
	panic(http.ErrAbortHandler)
}

// startProxy serves inner through a recording proxy. arrive, when set,
// sees each request as it arrives, before the emulator acts on it, and may
// return it with values for inspect in its context.
func startProxy(inner http.Handler, arrive func(*http.Request) *http.Request, inspect func(r *http.Request, body []byte, rec *httptest.ResponseRecorder)) (*proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &proxy{URL: "http://" + ln.Addr().String()}
	p.srv = &http.Server{ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(slog.DiscardHandler, slog.LevelError),
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if p.down.Load() {
				reset(w)
				return
			}
			body, err := io.ReadAll(r.Body)
			if err != nil {
				http.Error(w, "proxy: read body", http.StatusBadRequest)
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
			if arrive != nil {
				r = arrive(r)
			}
			rec := httptest.NewRecorder()
			inner.ServeHTTP(rec, r)
			inspect(r, body, rec)
			if lose := p.lose.Load(); lose != nil && (*lose)(r) {
				reset(w)
				return
			}
			for k, v := range rec.Header() {
				w.Header()[k] = v
			}
			w.WriteHeader(rec.Code)
			_, _ = w.Write(rec.Body.Bytes())
		})}
	go func() { _ = p.srv.Serve(ln) }()
	return p, nil
}

func (p *proxy) Close() error {
	p.srv.SetKeepAlivesEnabled(false)
	return p.srv.Close()
}

var reMint = regexp.MustCompile(`^(/api/v3)?/app/installations/[0-9]+/access_tokens$`)

// oauthToken is GitHub's token endpoint (on github.com, beside the API):
// the refresh grant and the device flow's polls.
const oauthToken = "/login/oauth/access_token"

// asker is who asked for a mint and when, found as the request arrives:
// looked up after GitHub answered, the process may be gone already (killed
// while it waited), its socket with it, and the token would look minted for
// nobody.
type asker struct {
	pid     int
	running []int // when pid is unknown
	at      time.Time
}

type askerKey struct{}

// arrive notes which rotor process asks for an installation token.
func (w *Wire) arrive(r *http.Request) *http.Request {
	if r.Method != http.MethodPost || !reMint.MatchString(r.URL.Path) && r.URL.Path != oauthToken {
		return r
	}
	a := asker{at: time.Now()}
	if w.pids != nil {
		running := w.pids()
		if a.pid = clientPID(r.RemoteAddr, running); a.pid == 0 {
			a.running = running
		}
	}
	return r.WithContext(context.WithValue(r.Context(), askerKey{}, a))
}

// github records what rotor asked of GitHub: installation tokens minted and
// revocations accepted.
func (w *Wire) github(r *http.Request, body []byte, rec *httptest.ResponseRecorder) {
	now := time.Now()
	path := strings.TrimPrefix(r.URL.Path, "/api/v3")
	op := r.Method + " " + path
	switch {
	case strings.HasPrefix(path, "/repos/"):
		op = r.Method + " /repos/…"
	case reMint.MatchString(r.URL.Path):
		op = "POST /app/installations/…/access_tokens"
	case strings.HasPrefix(path, "/app/installations/"):
		op = r.Method + " /app/installations/…"
	}
	w.count("github " + op + " " + http.StatusText(rec.Code))
	switch {
	case r.Method == http.MethodPost && reMint.MatchString(r.URL.Path) && rec.Code == http.StatusCreated:
		var out struct {
			Token     string    `json:"token"`
			ExpiresAt time.Time `json:"expires_at"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &out); err == nil && out.Token != "" {
			t := token.New(out.Token)
			w.remember(t)
			a, _ := r.Context().Value(askerKey{}).(asker)
			if a.at.IsZero() {
				a.at = now
			}
			w.mu.Lock()
			w.mints = append(w.mints, Mint{Time: now, Asked: a.at, Fingerprint: t.Fingerprint(), ExpiresAt: out.ExpiresAt, PID: a.pid, Running: a.running})
			w.mu.Unlock()
		}
	case r.Method == http.MethodPost && path == oauthToken && rec.Code == http.StatusOK:
		w.userGrant(r, body, rec, now)
	case r.Method == http.MethodDelete && path == "/installation/token" && rec.Code == http.StatusNoContent:
		if t := bearer(r); !t.IsZero() {
			w.mu.Lock()
			w.revokes = append(w.revokes, Revoke{Time: now, Fingerprint: t.Fingerprint(), Via: op})
			w.mu.Unlock()
		}
	case r.Method == http.MethodPost && path == "/credentials/revoke" && rec.Code == http.StatusAccepted:
		var in struct {
			Credentials []string `json:"credentials"`
		}
		if err := json.Unmarshal(body, &in); err == nil {
			w.mu.Lock()
			for _, c := range in.Credentials {
				t := token.New(strings.TrimSpace(c))
				w.revokes = append(w.revokes, Revoke{Time: now, Fingerprint: t.Fingerprint(), Via: op})
			}
			w.mu.Unlock()
		}
	}
}

// userGrant records a refresh (whatever GitHub answered) and a device flow
// poll that GitHub answered with a pair; a pair issued is a mint, asked by
// the process the request came from.
func (w *Wire) userGrant(r *http.Request, body []byte, rec *httptest.ResponseRecorder, now time.Time) {
	in := oauthValues(r.Header.Get("Content-Type"), body)
	for k, v := range r.URL.Query() {
		in[k] = v
	}
	out := oauthValues(rec.Header().Get("Content-Type"), rec.Body.Bytes())
	g := UserGrant{Time: now, ClientID: in.Get("client_id"), Grant: in.Get("grant_type"), Error: out.Get("error")}
	if g.Grant != "refresh_token" && (g.Grant != "urn:ietf:params:oauth:grant-type:device_code" || g.Error != "") {
		return // a poll still pending, or nothing of rotor's tokens
	}
	if g.Grant != "refresh_token" {
		g.Grant = "device_code"
	}
	if v := in.Get("refresh_token"); v != "" {
		used := token.New(v)
		w.remember(used)
		g.Used = used.Fingerprint()
	}
	a, _ := r.Context().Value(askerKey{}).(asker)
	if a.at.IsZero() {
		a.at = now
	}
	g.Asked, g.PID, g.Running = a.at, a.pid, a.running
	var mint *Mint
	if g.Error == "" {
		access, refresh := token.New(out.Get("access_token")), token.New(out.Get("refresh_token"))
		w.remember(access)
		w.remember(refresh)
		g.Access, g.Refresh = access.Fingerprint(), refresh.Fingerprint()
		ttl, _ := time.ParseDuration(out.Get("expires_in") + "s")
		if !access.IsZero() {
			mint = &Mint{Time: now, Kind: "user", Asked: a.at, Fingerprint: g.Access, ExpiresAt: now.Add(ttl), PID: a.pid, Running: a.running}
		}
	}
	w.mu.Lock()
	w.grants = append(w.grants, g)
	if mint != nil {
		w.mints = append(w.mints, *mint)
	}
	w.mu.Unlock()
}

// oauthValues reads the token endpoint's parameters or answer, a form or
// JSON (numbers as their decimal text).
func oauthValues(contentType string, b []byte) url.Values {
	v := url.Values{}
	if strings.Contains(contentType, "json") {
		var m map[string]any
		if json.Unmarshal(b, &m) == nil {
			for k, x := range m {
				if f, ok := x.(float64); ok {
					v.Set(k, strconv.FormatFloat(f, 'f', -1, 64))
				} else {
					v.Set(k, fmt.Sprint(x))
				}
			}
		}
		return v
	}
	if q, err := url.ParseQuery(string(b)); err == nil {
		return q
	}
	return v
}

func bearer(r *http.Request) token.Token {
	h := r.Header.Get("Authorization")
	for _, p := range []string{"token ", "Bearer ", "bearer "} {
		if v, ok := strings.CutPrefix(h, p); ok {
			return token.New(strings.TrimSpace(v))
		}
	}
	return token.Token{}
}

const amzTargetPrefix = "CodePipeline_20150709."

// codepipeline records every UpdatePipeline the emulator accepted: which
// token each GitHub action was sent and the declaration it answered with.
// known says whether a value is a token GitHub issued.
func (w *Wire) codepipeline(known func(token.Token) bool) func(r *http.Request, body []byte, rec *httptest.ResponseRecorder) {
	return func(r *http.Request, body []byte, rec *httptest.ResponseRecorder) {
		now := time.Now()
		op := strings.TrimPrefix(r.Header.Get("X-Amz-Target"), amzTargetPrefix)
		w.count("codepipeline " + op + " " + http.StatusText(rec.Code))
		if op != "UpdatePipeline" || rec.Code != http.StatusOK {
			return
		}
		u, err := decodeUpdate(body, rec.Body.Bytes(), known)
		if err != nil {
			u.Unknown = append(u.Unknown, "(undecodable: "+err.Error()+")")
		}
		u.Time = now
		w.mu.Lock()
		w.updates = append(w.updates, u)
		w.mu.Unlock()
	}
}

type wireDecl struct {
	Name    string `json:"name"`
	Version int    `json:"version"`
	Stages  []struct {
		Name    string `json:"name"`
		Actions []struct {
			Name         string            `json:"name"`
			ActionTypeID map[string]string `json:"actionTypeId"`
			Config       map[string]string `json:"configuration"`
		} `json:"actions"`
	} `json:"stages"`
}

func decodeUpdate(req, resp []byte, known func(token.Token) bool) (Update, error) {
	var in struct {
		Pipeline wireDecl `json:"pipeline"`
	}
	var out struct {
		Pipeline json.RawMessage `json:"pipeline"`
	}
	u := Update{Tokens: map[string]string{}}
	if err := json.Unmarshal(req, &in); err != nil {
		return u, err
	}
	if err := json.Unmarshal(resp, &out); err != nil {
		return u, err
	}
	var answered wireDecl
	if err := json.Unmarshal(out.Pipeline, &answered); err != nil {
		return u, err
	}
	u.Pipeline, u.Version, u.Masked = in.Pipeline.Name, answered.Version, out.Pipeline
	for _, s := range in.Pipeline.Stages {
		for _, a := range s.Actions {
			t := a.ActionTypeID
			if t["category"] != "Source" || t["owner"] != "ThirdParty" || t["provider"] != "GitHub" || t["version"] != "1" {
				continue
			}
			key := s.Name + "/" + a.Name
			if a.Config["OAuthToken"] == "****" {
				u.Carried = append(u.Carried, key)
				continue
			}
			v := token.New(a.Config["OAuthToken"])
			u.Tokens[key] = v.Fingerprint()
			if v.IsZero() || !known(v) {
				u.Unknown = append(u.Unknown, key)
			}
		}
	}
	if u.Pipeline == "" {
		return u, errors.New("no pipeline name")
	}
	return u, nil
}
