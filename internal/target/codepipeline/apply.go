package codepipeline

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"maps"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/service/codepipeline"
	"github.com/aws/aws-sdk-go-v2/service/codepipeline/types"

	"github.com/rotor-ci/rotor/internal/awsx"
	"github.com/rotor-ci/rotor/internal/rotation"
	"github.com/rotor-ci/rotor/internal/token"
)

// record is what this process last wrote to a pipeline: enough to verify the
// write without reading the pipeline again, and nothing secret.
type record struct {
	version int32             // the pipeline's version after the update
	digest  string            // its comparable declaration after the update
	sent    map[string]string // stage/action → fingerprint of the token sent
	err     error             // the read-back failure, nil when the response matched
}

// Apply writes tok into every binding's action, one GetPipeline and one
// UpdatePipeline per pipeline, and nothing else: every other GitHub action of
// the pipeline gets back the token it holds (from OtherTokens), or the
// pipeline is refused. Idempotent: a pipeline that still holds exactly what
// this process last wrote is not updated again.
func (t *Target) Apply(ctx context.Context, tok token.Token, bindings []rotation.Binding, report func(rotation.Result)) {
	defer t.saveInventory(ctx)
	t.fanOut(ctx, bindings, report, func(ctx context.Context, p string, bs []bound) []error {
		return same(t.applyPipeline(ctx, tok, p, bs), len(bs))
	})
}

// applyPipeline updates one pipeline. An error is marked unchanged (see
// rotation.Result.Unchanged) unless the update may have reached the service:
// only a 5xx, a timeout or a lost connection on UpdatePipeline leaves that in
// doubt, and then rollback restores the pipeline.
func (t *Target) applyPipeline(ctx context.Context, tok token.Token, name string, bs []bound) (err error) {
	inDoubt := false
	defer func() {
		if err != nil && !inDoubt {
			err = &unchangedError{err}
		}
	}()
	if tok.IsZero() {
		return fmt.Errorf("pipeline %s: refusing to write an empty token", name)
	}
	if !t.cfg.AllowCloudFormationDrift {
		for _, x := range bs {
			if st := x.b.Attrs[AttrStack]; st != "" {
				return cfnError(name, st)
			}
		}
	}

	// Another credential's target in this process may be updating the same
	// pipeline: its Get → Update must not interleave with this one, or one
	// would write back the other's old token.
	unlock := lockPipeline(t.region, name)
	defer unlock()

	// Whether CloudFormation manages the pipeline is in its tags, which
	// change without a new version: read them unless this process just did
	// (discovery), before the GetPipeline when the ARN is known so that
	// nothing widens the window between the read and the update.
	checkTags := !t.tagsFresh(name)
	if a := t.inv.arn(name); checkTags && a != "" {
		if err := t.refuseStack(ctx, name, a); err != nil {
			return err
		}
		checkTags = false
	}

	var get exchange
	defer get.wipe()
	out, err := t.client.GetPipeline(ctx, &codepipeline.GetPipelineInput{Name: &name}, get.option)
	if err != nil {
		return getError(name, err)
	}
	t.inv.remember(name, out, nil)
	if checkTags {
		var a string
		if out.Metadata != nil {
			a = deref(out.Metadata.PipelineArn)
		}
		if a == "" {
			return fmt.Errorf("pipeline %s: GetPipeline returned no pipelineArn: cannot tell whether CloudFormation manages it", name)
		}
		if err := t.refuseStack(ctx, name, a); err != nil {
			return err
		}
	}
	decl := out.Pipeline
	plan, err := t.plan(ctx, name, decl, bs, tok)
	if err != nil {
		return err
	}
	before, err := decodeMember(get.raw(), "pipeline")
	if err != nil {
		return fmt.Errorf("pipeline %s: get: %w", name, err)
	}
	want := comparable(before)
	sent := fingerprints(plan)

	if t.unchanged(name, decl.Version, want, sent) {
		t.log.DebugContext(ctx, "pipeline already holds the token", "pipeline", name)
		return nil
	}

	values := make(map[string]string, len(plan))
	for k, v := range plan {
		values[k] = v.Reveal()
	}
	setTokens(decl, values)
	clear(values)

	secrets := make([]token.Token, 0, len(plan))
	for _, v := range plan {
		secrets = append(secrets, v)
	}
	upd := exchange{check: func(body []byte) error { return guard(body, want, plan) }}
	defer upd.wipe()
	uout, err := t.client.UpdatePipeline(ctx, &codepipeline.UpdatePipelineInput{Pipeline: decl}, upd.option)
	if err != nil {
		if r := (*refusal)(nil); errors.As(err, &r) {
			return fmt.Errorf("pipeline %s: %w", name, r.err)
		}
		clean := awsx.Sanitize(err, secrets...)
		var ae *awsx.Error
		inDoubt = !errors.As(clean, &ae) || ae.Status == 0 || ae.Status >= 500
		return fmt.Errorf("pipeline %s: update: %w", name, clean)
	}

	rec := &record{sent: sent}
	rec.err = t.readback(name, decl.Version, uout.Pipeline, upd.raw(), want, rec)
	if rec.err == nil {
		// Only the tokens changed: what discovery would learn is the same
		// at the new version. (out's declaration now holds the tokens
		// sent; remember keeps none of them.)
		t.inv.remember(name, out, &rec.version)
	}
	t.mu.Lock()
	t.records[name] = rec
	t.mu.Unlock()
	t.log.DebugContext(ctx, "pipeline updated", "pipeline", name, "version", rec.version, "actions", len(plan), "token", tok.Fingerprint())
	return nil
}

