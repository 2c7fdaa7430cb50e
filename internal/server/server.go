package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rotor-ci/rotor/internal/alert"
	"github.com/rotor-ci/rotor/internal/config"
	"github.com/rotor-ci/rotor/internal/revoke"
	"github.com/rotor-ci/rotor/internal/rotation"
	"github.com/rotor-ci/rotor/internal/status"
)

// Deps are the running parts the daemon drives. cli builds them from
// wiring.Env; tests pass fakes.
type Deps struct {
	Config *config.Config
	// Store is what the daemon reads; it writes only through Engine.
	Store status.Reader
	// Engine is the template for every run: the daemon copies it per run to
	// watch its steps (Observe and Hook are chained, not replaced).
	Engine *rotation.Engine
	// Credential builds the engine's view of a configured credential. It
	// must never prompt: a personal-token source's Mint fails with
	// rotation.ErrNoToken (the daemon does not call it; it reminds instead).
	Credential func(ctx context.Context, cc *config.Credential) (rotation.Credential, error)
	// Alerts are the destinations of server.alerts; nil only logs.
	Alerts []alert.Notifier
	Log    *slog.Logger
	// Revocations, if set, is the shared queue for GitHub's credential
	// revocation API: every tick sends what its hourly budget allows and
	// alerts on tokens still alive after their revocation.
	Revocations *revoke.Queue
	// AWSCalls, if set, is shown in /metrics: the AWS calls that the
	// targets Credential builds report (wiring.WithAWSCalls).
	AWSCalls *AWSCalls
}

// Options tune the daemon. The zero value is what production uses.
type Options struct {
	Listen  string        // overrides server.listen
	Tick    time.Duration // how often the scheduler looks (default 10 s)
	Workers int           // runs in flight at once, over all credentials (default 4)
	// ShutdownTimeout bounds how long a shutdown waits for runs in flight
	// to finish their step before cancelling them (default 60 s; the engine
	// persists before each change, so even that is safe).
	ShutdownTimeout time.Duration
	// WatchEvery overrides server.watch_every.
	WatchEvery time.Duration
	Now        func() time.Time
	Alert      alert.Options // delivery tuning (tests make retries fast)
}

// Server is the daemon. Create it with New and start it with Run.
type Server struct {
	deps  Deps
	cfg   *config.Config
	opts  Options
	log   *slog.Logger
	auth  []byte        // sha256 of the bearer token
	certs *certReloader // nil: plain HTTP
	alert *alert.Sender
	m     *metrics
	mux   *http.ServeMux

	mu    sync.Mutex
	creds map[string]*credState

	sem      chan struct{} // worker slots
	kick     chan struct{} // wakes the scheduler (manual requests)
	jobs     sync.WaitGroup
	draining atomic.Bool
	ready    atomic.Bool
	hardStop context.Context // cancelled when the shutdown stops waiting
	addr     atomic.Value    // string, once listening
	started  chan struct{}
}

// credState is the daemon's memory of one credential.
type credState struct {
	flags
	RunID     int64 // the run in flight, once known
	LastError string
	ErrorAt   time.Time
	Remind    string // what a person must do, if anything
	Watch     *WatchResult
	waiters   []chan int64 // API callers waiting for a requested run's id
}

