package codepipeline

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/codepipeline"
	"github.com/aws/aws-sdk-go-v2/service/codepipeline/types"

	"github.com/rotor-ci/rotor/internal/awsx"
	"github.com/rotor-ci/rotor/internal/migrate"
	"github.com/rotor-ci/rotor/internal/rotation"
	"github.com/rotor-ci/rotor/internal/token"
)

// The migration side of the target (rotor migrate): the same reads, the
// same minimal-change guard and read-back, the same idle gate and the same
// verification by execution as a token rotation, for rewriting a GitHub
// (version 1) action into the GitHub (version 2) action and back.

var _ migrate.Pipelines = (*Target)(nil)

// The GitHub (version 2) source action.
const (
	v2Provider       = "CodeStarSourceConnection"
	propConnection   = "ConnectionArn"
	propFullRepo     = "FullRepositoryId"
	propBranchName   = "BranchName"
	propDetect       = "DetectChanges"
	propOutputFormat = "OutputArtifactFormat"
)

func isGitHubV2(t *types.ActionTypeId) bool {
	return t != nil && t.Category == types.ActionCategorySource && t.Owner == types.ActionOwnerAws &&
		deref(t.Provider) == v2Provider && deref(t.Version) == "1"
}

// v2Config is the version 2 configuration for a version 1 action's
// repository and branch. OutputArtifactFormat is left to its default,
// CODE_ZIP, which is what the version 1 action produced.
func v2Config(owner, repo, branch, connection string, detect bool) map[string]string {
	return map[string]string{
		propConnection: connection,
		propFullRepo:   owner + "/" + repo,
		propBranchName: branch,
		propDetect:     fmt.Sprint(detect),
	}
}

// variableRef finds #{Namespace.Variable} references.
var variableRef = regexp.MustCompile(`#\{([A-Za-z0-9@\-_]+)\.([A-Za-z0-9@\-_]+)\}`)

// MoveWait is how long a migration waits for a busy pipeline before it
// leaves the action on version 1 for the next try: max_wait under
// in_flight: wait, no wait at all under skip. interrupt waits too: a
// migration is never urgent (the token still works), so it stops no
// deployment (migrate.Pipelines).
func (t *Target) MoveWait() time.Duration { return moveWait(t.cfg) }

func moveWait(c Config) time.Duration {
	if c.InFlight == InFlightSkip {
		return 0
	}
	return cmp.Or(c.MaxWait, DefaultMaxWait)
}

// V1Actions is Discover without the errors of named pipelines that have no
// GitHub (version 1) action any more: they moved (migrate.Pipelines).
func (t *Target) V1Actions(ctx context.Context) ([]rotation.Binding, error) {
	bs, err := t.Discover(ctx)
	if err == nil {
		return bs, nil
	}
	errs := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	}
	var keep []error
	for _, e := range errs {
		if !errors.Is(e, ErrNoGitHubAction) {
			keep = append(keep, e)
		}
	}
	return bs, errors.Join(keep...)
}

