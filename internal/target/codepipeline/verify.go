package codepipeline

import (
	"context"
	"crypto/subtle"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/codepipeline"
	"github.com/aws/aws-sdk-go-v2/service/codepipeline/types"

	"github.com/rotor-ci/rotor/internal/awsx"
	"github.com/rotor-ci/rotor/internal/rotation"
	"github.com/rotor-ci/rotor/internal/token"
)

// Verify proves each binding holds tok and, with verify: execution, that the
// pipeline's source action succeeds with it, and so does every GitHub
// action the update carried through as read. After an Apply in this process
// the read-back is the update's own response (no call); otherwise one
// GetPipeline per pipeline, which on the real service can only show that the
// action is still there (tokens read "****"). Read-only, except that
// verify: execution starts the pipeline.
func (t *Target) Verify(ctx context.Context, tok token.Token, bindings []rotation.Binding, report func(rotation.Result)) {
	t.fanOut(ctx, bindings, report, func(ctx context.Context, p string, bs []bound) []error {
		errs, carried := t.verifyRead(ctx, tok, p, bs)
		if t.cfg.Verify != VerifyExecution {
			return errs
		}
		var ok []bound
		for i, x := range bs {
			if errs[i] == nil {
				ok = append(ok, x)
			}
		}
		if len(ok) == 0 {
			return errs
		}
		exec := t.execute(ctx, tok, p, ok, carried)
		for i, j := 0, 0; i < len(bs); i++ {
			if errs[i] == nil {
				errs[i] = exec[j]
				j++
			}
		}
		return errs
	})
}

// verifyRead checks that each binding holds tok, and returns the pipeline's
// other GitHub actions (carried through as read), for verify: execution.
func (t *Target) verifyRead(ctx context.Context, tok token.Token, name string, bs []bound) ([]error, []where) {
	fp := tok.Fingerprint()
	t.mu.Lock()
	rec := t.records[name]
	t.mu.Unlock()
	if rec != nil && allSent(rec, bs, fp) {
		return same(rec.err, len(bs)), rec.carried
	}

	var get exchange
	defer get.wipe()
	out, err := t.client.GetPipeline(ctx, &codepipeline.GetPipelineInput{Name: &name}, get.option)
	if err != nil {
		return same(getError(name, err), len(bs)), nil
	}
	t.inv.remember(name, out, nil)
	// Still the version this process wrote, and that was not tok: the
	// pipeline holds what was sent then.
	stillOurs := rec != nil && out.Pipeline.Version != nil && *out.Pipeline.Version == rec.version
	actions := map[string]ghAction{}
	for _, a := range githubActions(out.Pipeline) {
		actions[a.key()] = a
	}
	held := tokensOf(out.Pipeline)
	errs := make([]error, len(bs))
	for i, x := range bs {
		key := x.w.stage + "/" + x.w.action
		a, ok := actions[key]
		switch {
		case !ok:
			errs[i] = fmt.Errorf("pipeline %s: action %s: %w (no GitHub v1 source action by that name now)", name, key, ErrActionChanged)
		case changedRepo(x.b, a):
			errs[i] = fmt.Errorf("pipeline %s: action %s: %w (reads %s/%s)", name, key, ErrActionChanged, a.owner, a.repo)
		case stillOurs && rec.sent[key] != fp:
			errs[i] = fmt.Errorf("pipeline %s: action %s: %w (it holds %s)", name, key, ErrNotApplied, rec.sent[key])
		case held[key] != masked && subtle.ConstantTimeCompare([]byte(held[key]), []byte(tok.Reveal())) != 1:
			// Only a service that does not mask (moto) gets here.
			errs[i] = fmt.Errorf("pipeline %s: action %s: %w (it holds %s)", name, key, ErrNotApplied, token.Fingerprint(held[key]))
		}
	}
	clear(held)
	return errs, carriedActions(out.Pipeline, bs)
}

// carriedActions are the GitHub actions of d that bs do not bind.
func carriedActions(d *types.PipelineDeclaration, bs []bound) []where {
	bound := map[string]bool{}
	for _, x := range bs {
		bound[x.w.stage+"/"+x.w.action] = true
	}
	var out []where
	for _, a := range githubActions(d) {
		if !bound[a.key()] {
			out = append(out, where{account: bs[0].w.account, pipeline: bs[0].w.pipeline, stage: a.stage, action: a.action})
		}
	}
	return out
}

// changedRepo reports an action that now reads another repository than the
// one the binding was discovered (and the token checked) for.
func changedRepo(b rotation.Binding, a ghAction) bool {
	o, r := b.Attrs[AttrOwner], b.Attrs[AttrRepo]
	return (o != "" && !strings.EqualFold(o, a.owner)) || (r != "" && !strings.EqualFold(r, a.repo))
}

func allSent(rec *record, bs []bound, fp string) bool {
	for _, x := range bs {
		if rec.sent[x.w.stage+"/"+x.w.action] != fp {
			return false
		}
	}
	return true
}

// tokensOf returns each GitHub v1 action's OAuthToken as the service showed it.
func tokensOf(d *types.PipelineDeclaration) map[string]string {
	out := map[string]string{}
	for _, st := range d.Stages {
		for _, a := range st.Actions {
			if isGitHubV1(a.ActionTypeId) {
				out[deref(st.Name)+"/"+deref(a.Name)] = a.Configuration[propToken]
			}
		}
	}
	return out
}

