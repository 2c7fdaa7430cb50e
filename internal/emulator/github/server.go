package github

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rotor-ci/rotor/internal/emulator/fault"
	"github.com/rotor-ci/rotor/internal/emulator/ghtoken"
)

// Service is the name the emulator uses with the fault injector.
const Service = "github"

// Default budgets, GitHub's.
const (
	DefaultRateLimit                = 5000
	DefaultUnauthenticatedRateLimit = 60
	DefaultCredentialsRevokeLimit   = 60
	// revokeResource names the revocation API's budget in
	// X-RateLimit-Resource. GitHub documents the limit but not a name for
	// it; this is the emulator's.
	revokeResource = "credentials_revoke"
	maxBody        = 1 << 20
)

// Options tune a Server. The zero value is usable.
type Options struct {
	// Clock is the emulator's time (expiry, rate-limit windows, JWT checks);
	// nil means time.Now.
	Clock func() time.Time
	// Faults, when set, is consulted on every REST request; nil means an
	// injector of the emulator's own without rules, which the admin API
	// still configures.
	Faults *fault.Injector
	// Logger receives one debug line per request (never a token value);
	// nil discards.
	Logger *slog.Logger
	// KeyGen makes an app's private key; nil generates RSA 2048. Tests pass
	// a function returning a cached key to stay fast.
	KeyGen func() (*rsa.PrivateKey, error)
}

// Server is the GitHub emulator: an http.Handler plus Go-level helpers that
// play GitHub's web UI. Safe for concurrent use.
type Server struct {
	now         func() time.Time // the clock plus offset
	clock       func() time.Time // Options.Clock
	offset      atomic.Int64     // Advance's, in nanoseconds; not part of snapshots
	faults      *fault.Injector
	log         *slog.Logger
	keygen      func() (*rsa.PrivateKey, error)
	rateLimit   int
	anonLimit   int
	deviceEvery int // seconds between device flow polls (World.DeviceFlowInterval)
	revokeLimit int

	api      *http.ServeMux
	oauth    *http.ServeMux // github.com's /login/… endpoints
	patterns []string       // the REST and OAuth routes, for Routes
	admin    *http.ServeMux

	mu      sync.Mutex
	st      state
	rate    map[string]*window // by principal key; not part of snapshots
	sweepAt int                // installation tokens held before the next sweep

	tarballs    sync.Map // commit sha → []byte
	downloadKey []byte   // signs download URLs (CodeloadPrefix)
	reqID       atomic.Uint64

	hooks hookStore // repository webhooks (hooks.go)
}

// New builds an emulator holding w.
func New(w World, opts Options) (*Server, error) {
	s := &Server{
		clock:       opts.Clock,
		faults:      opts.Faults,
		log:         opts.Logger,
		keygen:      opts.KeyGen,
		rateLimit:   w.RateLimit,
		anonLimit:   w.UnauthenticatedRateLimit,
		revokeLimit: w.CredentialsRevokeRateLimit,
		deviceEvery: w.DeviceFlowInterval,
		st:          newState(),
		rate:        map[string]*window{},
		sweepAt:     minSweep,
		downloadKey: make([]byte, 32),
	}
	_, _ = rand.Read(s.downloadKey)
	if s.clock == nil {
		s.clock = time.Now
	}
	s.now = func() time.Time { return s.clock().Add(time.Duration(s.offset.Load())) }
	if s.faults == nil {
		s.faults = fault.New()
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.keygen == nil {
		s.keygen = func() (*rsa.PrivateKey, error) { return rsa.GenerateKey(rand.Reader, 2048) }
	}
	if w.RateLimit < 0 || w.UnauthenticatedRateLimit < 0 || w.CredentialsRevokeRateLimit < 0 || w.DeviceFlowInterval < 0 {
		return nil, fmt.Errorf("world: %w: rate limits and the device flow interval must not be negative", ErrInvalid)
	}
	if s.deviceEvery == 0 {
		s.deviceEvery = deviceInterval
	}
	if s.rateLimit == 0 {
		s.rateLimit = DefaultRateLimit
	}
	if s.anonLimit == 0 {
		s.anonLimit = DefaultUnauthenticatedRateLimit
	}
	if s.revokeLimit == 0 {
		s.revokeLimit = DefaultCredentialsRevokeLimit
	}
	if err := s.load(w); err != nil {
		return nil, err
	}
	s.routes()
	return s, nil
}

func (s *Server) load(w World) error {
	for n, u := range w.Users {
		if err := s.CreateUser(u.Login); err != nil {
			return fmt.Errorf("world: users[%d]: %w", n, err)
		}
	}
	for n, o := range w.Orgs {
		if err := s.CreateOrg(o); err != nil {
			return fmt.Errorf("world: orgs[%d]: %w", n, err)
		}
	}
	for n, r := range w.Repos {
		if err := s.CreateRepo(r); err != nil {
			return fmt.Errorf("world: repos[%d]: %w", n, err)
		}
	}
	for n, t := range w.Tokens {
		spec := t.TokenSpec
		if t.Value != "" {
			spec.Value = ghtoken.New(t.Value)
		}
		if _, _, err := s.CreateToken(spec.User, spec); err != nil {
			return fmt.Errorf("world: tokens[%d]: %w", n, err)
		}
	}
	for n, a := range w.Apps {
		if _, _, err := s.CreateApp(a); err != nil {
			return fmt.Errorf("world: apps[%d]: %w", n, err)
		}
	}
	return nil
}

// ServeHTTP serves GitHub's REST API at / and at /api/v3/ (where go-github's
// WithEnterpriseURLs puts it), and the admin API at /_emulator/.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rec := &recorder{ResponseWriter: w}
	rec.Header().Set("X-GitHub-Request-Id", fmt.Sprintf("E%07X:%04X", s.reqID.Add(1), os.Getpid()&0xffff))
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			s.log.Error("github emulator: panic", "method", r.Method, "path", r.URL.Path, "panic", fmt.Sprint(v))
			if !rec.wrote {
				writeMessage(rec, http.StatusInternalServerError, "Internal Server Error")
			}
		}
		s.log.Debug("github request", "method", r.Method, "path", r.URL.Path, "status", rec.status, "duration", time.Since(start))
	}()
	// Runs whose start has come do their job before anything else changes.
	s.lockAdvance()
	s.mu.Unlock()
	if r.Body == nil {
		r.Body = http.NoBody
	}
	r.Body = http.MaxBytesReader(rec, r.Body, maxBody)
	base := "/"
	if rest, ok := strings.CutPrefix(r.URL.Path, "/api/v3/"); ok {
		base = "/api/v3/"
		r2 := new(http.Request)
		*r2 = *r
		u := *r.URL
		u.Path, u.RawPath = "/"+rest, ""
		r2.URL = &u
		r = r2
	}
	r = r.WithContext(context.WithValue(r.Context(), baseKey{}, baseURL(r, base)))
	if strings.HasPrefix(r.URL.Path, "/_emulator/") {
		serveStrict(s.admin, rec, r)
		return
	}
	if strings.HasPrefix(r.URL.Path, CodeloadPrefix) {
		s.serveCodeload(rec, r)
		return
	}
	if base == "/" && strings.HasPrefix(r.URL.Path, "/login/") {
		serveStrict(s.oauth, rec, r) // github.com's, not the API's: no rate-limit headers
		return
	}
	// GitHub sends the rate-limit headers with every answer, also those it
	// gives before it knows a principal (bad credentials, unknown path):
	// the client address's budget until a handler knows better.
	setRateHeaders(rec.Header(), s.anonymousRate(r), "")
	serveStrict(s.api, rec, r)
}