// InspectMove reads b's pipeline for a migration (read-only).
func (t *Target) InspectMove(ctx context.Context, b rotation.Binding, connection string) (migrate.Inspection, error) {
	w, err := t.locate(b)
	if err != nil {
		return migrate.Inspection{}, err
	}
	out, err := t.client.GetPipeline(ctx, &codepipeline.GetPipelineInput{Name: &w.pipeline})
	if err != nil {
		return migrate.Inspection{}, getError(w.pipeline, err)
	}
	d := out.Pipeline
	a := findAction(d, w)
	if a == nil || !isGitHubV1(a.ActionTypeId) {
		return migrate.Inspection{}, fmt.Errorf("pipeline %s: action %s: %w (no GitHub v1 source action by that name now)", w.pipeline, w, ErrActionChanged)
	}
	in := migrate.Inspection{V1: map[string]string{}, Role: deref(a.RoleArn), Namespace: deref(a.Namespace)}
	for k, v := range a.Configuration {
		if k != propToken {
			in.V1[k] = v
		}
	}
	if in.Role == "" {
		in.Role = deref(d.RoleArn)
	}
	in.V2 = map[string]any{
		"actionTypeId":  map[string]string{"category": "Source", "owner": "AWS", "provider": v2Provider, "version": "1"},
		"configuration": v2Config(in.V1[propOwner], in.V1[propRepo], in.V1[propBranch], connection, in.V1[propPoll] != "false"),
	}
	if out.Metadata != nil && deref(out.Metadata.PipelineArn) != "" {
		if in.Stack, err = t.stackOf(ctx, w.pipeline, deref(out.Metadata.PipelineArn)); err != nil {
			return in, err
		}
	}
	if in.Namespace != "" {
		for _, st := range d.Stages {
			for _, other := range st.Actions {
				for k, v := range other.Configuration {
					for _, m := range variableRef.FindAllStringSubmatch(v, -1) {
						if m[1] == in.Namespace && slices.Contains(migrate.V1OnlyVariables, m[2]) {
							in.V1OnlyRefs = append(in.V1OnlyRefs, fmt.Sprintf("%s/%s %s: %s", deref(st.Name), deref(other.Name), k, m[0]))
						}
					}
				}
			}
		}
		slices.Sort(in.V1OnlyRefs)
	}
	return in, nil
}

func findAction(d *types.PipelineDeclaration, w where) *types.ActionDeclaration {
	for i := range d.Stages {
		if deref(d.Stages[i].Name) != w.stage {
			continue
		}
		for j := range d.Stages[i].Actions {
			if deref(d.Stages[i].Actions[j].Name) == w.action {
				return &d.Stages[i].Actions[j]
			}
		}
	}
	return nil
}

// ToConnection rewrites b's version 1 action into the version 2 action on
// connection (migrate.Pipelines).
func (t *Target) ToConnection(ctx context.Context, b rotation.Binding, connection string, detect bool) error {
	if connection == "" {
		return fmt.Errorf("binding %s: no connection", b.ID)
	}
	return t.rewriteAction(ctx, b, token.Token{}, func(name string, a *types.ActionDeclaration) (bool, error) {
		c := a.Configuration
		if isGitHubV2(a.ActionTypeId) {
			if c[propConnection] == connection && strings.EqualFold(c[propFullRepo], b.Attrs[AttrOwner]+"/"+b.Attrs[AttrRepo]) {
				return false, nil // moved already (a resumed migration)
			}
			return false, fmt.Errorf("pipeline %s: action %s: %w (a GitHub (version 2) action on another connection or repository)", name, deref(a.Name), ErrActionChanged)
		}
		if !isGitHubV1(a.ActionTypeId) {
			return false, fmt.Errorf("pipeline %s: action %s: %w (no GitHub v1 source action by that name now)", name, deref(a.Name), ErrActionChanged)
		}
		if changedRepo(b, ghAction{owner: c[propOwner], repo: c[propRepo]}) {
			return false, fmt.Errorf("pipeline %s: action %s: %w (reads %s/%s)", name, deref(a.Name), ErrActionChanged, c[propOwner], c[propRepo])
		}
		provider, version := v2Provider, "1"
		a.ActionTypeId = &types.ActionTypeId{Category: types.ActionCategorySource, Owner: types.ActionOwnerAws, Provider: &provider, Version: &version}
		a.Configuration = v2Config(c[propOwner], c[propRepo], c[propBranch], connection, detect)
		return true, nil
	})
}

