package revoke

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/rotor-ci/rotor/internal/token"
)

// OrgGrant is an organisation's grant of access to one fine-grained token,
// as the organisation lists it: by the token's id, name, owner and expiry,
// never by its value.
type OrgGrant struct {
	ID        int64 // the pat_id
	TokenID   int64
	TokenName string
	Expired   bool
	ExpiresAt time.Time // zero: never
}

// OrgGitHub is what revoking through an organisation's API asks of GitHub
// (wiring adapts the GitHub client and the organisation's app to it).
type OrgGitHub interface {
	// Owner names tok's user and its expiry (GET /user); live is false
	// when GitHub refuses tok.
	Owner(ctx context.Context, tok token.Token) (login string, expiresAt time.Time, live bool, err error)
	// AppToken mints an installation token of the organisation's app
	// (organization_personal_access_tokens: write); done revokes it.
	AppToken(ctx context.Context) (app token.Token, done func(context.Context) error, err error)
	// Grants lists org's grants held by login's fine-grained tokens.
	Grants(ctx context.Context, app token.Token, org, login string) ([]OrgGrant, error)
	// RevokeGrant revokes one; ErrGrantGone (wrapped) if org does not list
	// it (any more).
	RevokeGrant(ctx context.Context, app token.Token, org string, patID int64) error
}

// ErrGrantGone: the organisation does not list the grant.
var ErrGrantGone = errors.New("the organisation lists no such grant")

// OrgOutcome is what revoking a token's access to an organisation came to,
// as the audit log records it (event OrgEvent).
type OrgOutcome string

const (
	// OrgRevoked: the grant was revoked and the organisation no longer lists it.
	OrgRevoked OrgOutcome = "revoked"
	// OrgNoGrant: the organisation lists no grant of the token (another
	// account's token, or revoked before).
	OrgNoGrant OrgOutcome = "no_grant"
	// OrgTokenRefused: GitHub refuses the token already, so its grant opens
	// nothing.
	OrgTokenRefused OrgOutcome = "token_refused"
	// OrgAmbiguous: several grants fit the token (same owner, same expiry
	// to the second); rotor revokes none of them, and the token's own
	// revocation ends its access anyway.
	OrgAmbiguous OrgOutcome = "ambiguous"
	// OrgStillListed: the organisation took the revocation but still lists
	// the grant: alerted.
	OrgStillListed OrgOutcome = "still_listed"
	// OrgFailed: GitHub could not be asked (the error says why).
	OrgFailed OrgOutcome = "failed"
)

// OrgEvent is the audit event of every attempt.
const OrgEvent = "org_access_revoked"

// Org revokes fine-grained tokens' access to one organisation through its
// API ("personal access tokens" of the organisation), as an app installed
// on it. GitHub lists grants by token id and name, which rotor cannot learn
// from a token's value: the grant is the one of the token's owner (GET
// /user) whose expiry is the token's, to the second
// (GitHub-Authentication-Token-Expiration); two such grants are not told
// apart, and neither is revoked. The revocation is confirmed by the grant's
// absence from the list (GET /user goes on answering 200: the token lives
// on outside the organisation). Safe for concurrent use.
type Org struct {
	Org    string
	GitHub OrgGitHub
	// Record appends an audit record for credential; nil: none.
	Record func(ctx context.Context, credential, event string, detail map[string]any) error
	// Alive, if set, is told of a token whose grant the organisation still
	// lists after its revocation (the alert path, as the queue's).
	Alive func(ctx context.Context, it Item)
	Log   *slog.Logger
}

func (o *Org) log() *slog.Logger {
	if o.Log != nil {
		return o.Log
	}
	return slog.New(slog.DiscardHandler)
}

