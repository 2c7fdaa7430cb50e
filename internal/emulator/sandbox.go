package emulator

import (
	"bytes"
	"context"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/rotor-ci/rotor/internal/emulator/awsaccounts"
	"github.com/rotor-ci/rotor/internal/emulator/codeconnections"
	"github.com/rotor-ci/rotor/internal/emulator/codepipeline"
	"github.com/rotor-ci/rotor/internal/emulator/fault"
	"github.com/rotor-ci/rotor/internal/emulator/ghtoken"
	"github.com/rotor-ci/rotor/internal/emulator/github"
)

// DefaultAddr is where each emulator listens unless told otherwise: a free
// loopback port.
const DefaultAddr = "127.0.0.1:0"

// DefaultSaveInterval is how often a changed state is saved, so a crash
// loses at most that much.
const DefaultSaveInterval = 2 * time.Second

// Config says how to start the emulators. The zero value starts an empty
// world; pass DefaultWorld() for the seed procedure's.
type Config struct {
	World            World  // the world to start from when there is no state file
	GitHubAddr       string // default DefaultAddr; must be a loopback address
	CodePipelineAddr string // default DefaultAddr; must be a loopback address
	// StateFile, when set, is loaded at start if it exists (the world is
	// then only the starting point it replaces) and saved atomically, 0600,
	// every SaveInterval when changed and at Close.
	StateFile    string
	SaveInterval time.Duration // default DefaultSaveInterval
	Logger       *slog.Logger  // default: discard
	Clock        func() time.Time
	// PollInterval overrides the world's poll interval when non-zero
	// (negative: no polling). ActionDelay is how long a non-GitHub action
	// of an execution takes (default 100ms).
	PollInterval time.Duration
	ActionDelay  time.Duration
	// KeyGen makes GitHub App keys; nil generates RSA 2048 (slow under
	// -race: tests pass a cached key).
	KeyGen func() (*rsa.PrivateKey, error)
	// Check, when set, wraps each emulator's handler: tests pass
	// conformance.For(t) so that every exchange is held to AWS's and
	// GitHub's own API descriptions. Nil: the one WithCheck put in Start's
	// context, if any.
	Check Middleware
	// Notes, when set, is printed by Serve after the endpoint lines and a
	// blank line (rotor emulator: a config fragment and the commands of a
	// rehearsal).
	Notes func(Endpoints) string
}

// Middleware wraps the emulators' handlers; conformance.Check is one.
type Middleware interface {
	AWS(http.Handler) http.Handler
	GitHub(http.Handler) http.Handler
}

type checkKey struct{}

// WithCheck returns a context that makes Start wrap the emulators with m
// when its Config names no Check: the way a test reaches sandboxes that
// code under test starts itself (rotor demo, rotor emulator).
func WithCheck(ctx context.Context, m Middleware) context.Context {
	return context.WithValue(ctx, checkKey{}, m)
}

// Sandbox is both emulators serving on loopback, the CodePipeline one
// fetching from the GitHub one. Tests and `rotor demo` drive the servers
// directly; everything else talks HTTP to the URLs.
type Sandbox struct {
	GitHub       *github.Server
	CodePipeline *codepipeline.Server
	// Accounts serves STS and Organizations; Accounts.Directory() says
	// which account a key reaches.
	Accounts *awsaccounts.Server
	// Connections is CodeConnections (and codestar-connections); its admin
	// API plays the console's handshake with the GitHub emulator.
	Connections     *codeconnections.Server
	Faults          *fault.Injector // shared by both; rules name their service
	GitHubURL       string          // http://127.0.0.1:PORT
	CodePipelineURL string          // http://127.0.0.1:PORT
	// AWSURL is where every AWS API is served, the way the AWS CLI and the
	// SDKs reach one endpoint with AWS_ENDPOINT_URL: CodePipeline, STS,
	// Organizations, CodeConnections. It is CodePipelineURL.
	AWSURL string

	tokens    map[string][]ghtoken.Token
	log       *slog.Logger
	statePath string
	servers   []*http.Server
	served    chan error // a server that stopped on its own

	saveMu    sync.Mutex
	lastSaved []byte
	stopSave  chan struct{}
	saverDone chan struct{}
	closeOnce sync.Once
	closeErr  error
}

// ErrNotLoopback refuses an address that other machines could reach: the
// emulators have no authentication worth the name.
var ErrNotLoopback = errors.New("emulators listen on loopback addresses only (127.0.0.1, ::1, localhost)")

