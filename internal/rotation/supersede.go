package rotation

import (
	"context"
	"errors"
	"fmt"
)

// Superseding is implemented by a source whose Mint ends the token it
// replaces: a GitHub App user token refresh, where GitHub ends the used
// refresh token and its user token at once. After a failure there is no
// previous version to go back to, and revoking the new one would end the
// source's grant too; the new version, the only live token, stays.
type Superseding interface {
	// Supersedes reports whether minting ends the previous token.
	Supersedes() bool
}

func supersedes(src Source) bool {
	s, ok := src.(Superseding)
	return ok && s.Supersedes()
}

// rollForward ends a failed run of a superseding source: the new version
// becomes current (bindings that took it keep it; the others hold the
// previous one, which GitHub ended at the mint, and are named in the run's
// error), the previous version is recorded as ended, and the run fails, so
// that the failure is alerted and the next run writes every binding again.
func (s *session) rollForward(ctx context.Context, run Run) (Run, error) {
	versions, err := s.e.Store.Versions(ctx, s.c.Name)
	if err != nil {
		return run, err
	}
	// The previous token is normally dead already; revoke it all the same
	// (idempotent), in case the new one came from a fresh authorization
	// rather than from it (I3).
	if cur, ok := findState(versions, VersionCurrent); ok && cur.Seq != run.NewSeq {
		tok, _, err := s.token(ctx, cur.Seq)
		if err != nil {
			return run, err
		}
		if err := s.c.Source.Revoke(ctx, tok); err != nil && !errors.Is(err, ErrManualRevocation) {
			return run, &RunError{Run: run, Err: fmt.Errorf("%w: revoke %s: %s", ErrRollbackStuck, cur.Fingerprint, s.scrub(err.Error()))}
		}
	}
	now := s.e.now()
	run.Status, run.FinishedAt = RunFailed, now
	run.Error = s.scrub(run.Error + "; the previous token ended when the new one was minted, so bindings cannot go back to it: the new one is kept as current")
	fp := ""
	run, err = s.advance(ctx, run, run.Step, func(tx Tx, _ *Run) error {
		for _, v := range versions {
			switch {
			case v.Seq == run.NewSeq:
				v.State, fp = VersionCurrent, v.Fingerprint
			case v.State == VersionCurrent:
				v.State, v.RetiredAt = VersionRetired, now
				v.Note = "ended when the next token was minted (revoked to be sure)"
			default:
				continue
			}
			if err := tx.UpdateVersion(v); err != nil {
				return err
			}
		}
		return nil
	}, "run.failed", map[string]any{"rolled_forward": true, "seq": run.NewSeq})
	if err == nil {
		s.e.observe(run, "rollback", false, fmt.Sprintf("version %d %s kept as current: the previous token ended at the mint", run.NewSeq, fp))
	}
	return run, err
}