// refuseStack reads the pipeline's tags and refuses a pipeline that a
// CloudFormation stack manages, unless that is allowed.
func (t *Target) refuseStack(ctx context.Context, name, pipelineArn string) error {
	stack, err := t.stackOf(ctx, name, pipelineArn)
	if err != nil {
		return err
	}
	if stack != "" && !t.cfg.AllowCloudFormationDrift {
		return cfnError(name, stack)
	}
	return nil
}

// plan says which token each GitHub v1 action of the pipeline gets: tok for
// the bound ones, the held token for the others. It refuses the pipeline when
// a bound action changed, another's token is not held, or another secret
// property would be overwritten with "****".
func (t *Target) plan(ctx context.Context, name string, decl *types.PipelineDeclaration, bs []bound, tok token.Token) (map[string]token.Token, error) {
	if m := maskedElsewhere(decl); len(m) > 0 {
		return nil, fmt.Errorf("pipeline %s: %w: %s", name, ErrMaskedSecret, strings.Join(m, ", "))
	}
	actions := map[string]ghAction{}
	for _, a := range githubActions(decl) {
		actions[a.key()] = a
	}
	plan := make(map[string]token.Token, len(actions))
	for _, x := range bs {
		key := x.w.stage + "/" + x.w.action
		a, ok := actions[key]
		if !ok {
			return nil, fmt.Errorf("pipeline %s: action %s: %w (no GitHub v1 source action by that name now)", name, key, ErrActionChanged)
		}
		if changedRepo(x.b, a) {
			return nil, fmt.Errorf("pipeline %s: action %s: %w (reads %s/%s, discovered as %s/%s)", name, key, ErrActionChanged, a.owner, a.repo, x.b.Attrs[AttrOwner], x.b.Attrs[AttrRepo])
		}
		plan[key] = tok
	}
	for key, a := range actions {
		if _, ok := plan[key]; ok {
			continue
		}
		other, err := t.otherToken(ctx, name, a)
		if err != nil {
			return nil, err
		}
		plan[key] = other
	}
	return plan, nil
}

// otherToken is the token another credential holds for an action.
func (t *Target) otherToken(ctx context.Context, name string, a ghAction) (token.Token, error) {
	id := BindingID(t.region, name, a.stage, a.action)
	notHeld := fmt.Errorf("pipeline %s: action %s (%s/%s): %w; rotor would have to send \"****\" back, which the service stores as the token — bind this action to this credential or to another rotor credential", name, a.key(), a.owner, a.repo, ErrTokenNotHeld)
	if t.cfg.OtherTokens == nil {
		return token.Token{}, notHeld
	}
	other, ok, err := t.cfg.OtherTokens(ctx, id)
	switch {
	case err != nil:
		return token.Token{}, fmt.Errorf("pipeline %s: action %s: token of another credential: %w", name, a.key(), err)
	case !ok || other.IsZero() || other.Reveal() == masked:
		return token.Token{}, notHeld
	}
	return other, nil
}

