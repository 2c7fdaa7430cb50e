package cli

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/rotor-ci/rotor/internal/alert"
	"github.com/rotor-ci/rotor/internal/config"
)

// alertDrain bounds how long a CLI run waits to deliver its alert.
const alertDrain = 10 * time.Second

// alertRun sends server.alerts the alert rotor serve would send about a run
// that failed or rolled back: a rotation from a terminal or a CI job is no
// less worth knowing about. It waits for delivery (retries included) at
// most alertDrain; a destination that cannot be built is reported on
// stderr and does not hide the run's own error.
func (a *App) alertRun(ctx context.Context, cfg *config.Config, credential string, runErr error) {
	al, ok := alert.ForRun(credential, runErr)
	if !ok || len(cfg.Server.Alerts) == 0 {
		return
	}
	dests, err := alert.FromConfig(cfg.Server.Alerts)
	if err != nil {
		fmt.Fprintf(a.Err, "rotor: alert not sent: %v\n", err)
		return
	}
	s := alert.NewSender(dests, alert.Options{Window: -1, Log: a.Log})
	s.Send(al)
	// Run with a stopped context delivers what is queued, within the drain.
	stopped, stop := context.WithCancel(context.WithoutCancel(ctx))
	stop()
	s.Run(stopped, alertDrain)
}

// reloadAlertsOnHangup reads the alert destinations' files again on SIGHUP
// (a rotated webhook URL or signing secret) until the returned stop is
// called. A reload that fails keeps the previous destinations.
func (a *App) reloadAlertsOnHangup(notifiers []alert.Notifier) (stop func()) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGHUP)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-ch:
				if err := alert.Reload(notifiers); err != nil {
					a.Log.Error("SIGHUP: alert destinations not reloaded; the previous ones stay in use", "err", err)
				} else {
					a.Log.Info("SIGHUP: alert destinations reloaded", "destinations", len(notifiers))
				}
			case <-done:
				return
			}
		}
	}()
	return func() { signal.Stop(ch); close(done) }
}
