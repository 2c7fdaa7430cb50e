// Package schedule decides when a credential is due for rotation. Each rule
// is a small pure function of (policy, state, clock); Next runs them in
// order, so every decision comes with the reason a person can read.
package schedule

import (
	"hash/fnv"
	"time"
)

// Policy is a credential's rotation schedule from the config.
type Policy struct {
	Every       time.Duration // rotate when the current token is this old
	RenewBefore time.Duration // rotate this long before the token expires
	Jitter      time.Duration // spread due times by up to this much
	// MaxLifetime is an organisation's maximum lifetime of a token (0:
	// none): one that lives longer is blocked on its resources.
	MaxLifetime time.Duration
	// BackoffBase and BackoffMax bound retries after failed runs
	// (defaults 1m and 6h).
	BackoffBase time.Duration
	BackoffMax  time.Duration
}

// State is what rotor knows of a credential at a moment.
type State struct {
	Name           string
	HasCurrent     bool
	CurrentCreated time.Time
	CurrentExpires time.Time // zero: does not expire
	// Broken is set when the watcher saw the current token stop working.
	Broken bool
	// Requested is set by a manual trigger (API or dashboard).
	Requested bool
	// Failures counts failed runs since the last success; LastFailure is
	// when the newest of them ended.
	Failures    int
	LastFailure time.Time
}

// Reasons, CamelCase for machines and metrics.
const (
	ReasonRequested  = "Requested"
	ReasonBroken     = "TokenBroken"
	ReasonNoCurrent  = "NoCurrentVersion"
	ReasonExpiring   = "Expiring"
	ReasonAge        = "Age"
	ReasonBackingOff = "BackingOff"
	// ReasonMaxLifetime: the current token lives longer than the
	// organisation's maximum lifetime, which blocks it.
	ReasonMaxLifetime = "MaxLifetime"
)

// Decision says when a credential is next due, and why.
type Decision struct {
	At     time.Time `json:"at"` // when it is (or became) due
	Reason string    `json:"reason"`
	// NotBefore, when set, holds a due credential back (backoff).
	NotBefore time.Time `json:"not_before,omitzero"`
}

// Due reports whether the decision makes the credential due at now.
func (d Decision) Due(now time.Time) bool {
	return !now.Before(d.At) && !now.Before(d.NotBefore)
}

// Next is the earliest moment the credential is due. Rules in order: a
// manual request, a broken token or one an organisation's maximum lifetime
// blocks is due at once; otherwise the earlier of age and expiry (with
// jitter); failures push it back exponentially.
func Next(p Policy, s State, now time.Time) Decision {
	d := firstDue(p, s, now)
	if nb := backoff(p, s); nb.After(d.At) {
		d.NotBefore = nb
		if nb.After(now) && d.Reason != ReasonRequested {
			d.Reason += "," + ReasonBackingOff
		}
	}
	return d
}

func firstDue(p Policy, s State, now time.Time) Decision {
	switch {
	case s.Requested:
		return Decision{At: now, Reason: ReasonRequested}
	case s.Broken:
		return Decision{At: now, Reason: ReasonBroken}
	case !s.HasCurrent:
		return Decision{At: now, Reason: ReasonNoCurrent}
	case OverLifetime(p, s):
		return Decision{At: now, Reason: ReasonMaxLifetime}
	}
	d := Decision{At: farFuture, Reason: ""}
	if p.Every > 0 {
		d = Decision{At: s.CurrentCreated.Add(p.Every - jitter(p, s.Name)), Reason: ReasonAge}
	}
	if !s.CurrentExpires.IsZero() {
		if at := s.CurrentExpires.Add(-p.RenewBefore); at.Before(d.At) {
			d = Decision{At: at, Reason: ReasonExpiring}
		}
	}
	return d
}

// OverLifetime reports whether the organisation's maximum lifetime blocks
// the current token: GitHub measures a token's lifetime from its creation
// to its expiry, fixed when it is created, and counts a token without an
// expiry as longer than any. rotor knows when it first recorded the token,
// not when GitHub created it, so Lifetime is a lower bound and a token
// reported over is surely over.
//
// A token within the maximum needs no deadline of its own: it expires no
// later than the maximum after its creation, and the expiry rule rotates
// it renew_before that.
func OverLifetime(p Policy, s State) bool {
	if p.MaxLifetime <= 0 || !s.HasCurrent {
		return false
	}
	life, bounded := Lifetime(s)
	return !bounded || life > p.MaxLifetime
}

// Lifetime is the current token's lifetime as far as rotor knows it, from
// when rotor recorded it to its expiry; bounded is false when it does not
// expire.
func Lifetime(s State) (life time.Duration, bounded bool) {
	if s.CurrentExpires.IsZero() {
		return 0, false
	}
	return s.CurrentExpires.Sub(s.CurrentCreated), true
}

var farFuture = time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)

// jitter is a stable per-credential fraction of p.Jitter, so replicas and
// restarts agree on the due time while credentials spread out.
func jitter(p Policy, name string) time.Duration {
	if p.Jitter <= 0 {
		return 0
	}
	h := fnv.New32a()
	h.Write([]byte(name))
	return time.Duration(uint64(p.Jitter) * uint64(h.Sum32()%1000) / 1000)
}

// backoff is when a credential with failures may be tried again.
func backoff(p Policy, s State) time.Time {
	if s.Failures == 0 || s.LastFailure.IsZero() {
		return time.Time{}
	}
	base, ceil := p.BackoffBase, p.BackoffMax
	if base <= 0 {
		base = time.Minute
	}
	if ceil <= 0 {
		ceil = 6 * time.Hour
	}
	wait := base
	for i := 1; i < s.Failures && wait < ceil; i++ {
		wait *= 2
	}
	return s.LastFailure.Add(min(wait, ceil))
}
