// Package wiring turns a validated config into the running parts: the store,
// the sealer, the GitHub client, the engine, and each credential's source and
// targets. It is the one place that knows every implementation; the engine
// knows none of them and the CLI only asks wiring.
package wiring

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"

	"github.com/rotor-ci/rotor/internal/cfnref"
	"github.com/rotor-ci/rotor/internal/config"
	"github.com/rotor-ci/rotor/internal/github"
	"github.com/rotor-ci/rotor/internal/revoke"
	"github.com/rotor-ci/rotor/internal/rotation"
	"github.com/rotor-ci/rotor/internal/seal"
	"github.com/rotor-ci/rotor/internal/status"
	"github.com/rotor-ci/rotor/internal/store"
	"github.com/rotor-ci/rotor/internal/target"
	"github.com/rotor-ci/rotor/internal/token"
)

// Env is an opened installation of rotor: what every command that touches
// state needs. Close it when done.
type Env struct {
	Config *config.Config
	// Store is what commands read. Only the engine writes (Engine), each
	// write fenced by its run's lease.
	Store  status.Reader
	store  *store.Store
	Sealer *seal.Keyring
	GitHub *github.Client
	Log    *slog.Logger
	// Holder names this process in leases and the audit log.
	Holder string
	opts   options

	revokeOnce  sync.Once
	revocations *revoke.Queue
}

// Open opens the store and the sealing keys named by cfg.
func Open(ctx context.Context, cfg *config.Config, log *slog.Logger, opts ...Option) (*Env, error) {
	o := newOptions(opts)
	sealer, err := seal.OpenKeyring(ctx, cfg.Key, cfg.PreviousKeys, o.sealOptions(cfg))
	if err != nil {
		return nil, err
	}
	gh, err := github.New(cfg.GitHub.APIURL)
	if err != nil {
		return nil, fmt.Errorf("github.api_url: %w", err)
	}
	st, err := store.Open(ctx, cfg.Store, store.Options{}) // paths already resolved by config
	if err != nil {
		return nil, err
	}
	host, _ := os.Hostname()
	return &Env{Config: cfg, Store: st, store: st, Sealer: sealer, GitHub: gh, Log: log, Holder: fmt.Sprintf("%s/%d", host, os.Getpid()), opts: o}, nil
}

// The store is the engine's and the readers' at once.
var (
	_ rotation.Store = (*store.Store)(nil)
	_ status.Reader  = (*store.Store)(nil)
)

// sealOptions is how cfg's sealing keys are reached: key files relative to
// the config, KMS keys through the aws section (endpoint, profile).
func (o options) sealOptions(cfg *config.Config) seal.Options {
	return seal.Options{Dir: cfg.Dir(), AWS: o.awsSection(cfg.AWS)}
}

// CloudFormation returns the client that reads stack templates in the
// account and region of credential cc's target at slot (rotor plan).
func (e *Env) CloudFormation(ctx context.Context, cc config.Credential, slot int) (cfnref.API, error) {
	return e.opts.cloudFormationClient(ctx, target.AWSConfig(e.Config.AWS, cc.Targets[slot]))
}

// Close releases the store.
func (e *Env) Close() error { return e.store.Close() }

// Engine returns an engine over this installation.
func (e *Env) Engine(observe func(rotation.Event)) *rotation.Engine {
	eng := &rotation.Engine{Store: e.store, Sealer: e.Sealer, Log: e.Log, Holder: e.Holder, Observe: observe}
	rotation.InstallCrashPoints(eng) // torture builds only (-tags rotor_crashpoints); a no-op otherwise
	return eng
}

// TokenReader supplies a person's token (hidden prompt or stdin).
type TokenReader func(ctx context.Context) (token.Token, error)

// ErrUnknownCredential is returned for a name the config does not have.
var ErrUnknownCredential = errors.New("no such credential in the config")

// Lookup finds a configured credential by name.
func (e *Env) Lookup(name string) (*config.Credential, error) {
	c, ok := e.Config.Credential(name)
	if !ok {
		var names []string
		for _, c := range e.Config.Credentials {
			names = append(names, c.Name)
		}
		return nil, fmt.Errorf("%q: %w (configured: %v)", name, ErrUnknownCredential, names)
	}
	return c, nil
}
