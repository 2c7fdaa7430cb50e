package cli

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/rotor-ci/rotor/internal/alert"
	"github.com/rotor-ci/rotor/internal/config"
	"github.com/rotor-ci/rotor/internal/rotation"
	"github.com/rotor-ci/rotor/internal/server"
	"github.com/rotor-ci/rotor/internal/wiring"
	"github.com/spf13/cobra"
)

type serveFlags struct {
	listen    string
	tick      time.Duration
	workers   int
	initToken bool
}

func newServeCmd(app *App) *cobra.Command {
	var f serveFlags
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run rotor as a daemon: scheduler, watcher, HTTP API, /metrics and dashboard",
		Long: `Run rotor for real. rotor serve decides when each credential is due (by age,
by expiry, because its token stopped working, or because someone asked),
rotates what it can mint (GitHub App credentials), reminds people through
server.alerts about what it cannot (personal tokens: finish those with
'rotor rotate NAME'), resumes runs a crash left open, retires previous
tokens after their grace period, and watches that every token and binding
still works.

It serves a JSON API under /v1, Prometheus metrics at /metrics, probes at
/healthz and /readyz, and a dashboard at /. Everything but the probes and
the dashboard's static files needs the bearer token in
server.auth_token_file; create that file with --init-token.

SIGTERM or Ctrl-C stops it gracefully: runs in flight finish the step they
are in and resume at the next start. SIGHUP reads the alert destinations'
url_file and secret_file again.

On an address other than loopback, rotor serve needs TLS
(server.tls_cert_file and tls_key_file, reloaded when they change) or
server.insecure_listen: true when TLS ends in front of it.`,
		Example: `  # once: create the API token file named by server.auth_token_file (mode 0600)
  rotor serve --init-token

  # run it
  rotor serve --log-format json

  # ask it to rotate a GitHub App credential now
  curl -X POST -H "Authorization: Bearer $(cat rotor-api.token)" \
    http://127.0.0.1:8080/v1/credentials/ci-app/rotate`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runServe(cmd.Context(), app, f)
		},
	}
	cmd.Flags().StringVar(&f.listen, "listen", "", "address to listen on (default: server.listen, 127.0.0.1:8080)")
	cmd.Flags().DurationVar(&f.tick, "tick", 10*time.Second, "how often the scheduler looks at every credential")
	cmd.Flags().IntVar(&f.workers, "workers", 4, "rotations in flight at once, over all credentials")
	cmd.Flags().BoolVar(&f.initToken, "init-token", false, "write a random API token to server.auth_token_file (0600) if it does not exist, and exit")
	return cmd
}

func runServe(ctx context.Context, app *App, f serveFlags) error {
	if f.tick <= 0 {
		return usageErrorf("--tick %s: must be longer than 0", f.tick)
	}
	if f.workers <= 0 {
		return usageErrorf("--workers %d: must be at least 1", f.workers)
	}
	cfg, err := app.loadConfig()
	if err != nil {
		return err
	}
	if f.initToken {
		return initToken(app, cfg)
	}
	notifiers, err := alert.FromConfig(cfg.Server.Alerts)
	if err != nil {
		return &UsageError{Err: err}
	}
	defer app.reloadAlertsOnHangup(notifiers)()
	// Targets are built per run; the AWS call counts outlive them here.
	calls := server.NewAWSCalls()
	env, err := wiring.Open(ctx, cfg, app.Log, append(slices.Clone(app.Wiring), wiring.WithAWSCalls(calls.Observe))...)
	if err != nil {
		return err
	}
	defer env.Close()
	srv, err := server.New(server.Deps{
		Config: cfg,
		Store:  env.Store,
		Engine: env.Engine(nil),
		Credential: func(ctx context.Context, cc *config.Credential) (rotation.Credential, error) {
			// No token reader: the daemon never prompts. A personal-token
			// credential that is due gets a reminder instead.
			return env.Credential(ctx, cc, wiring.CredentialOptions{})
		},
		Alerts:      notifiers,
		Log:         app.Log,
		Revocations: env.Revocations(),
		AWSCalls:    calls,
	}, server.Options{Listen: f.listen, Tick: f.tick, Workers: f.workers})
	if errors.Is(err, server.ErrAuthToken) || errors.Is(err, server.ErrTLS) || errors.Is(err, server.ErrInsecureListen) {
		return &UsageError{Err: err}
	}
	if err != nil {
		return err
	}
	return srv.Run(ctx)
}

func initToken(app *App, cfg *config.Config) error {
	path := cfg.Server.AuthTokenFile
	wrote, err := server.InitAuthToken(path)
	if errors.Is(err, server.ErrAuthToken) || errors.Is(err, server.ErrTLS) || errors.Is(err, server.ErrInsecureListen) {
		return &UsageError{Err: err}
	}
	if err != nil {
		return fmt.Errorf("write API token: %w", err)
	}
	if !wrote {
		if _, err := server.LoadAuthToken(path); err != nil {
			return &UsageError{Err: err}
		}
		fmt.Fprintf(app.Err, "%s exists already; kept it\n", path)
		return nil
	}
	fmt.Fprintf(app.Err, "wrote a new API token to %s (mode 0600)\nAPI clients and the dashboard send it as 'Authorization: Bearer TOKEN'; read it with: cat %s\n", path, path)
	return nil
}
