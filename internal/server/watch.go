package server

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/rotor-ci/rotor/internal/alert"
	"github.com/rotor-ci/rotor/internal/config"
	"github.com/rotor-ci/rotor/internal/rotation"
)

// Health states of tokens and bindings.
const (
	HealthOK      = "ok"
	HealthBroken  = "broken"  // GitHub refuses the token, or a binding drifted
	HealthUnknown = "unknown" // the check itself failed (network, throttling)
	HealthMissing = "missing" // a binding rotor rotated is no longer found
	HealthNew     = "new"     // a binding the targets match that rotor never rotated
)

// WatchResult is the watcher's last look at one credential.
type WatchResult struct {
	At       time.Time       `json:"at"`
	Token    TokenHealth     `json:"token"`
	Bindings []BindingHealth `json:"bindings,omitempty"`
}

// TokenHealth is what GitHub said of the current token.
type TokenHealth struct {
	State       string    `json:"state"` // ok, broken, unknown, or "" when there is no current token
	Fingerprint string    `json:"fingerprint,omitempty"`
	Identity    string    `json:"identity,omitempty"`
	Scopes      []string  `json:"scopes,omitempty"`
	ExpiresAt   time.Time `json:"expires_at,omitzero"`
	Error       string    `json:"error,omitempty"`
}

// BindingHealth is one binding's state as the watcher saw it.
type BindingHealth struct {
	ID     string `json:"id"`
	Target string `json:"target"`
	State  string `json:"state"`
	Detail string `json:"detail,omitempty"`
}

// Healthy reports whether nothing drifted and the token works.
func (w *WatchResult) Healthy() bool {
	if w == nil {
		return true
	}
	if w.Token.State == HealthBroken {
		return false
	}
	for _, b := range w.Bindings {
		if b.State != HealthOK && b.State != HealthUnknown {
			return false
		}
	}
	return true
}

// drift lists what is wrong, one sentence each.
func (w *WatchResult) drift() []string {
	var out []string
	if w.Token.State == HealthBroken {
		out = append(out, "the current token "+w.Token.Fingerprint+" stopped working: "+w.Token.Error)
	}
	for _, b := range w.Bindings {
		switch b.State {
		case HealthMissing:
			out = append(out, b.ID+" is gone (pipeline deleted or its GitHub action removed)")
		case HealthNew:
			out = append(out, b.ID+" matches this credential's targets but rotor never rotated it: it holds some other token")
		case HealthBroken:
			out = append(out, b.ID+": "+b.Detail)
		}
	}
	return out
}