// anonymousRate is the request's client address's budget, not spent.
func (s *Server) anonymousRate(r *http.Request) rateState {
	ip, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		ip = r.RemoteAddr
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	rs, _ := s.spend("ip:"+ip, s.anonLimit, s.now(), false)
	return rs
}

// Advance moves the emulator's clock forward by d, for token expiry,
// device codes, rate-limit windows, runs and JWT checks alike, so that a
// test of an out-of-process emulator need not sleep (the admin API's
// POST /_emulator/clock). Clients that sign app JWTs must then sign with
// the emulator's time (GET /_emulator/clock). It returns the new time.
func (s *Server) Advance(d time.Duration) (time.Time, error) {
	if d < 0 {
		return time.Time{}, fmt.Errorf("clock: %w: the emulator's clock only moves forward", ErrInvalid)
	}
	s.lockAdvance() // jobs due before the jump run as of their start
	defer s.mu.Unlock()
	s.offset.Add(int64(d))
	return s.now(), nil
}

// lockAdvance takes s.mu and runs the jobs whose start has come, so that
// they see the state as it was before the change the caller makes.
func (s *Server) lockAdvance() {
	s.mu.Lock()
	s.advanceRuns()
}

// Routes lists the REST endpoints the emulator serves ("GET /user"), as
// registered: the conformance tests check that GitHub's description has
// each one, so a route added later is held to it too.
func (s *Server) Routes() []string { return slices.Clone(s.patterns) }

// serveStrict answers 404 JSON, as GitHub does, where ServeMux would answer
// 405 (wrong method), redirect (unclean path or missing slash) or 404 text.
func serveStrict(mux *http.ServeMux, w http.ResponseWriter, r *http.Request) {
	p := r.URL.EscapedPath()
	if !strings.HasPrefix(p, "/") || strings.Contains(p, "//") || strings.Contains(p, "/./") ||
		strings.Contains(p, "/../") || strings.HasSuffix(p, "/.") || strings.HasSuffix(p, "/..") {
		writeNotFound(w)
		return
	}
	// The mux would redirect "/tarball" to "/tarball/"; GitHub has no such
	// path and answers 404.
	if h, pattern := mux.Handler(r); pattern == "" || r.Method == http.MethodConnect || fmt.Sprintf("%T", h) == "*http.redirectHandler" {
		writeNotFound(w)
		return
	}
	mux.ServeHTTP(w, r)
}

type baseKey struct{}

func baseURL(r *http.Request, base string) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host + strings.TrimSuffix(base, "/")
}

// apiURL is an absolute URL on this server for path ("/users/x").
func apiURL(r *http.Request, path string) string {
	b, _ := r.Context().Value(baseKey{}).(string)
	return b + path
}

// recorder remembers whether a response was started, for the panic handler
// and the log.
type recorder struct {
	http.ResponseWriter
	wrote  bool
	status int
}

func (r *recorder) WriteHeader(code int) {
	if !r.wrote {
		r.wrote, r.status = true, code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if !r.wrote {
		r.wrote, r.status = true, http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// readBody reads a request body within the 1 MiB limit; the error names
// the status to answer with.
func readBody(r *http.Request) ([]byte, *httpError) {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return nil, &httpError{http.StatusRequestEntityTooLarge, "Request body too large"}
		}
		return nil, &httpError{http.StatusBadRequest, "Problems parsing JSON"}
	}
	return b, nil
}

type httpError struct {
	status  int
	message string
}