// ToV1 puts b's version 1 action back with tok (migrate.Pipelines).
func (t *Target) ToV1(ctx context.Context, b rotation.Binding, v1 map[string]string, tok token.Token) error {
	if tok.IsZero() {
		return fmt.Errorf("binding %s: refusing to write an empty token", b.ID)
	}
	if v1[propOwner] == "" || v1[propRepo] == "" {
		return fmt.Errorf("binding %s: no version 1 configuration to restore", b.ID)
	}
	return t.rewriteAction(ctx, b, tok, func(name string, a *types.ActionDeclaration) (bool, error) {
		if !isGitHubV2(a.ActionTypeId) && !isGitHubV1(a.ActionTypeId) {
			return false, fmt.Errorf("pipeline %s: action %s: %w (neither a GitHub version 1 nor version 2 action)", name, deref(a.Name), ErrActionChanged)
		}
		// Also a version 1 action is written again: after a crash rotor
		// cannot tell (the token reads "****") whether it holds tok.
		provider, version := "GitHub", "1"
		a.ActionTypeId = &types.ActionTypeId{Category: types.ActionCategorySource, Owner: types.ActionOwnerThirdParty, Provider: &provider, Version: &version}
		cfg := maps.Clone(v1)
		cfg[propToken] = tok.Reveal()
		a.Configuration = cfg
		return true, nil
	})
}

// rewriteAction reads b's pipeline, lets change rewrite b's action (false:
// nothing to write), and updates the pipeline when it is idle, guarded as a
// token rotation is: the request must be the declaration as read but for
// that action, every other GitHub action going back exactly as read
// ("****" included); the response must be that at the next version.
func (t *Target) rewriteAction(ctx context.Context, b rotation.Binding, tok token.Token, change func(pipeline string, a *types.ActionDeclaration) (bool, error)) error {
	w, err := t.locate(b)
	if err != nil {
		return err
	}
	name := w.pipeline
	unlock := lockPipeline(w.account, t.region, name)
	defer unlock()

	var get exchange
	defer get.wipe()
	out, err := t.client.GetPipeline(ctx, &codepipeline.GetPipelineInput{Name: &name}, get.option)
	if err != nil {
		return getError(name, err)
	}
	decl := out.Pipeline
	a := findAction(decl, w)
	if a == nil {
		return fmt.Errorf("pipeline %s: action %s: %w (no action by that name now)", name, w, ErrActionChanged)
	}
	write, err := change(name, a)
	if err != nil || !write {
		return err
	}
	before, err := decodeMember(get.raw(), "pipeline")
	if err != nil {
		return fmt.Errorf("pipeline %s: get: %w", name, err)
	}
	asRead := rawTokens(before)
	defer clear(asRead)
	// What the declaration must be after the write: as read, but for the
	// action's type and configuration (tokens masked: comparable).
	rawActions(before, func(stage, action string, ra map[string]any) {
		if stage != w.stage || action != w.action {
			return
		}
		ra["actionTypeId"] = map[string]any{"category": string(a.ActionTypeId.Category), "owner": string(a.ActionTypeId.Owner),
			"provider": deref(a.ActionTypeId.Provider), "version": deref(a.ActionTypeId.Version)}
		cfg := make(map[string]any, len(a.Configuration))
		for k, v := range a.Configuration {
			cfg[k] = v
		}
		ra["configuration"] = cfg
	})
	want := comparable(before)
	plan := map[string]token.Token{}
	if !tok.IsZero() {
		plan[w.stage+"/"+w.action] = tok
	}
	upd := exchange{check: func(body []byte) error { return guard(body, want, plan, asRead) }}
	defer upd.wipe()
	gate := &idleGate{t: t, pipeline: name}
	uout, err := t.client.UpdatePipeline(ctx, &codepipeline.UpdatePipelineInput{Pipeline: decl}, upd.option, gate.option)
	delete(a.Configuration, propToken) // the token stays in memory no longer than the call
	if err != nil {
		if r := (*refusal)(nil); errors.As(err, &r) {
			return fmt.Errorf("pipeline %s: %w", name, r.err)
		}
		if bz := (*busyError)(nil); errors.As(err, &bz) {
			return fmt.Errorf("%w: %w", migrate.ErrBusy, bz)
		}
		if g := (*gateError)(nil); errors.As(err, &g) {
			return fmt.Errorf("pipeline %s: %w", name, g.err)
		}
		return fmt.Errorf("pipeline %s: update: %w", name, awsx.Sanitize(err, tok))
	}
	var rec record
	return t.readback(name, decl.Version, uout.Pipeline, upd.raw(), want, &rec)
}

