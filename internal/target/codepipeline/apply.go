package codepipeline

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"maps"
	"slices"
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
	carried []where           // the GitHub actions sent back as read
	err     error             // the read-back failure, nil when the response matched
}

// Apply writes tok into every binding's action, one GetPipeline and one
// UpdatePipeline per pipeline, and nothing else: every other action of the
// pipeline goes back exactly as GetPipeline showed it, "****" included, so
// that AWS keeps its token (other_actions: refuse refuses such a pipeline
// instead). A pipeline with an execution in progress is handled as
// in_flight says (see ApplyWaiting), with no expiry. Idempotent: a pipeline
// that still holds exactly what this process last wrote is not updated
// again.
func (t *Target) Apply(ctx context.Context, tok token.Token, bindings []rotation.Binding, report func(rotation.Result)) {
	t.ApplyWaiting(ctx, tok, bindings, rotation.WaitBounds{}, report)
}

// applyPipeline updates one pipeline. Just before the UpdatePipeline goes
// out (after its rate-limit slot, and again on each retry) it reads the
// pipeline's executions: one in progress makes it a *busyError, unless
// interrupt is set, and then the executions the update stops are returned.
// An error is marked unchanged (see rotation.Result.Unchanged) unless the
// update may have reached the service: a 5xx, a timeout, a lost connection
// or any failure after the SDK retried leaves that in doubt until the
// pipeline's version, read back, shows whether it moved; still in doubt,
// rollback restores the pipeline.
func (t *Target) applyPipeline(ctx context.Context, tok token.Token, name string, bs []bound, interrupt bool) (stopped []string, err error) {
	inDoubt := false
	var readVersion int32 // the version GetPipeline showed, once read
	readBack := false     // the version was read again after the update's last attempt
	defer func() {
		if err != nil && inDoubt && !readBack && readVersion != 0 && !t.updatedSince(ctx, name, readVersion) {
			// Read back: no update reached AWS after all.
			inDoubt = false
		}
		if err != nil && !inDoubt {
			err = &unchangedError{err}
		}
	}()
	if tok.IsZero() {
		return nil, fmt.Errorf("pipeline %s: refusing to write an empty token", name)
	}
	for _, x := range bs {
		if st := x.b.Attrs[AttrStack]; st != "" && !t.stackAllowed(x.b) {
			return nil, cfnError(name, st)
		}
	}

	// Another credential's target in this process may be updating the same
	// pipeline: its Get → Update must not interleave with this one, or the
	// second read-back would see a version it did not expect.
	unlock := lockPipeline(bs[0].w.account, t.region, name)
	defer unlock()

	// Whether CloudFormation manages the pipeline is in its tags, which
	// change without a new version: read them unless this process just did
	// (discovery), before the GetPipeline when the ARN is known so that
	// nothing widens the window between the read and the update.
	checkTags := !t.tagsFresh(name)
	if a := t.inv.arn(name); checkTags && a != "" {
		if err := t.refuseStack(ctx, name, a, bs); err != nil {
			return nil, err
		}
		checkTags = false
	}

	var get exchange
	defer get.wipe()
	out, err := t.client.GetPipeline(ctx, &codepipeline.GetPipelineInput{Name: &name}, get.option)
	if err != nil {
		return nil, getError(name, err)
	}
	t.inv.remember(name, out, nil)
	if checkTags {
		var a string
		if out.Metadata != nil {
			a = deref(out.Metadata.PipelineArn)
		}
		if a == "" {
			return nil, fmt.Errorf("pipeline %s: GetPipeline returned no pipelineArn: cannot tell whether CloudFormation manages it", name)
		}
		if err := t.refuseStack(ctx, name, a, bs); err != nil {
			return nil, err
		}
	}
	decl := out.Pipeline
	if decl != nil && decl.Version != nil {
		readVersion = *decl.Version
	}
	plan, err := t.plan(name, decl, bs, tok)
	if err != nil {
		return nil, err
	}
	before, err := decodeMember(get.raw(), "pipeline")
	if err != nil {
		return nil, fmt.Errorf("pipeline %s: get: %w", name, err)
	}
	want := comparable(before)
	asRead := rawTokens(before)
	defer clear(asRead)
	sent := fingerprints(plan)

	if t.unchanged(name, decl.Version, want, sent) {
		t.log.DebugContext(ctx, "pipeline already holds the token", "pipeline", name)
		return nil, nil
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
	upd := exchange{check: func(body []byte) error { return guard(body, want, plan, asRead) }}
	defer upd.wipe()
	gate := &idleGate{t: t, pipeline: name, interrupt: interrupt}
	uout, err := t.client.UpdatePipeline(ctx, &codepipeline.UpdatePipelineInput{Pipeline: decl}, upd.option, gate.option)
	if err != nil && gate.attempts > 1 {
		// The SDK retried (a throttle, a timeout, a lost answer, a 5xx):
		// an earlier attempt may have updated the pipeline, whatever
		// stopped the retry (the pipeline busy now, perhaps with the very
		// execution that update started). Read back: a version that has
		// moved means the binding may hold the new token, in doubt, never
		// "left as it was" or "waiting", so that rollback restores it
		// before the new token is revoked (I1). A version that has not
		// moved means no attempt landed, and the last answer is the whole
		// story: a pipeline busy now waits like any other (a throttled
		// first attempt is common on a busy day, and treating its busy
		// retry as in doubt rolled back a whole run in CI).
		readBack = readVersion != 0
		if !readBack || t.updatedSince(ctx, name, readVersion) {
			inDoubt = true
			return nil, fmt.Errorf("pipeline %s: update (retried; an earlier attempt may have reached AWS): %w", name, awsx.Sanitize(err, secrets...))
		}
	}
	if err != nil {
		if r := (*refusal)(nil); errors.As(err, &r) {
			return nil, fmt.Errorf("pipeline %s: %w", name, r.err)
		}
		if b := (*busyError)(nil); errors.As(err, &b) {
			return nil, b
		}
		if g := (*gateError)(nil); errors.As(err, &g) {
			return nil, fmt.Errorf("pipeline %s: %w", name, g.err)
		}
		clean := awsx.Sanitize(err, secrets...)
		var ae *awsx.Error
		inDoubt = !readBack && (!errors.As(clean, &ae) || ae.Status == 0 || ae.Status >= 500)
		return nil, fmt.Errorf("pipeline %s: update: %w", name, clean)
	}

	rec := &record{sent: sent, carried: carriedActions(decl, bs)}
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
	t.log.DebugContext(ctx, "pipeline updated", "pipeline", name, "version", rec.version, "actions", len(plan), "token", tok.Fingerprint(), "interrupted", len(gate.stopped))
	return gate.stopped, nil
}

// updatedSince settles an update left in doubt (a lost answer, a retry
// that failed): every UpdatePipeline that reaches AWS adds one to the
// pipeline's version, so a pipeline still at the version read before the
// update was not changed by it. Without that, a doubt that a later write
// refused (a 4xx on every attempt) would send rollback to undo a write that
// never happened, and fail the same way for ever. Any doubt left (the read
// fails, the version moved) answers true: rollback restores the pipeline.
func (t *Target) updatedSince(ctx context.Context, name string, version int32) bool {
	out, err := t.client.GetPipeline(ctx, &codepipeline.GetPipelineInput{Name: &name})
	if err != nil || out.Pipeline == nil || out.Pipeline.Version == nil {
		return true
	}
	return *out.Pipeline.Version != version
}

// refuseStack reads the pipeline's tags and refuses a pipeline that a
// CloudFormation stack manages, unless that is allowed or Vet proved these
// bindings safe for that very stack.
func (t *Target) refuseStack(ctx context.Context, name, pipelineArn string, bs []bound) error {
	stack, err := t.stackOf(ctx, name, pipelineArn)
	if err != nil || stack == "" || t.cfg.AllowCloudFormationDrift {
		return err
	}
	for _, x := range bs {
		// Proven for this very stack, or not at all (a tag added since).
		if x.b.Attrs[AttrStack] != stack || x.b.Attrs[AttrStackProven] != "true" {
			return cfnError(name, stack)
		}
	}
	return nil
}

// stackAllowed reports whether a stack-managed binding may be written:
// allow_cloudformation_drift, or Vet proved it safe.
func (t *Target) stackAllowed(b rotation.Binding) bool {
	return t.cfg.AllowCloudFormationDrift || b.Attrs[AttrStackProven] == "true"
}

// plan says which token each bound GitHub v1 action gets: tok. Every other
// action goes back as read. It refuses the pipeline when a bound action
// changed, or when other_actions is refuse and the pipeline has another
// GitHub action or another secret property.
func (t *Target) plan(name string, decl *types.PipelineDeclaration, bs []bound, tok token.Token) (map[string]token.Token, error) {
	actions := map[string]ghAction{}
	for _, a := range githubActions(decl) {
		actions[a.key()] = a
	}
	plan := make(map[string]token.Token, len(bs))
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
	if t.cfg.OtherActions == OtherActionsRefuse {
		if err := refuseOthers(name, actions, plan, maskedElsewhere(decl)); err != nil {
			return nil, err
		}
	}
	return plan, nil
}

// refuseOthers is other_actions: refuse: a pipeline with a GitHub action
// this run does not rotate, or another masked secret property, is refused.
func refuseOthers(name string, actions map[string]ghAction, plan map[string]token.Token, masked []string) error {
	var others []string
	for key, a := range actions {
		if _, ok := plan[key]; !ok {
			others = append(others, fmt.Sprintf("GitHub action %s (%s/%s)", key, a.owner, a.repo))
		}
	}
	slices.Sort(others)
	others = append(others, masked...)
	if len(others) == 0 {
		return nil
	}
	return fmt.Errorf("pipeline %s: %w: %s", name, ErrOtherActions, strings.Join(others, ", "))
}

// guard checks the UpdatePipeline request body before it is sent: the
// declaration must be the one GetPipeline returned but for the planned
// tokens; every GitHub action not planned must carry exactly the value
// GetPipeline showed ("****" on AWS), and no planned one may be sent a
// masked or empty token.
func guard(body []byte, want any, plan map[string]token.Token, asRead map[string]string) error {
	p, err := decodeMember(body, "pipeline")
	if err != nil {
		return err
	}
	for key, v := range rawTokens(p) {
		tok, planned := plan[key]
		switch {
		case !planned:
			if old, ok := asRead[key]; !ok || subtle.ConstantTimeCompare([]byte(v), []byte(old)) != 1 {
				return fmt.Errorf("%w: action %s would not go back as it was read", ErrWouldChange, key)
			}
		case v == "" || v == masked || subtle.ConstantTimeCompare([]byte(v), []byte(tok.Reveal())) != 1:
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
var pipelineLocks sync.Map // account + "/" + region + "/" + pipeline → *sync.Mutex

func lockPipeline(account, region, name string) (unlock func()) {
	m, _ := pipelineLocks.LoadOrStore(account+"/"+region+"/"+name, &sync.Mutex{})
	mu := m.(*sync.Mutex)
	mu.Lock()
	return mu.Unlock
}

// unchangedError marks an apply failure after which the pipeline is known
// to hold what it held before.
type unchangedError struct{ err error }

func (e *unchangedError) Error() string { return e.err.Error() }
func (e *unchangedError) Unwrap() error { return e.err }
