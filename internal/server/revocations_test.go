package server

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/rotor-ci/rotor/internal/config"
	"github.com/rotor-ci/rotor/internal/revoke"
	"github.com/rotor-ci/rotor/internal/rotation"
	"github.com/rotor-ci/rotor/internal/token"
)

// undying is a GitHub whose revocation API takes every token and revokes
// none of them; the organisation lists a grant for ever.
type undying struct{}

func (undying) RevokeCredentials(context.Context, []token.Token) error { return nil }
func (undying) Accepts(context.Context, token.Token) (bool, error)     { return true, nil }
func (undying) Owner(context.Context, token.Token) (string, time.Time, bool, error) {
	return "octocat", time.Time{}, true, nil
}
func (undying) AppToken(context.Context) (token.Token, func(context.Context) error, error) {
	return token.Generate(token.KindInstallation), func(context.Context) error { return nil }, nil
}
func (undying) Grants(context.Context, token.Token, string, string) ([]revoke.OrgGrant, error) {
	return []revoke.OrgGrant{{ID: 42, TokenID: 7, TokenName: "deploy"}}, nil
}
func (undying) RevokeGrant(context.Context, token.Token, string, int64) error { return nil }

// TestServer_revocations: a token queued behind a spent hourly budget, one
// GitHub still accepts after its revocation, and an organisation that
// still lists a revoked grant are in the API (fields, label, warnings) and
// in /metrics.
func TestServer_revocations(t *testing.T) {
	fg := cred("fg", config.SourcePersonalToken)
	fg.Source.OrgRevoke = config.OrgRevoke{Org: "acme", AppID: 1, InstallationID: 2}
	h := newHarness(t, cred("pat", config.SourcePersonalToken), fg)
	h.adopt("pat")
	h.adopt("fg")
	ctx := t.Context()
	q := &revoke.Queue{Store: h.st.(revoke.Store), Sealer: h.sealer, GitHub: undying{}, Limit: 1, Now: h.clock.Now}
	alive, queued := token.Generate(token.KindClassicPAT), token.Generate(token.KindClassicPAT)
	if err := q.Revoke(ctx, "pat", alive); err != nil { // the hour's one call
		t.Fatal(err)
	}
	h.clock.Advance(time.Minute)
	if err := q.Revoke(ctx, "pat", queued); err != nil { // waits for the next hour
		t.Fatal(err)
	}
	queuedAt := h.clock.Now()
	h.clock.Advance(11 * time.Minute)
	if rep, err := q.Flush(ctx); err != nil || len(rep.Alive) != 1 || rep.Queued != 1 {
		t.Fatalf("flush: %+v, %v; want one alive, one queued", rep, err)
	}
	org := &revoke.Org{Org: "acme", GitHub: undying{}, Record: func(ctx context.Context, credential, event string, detail map[string]any) error {
		rec, err := rotation.AuditRecord(h.clock.Now(), "test/1", rotation.Run{Credential: credential}, event, detail)
		if err != nil {
			return err
		}
		return h.st.Tx(ctx, func(tx rotation.Tx) error { _, err := tx.AppendAudit(rec); return err })
	}}
	fine := token.Generate(token.KindFineGrained)
	if err := org.Revoke(ctx, "fg", fine); err != nil {
		t.Fatal(err)
	}

	s := h.server(Options{Now: h.clock.Now})
	var pat, fgv CredentialView
	getJSON(t, s, "/v1/credentials/pat", &pat)
	getJSON(t, s, "/v1/credentials/fg", &fgv)
	r := pat.Revocations
	if r == nil || r.Queued != 1 || r.Sent != 0 || len(r.Alive) != 1 || r.Alive[0].Fingerprint != alive.Fingerprint() || !r.OldestAt.Equal(queuedAt) {
		t.Fatalf("pat's revocations: %+v; want 1 queued since %s, %s alive", r, queuedAt, alive.Fingerprint())
	}
	if !strings.Contains(pat.Labels.Revocations, "1 queued for POST /credentials/revoke (oldest 11m0s)") || !strings.Contains(pat.Labels.Revocations, "1 alive after revocation") {
		t.Errorf("pat's label: %q", pat.Labels.Revocations)
	}
	if !hasWarning(pat.Warnings, "token "+alive.Fingerprint()+" outlived its revocation (token_alive_after_revocation)") {
		t.Errorf("pat's warnings lack the live token: %q", pat.Warnings)
	}
	o := fgv.Revocations
	if o == nil || o.Org == nil || o.Org.Outcome != string(revoke.OrgStillListed) || o.Org.Org != "acme" || o.Org.PatID != 42 || o.Org.Fingerprint != fine.Fingerprint() {
		t.Fatalf("fg's revocations: %+v; want acme's still_listed grant 42 of %s", o, fine.Fingerprint())
	}
	if o.Queued != 0 || len(o.Alive) != 0 || !hasWarning(fgv.Warnings, "organisation acme took the revocation of token "+fine.Fingerprint()) {
		t.Errorf("fg: %+v, warnings %q", o, fgv.Warnings)
	}

	m := scrape(t, s)
	for _, want := range []string{
		`rotor_revocations{credential="pat",state="queued"} 1`,
		`rotor_revocations{credential="pat",state="sent"} 0`,
		`rotor_revocations{credential="pat",state="alive"} 1`,
		`rotor_revocations{credential="fg",state="queued"} 0`,
		`rotor_revocations_oldest_queued_timestamp_seconds{credential="pat"} `,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if strings.Contains(m, `rotor_revocations_oldest_queued_timestamp_seconds{credential="fg"}`) {
		t.Error("/metrics has an oldest queued revocation for fg, which has none")
	}
}

func hasWarning(ws []string, prefix string) bool {
	for _, w := range ws {
		if strings.HasPrefix(w, prefix) {
			return true
		}
	}
	return false
}
