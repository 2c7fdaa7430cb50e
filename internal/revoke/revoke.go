package revoke

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/rotor-ci/rotor/internal/rotation"
	"github.com/rotor-ci/rotor/internal/token"
)

// CallsPerHour is GitHub's budget for POST /credentials/revoke.
const CallsPerHour = 60

// confirmWithin is how long a token may still be accepted after GitHub
// took its revocation (202: GitHub may act a moment later) before it is
// reported alive.
const confirmWithin = 10 * time.Minute

// GitHub is what the queue asks of GitHub (wiring adapts the GitHub
// client to it).
type GitHub interface {
	// RevokeCredentials sends POST /credentials/revoke for toks, in
	// batches of at most MaxBatch; ErrUnsupported or ErrRateLimited
	// (wrapped) when GitHub cannot take them.
	RevokeCredentials(ctx context.Context, toks []token.Token) error
	// Accepts reports whether GitHub still accepts tok (GET /user).
	Accepts(ctx context.Context, tok token.Token) (bool, error)
}

// MaxBatch is the most credentials GitHub revokes in one request.
const MaxBatch = 1000

var (
	// ErrUnsupported: this GitHub has no credential revocation API
	// (older GitHub Enterprise Server), so a person must delete the token.
	ErrUnsupported = errors.New("this GitHub cannot revoke credentials through its API")
	// ErrRateLimited: GitHub's rate limit lasts longer than rotor waits.
	ErrRateLimited = errors.New("GitHub rate limit reached")
)

// Queue revokes tokens through the credential revocation API in batches,
// within its hourly budget, and confirms each. Safe for concurrent use, also
// by several processes sharing the store.
type Queue struct {
	Store  Store
	Sealer rotation.Sealer
	GitHub GitHub
	// Limit is the calls allowed an hour (default CallsPerHour).
	Limit int
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Alive, if set, is told of a token GitHub still accepts after its
	// revocation (the alert path).
	Alive func(ctx context.Context, it Item)
	Log   *slog.Logger
}

// Report is what one Flush did.
type Report struct {
	Calls     int       // calls made to the revocation API
	Sent      int       // tokens in them
	Confirmed int       // tokens GitHub now refuses
	Alive     []Item    // tokens GitHub still accepts after their revocation
	Queued    int       // tokens left for a later call
	NextCall  time.Time // when the budget allows the next call, if it is spent
}

func (q *Queue) now() time.Time {
	if q.Now != nil {
		return q.Now().UTC()
	}
	return time.Now().UTC()
}

func (q *Queue) limit() int {
	if q.Limit > 0 {
		return q.Limit
	}
	return CallsPerHour
}

func (q *Queue) log() *slog.Logger {
	if q.Log != nil {
		return q.Log
	}
	return slog.New(slog.DiscardHandler)
}

// Revoke queues tok (credential's) and flushes the queue. It returns nil
// when tok was revoked or when only the hour's budget holds it back (a
// later Flush, from this process or another, sends it); an error when
// sending or confirming failed otherwise (it stays queued).
func (q *Queue) Revoke(ctx context.Context, credential string, tok token.Token) error {
	if tok.IsZero() {
		return nil
	}
	fp := tok.Fingerprint()
	sealed, err := q.Sealer.Seal(ctx, rotation.SealContext{Credential: credential, Fingerprint: fp}, tok)
	if err != nil {
		return fmt.Errorf("queue revocation of %s: %w", fp, err)
	}
	if err := q.Store.EnqueueRevocation(ctx, Item{Credential: credential, Fingerprint: fp, Sealed: sealed, EnqueuedAt: q.now()}); err != nil {
		return err
	}
	rep, err := q.Flush(ctx)
	if err != nil {
		// It stays queued, but the caller learns that it is not revoked
		// and tries again (a retire is retried; a run stays open), as
		// when it called GitHub itself.
		return fmt.Errorf("revoke %s: %w", fp, err)
	}
	if rep.Queued > 0 && !rep.NextCall.IsZero() {
		q.log().Info("revocation queued: the hourly budget of GitHub's revocation API is spent", "credential", credential,
			"fingerprint", fp, "next_call", rep.NextCall)
	}
	return nil
}

