package torture

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"time"

	"github.com/rotor-ci/rotor/internal/rotation"
)

// A github-app-user credential has no token a person hands rotor: rotor
// authorize runs GitHub's device flow and a person approves it in the
// browser. The harness plays that person through the emulator's admin API,
// once at install and again whenever rotor says a person is needed (a
// crash lost the answer to a refresh, the only copy of the next refresh
// token).

var userCodeRE = regexp.MustCompile(`enter the code ([A-Z]{4}-[A-Z]{4})`)

// authorize runs `rotor authorize NAME --force` and approves the code it
// prints as the world's user. The grant is what counts: authorize's own
// rotation may find another process's lease (rotor serve's) and leave the
// new token to the next run, which takes it from the grant.
func (h *Harness) authorize(ctx context.Context, name, why string) error {
	h.authorizations.Add(1)
	h.note("%s: authorize (%s)", name, why)
	var err error
	for attempt := range 10 {
		// Faults come and go meanwhile (GitHub unreachable, a locked
		// store): a person tries again.
		if err = h.authorizeOnce(ctx, name); err == nil || ctx.Err() != nil {
			return err
		}
		h.note("%s: authorize, attempt %d: %v", name, attempt+1, err)
		time.Sleep(500 * time.Millisecond)
	}
	return err
}

func (h *Harness) authorizeOnce(ctx context.Context, name string) error {
	d, err := h.rotor.Start(ctx, Job{Args: []string{"authorize", name, "--force"}})
	if err != nil {
		return err
	}
	approved := false
	deadline := time.Now().Add(time.Minute)
	for !approved && time.Now().Before(deadline) {
		select {
		case <-d.Done():
			res := d.Result()
			return fmt.Errorf("rotor authorize %s ended before a code was entered: %s: %s", name, res, lastLine(res.Stderr))
		case <-ctx.Done():
			d.Kill()
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if m := userCodeRE.FindSubmatch(d.cmd.Stderr.(*teeFile).copy()); m != nil {
			if err := h.sb.GitHub.ApproveDevice(string(m[1]), user); err != nil {
				d.Kill()
				return fmt.Errorf("approve %s's device code: %w", name, err)
			}
			approved = true
		}
	}
	if !approved {
		d.Kill()
		return fmt.Errorf("rotor authorize %s printed no code within a minute", name)
	}
	// The device flow polls every 5 s; then the rotation.
	select {
	case <-d.Done():
	case <-time.After(2 * time.Minute):
		d.Kill()
	}
	res := d.Result()
	state, err := h.grantState(ctx, name)
	if err != nil {
		return err
	}
	if state != "ready" {
		return fmt.Errorf("rotor authorize %s: %s: %s; the grant is %q", name, res, lastLine(res.Stderr), state)
	}
	if res.Exit != 0 {
		h.note("%s: authorized, but its rotation did not finish: %s: %s", name, res, lastLine(res.Stderr))
	}
	return nil
}

// grantState is the credential's grant as rotor status shows it: ready,
// refreshing, lost, or "" when rotor holds none.
func (h *Harness) grantState(ctx context.Context, name string) (string, error) {
	var last Result
	for range 20 {
		last = h.rotor.Run(ctx, Job{Args: []string{"-o", "json", "status", name}, Timeout: 30 * time.Second})
		if last.Exit == 0 {
			var st []struct {
				Grant *struct {
					State string `json:"state"`
				} `json:"grant"`
			}
			if err := json.Unmarshal(last.Stdout, &st); err != nil || len(st) != 1 {
				return "", fmt.Errorf("status %s: %v", name, err)
			}
			if st[0].Grant == nil {
				return "", nil
			}
			return st[0].Grant.State, nil
		}
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		time.Sleep(200 * time.Millisecond)
	}
	return "", fmt.Errorf("status %s: %s: %s", name, last, lastLine(last.Stderr))
}

// authorizeFirst gives a github-app-user credential its first grant: rotor
// authorize records it and rotates, moving the pipelines off the boot
// personal token, which the person then deletes (rotor never adopted it).
func (h *Harness) authorizeFirst(ctx context.Context, c Cred) error {
	if err := h.authorize(ctx, c.Name, "first authorization"); err != nil {
		return err
	}
	w := &worker{h: h, c: c}
	if err := w.settleUser(ctx); err != nil {
		return err
	}
	return h.deletePAT(fingerprintOfNote(h.sb, c.bootNote()))
}

// personNeeded re-authorizes the credential when rotor says a person is
// needed (its grant is lost, or it never had one). It reports whether it
// did.
func (w *worker) personNeeded(ctx context.Context) (bool, error) {
	if w.c.Source != appUser {
		return false, nil
	}
	state, err := w.h.grantState(ctx, w.c.Name)
	if err != nil || state == "ready" || state == "refreshing" {
		return false, err
	}
	return true, w.h.authorize(ctx, w.c.Name, "rotor says a person is needed: grant "+state)
}

// settleUser brings a github-app-user credential to rest: a person
// authorizes it again if rotor says so, and, since its failed runs cannot
// roll back (the refresh ended the previous token), rotations follow until
// one succeeds and every binding holds the current token.
func (w *worker) settleUser(ctx context.Context) error {
	h := w.h
	for attempt := 0; ; attempt++ {
		if err := w.settle(ctx, ""); err != nil {
			return err
		}
		if _, err := w.personNeeded(ctx); err != nil {
			return err
		}
		hi, err := h.history(ctx, w.c.Name)
		if err != nil {
			return err
		}
		if _, open := hi.open(); !open && len(hi.Runs) > 0 && hi.Runs[0].Status == rotation.RunSucceeded {
			return nil
		}
		if attempt >= 20 {
			return fmt.Errorf("%s: no successful rotation after %d attempts", w.c.Name, attempt)
		}
		res := h.rotor.Run(ctx, Job{Args: []string{"rotate", w.c.Name}})
		if res.Exit != 0 && res.Exit != 4 {
			h.note("%s (settle): %s: %s", w.c.Name, res, lastLine(res.Stderr))
			time.Sleep(200 * time.Millisecond)
		}
	}
}

// watchGrants plays the person while rotor serve runs: whenever rotor says
// a github-app-user credential needs one, authorize it again.
func (h *Harness) watchGrants(ctx context.Context, ws []*worker, end time.Time) error {
	for time.Now().Before(end) && ctx.Err() == nil {
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(h.between(300*time.Millisecond, 800*time.Millisecond)):
		}
		for _, w := range ws {
			if _, err := w.personNeeded(ctx); err != nil && ctx.Err() == nil {
				return err
			}
		}
	}
	return nil
}