// VerifyExecution starts b's pipeline and waits for b's source action
// (migrate.Pipelines); the pipeline's GitHub (version 1) actions, which the
// migration carried through as read, must succeed too.
func (t *Target) VerifyExecution(ctx context.Context, b rotation.Binding) error {
	w, err := t.locate(b)
	if err != nil {
		return err
	}
	out, err := t.client.GetPipeline(ctx, &codepipeline.GetPipelineInput{Name: &w.pipeline})
	if err != nil {
		return getError(w.pipeline, err)
	}
	bs := []bound{{b: b, w: w}}
	return t.execute(ctx, token.Token{}, w.pipeline, bs, carriedActions(out.Pipeline, bs))[0]
}

// Webhooks lists the version 1 webhooks of the account and region
// (migrate.Pipelines). Each secret is kept only as its fingerprint.
func (t *Target) Webhooks(ctx context.Context) ([]migrate.Webhook, error) {
	account := t.ownAccount()
	var out []migrate.Webhook
	p := codepipeline.NewListWebhooksPaginator(t.client, &codepipeline.ListWebhooksInput{})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list webhooks: %w", awsx.Sanitize(err))
		}
		for _, it := range page.Webhooks {
			d := it.Definition
			if d == nil {
				continue
			}
			h := migrate.Webhook{Name: deref(d.Name), Pipeline: deref(d.TargetPipeline), Action: deref(d.TargetAction), Account: account, Region: t.region}
			if c := d.AuthenticationConfiguration; c != nil && deref(c.SecretToken) != "" {
				h.SecretFingerprint = token.Fingerprint(deref(c.SecretToken))
				c.SecretToken = nil
			}
			out = append(out, h)
		}
	}
	return out, nil
}

// RegisterWebhook registers the webhook with GitHub again (the way back).
// The target has one place: b is not needed to find it.
func (t *Target) RegisterWebhook(ctx context.Context, _ rotation.Binding, name string) error {
	_, err := t.client.RegisterWebhookWithThirdParty(ctx, &codepipeline.RegisterWebhookWithThirdPartyInput{WebhookName: &name})
	if err != nil {
		return fmt.Errorf("webhook %s: register: %w", name, awsx.Sanitize(err))
	}
	return nil
}

// DeregisterWebhook deletes the webhook's GitHub hook.
func (t *Target) DeregisterWebhook(ctx context.Context, _ rotation.Binding, name string) error {
	_, err := t.client.DeregisterWebhookWithThirdParty(ctx, &codepipeline.DeregisterWebhookWithThirdPartyInput{WebhookName: &name})
	if err != nil {
		return fmt.Errorf("webhook %s: deregister: %w", name, awsx.Sanitize(err))
	}
	return nil
}

// DeleteWebhook deletes the webhook; a missing one is not an error.
func (t *Target) DeleteWebhook(ctx context.Context, _ rotation.Binding, name string) error {
	_, err := t.client.DeleteWebhook(ctx, &codepipeline.DeleteWebhookInput{Name: &name})
	if err != nil {
		return fmt.Errorf("webhook %s: delete: %w", name, awsx.Sanitize(err))
	}
	return nil
}

// Connections is the CodeConnections API in the target's account and
// region, with the target's AWS credentials (migrate.Pipelines). Another
// place is refused: the connection would not be seen from here.
func (t *Target) Connections(ctx context.Context, place migrate.Place) (migrate.Connections, error) {
	if own := t.ownAccount(); place.Region != t.region || (own != "" && place.Account != own) {
		return nil, fmt.Errorf("%s is not a place of this target (it works in account %s, region %s)", place, cmp.Or(own, "not known yet"), t.region)
	}
	return NewConnections(ctx, t.cfg.AWS)
}

// A Fleet migrates as its places do: each call goes to the Target of the
// account and region its binding names.

var _ migrate.Pipelines = (*Fleet)(nil)

// MoveWait is every place's (migrate.Pipelines).
func (f *Fleet) MoveWait() time.Duration { return moveWait(f.base) }