// Flush confirms what was sent before, then sends queued tokens in
// batches while the budget allows, and confirms them.
func (q *Queue) Flush(ctx context.Context) (Report, error) {
	var rep Report
	sent, err := q.Store.Revocations(ctx, 0, ItemSent)
	if err != nil {
		return rep, err
	}
	if err := q.confirm(ctx, sent, &rep); err != nil {
		return rep, err
	}
	if err := q.recheckAlive(ctx, &rep); err != nil {
		return rep, err
	}
	for {
		batch, err := q.Store.Revocations(ctx, MaxBatch, ItemQueued)
		if err != nil {
			return rep, err
		}
		if len(batch) == 0 {
			return rep, nil
		}
		live, toks, err := q.stillLive(ctx, batch, &rep)
		if err != nil {
			return rep, err
		}
		if len(live) == 0 {
			continue
		}
		ok, next, err := q.Store.TakeRevokeCall(ctx, q.now(), q.limit())
		if err != nil {
			return rep, err
		}
		if !ok {
			rest, err := q.Store.Revocations(ctx, 0, ItemQueued)
			if err != nil {
				return rep, err
			}
			rep.Queued, rep.NextCall = len(rest), next
			return rep, nil
		}
		if err := q.GitHub.RevokeCredentials(ctx, toks); err != nil {
			if errors.Is(err, ErrUnsupported) {
				// Nothing to wait for: a person deletes these (the
				// caller's error says how).
				for i := range live {
					live[i].State, live[i].Error = ItemAlive, "this GitHub has no credential revocation API: delete the token by hand"
					if uerr := q.Store.UpdateRevocation(ctx, live[i]); uerr != nil {
						return rep, uerr
					}
				}
				return rep, err
			}
			if errors.Is(err, ErrRateLimited) {
				// Another client at this address spent GitHub's budget.
				rep.Queued = len(live)
				return rep, nil
			}
			return rep, err
		}
		rep.Calls++
		rep.Sent += len(live)
		now := q.now()
		for i := range live {
			live[i].State, live[i].SentAt = ItemSent, now
			if err := q.Store.UpdateRevocation(ctx, live[i]); err != nil {
				return rep, err
			}
		}
		if err := q.confirm(ctx, live, &rep); err != nil {
			return rep, err
		}
	}
}

// stillLive opens each queued token and asks GitHub whether it is still
// accepted; dead ones are confirmed without spending a call.
func (q *Queue) stillLive(ctx context.Context, batch []Item, rep *Report) ([]Item, []token.Token, error) {
	var live []Item
	var toks []token.Token
	for _, it := range batch {
		tok, err := q.open(ctx, it)
		if err != nil {
			return nil, nil, err
		}
		alive, err := q.accepted(ctx, tok)
		if err != nil {
			return nil, nil, err
		}
		if !alive {
			it.State, it.ConfirmedAt = ItemConfirmed, q.now()
			if err := q.Store.UpdateRevocation(ctx, it); err != nil {
				return nil, nil, err
			}
			rep.Confirmed++
			continue
		}
		live, toks = append(live, it), append(toks, tok)
	}
	return live, toks, nil
}

// confirm checks sent items: refused → confirmed; accepted past
// confirmWithin → alive, reported.
func (q *Queue) confirm(ctx context.Context, items []Item, rep *Report) error {
	for _, it := range items {
		tok, err := q.open(ctx, it)
		if err != nil {
			return err
		}
		alive, err := q.accepted(ctx, tok)
		if err != nil {
			return err
		}
		now := q.now()
		switch {
		case !alive:
			it.State, it.ConfirmedAt, it.Error = ItemConfirmed, now, ""
			rep.Confirmed++
		case now.Sub(it.SentAt) >= confirmWithin:
			it.State = ItemAlive
			it.Error = fmt.Sprintf("GitHub took the revocation at %s but still accepts the token at %s", it.SentAt.Format(time.RFC3339), now.Format(time.RFC3339))
			rep.Alive = append(rep.Alive, it)
			if q.Alive != nil {
				q.Alive(ctx, it)
			}
		default:
			continue // GitHub may still be acting on it; the next flush looks again
		}
		if err := q.Store.UpdateRevocation(ctx, it); err != nil {
			return err
		}
	}
	return nil
}

// recheckAlive looks again at tokens GitHub still accepted after their
// revocation: one a person has since deleted (or that expired) is
// confirmed, so that status stops warning about it. The alert is not sent
// again.
func (q *Queue) recheckAlive(ctx context.Context, rep *Report) error {
	alive, err := q.Store.Revocations(ctx, 0, ItemAlive)
	if err != nil {
		return err
	}
	for _, it := range alive {
		tok, err := q.open(ctx, it)
		if err != nil {
			return err
		}
		accepted, err := q.accepted(ctx, tok)
		if err != nil {
			return err
		}
		if accepted {
			continue
		}
		it.State, it.ConfirmedAt = ItemConfirmed, q.now()
		if err := q.Store.UpdateRevocation(ctx, it); err != nil {
			return err
		}
		rep.Confirmed++
	}
	return nil
}

func (q *Queue) open(ctx context.Context, it Item) (token.Token, error) {
	tok, err := q.Sealer.Open(ctx, rotation.SealContext{Credential: it.Credential, Fingerprint: it.Fingerprint}, it.Sealed)
	if err != nil {
		return token.Token{}, fmt.Errorf("open queued token %s: %w", it.Fingerprint, err)
	}
	return tok, nil
}

// accepted reports whether GitHub still accepts tok (GET /user).
func (q *Queue) accepted(ctx context.Context, tok token.Token) (bool, error) {
	ok, err := q.GitHub.Accepts(ctx, tok)
	if err != nil {
		return false, fmt.Errorf("confirm revocation of %s: %w", tok.Fingerprint(), err)
	}
	return ok, nil
}