// Revoke ends tok's access to the organisation if it is a fine-grained
// token with a grant there, confirms it, and records the outcome in the
// audit log. Other kinds are left alone. Idempotent. Errors are GitHub's
// (the organisation or its app unreachable, the app lacking the
// permission); a grant still listed after its revocation is not an error
// but an alert.
func (o *Org) Revoke(ctx context.Context, credential string, tok token.Token) error {
	if tok.IsZero() || token.KindOf(tok.Reveal()) != token.KindFineGrained {
		return nil
	}
	res, err := o.revoke(ctx, tok)
	detail := map[string]any{"org": o.Org, "fingerprint": tok.Fingerprint(), "outcome": res.outcome}
	if res.grant.ID != 0 {
		detail["pat_id"], detail["token_id"], detail["token_name"] = res.grant.ID, res.grant.TokenID, res.grant.TokenName
	}
	if len(res.candidates) > 0 {
		detail["candidates"] = res.candidates
	}
	if err != nil {
		detail["outcome"], detail["error"] = OrgFailed, err.Error()
	}
	var rerr error
	if o.Record != nil {
		if rerr = o.Record(ctx, credential, OrgEvent, detail); rerr != nil {
			rerr = fmt.Errorf("record the revocation of %s's access to %s: %w", tok.Fingerprint(), o.Org, rerr)
		}
	}
	switch {
	case err != nil:
		return errors.Join(fmt.Errorf("revoke %s's access to organisation %s: %w", tok.Fingerprint(), o.Org, err), rerr)
	case res.outcome == OrgStillListed:
		o.log().Error("the organisation still lists a token's grant after its revocation", "credential", credential, "org", o.Org,
			"fingerprint", tok.Fingerprint(), "pat_id", res.grant.ID)
		if o.Alive != nil {
			o.Alive(ctx, Item{Credential: credential, Fingerprint: tok.Fingerprint(), State: ItemAlive,
				Error: fmt.Sprintf("organisation %s took the revocation of its grant %d (token %q) but still lists it", o.Org, res.grant.ID, res.grant.TokenName)})
		}
	case res.outcome == OrgAmbiguous:
		o.log().Warn("several grants of the organisation fit the token: none revoked; the token's own revocation ends its access",
			"credential", credential, "org", o.Org, "fingerprint", tok.Fingerprint(), "candidates", res.candidates)
	case res.outcome == OrgRevoked:
		o.log().Info("revoked the token's access to the organisation", "credential", credential, "org", o.Org,
			"fingerprint", tok.Fingerprint(), "pat_id", res.grant.ID)
	}
	return rerr
}

type orgResult struct {
	outcome    OrgOutcome
	grant      OrgGrant
	candidates []string // "pat_id (token name)" of the grants that fit, when several do
}

func (o *Org) revoke(ctx context.Context, tok token.Token) (orgResult, error) {
	login, expires, live, err := o.GitHub.Owner(ctx, tok)
	if err != nil {
		return orgResult{}, err
	}
	if !live {
		return orgResult{outcome: OrgTokenRefused}, nil
	}
	app, done, err := o.GitHub.AppToken(ctx)
	if err != nil {
		return orgResult{}, err
	}
	defer func() {
		// rotor minted it for this call alone.
		if derr := done(context.WithoutCancel(ctx)); derr != nil {
			o.log().Warn("revoke the organisation app's installation token", "org", o.Org, "err", derr)
		}
	}()
	grants, err := o.GitHub.Grants(ctx, app, o.Org, login)
	if err != nil {
		return orgResult{}, err
	}
	fit := MatchGrants(grants, expires)
	switch len(fit) {
	case 0:
		return orgResult{outcome: OrgNoGrant}, nil
	case 1:
	default:
		res := orgResult{outcome: OrgAmbiguous}
		for _, g := range fit {
			res.candidates = append(res.candidates, fmt.Sprintf("%d (%q)", g.ID, g.TokenName))
		}
		return res, nil
	}
	res := orgResult{outcome: OrgRevoked, grant: fit[0]}
	if err := o.GitHub.RevokeGrant(ctx, app, o.Org, res.grant.ID); err != nil && !errors.Is(err, ErrGrantGone) {
		return res, err
	}
	after, err := o.GitHub.Grants(ctx, app, o.Org, login)
	if err != nil {
		return res, fmt.Errorf("confirm: %w", err)
	}
	for _, g := range after {
		if g.ID == res.grant.ID {
			res.outcome = OrgStillListed
		}
	}
	return res, nil
}

// MatchGrants are the grants that may be the token expiring at expires:
// not expired, and expiring at the same second (both never, too). The
// grants are one owner's.
func MatchGrants(grants []OrgGrant, expires time.Time) []OrgGrant {
	var out []OrgGrant
	for _, g := range grants {
		if !g.Expired && g.ExpiresAt.Truncate(time.Second).Equal(expires.Truncate(time.Second)) {
			out = append(out, g)
		}
	}
	return out
}