// V1Actions is Target.V1Actions in every place at once.
func (f *Fleet) V1Actions(ctx context.Context) ([]rotation.Binding, error) {
	return f.gather(ctx, (*Target).V1Actions)
}

// at is the Target of place key ("account:region"). Discovery builds the
// places; a place not seen yet is looked for once more (an organization's
// account added since).
func (f *Fleet) at(ctx context.Context, key string) (*Target, error) {
	f.mu.Lock()
	t := f.built[key]
	f.mu.Unlock()
	if t != nil {
		return t, nil
	}
	if _, err := f.targets(ctx); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if t = f.built[key]; t == nil {
		return nil, fmt.Errorf("%w (no account and region of this target is %s)", ErrForeignBinding, key)
	}
	return t, nil
}

func (f *Fleet) of(ctx context.Context, b rotation.Binding) (*Target, error) {
	t, err := f.at(ctx, placeKey(b))
	if err != nil {
		return nil, fmt.Errorf("binding %s: %w", b.ID, err)
	}
	return t, nil
}

// InspectMove is Target.InspectMove in b's place.
func (f *Fleet) InspectMove(ctx context.Context, b rotation.Binding, connection string) (migrate.Inspection, error) {
	t, err := f.of(ctx, b)
	if err != nil {
		return migrate.Inspection{}, err
	}
	return t.InspectMove(ctx, b, connection)
}

// ToConnection is Target.ToConnection in b's place.
func (f *Fleet) ToConnection(ctx context.Context, b rotation.Binding, connection string, detect bool) error {
	t, err := f.of(ctx, b)
	if err != nil {
		return err
	}
	return t.ToConnection(ctx, b, connection, detect)
}

// ToV1 is Target.ToV1 in b's place.
func (f *Fleet) ToV1(ctx context.Context, b rotation.Binding, v1 map[string]string, tok token.Token) error {
	t, err := f.of(ctx, b)
	if err != nil {
		return err
	}
	return t.ToV1(ctx, b, v1, tok)
}

// VerifyExecution is Target.VerifyExecution in b's place.
func (f *Fleet) VerifyExecution(ctx context.Context, b rotation.Binding) error {
	t, err := f.of(ctx, b)
	if err != nil {
		return err
	}
	return t.VerifyExecution(ctx, b)
}

// Webhooks lists the version 1 webhooks of every place, each with its
// account and region.
func (f *Fleet) Webhooks(ctx context.Context) ([]migrate.Webhook, error) {
	ts, err := f.targets(ctx)
	if err != nil {
		return nil, err
	}
	var out []migrate.Webhook
	for _, t := range ts {
		hs, err := t.Webhooks(ctx)
		if err != nil {
			return nil, fmt.Errorf("account %s region %s: %w", t.ownAccount(), t.region, err)
		}
		out = append(out, hs...)
	}
	return out, nil
}

// RegisterWebhook is Target.RegisterWebhook in b's place.
func (f *Fleet) RegisterWebhook(ctx context.Context, b rotation.Binding, name string) error {
	t, err := f.of(ctx, b)
	if err != nil {
		return err
	}
	return t.RegisterWebhook(ctx, b, name)
}

// DeregisterWebhook is Target.DeregisterWebhook in b's place.
func (f *Fleet) DeregisterWebhook(ctx context.Context, b rotation.Binding, name string) error {
	t, err := f.of(ctx, b)
	if err != nil {
		return err
	}
	return t.DeregisterWebhook(ctx, b, name)
}

// DeleteWebhook is Target.DeleteWebhook in b's place.
func (f *Fleet) DeleteWebhook(ctx context.Context, b rotation.Binding, name string) error {
	t, err := f.of(ctx, b)
	if err != nil {
		return err
	}
	return t.DeleteWebhook(ctx, b, name)
}

// Connections is Target.Connections in place, with the role of that
// account.
func (f *Fleet) Connections(ctx context.Context, place migrate.Place) (migrate.Connections, error) {
	t, err := f.at(ctx, place.Account+":"+place.Region)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", place, err)
	}
	return t.Connections(ctx, place)
}