func (s *Server) watchLoop(ctx context.Context) {
	t := time.NewTicker(s.opts.WatchEvery)
	defer t.Stop()
	for {
		for i := range s.cfg.Credentials {
			if ctx.Err() != nil {
				return
			}
			cc := &s.cfg.Credentials[i]
			if s.snapshot(cc.Name).InFlight {
				continue // bindings are in flux; look next time
			}
			wctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
			s.watchOne(wctx, cc)
			cancel()
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// watchOne checks cc's current token and bindings, records the result, and
// on a change for the worse or the better writes an audit record (and on
// the worse, an alert).
func (s *Server) watchOne(ctx context.Context, cc *config.Credential) {
	res, err := s.inspect(ctx, cc)
	if errors.Is(err, errInFlux) {
		s.log.Debug("watch: skipped, a run is open", "credential", cc.Name)
		return
	}
	if err != nil {
		if ctx.Err() == nil {
			s.log.Warn("watch", "credential", cc.Name, "err", err)
		}
		return
	}
	prev := s.snapshot(cc.Name).Watch
	s.update(cc.Name, func(c *credState) {
		c.Watch = res
		// A minting source rotates away from a broken token at once; a
		// personal one gets a critical reminder instead.
		c.Broken, c.BrokenFingerprint = res.Token.State == HealthBroken, res.Token.Fingerprint
	})
	was, is := prev.Healthy(), res.Healthy()
	switch {
	case !is && (was || !slices.Equal(prev.drift(), res.drift())):
		drift := res.drift()
		s.recordAudit(ctx, cc.Name, "watch.drift", map[string]any{"drift": drift})
		ev, sev := alert.EventBindingDrift, alert.Warning
		if res.Token.State == HealthBroken {
			ev, sev = alert.EventTokenBroken, alert.Critical
		}
		s.alert.Forget(cc.Name, ev)
		s.alert.Send(alert.Alert{Event: ev, Credential: cc.Name, Severity: sev, Message: strings.Join(drift, "; ")})
	case is && !was:
		s.recordAudit(ctx, cc.Name, "watch.recovered", nil)
		s.log.Info("watch: healthy again", "credential", cc.Name)
	}
}

// errInFlux: a run is open, so bindings may hold either version.
var errInFlux = errors.New("a run is open: bindings are in flux")

// inspect is one look at a credential. It changes nothing anywhere.
func (s *Server) inspect(ctx context.Context, cc *config.Credential) (*WatchResult, error) {
	st := s.deps.Store
	res := &WatchResult{At: s.opts.Now().UTC()}
	versions, err := st.Versions(ctx, cc.Name)
	if err != nil {
		return nil, fmt.Errorf("read versions: %w", err)
	}
	runs, err := st.Runs(ctx, cc.Name, 20)
	if err != nil {
		return nil, fmt.Errorf("read runs: %w", err)
	}
	if len(runs) > 0 && runs[0].Status == rotation.RunRunning {
		return nil, errInFlux
	}
	var newest int64
	if len(runs) > 0 {
		newest = runs[0].ID
	}
	// The baseline is what the newest successful run left.
	var baseline []rotation.Binding
	if i := slices.IndexFunc(runs, func(r rotation.Run) bool { return r.Status == rotation.RunSucceeded }); i >= 0 {
		states, err := st.Bindings(ctx, runs[i].ID)
		if err != nil {
			return nil, fmt.Errorf("read bindings: %w", err)
		}
		for _, b := range states {
			baseline = append(baseline, b.Binding)
		}
	}
	cred, err := s.deps.Credential(ctx, cc)
	if err != nil {
		return nil, fmt.Errorf("build credential: %w", err)
	}

	// The token: what GitHub says of it, against what the bindings need.
	if i := slices.IndexFunc(versions, func(v rotation.Version) bool { return v.State == rotation.VersionCurrent }); i >= 0 {
		cur := versions[i]
		res.Token = TokenHealth{Fingerprint: cur.Fingerprint, ExpiresAt: cur.ExpiresAt}
		tok, err := s.deps.Engine.Sealer.Open(ctx, cur.SealContext(), cur.Sealed)
		if err != nil {
			return nil, fmt.Errorf("open current version: %w", err)
		}
		req := rotation.RequirementsOf(cred, baseline)
		req.MinValidity = 0 // expiry has its own alert
		id, err := cred.Source.Check(ctx, tok, req)
		switch {
		case err == nil:
			res.Token.State, res.Token.Identity, res.Token.Scopes = HealthOK, id.Login, id.Scopes
			if !id.ExpiresAt.IsZero() {
				res.Token.ExpiresAt = id.ExpiresAt
			}
		case errors.Is(err, rotation.ErrRejected) && !s.stillCurrent(ctx, cc.Name, cur.Fingerprint):
			// Another replica rotated while this check ran, and retiring
			// the old token is why GitHub refuses it: nothing is broken.
			res.Token.State, res.Token.Error = HealthUnknown, "replaced while it was checked"
		case errors.Is(err, rotation.ErrRejected):
			res.Token.State, res.Token.Error = HealthBroken, err.Error()
		default:
			s.m.apiError("github")
			res.Token.State, res.Token.Error = HealthUnknown, err.Error()
		}
	}

	// The bindings: still there, nothing new, and (where the target can
	// tell) still working as rotor left them.
	known := map[string]rotation.Binding{}
	for _, b := range baseline {
		known[b.ID] = b
	}
	found := map[string]bool{}
	for slot, t := range cred.Targets {
		bs, err := t.Discover(ctx)
		if err != nil {
			s.m.apiError(t.Type())
			for _, b := range baseline {
				if b.Slot == slot {
					found[b.ID] = true
					res.Bindings = append(res.Bindings, BindingHealth{ID: b.ID, Target: b.Target, State: HealthBroken, Detail: "discover failed: " + err.Error()})
				}
			}
			if !slices.ContainsFunc(baseline, func(b rotation.Binding) bool { return b.Slot == slot }) {
				res.Bindings = append(res.Bindings, BindingHealth{ID: fmt.Sprintf("%s target %d", t.Type(), slot), Target: t.Type(), State: HealthBroken, Detail: "discover failed: " + err.Error()})
			}
			continue
		}
		health := map[string]*BindingHealth{}
		var inspect []rotation.Binding
		for _, b := range bs {
			// A baseline stored by an earlier rotor may know the binding by
			// an earlier ID (codepipeline IDs gained the account).
			isKnown := false
			for _, id := range append([]string{b.ID}, b.Aliases...) {
				if _, ok := known[id]; ok {
					found[id], isKnown = true, true
				}
			}
			found[b.ID] = true
			h := BindingHealth{ID: b.ID, Target: t.Type(), State: HealthOK}
			if !isKnown && len(baseline) > 0 {
				h.State = HealthNew
			}
			res.Bindings = append(res.Bindings, h)
			health[b.ID] = &res.Bindings[len(res.Bindings)-1]
			inspect = append(inspect, b)
		}
		if in, ok := t.(rotation.Inspector); ok && len(inspect) > 0 {
			results := map[string]error{}
			var mu sync.Mutex
			in.Inspect(ctx, inspect, func(r rotation.Result) {
				mu.Lock()
				defer mu.Unlock()
				results[r.BindingID] = r.Err
			})
			for id, err := range results {
				if h := health[id]; h != nil && err != nil && h.State == HealthOK {
					h.State, h.Detail = HealthBroken, err.Error()
				}
			}
		}
	}
	for _, b := range baseline {
		if !found[b.ID] {
			res.Bindings = append(res.Bindings, BindingHealth{ID: b.ID, Target: b.Target, State: HealthMissing})
		}
	}
	slices.SortFunc(res.Bindings, func(a, b BindingHealth) int { return strings.Compare(a.ID, b.ID) })
	// A run that started while this looked (another process: rotor
	// rotate, a replica) makes what it saw the run's doing, not drift:
	// recorded, it would be a false alarm in the audit log in the middle
	// of the run (the torture run's I5).
	if runs, err := st.Runs(ctx, cc.Name, 1); err != nil {
		return nil, fmt.Errorf("read runs: %w", err)
	} else if len(runs) > 0 && (runs[0].ID != newest || runs[0].Status == rotation.RunRunning) {
		return nil, errInFlux
	}
	return res, nil
}

// recordAudit appends a watcher record to the audit chain, through the
// engine: the store's only writer.
func (s *Server) recordAudit(ctx context.Context, credential, event string, detail map[string]any) {
	if err := s.deps.Engine.Record(ctx, credential, event, detail); err != nil {
		s.m.storeError()
		s.log.Error("record watch result in the audit log", "credential", credential, "event", event, "err", err)
	}
}

// stillCurrent reports whether fingerprint is still the credential's
// current version (true when the store cannot say: the refusal stands).
func (s *Server) stillCurrent(ctx context.Context, credential, fingerprint string) bool {
	versions, err := s.deps.Store.Versions(ctx, credential)
	if err != nil {
		return true
	}
	for _, v := range versions {
		if v.State == rotation.VersionCurrent {
			return v.Fingerprint == fingerprint
		}
	}
	return false
}