// guard checks the UpdatePipeline request body before it is sent: the
// declaration must be the one GetPipeline returned but for the tokens, and no
// GitHub action may be sent a masked or empty token.
func guard(body []byte, want any, plan map[string]token.Token) error {
	p, err := decodeMember(body, "pipeline")
	if err != nil {
		return err
	}
	for key, v := range rawTokens(p) {
		tok, ok := plan[key]
		if !ok || v == "" || v == masked || subtle.ConstantTimeCompare([]byte(v), []byte(tok.Reveal())) != 1 {
			return fmt.Errorf("%w: action %s would not get the planned token", ErrWouldChange, key)
		}
	}
	if diff := differences(want, comparable(p), 5); len(diff) > 0 {
		return fmt.Errorf("%w: the request differs from GetPipeline's declaration at %s (a member this rotor build does not know?)", ErrWouldChange, strings.Join(diff, ", "))
	}
	return nil
}

// readback checks UpdatePipeline's response against what was sent: version
// one more than before, and the declaration otherwise identical (I4). It
// fills rec's version and digest.
func (t *Target) readback(name string, before *int32, got *types.PipelineDeclaration, body []byte, want any, rec *record) error {
	if got != nil && got.Version != nil {
		rec.version = *got.Version
	}
	after, err := decodeMember(body, "pipeline")
	if err != nil {
		return fmt.Errorf("pipeline %s: %w: %w", name, ErrReadback, err)
	}
	c := comparable(after)
	rec.digest = digest(c)
	switch {
	case got == nil || got.Version == nil:
		return fmt.Errorf("pipeline %s: %w: %w", name, ErrReadback, errVersionUnavailable)
	case before != nil && *got.Version != *before+1:
		return fmt.Errorf("pipeline %s: %w: version %d after the update, want %d (updated by someone else in between?)", name, ErrReadback, *got.Version, *before+1)
	}
	if diff := differences(want, c, 5); len(diff) > 0 {
		return fmt.Errorf("pipeline %s: %w: the service changed %s", name, ErrReadback, strings.Join(diff, ", "))
	}
	return nil
}

// unchanged reports whether the pipeline is exactly as this process last
// left it, holding the tokens it would send now.
func (t *Target) unchanged(name string, version *int32, want any, sent map[string]string) bool {
	t.mu.Lock()
	rec := t.records[name]
	t.mu.Unlock()
	return rec != nil && rec.err == nil && version != nil && *version == rec.version &&
		digest(want) == rec.digest && maps.Equal(rec.sent, sent)
}

func fingerprints(plan map[string]token.Token) map[string]string {
	out := make(map[string]string, len(plan))
	for k, v := range plan {
		out[k] = v.Fingerprint()
	}
	return out
}

func getError(name string, err error) error {
	if awsx.IsCode(err, "PipelineNotFoundException") {
		return fmt.Errorf("pipeline %s: %w", name, ErrPipelineNotFound)
	}
	return fmt.Errorf("pipeline %s: get: %w", name, awsx.Sanitize(err))
}

func cfnError(name, stack string) error {
	return fmt.Errorf("pipeline %s: %w (stack %s): an update drifts the stack and its next update writes the template's token back; rotate the template's parameter instead, or set allow_cloudformation_drift", name, ErrCloudFormation, stack)
}

// pipelineLocks serialises Get → Update of one pipeline across every Target
// in the process (one per credential). Across processes nothing can: the API
// has no conditional update; the read-back then reports the version jump.
var pipelineLocks sync.Map // region + "/" + pipeline → *sync.Mutex

func lockPipeline(region, name string) (unlock func()) {
	m, _ := pipelineLocks.LoadOrStore(region+"/"+name, &sync.Mutex{})
	mu := m.(*sync.Mutex)
	mu.Lock()
	return mu.Unlock
}

// unchangedError marks an apply failure after which the pipeline is known
// to hold what it held before.
type unchangedError struct{ err error }

func (e *unchangedError) Error() string { return e.err.Error() }
func (e *unchangedError) Unwrap() error { return e.err }
