package rotation

import (
	"context"
	"fmt"
	"strings"

	"github.com/rotor-ci/rotor/internal/token"
)

// session is one drive of a run: the token values it opened, kept in
// memory only (never persisted in the clear), and advance, the one place
// each step is persisted from.
type session struct {
	e      *Engine
	c      Credential
	tokens map[int64]token.Token
}

func (s *session) forget() { clear(s.tokens) }

// token opens version seq of the credential, caching it for this drive.
func (s *session) token(ctx context.Context, seq int64) (token.Token, Version, error) {
	versions, err := s.e.Store.Versions(ctx, s.c.Name)
	if err != nil {
		return token.Token{}, Version{}, err
	}
	for _, v := range versions {
		if v.Seq != seq {
			continue
		}
		if t, ok := s.tokens[seq]; ok {
			return t, v, nil
		}
		t, err := s.e.Sealer.Open(ctx, v.SealContext(), v.Sealed)
		if err != nil {
			return token.Token{}, v, fmt.Errorf("open version %d: %w", seq, err)
		}
		if s.tokens == nil {
			s.tokens = map[int64]token.Token{}
		}
		s.tokens[seq] = t
		return t, v, nil
	}
	return token.Token{}, Version{}, fmt.Errorf("version %d: %w", seq, ErrNotFound)
}

// advance persists run at step together with extra writes and an audit
// record, in one transaction fenced by the lease, then calls the hook.
// extra may change the run (it gets the copy that is persisted).
func (s *session) advance(ctx context.Context, run Run, step Step, extra func(Tx, *Run) error, event string, detail map[string]any) (Run, error) {
	run.Step, run.UpdatedAt = step, s.e.now()
	err := s.e.tx(ctx, func(tx Tx) error {
		if extra != nil {
			if err := extra(tx, &run); err != nil {
				return err
			}
		}
		if err := tx.UpdateRun(run); err != nil {
			return err
		}
		return s.e.audit(ctx, tx, run, event, detail)
	})
	if err != nil {
		return run, fmt.Errorf("%s: persist step %s: %w", run.Credential, event, err)
	}
	s.e.hook(event)
	return run, nil
}

// scrub removes any token value this session holds from a message, and
// then anything else shaped like a token: targets and sources sanitise
// their errors, and this is the belt to their braces. Every free-text field
// the engine stores (run and binding errors, notes) passes through it.
func (s *session) scrub(msg string) string {
	for _, t := range s.tokens {
		if !t.IsZero() {
			msg = strings.ReplaceAll(msg, t.Reveal(), t.Redacted())
		}
	}
	return token.RedactText(msg)
}

func findState(versions []Version, st VersionState) (Version, bool) {
	for _, v := range versions {
		if v.State == st {
			return v, true
		}
	}
	return Version{}, false
}