// execute starts the pipeline and waits, at most ExecutionTimeout, until each
// bound source action, and each carried one, has succeeded or failed in that
// execution (or in the one that superseded it). A carried action that fails
// fails every binding: the update went through the whole pipeline.
func (t *Target) execute(ctx context.Context, tok token.Token, name string, bs []bound, carried []where) []error {
	ctx, cancel := context.WithTimeout(ctx, t.cfg.ExecutionTimeout)
	defer cancel()
	start, err := t.client.StartPipelineExecution(ctx, &codepipeline.StartPipelineExecutionInput{Name: &name})
	if err != nil {
		return same(fmt.Errorf("pipeline %s: start execution: %w", name, awsx.Sanitize(err, tok)), len(bs))
	}
	id := deref(start.PipelineExecutionId)
	t.log.DebugContext(ctx, "verifying by execution", "pipeline", name, "execution", id)

	// Watch the bound actions (0 … len(bs)-1) and the carried ones after.
	watched := make([]where, 0, len(bs)+len(carried))
	for _, x := range bs {
		watched = append(watched, x.w)
	}
	watched = append(watched, carried...)
	errs := make([]error, len(bs))
	pending := make(map[int]bool, len(watched))
	for i := range watched {
		pending[i] = true
	}
	setErr := func(i int, err error) {
		if i < len(bs) {
			errs[i] = err
			return
		}
		for k := range errs { // a carried action failed: every binding did
			if errs[k] == nil {
				errs[k] = err
			}
		}
	}
	tick := time.NewTicker(t.cfg.PollInterval)
	defer tick.Stop()
	for len(pending) > 0 {
		select {
		case <-ctx.Done():
			for i := range pending {
				setErr(i, fmt.Errorf("pipeline %s: action %s: execution %s: %w (%v)", name, watched[i], id, ErrExecutionTimeout, t.cfg.ExecutionTimeout))
			}
			return errs
		case <-tick.C:
		}
		state, err := t.client.GetPipelineState(ctx, &codepipeline.GetPipelineStateInput{Name: &name})
		if err != nil {
			if ctx.Err() != nil {
				continue
			}
			return fill(setErr, errs, pending, fmt.Errorf("pipeline %s: state: %w", name, awsx.Sanitize(err, tok)))
		}
		elsewhere := false
		for i := range pending {
			status, msg, ours := actionIn(state, id, watched[i])
			switch {
			case !ours:
				elsewhere = true
			case status == types.ActionExecutionStatusSucceeded:
				delete(pending, i)
			case status == types.ActionExecutionStatusFailed || status == types.ActionExecutionStatusAbandoned:
				what := "action"
				if i >= len(bs) {
					what = "carried action (not rotated, sent back as read)"
				}
				setErr(i, fmt.Errorf("pipeline %s: %s %s: execution %s: %w: %s", name, what, watched[i], id, ErrSourceFailed, clean(msg, tok)))
				delete(pending, i)
			}
		}
		if !elsewhere || len(pending) == 0 {
			continue
		}
		// The stage shows another execution: ours has not reached it yet,
		// or a newer one superseded ours (it runs the same declaration).
		ex, err := t.client.GetPipelineExecution(ctx, &codepipeline.GetPipelineExecutionInput{PipelineName: &name, PipelineExecutionId: &id})
		if err != nil {
			if ctx.Err() != nil {
				continue
			}
			return fill(setErr, errs, pending, fmt.Errorf("pipeline %s: execution %s: %w", name, id, awsx.Sanitize(err, tok)))
		}
		switch st := ex.PipelineExecution.Status; st {
		case types.PipelineExecutionStatusSuperseded:
			if next := latestIn(state, bs); next != "" && next != id {
				id = next
			}
		case types.PipelineExecutionStatusStopped, types.PipelineExecutionStatusCancelled, types.PipelineExecutionStatusFailed, types.PipelineExecutionStatusSucceeded:
			return fill(setErr, errs, pending, fmt.Errorf("pipeline %s: execution %s: %w (%s before its source action reported)", name, id, ErrSourceFailed, st))
		}
	}
	return errs
}

// actionIn finds a source action's status in the execution id.
func actionIn(state *codepipeline.GetPipelineStateOutput, id string, w where) (types.ActionExecutionStatus, string, bool) {
	for _, st := range state.StageStates {
		if deref(st.StageName) != w.stage {
			continue
		}
		if st.LatestExecution == nil || deref(st.LatestExecution.PipelineExecutionId) != id {
			return "", "", false
		}
		for _, as := range st.ActionStates {
			if deref(as.ActionName) != w.action || as.LatestExecution == nil {
				continue
			}
			var msg string
			if d := as.LatestExecution.ErrorDetails; d != nil {
				msg = deref(d.Message)
			}
			if msg == "" {
				msg = deref(as.LatestExecution.Summary)
			}
			return as.LatestExecution.Status, msg, true
		}
		return "", "", true
	}
	return "", "", false
}

// latestIn is the execution the bindings' stage shows now.
func latestIn(state *codepipeline.GetPipelineStateOutput, bs []bound) string {
	for _, st := range state.StageStates {
		if deref(st.StageName) == bs[0].w.stage && st.LatestExecution != nil {
			return deref(st.LatestExecution.PipelineExecutionId)
		}
	}
	return ""
}

// fill gives err to every action still pending.
func fill(set func(int, error), errs []error, pending map[int]bool, err error) []error {
	for i := range pending {
		set(i, err)
	}
	return errs
}

// clean bounds a service message and cuts any token out of it.
func clean(msg string, tok token.Token) string {
	if msg == "" {
		return "no details"
	}
	return awsx.Sanitize(&awsx.Error{Message: msg}, tok).Error()
}