// Start builds both emulators from cfg.World (or the state file), listens,
// serves, and returns once both accept connections.
func Start(ctx context.Context, cfg Config) (*Sandbox, error) {
	if err := cfg.World.validateFaults(); err != nil { // the emulators check their own sections
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ghLn, err := listen(cfg.GitHubAddr)
	if err != nil {
		return nil, fmt.Errorf("github emulator: %w", err)
	}
	cpLn, err := listen(cfg.CodePipelineAddr)
	if err != nil {
		ghLn.Close()
		return nil, fmt.Errorf("codepipeline emulator: %w", err)
	}
	sb, err := build(cfg, log, "http://"+ghLn.Addr().String())
	if err != nil {
		ghLn.Close()
		cpLn.Close()
		return nil, err
	}
	sb.GitHubURL = "http://" + ghLn.Addr().String()
	sb.CodePipelineURL = "http://" + cpLn.Addr().String()
	sb.AWSURL = sb.CodePipelineURL
	var gh, cp http.Handler = sb.GitHub, sb.awsHandler()
	check := cfg.Check
	if check == nil {
		check, _ = ctx.Value(checkKey{}).(Middleware)
	}
	if check != nil {
		gh, cp = check.GitHub(gh), check.AWS(cp)
	}
	sb.serve(ghLn, gh)
	sb.serve(cpLn, cp)
	if sb.statePath != "" {
		interval := cfg.SaveInterval
		if interval <= 0 {
			interval = DefaultSaveInterval
		}
		go sb.saveLoop(interval)
	} else {
		close(sb.saverDone)
	}
	if err := ctx.Err(); err != nil {
		sb.Close()
		return nil, err
	}
	log.Info("emulators started", "github", sb.GitHubURL, "codepipeline", sb.CodePipelineURL, "state", sb.statePath)
	return sb, nil
}

// build makes both servers, restoring the state file when there is one.
func build(cfg Config, log *slog.Logger, githubURL string) (*Sandbox, error) {
	world, tokens := withTokenValues(cfg.World)
	if err := world.validateAWS(); err != nil {
		return nil, err
	}
	faults := fault.New(world.Faults...)
	dir, err := awsaccounts.NewDirectory(world.AWS, world.defaultAccount(), cfg.Clock)
	if err != nil {
		return nil, fmt.Errorf("aws accounts: %w", err)
	}
	accounts := awsaccounts.New(dir, awsaccounts.Options{Faults: faults, Logger: log})
	connections := codeconnections.New(codeconnections.Options{GitHubURL: githubURL, Accounts: dir, Faults: faults, Logger: log, Clock: cfg.Clock,
		DefaultAccount: world.defaultAccount(), DefaultRegion: world.CodePipeline.Region})
	gh, err := github.New(world.GitHub, github.Options{Clock: cfg.Clock, Faults: faults, Logger: log, KeyGen: cfg.KeyGen})
	if err != nil {
		return nil, fmt.Errorf("github emulator: %w", err)
	}
	cp, err := codepipeline.New(world.CodePipeline, codepipeline.Options{
		GitHubURL: githubURL, Clock: cfg.Clock, Faults: faults, Logger: log,
		PollInterval: cfg.PollInterval, ActionDelay: cfg.ActionDelay, TokenRef: tokenRef(tokens),
		Accounts: dir, Connections: connections,
	})
	if err != nil {
		return nil, fmt.Errorf("codepipeline emulator: %w", err)
	}
	sb := &Sandbox{GitHub: gh, CodePipeline: cp, Accounts: accounts, Connections: connections, Faults: faults, tokens: tokens, log: log,
		statePath: cfg.StateFile, served: make(chan error, 2), stopSave: make(chan struct{}), saverDone: make(chan struct{})}
	if cfg.StateFile == "" {
		return sb, nil
	}
	removeStaleTemps(cfg.StateFile)
	st, err := readState(cfg.StateFile)
	if err == nil && st != nil {
		if err = gh.Restore(st.GitHub); err == nil {
			err = cp.Restore(st.CodePipeline)
		}
		if err == nil && len(st.AWS) > 0 {
			err = dir.Restore(st.AWS)
		}
		if err == nil && len(st.Connections) > 0 {
			err = connections.Restore(st.Connections)
		}
		if err == nil {
			log.Info("emulator state loaded", "file", cfg.StateFile)
		}
	}
	if err != nil {
		cp.Close()
		return nil, fmt.Errorf("load %s: %w", cfg.StateFile, err)
	}
	return sb, nil
}

func listen(addr string) (net.Listener, error) {
	if addr == "" {
		addr = DefaultAddr
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("address %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, fmt.Errorf("address %q: %w", addr, ErrNotLoopback)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	return ln, nil
}

func (sb *Sandbox) serve(ln net.Listener, h http.Handler) {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute, IdleTimeout: 2 * time.Minute,
		ErrorLog: slog.NewLogLogger(sb.log.Handler(), slog.LevelDebug)}
	sb.servers = append(sb.servers, srv)
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			sb.served <- fmt.Errorf("serve %s: %w", ln.Addr(), err)
		}
	}()
}

// Token returns the value a noted GitHub world token started with (the
// value pipelines that refer to "{{token:NOTE}}" hold at first). For tests
// and the demo; false when no single world token has that note.
func (sb *Sandbox) Token(note string) (ghtoken.Token, bool) {
	ts := sb.tokens[note]
	if len(ts) != 1 {
		return ghtoken.Token{}, false
	}
	return ts[0], true
}