// New checks the config and the API's auth token file and returns a
// Server ready to Run.
func New(deps Deps, opts Options) (*Server, error) {
	if deps.Config == nil || deps.Store == nil || deps.Engine == nil || deps.Credential == nil {
		return nil, errors.New("server: Config, Store, Engine and Credential are required")
	}
	if deps.Log == nil {
		deps.Log = slog.New(slog.DiscardHandler)
	}
	if opts.Listen == "" {
		opts.Listen = deps.Config.Server.Listen
	}
	if opts.Tick <= 0 {
		opts.Tick = 10 * time.Second
	}
	if opts.Workers <= 0 {
		opts.Workers = 4
	}
	if opts.ShutdownTimeout <= 0 {
		opts.ShutdownTimeout = time.Minute
	}
	if opts.WatchEvery <= 0 {
		opts.WatchEvery = deps.Config.Server.WatchEvery.D()
	}
	if opts.WatchEvery <= 0 {
		opts.WatchEvery = config.DefaultWatchEvery.D()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	auth, err := LoadAuthToken(deps.Config.Server.AuthTokenFile)
	if err != nil {
		return nil, err
	}
	sc := deps.Config.Server
	var certs *certReloader
	switch {
	case sc.TLS():
		if certs, err = newCertReloader(sc.TLSCertFile, sc.TLSKeyFile, deps.Log); err != nil {
			return nil, err
		}
	case !sc.InsecureListen && !config.IsLoopback(opts.Listen):
		// The config's own listen address was checked by config; --listen
		// may name another.
		return nil, fmt.Errorf("%w: %s can be reached from other machines, and the API's bearer token would cross the network in the clear: "+
			"set server.tls_cert_file and server.tls_key_file, or server.insecure_listen: true if TLS ends in front of rotor", ErrInsecureListen, opts.Listen)
	case !config.IsLoopback(opts.Listen):
		deps.Log.Warn("serving plain HTTP beyond loopback (server.insecure_listen: true): the API's bearer token crosses the network in the clear unless TLS ends in front of rotor", "listen", opts.Listen)
	}
	s := &Server{
		deps: deps, cfg: deps.Config, opts: opts, log: deps.Log, auth: auth, certs: certs,
		creds:   map[string]*credState{},
		sem:     make(chan struct{}, opts.Workers),
		kick:    make(chan struct{}, 1),
		started: make(chan struct{}),
	}
	for _, cc := range s.cfg.Credentials {
		s.creds[cc.Name] = &credState{}
	}
	s.m = newMetrics(s)
	ao := opts.Alert
	ao.Log = s.log
	ao.Now = opts.Now
	ao.Delivered = func(dest string, _ alert.Alert, err error) { s.m.alertDelivered(dest, err) }
	s.alert = alert.NewSender(deps.Alerts, ao)
	if q := deps.Revocations; q != nil {
		q.Alive = func(_ context.Context, it revoke.Item) {
			s.alert.Send(alert.Alert{Event: alert.EventRevocationFailed, Credential: it.Credential, Severity: alert.Critical,
				Message: fmt.Sprintf("token %s was revoked but GitHub still accepts it: %s; delete it in GitHub by hand", it.Fingerprint, it.Error)})
		}
	}
	s.routes()
	return s, nil
}

// Handler is the daemon's HTTP surface: the API, /metrics, probes and the
// dashboard.
func (s *Server) Handler() http.Handler { return s.mux }

// Addr is the address the server listens on, once Started is closed.
func (s *Server) Addr() string {
	a, _ := s.addr.Load().(string)
	return a
}

// Started is closed once the server listens.
func (s *Server) Started() <-chan struct{} { return s.started }

// Run serves and schedules until ctx ends, then shuts down gracefully:
// no new runs start, runs in flight finish their current step (bounded by
// ShutdownTimeout) and are left for the next start to resume, and queued
// alerts get a last chance to go out.
func (s *Server) Run(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.opts.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", s.opts.Listen, err)
	}
	s.addr.Store(ln.Addr().String())
	hs := &http.Server{Handler: s.mux, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second, WriteTimeout: 60 * time.Second, IdleTimeout: 2 * time.Minute,
		ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelDebug)} // TLS handshake noise from scanners
	if s.certs != nil {
		ln = tls.NewListener(ln, s.certs.config())
	}
	httpErr := make(chan error, 1)
	go func() { httpErr <- hs.Serve(ln) }()
	s.log.Info("rotor serve listening", "addr", ln.Addr().String(), "tls", s.certs != nil, "credentials", len(s.cfg.Credentials), "tick", s.opts.Tick, "watch_every", s.opts.WatchEvery)
	close(s.started)

	alertCtx, stopAlerts := context.WithCancel(context.WithoutCancel(ctx))
	alertsDone := make(chan struct{})
	go func() { s.alert.Run(alertCtx, 10*time.Second); close(alertsDone) }()

	hardStop, stopHard := context.WithCancel(context.WithoutCancel(ctx))
	defer stopHard()
	s.hardStop = hardStop
	loopCtx, stopLoops := context.WithCancel(ctx)
	defer stopLoops()
	var loops sync.WaitGroup
	loops.Go(func() { s.scheduleLoop(loopCtx) })
	loops.Go(func() { s.watchLoop(loopCtx) })

	var serveErr error
	select {
	case <-ctx.Done():
		s.log.Info("shutting down: finishing the steps in flight")
	case serveErr = <-httpErr:
		serveErr = fmt.Errorf("http server: %w", serveErr)
		s.log.Error("http server stopped", "err", serveErr)
	}
	s.draining.Store(true)
	stopLoops()
	loops.Wait()
	s.waitJobs(stopHard)

	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	_ = hs.Shutdown(sctx)
	stopAlerts()
	<-alertsDone
	s.log.Info("rotor serve stopped")
	return serveErr
}

// waitJobs waits for runs in flight, cancelling them after ShutdownTimeout.
func (s *Server) waitJobs(stopHard context.CancelFunc) {
	done := make(chan struct{})
	go func() { s.jobs.Wait(); close(done) }()
	t := time.NewTimer(s.opts.ShutdownTimeout)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		s.log.Warn("runs still in flight after the shutdown timeout: cancelling them (they resume at next start)", "timeout", s.opts.ShutdownTimeout)
		stopHard()
		<-done
	}
}

// snapshot copies a credential's daemon state under the lock.
func (s *Server) snapshot(name string) credState {
	s.mu.Lock()
	defer s.mu.Unlock()
	cs := s.creds[name]
	if cs == nil {
		return credState{}
	}
	c := *cs
	c.waiters = nil
	return c
}

func (s *Server) update(name string, fn func(*credState)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cs, ok := s.creds[name]
	if !ok {
		cs = &credState{}
		s.creds[name] = cs
	}
	fn(cs)
}
