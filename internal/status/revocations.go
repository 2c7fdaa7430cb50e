package status

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/rotor-ci/rotor/internal/audit"
	"github.com/rotor-ci/rotor/internal/config"
	"github.com/rotor-ci/rotor/internal/revoke"
	"github.com/rotor-ci/rotor/internal/rotation"
)

// Revocations is what status shows of a credential's old tokens on their
// way through GitHub's credential revocation API (package revoke's queue,
// 60 calls an hour shared by every credential and replica), and of the
// newest revocation of a fine-grained token's access to an organisation
// (source.org_revoke). Fingerprints only.
type Revocations struct {
	// Queued wait for a call: the hour's budget is spent, or the call
	// failed and is tried again.
	Queued int `json:"queued"`
	// Sent: GitHub took them and rotor has not seen GitHub refuse them yet
	// (it looks again at the next flush).
	Sent int `json:"sent"`
	// OldestAt is when the oldest of the queued and sent ones was queued.
	OldestAt time.Time `json:"oldest_queued_at,omitzero"`
	// Alive are tokens GitHub still accepted after their revocation (the
	// alert token_alive_after_revocation): a person must delete them.
	Alive []AliveToken `json:"alive,omitempty"`
	// Org is the newest org_access_revoked record of the credential.
	Org *OrgRevocation `json:"org,omitempty"`
}

// AliveToken is a token that outlived its revocation.
type AliveToken struct {
	Fingerprint string    `json:"fingerprint"`
	SentAt      time.Time `json:"sent_at,omitzero"`
	Error       string    `json:"error,omitempty"`
}

// OrgRevocation is the outcome of the newest revocation of a token's
// access to an organisation, as the audit log recorded it.
type OrgRevocation struct {
	Org         string    `json:"org"`
	Fingerprint string    `json:"fingerprint"`
	Outcome     string    `json:"outcome"` // revocation's revoke.OrgOutcome
	At          time.Time `json:"at"`
	AuditSeq    int64     `json:"audit_seq"`
	PatID       int64     `json:"pat_id,omitempty"`
	Error       string    `json:"error,omitempty"`
}

// revocationQueue is the store's side of the revocation queue (as
// revoke.Store lists it).
type revocationQueue interface {
	Revocations(ctx context.Context, limit int, states ...revoke.ItemState) ([]revoke.Item, error)
}

// lastAudit finds a credential's newest audit record of one event;
// rotation.ErrNotFound when there is none.
type lastAudit interface {
	LastAudit(ctx context.Context, credential, event string) (audit.Record, error)
}

// revocationsOf reads cc's revocations, when its store keeps them, and
// the warnings they call for; nil when there is nothing to show.
func revocationsOf(ctx context.Context, cc config.Credential, st Reader) (*Revocations, []string, error) {
	var r Revocations
	if q, ok := st.(revocationQueue); ok {
		// Confirmed ones are history: only these states are read.
		items, err := q.Revocations(ctx, 0, revoke.ItemQueued, revoke.ItemSent, revoke.ItemAlive)
		if err != nil {
			return nil, nil, err
		}
		for _, it := range items {
			if it.Credential != cc.Name {
				continue
			}
			switch it.State {
			case revoke.ItemQueued, revoke.ItemSent:
				if it.State == revoke.ItemQueued {
					r.Queued++
				} else {
					r.Sent++
				}
				if r.OldestAt.IsZero() || it.EnqueuedAt.Before(r.OldestAt) {
					r.OldestAt = it.EnqueuedAt
				}
			case revoke.ItemAlive:
				r.Alive = append(r.Alive, AliveToken{Fingerprint: it.Fingerprint, SentAt: it.SentAt, Error: it.Error})
			}
		}
	}
	if la, ok := st.(lastAudit); ok && cc.Source.OrgRevoke.Configured() {
		rec, err := la.LastAudit(ctx, cc.Name, revoke.OrgEvent)
		switch {
		case errors.Is(err, rotation.ErrNotFound):
		case err != nil:
			return nil, nil, err
		default:
			r.Org = orgRevocation(rec)
		}
	}
	if r.Queued+r.Sent == 0 && len(r.Alive) == 0 && r.Org == nil {
		return nil, nil, nil
	}
	return &r, r.Warnings(), nil
}

// orgRevocation reads an org_access_revoked record's detail (revoke.Org
// writes it).
func orgRevocation(rec audit.Record) *OrgRevocation {
	var d struct {
		Org         string `json:"org"`
		Fingerprint string `json:"fingerprint"`
		Outcome     string `json:"outcome"`
		PatID       int64  `json:"pat_id"`
		Error       string `json:"error"`
	}
	if err := json.Unmarshal([]byte(rec.Detail), &d); err != nil {
		d.Outcome, d.Error = "unreadable", fmt.Sprintf("audit record %d: %v", rec.Seq, err)
	}
	return &OrgRevocation{Org: d.Org, Fingerprint: d.Fingerprint, Outcome: d.Outcome, At: rec.Time, AuditSeq: rec.Seq, PatID: d.PatID, Error: d.Error}
}

// Warnings are the sentences status adds for r (plan shows them as kind
// Revocation): a token alive after its revocation is an alert state, and
// so is a grant the organisation still lists; a failed organisation call
// holds the retirement back until it succeeds.
func (r *Revocations) Warnings() []string {
	if r == nil {
		return nil
	}
	var out []string
	for _, a := range r.Alive {
		out = append(out, fmt.Sprintf("token %s outlived its revocation (token_alive_after_revocation): %s; delete it in GitHub by hand", a.Fingerprint, a.Error))
	}
	if o := r.Org; o != nil {
		switch revoke.OrgOutcome(o.Outcome) {
		case revoke.OrgStillListed:
			out = append(out, fmt.Sprintf("organisation %s took the revocation of token %s's access (grant %d) but still lists it: revoke it in the organisation's settings (Personal access tokens → Active tokens)", o.Org, o.Fingerprint, o.PatID))
		case revoke.OrgFailed:
			out = append(out, fmt.Sprintf("the newest revocation of token %s's access to organisation %s failed (%s): the retirement is tried again; check source.org_revoke's app (installed on %s, Personal access tokens: write)", o.Fingerprint, o.Org, o.Error, o.Org))
		}
	}
	return out
}

// RevocationsLabel is one line on the credential's revocations, for
// tables; "" when there is nothing to say.
func (c Credential) RevocationsLabel() string {
	r := c.Revocations
	if r == nil {
		return ""
	}
	var parts []string
	if n := r.Queued + r.Sent; n > 0 {
		s := fmt.Sprintf("%d queued for POST /credentials/revoke (oldest %s)", n, Human(c.Now.Sub(r.OldestAt)))
		if r.Sent > 0 {
			s += fmt.Sprintf(", %d of them sent and awaiting confirmation", r.Sent)
		}
		parts = append(parts, s)
	}
	if n := len(r.Alive); n > 0 {
		parts = append(parts, fmt.Sprintf("%d alive after revocation", n))
	}
	if o := r.Org; o != nil {
		parts = append(parts, fmt.Sprintf("organisation %s: %s %s (%s ago)", o.Org, o.Outcome, o.Fingerprint, Human(c.Now.Sub(o.At))))
	}
	return "revocations: " + strings.Join(parts, "; ")
}