// Save writes the state file now (when one is configured) if the state
// changed since the last save.
func (sb *Sandbox) Save() error {
	if sb.statePath == "" {
		return nil
	}
	sb.saveMu.Lock()
	defer sb.saveMu.Unlock()
	gh, err := sb.GitHub.Snapshot()
	if err != nil {
		return err
	}
	cp, err := sb.CodePipeline.Snapshot()
	if err != nil {
		return err
	}
	acc, err := sb.Accounts.Directory().Snapshot()
	if err != nil {
		return err
	}
	conns, err := sb.Connections.Snapshot()
	if err != nil {
		return err
	}
	b, err := json.Marshal(stateFile{Format: stateFormat, GitHub: gh, CodePipeline: cp, AWS: acc, Connections: conns})
	if err != nil {
		return fmt.Errorf("state: %w", err)
	}
	if bytes.Equal(b, sb.lastSaved) {
		return nil
	}
	if err := writeFileAtomic(sb.statePath, b); err != nil {
		return err
	}
	sb.lastSaved = b
	return nil
}

func (sb *Sandbox) saveLoop(interval time.Duration) {
	defer close(sb.saverDone)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-sb.stopSave:
			return
		case <-t.C:
			if err := sb.Save(); err != nil {
				sb.log.Error("emulator state not saved", "file", sb.statePath, "err", err)
			}
		}
	}
}

// Close stops serving, stops the CodePipeline emulator's pollers and
// executions, and saves the state a last time. It is safe to call twice.
func (sb *Sandbox) Close() error {
	sb.closeOnce.Do(func() {
		close(sb.stopSave)
		<-sb.saverDone
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		var errs []error
		for _, srv := range sb.servers {
			if err := srv.Shutdown(ctx); err != nil {
				errs = append(errs, err)
				srv.Close()
			}
		}
		errs = append(errs, sb.CodePipeline.Close(), sb.Save())
		sb.closeErr = errors.Join(errs...)
	})
	return sb.closeErr
}

// Serve runs the emulators until ctx ends: it prints one line per API,
// "github http://127.0.0.1:PORT", "codepipeline http://127.0.0.1:PORT",
// then the other AWS APIs, served on the same endpoint ("sts …",
// "organizations …"), once every server accepts connections, then blocks,
// then saves the state and stops. This is `rotor emulator`.
func Serve(ctx context.Context, cfg Config, out io.Writer) error {
	sb, err := Start(ctx, cfg)
	if err != nil {
		return err
	}
	var lines strings.Builder
	fmt.Fprintf(&lines, "github %s\ncodepipeline %s\n", sb.GitHubURL, sb.CodePipelineURL)
	for _, api := range awsAPIs {
		fmt.Fprintf(&lines, "%s %s\n", api, sb.AWSURL)
	}
	if cfg.Notes != nil {
		fmt.Fprintf(&lines, "\n%s", cfg.Notes(sb.Endpoints()))
	}
	if _, err := io.WriteString(out, lines.String()); err != nil {
		sb.Close()
		return err
	}
	select {
	case <-ctx.Done():
		return sb.Close()
	case err := <-sb.served:
		return errors.Join(err, sb.Close())
	}
}

// EndpointsPath, on the AWS endpoint, says where everything is:
// {"github", "aws", "account", "region"}. 'rotor init --emulator URL'
// reads it to write a config for this emulator.
const EndpointsPath = codepipeline.AdminPrefix + "endpoints"

// Endpoints is what EndpointsPath serves.
type Endpoints struct {
	GitHub  string `json:"github"`
	AWS     string `json:"aws"`
	Account string `json:"account"` // the default account and region: where
	Region  string `json:"region"`  // requests with an unknown access key go
}

// Endpoints says where the emulators listen and which account and region
// a client reaches by default.
func (sb *Sandbox) Endpoints() Endpoints {
	def := sb.CodePipeline.Places()[0]
	return Endpoints{GitHub: sb.GitHubURL, AWS: sb.AWSURL, Account: def.Account, Region: def.Region}
}

func (sb *Sandbox) serveEndpoints(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		http.Error(w, "GET only", http.StatusMethodNotAllowed)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(sb.Endpoints())
}

// awsAPIs are the AWS APIs served beside CodePipeline on its endpoint, in
// the order Serve prints them.
var awsAPIs = []string{"sts", "organizations", "codeconnections"}

// awsHandler serves every AWS API on one endpoint, as a client that sets
// AWS_ENDPOINT_URL expects: the Query protocol (STS) and Organizations'
// X-Amz-Target go to the accounts server, both CodeConnections names (and
// /_emulator/connections) to the connections server, everything else
// (CodePipeline, the rest of the admin API) to the CodePipeline emulator.
func (sb *Sandbox) awsHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		admin := strings.HasPrefix(r.URL.Path, codepipeline.AdminPrefix)
		switch {
		case admin && r.URL.Path == EndpointsPath:
			sb.serveEndpoints(w, r)
		case admin && strings.HasPrefix(r.URL.Path, codeconnections.AdminPrefix), !admin && codeconnections.Handles(r):
			sb.Connections.ServeHTTP(w, r)
		case !admin && awsaccounts.Handles(r):
			sb.Accounts.ServeHTTP(w, r)
		default:
			sb.CodePipeline.ServeHTTP(w, r)
		}
	})
}
