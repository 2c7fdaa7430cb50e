package rotation

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/rotor-ci/rotor/internal/token"
)

// ReadBacker is implemented by targets that can read back, changing
// nothing, whether each binding holds a given token (compared by
// fingerprint): file, Secrets Manager, SSM. CodePipeline cannot: it shows
// a stored token as ****. Adopt uses it to refuse a token that a target
// does not hold, because rotor would later revoke that token as the
// credential's previous version. report is called once per binding, from
// any goroutine; a nil Err means the binding holds tok, any error that it
// holds something else or could not be read. Safe for concurrent use.
type ReadBacker interface {
	ReadBack(ctx context.Context, tok token.Token, bindings []Binding, report func(Result))
}

// AdoptOptions change one Adopt call.
type AdoptOptions struct {
	// ConfirmUnverifiable accepts targets that cannot be read back
	// (CodePipeline): a person says they hold the token.
	ConfirmUnverifiable bool
	// DryRun makes every check and records nothing: the version returned
	// is the one Adopt would record (Seq 0).
	DryRun bool
}

// Refusals of Adopt.
var (
	// ErrNotHeld: a target that can be read back holds another token.
	ErrNotHeld = errors.New("a target does not hold this token")
	// ErrUnverifiable: a target cannot be read back and the person did
	// not confirm that it holds the token.
	ErrUnverifiable = errors.New("a target cannot be read back")
	// ErrOtherCredential: the token is another credential's live version.
	ErrOtherCredential = errors.New("the token is another credential's")
)

// Adopt records tok, the token c's targets hold today, as c's current
// version, after checking it. It is how rotor learns a credential it did
// not create, so that its first rotation can roll back and retire it.
// It refuses a token that another credential holds, that a target which
// can be read back does not hold, or, unless opts confirm it, any target
// that cannot be read back (see adopt.go).
func (e *Engine) Adopt(ctx context.Context, c Credential, tok token.Token, opts AdoptOptions) (Version, error) {
	var out Version
	err := e.withLease(ctx, c.Name, func(ctx context.Context) error {
		versions, err := e.Store.Versions(ctx, c.Name)
		if err != nil {
			return err
		}
		if cur, ok := findState(versions, VersionCurrent); ok {
			return fmt.Errorf("%s already has a current version (%d, %s): rotate it instead", c.Name, cur.Seq, cur.Fingerprint)
		}
		fp := tok.Fingerprint()
		for _, v := range versions {
			if v.Fingerprint == fp {
				return fmt.Errorf("%s: this token is version %d (%s) already", c.Name, v.Seq, v.State)
			}
		}
		if err := e.checkNotOthers(ctx, c, fp); err != nil {
			return err
		}
		var bindings []Binding
		perTarget := make([][]Binding, len(c.Targets))
		for i, t := range c.Targets {
			bs, err := t.Discover(ctx)
			if err != nil {
				return fmt.Errorf("%s: discover %s target: %w", c.Name, t.Type(), err)
			}
			bindings, perTarget[i] = append(bindings, bs...), bs
		}
		if err := checkHeld(ctx, c, tok, perTarget, opts); err != nil {
			return err
		}
		req := RequirementsOf(c, bindings)
		req.MinValidity = 0 // the token in use today is adopted as it is
		id, err := c.Source.Check(ctx, tok, req)
		if err != nil {
			return fmt.Errorf("%s: check: %w", c.Name, err)
		}
		if opts.DryRun {
			out = Version{Credential: c.Name, Fingerprint: fp, Kind: token.KindOf(tok.Reveal()), State: VersionCurrent,
				Identity: id.Login, CreatedAt: e.now(), ExpiresAt: id.ExpiresAt}
			return nil
		}
		sealed, err := e.Sealer.Seal(ctx, SealContext{Credential: c.Name, Fingerprint: fp}, tok)
		if err != nil {
			return fmt.Errorf("seal token: %w", err)
		}
		v := Version{Credential: c.Name, Fingerprint: fp, Kind: token.KindOf(tok.Reveal()), Sealed: sealed, State: VersionCurrent,
			Identity: id.Login, CreatedAt: e.now(), ExpiresAt: id.ExpiresAt}
		return e.tx(ctx, func(tx Tx) error {
			if err := tx.PutCredential(CredentialRecord{Name: c.Name, Application: c.Application, CreatedAt: e.now()}); err != nil {
				return err
			}
			if out, err = tx.AddVersion(v); err != nil {
				return err
			}
			return e.audit(ctx, tx, Run{Credential: c.Name}, "adopted", map[string]any{"seq": out.Seq, "fingerprint": fp, "identity": id.Login})
		})
	})
	return out, err
}

// checkNotOthers refuses a token that another credential holds as a live
// version (pending, current or previous): adopting it here would make this
// credential's first rotation revoke that credential's working token.
func (e *Engine) checkNotOthers(ctx context.Context, c Credential, fp string) error {
	records, err := e.Store.Credentials(ctx)
	if err != nil {
		return err
	}
	for _, r := range records {
		if r.Name == c.Name {
			continue
		}
		versions, err := e.Store.Versions(ctx, r.Name)
		if err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
		for _, v := range versions {
			if v.Fingerprint != fp {
				continue
			}
			switch v.State {
			case VersionPending, VersionCurrent, VersionPrevious:
				return fmt.Errorf("%s: %w: this token (%s) is version %d (%s) of credential %s; rotating %s would revoke it there. Give each credential its own token",
					c.Name, ErrOtherCredential, fp, v.Seq, v.State, r.Name, c.Name)
			}
		}
	}
	return nil
}

// checkHeld reads tok back from every target that can be read back and
// refuses a mismatch, naming the target and binding; a target that cannot
// be read back is refused unless the person confirmed it.
func checkHeld(ctx context.Context, c Credential, tok token.Token, bindings [][]Binding, opts AdoptOptions) error {
	var problems, unverifiable []string
	for i, t := range c.Targets {
		where := fmt.Sprintf("targets[%d] (%s)", i, t.Type())
		rb, ok := t.(ReadBacker)
		if !ok {
			unverifiable = append(unverifiable, where)
			continue
		}
		var mu sync.Mutex
		rb.ReadBack(ctx, tok, bindings[i], func(r Result) {
			if r.Err != nil {
				mu.Lock()
				problems = append(problems, fmt.Sprintf("%s %s: %v", where, r.BindingID, r.Err))
				mu.Unlock()
			}
		})
	}
	if len(problems) > 0 {
		return fmt.Errorf("%s: %w: rotor would revoke this token at the first rotation, and these would keep what they hold: %s. Adopt the token they hold, or fix them first",
			c.Name, ErrNotHeld, strings.Join(problems, "; "))
	}
	if len(unverifiable) > 0 && !opts.ConfirmUnverifiable {
		return fmt.Errorf("%s: %w: %s: CodePipeline shows a stored token only as ****, so rotor cannot check that it holds this one. "+
			"Check it by hand (run the pipeline's source stage: it fails with \"Could not access the GitHub repository\" on another token) and pass --confirm-unverifiable",
			c.Name, ErrUnverifiable, strings.Join(unverifiable, ", "))
	}
	return nil
}
