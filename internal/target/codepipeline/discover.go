package codepipeline

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/arn"
	"github.com/aws/aws-sdk-go-v2/service/codepipeline"

	"github.com/rotor-ci/rotor/internal/awsx"
	"github.com/rotor-ci/rotor/internal/cfnref"
	"github.com/rotor-ci/rotor/internal/rotation"
)

// StackTag is the tag CloudFormation puts on the resources of a stack.
const StackTag = "aws:cloudformation:stack-name"

// Action is one GitHub v1 source action in the account and region, whether
// or not rotor holds its token.
type Action struct {
	BindingID            string
	Pipeline             string
	Stage                string
	Action               string
	Owner, Repo, Branch  string
	Stack                string // CloudFormation stack that manages the pipeline; "" if none
	PollForSourceChanges bool
	PollingDisabledAt    time.Time // zero unless AWS disabled polling on an inactive pipeline
	Account              string
	Region               string
}

// scanned is what discovery learns about one pipeline.
type scanned struct {
	name              string
	account           string
	actions           []ghAction
	maskedElsewhere   []string
	stack             string
	pollingDisabledAt time.Time
	missing           bool
	err               error
}

// Discover expands the target into one binding per GitHub v1 source action:
// of the named pipelines, of every pipeline in the region when only Match is
// given, filtered by Match when it is. Read-only.
//
// A binding that cannot be rotated safely is an error naming the pipeline: a
// named pipeline that does not exist or has no (matching) GitHub action, or,
// with other_actions: refuse, a pipeline with another GitHub action or
// another masked secret property. A CloudFormation-managed pipeline is a
// binding with AttrStack set: Vet decides whether it may be written. On
// error the usable bindings are returned too, for rotor plan to show.
func (t *Target) Discover(ctx context.Context) ([]rotation.Binding, error) {
	named := len(t.cfg.Pipelines) > 0
	var pipelines []pipelineSummary
	if named {
		pipelines = t.namedSummaries(ctx)
	} else {
		var err error
		if pipelines, err = t.listPipelines(ctx); err != nil {
			return nil, err
		}
	}
	var (
		bindings []rotation.Binding
		errs     []error
	)
	selects := func(as []ghAction) bool { return slices.ContainsFunc(as, t.cfg.Match.matches) }
	defer t.saveInventory(ctx)
	for _, s := range t.scan(ctx, pipelines, selects, false) {
		switch {
		case s.err != nil:
			errs = append(errs, s.err)
			continue
		case s.missing && named:
			errs = append(errs, fmt.Errorf("pipeline %s: %w in %s", s.name, ErrPipelineNotFound, t.region))
			continue
		case s.missing:
			continue // deleted between ListPipelines and GetPipeline
		}
		bs, err := t.bind(s)
		switch {
		case err != nil:
			errs = append(errs, err)
		case len(bs) == 0 && named:
			what := "no GitHub (version 1) source action"
			if t.cfg.Match != nil {
				what += " matching " + t.cfg.Match.String()
			}
			errs = append(errs, fmt.Errorf("pipeline %s: %w (%s)", s.name, ErrNoGitHubAction, what))
		default:
			bindings = append(bindings, bs...)
		}
	}
	slices.SortFunc(bindings, func(a, b rotation.Binding) int { return strings.Compare(a.ID, b.ID) })
	return bindings, errors.Join(errs...)
}

// bind turns one scanned pipeline into bindings, or refuses it.
func (t *Target) bind(s scanned) ([]rotation.Binding, error) {
	var selected, others []ghAction
	for _, a := range s.actions {
		if t.cfg.Match.matches(a) {
			selected = append(selected, a)
		} else {
			others = append(others, a)
		}
	}
	if len(selected) == 0 {
		return nil, nil
	}
	if s.account == "" {
		return nil, fmt.Errorf("pipeline %s: its ARN names no account", s.name)
	}
	t.learnAccount(s.account)
	var warnings []string
	if t.cfg.OtherActions == OtherActionsRefuse {
		var names []string
		for _, a := range others {
			names = append(names, fmt.Sprintf("GitHub action %s (%s/%s)", a.key(), a.owner, a.repo))
		}
		if names = append(names, s.maskedElsewhere...); len(names) > 0 {
			return nil, fmt.Errorf("pipeline %s: %w: %s; rotor would send them back exactly as read, which AWS keeps — set other_actions: carry to allow that", s.name, ErrOtherActions, strings.Join(names, ", "))
		}
	}
	for _, a := range others {
		warnings = append(warnings, fmt.Sprintf("pipeline also has GitHub action %s (%s/%s), which this credential does not rotate: each update sends it back exactly as read (AWS keeps its token) and verifies it with the pipeline", a.key(), a.owner, a.repo))
	}
	if s.stack != "" {
		warnings = append(warnings, fmt.Sprintf("managed by CloudFormation stack %s: rotor writes it only when the stack reads the token from a secret or parameter this credential rotates first (rotor plan says), or with allow_cloudformation_drift", s.stack))
	}
	if !s.pollingDisabledAt.IsZero() {
		warnings = append(warnings, fmt.Sprintf("AWS disabled polling on this inactive pipeline at %s: nothing exercises the token until it runs", s.pollingDisabledAt.UTC().Format(time.RFC3339)))
	}
	var out []rotation.Binding
	for _, a := range selected {
		w := slices.Clone(warnings)
		if a.pollDisabled {
			msg := "PollForSourceChanges is false: only webhooks start this pipeline, so a bad token shows on the next push"
			if t.cfg.Verify != VerifyExecution {
				msg += "; consider verify: execution"
			}
			w = append(w, msg)
		}
		out = append(out, rotation.Binding{
			ID:           BindingID(s.account, t.region, s.name, a.stage, a.action),
			Target:       Type,
			Resource:     PipelineARN(s.account, t.region, s.name),
			Repositories: []string{a.owner + "/" + a.repo},
			Scopes:       slices.Clone(Scopes),
			Attrs: map[string]string{
				AttrPipeline: s.name, AttrStage: a.stage, AttrAction: a.action,
				AttrOwner: a.owner, AttrRepo: a.repo, AttrBranch: a.branch,
				AttrStack: s.stack, AttrAccount: s.account, AttrRegion: t.region,
			},
			Warnings: w,
			Aliases:  []string{legacyBindingID(t.region, s.name, a.stage, a.action)},
		})
	}
	return out, nil
}

// Inventory lists every GitHub v1 source action in the account and region,
// for rotor plan's warnings about actions rotor does not hold. Read-only.
func (t *Target) Inventory(ctx context.Context) ([]Action, error) {
	pipelines, err := t.listPipelines(ctx)
	if err != nil {
		return nil, err
	}
	var (
		out  []Action
		errs []error
	)
	defer t.saveInventory(ctx)
	for _, s := range t.scan(ctx, pipelines, func([]ghAction) bool { return true }, true) {
		if s.err != nil {
			errs = append(errs, s.err)
			continue
		}
		for _, a := range s.actions {
			out = append(out, Action{
				BindingID: BindingID(s.account, t.region, s.name, a.stage, a.action),
				Pipeline:  s.name, Stage: a.stage, Action: a.action,
				Owner: a.owner, Repo: a.repo, Branch: a.branch,
				Stack: s.stack, PollForSourceChanges: !a.pollDisabled, PollingDisabledAt: s.pollingDisabledAt,
				Account: s.account, Region: t.region,
			})
		}
	}
	return out, errors.Join(errs...)
}

// pipelineSummary is one pipeline as ListPipelines shows it; version and
// created are nil when it was not listed.
type pipelineSummary struct {
	name    string
	version *int32
	created *time.Time
}

// listPipelines pages through ListPipelines (a thousand a page, the most the
// API allows) and lets the inventory forget pipelines that are gone.
func (t *Target) listPipelines(ctx context.Context) ([]pipelineSummary, error) {
	var out []pipelineSummary
	p := codepipeline.NewListPipelinesPaginator(t.client, &codepipeline.ListPipelinesInput{MaxResults: aws.Int32(t.pageSize)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list pipelines in %s: %w", t.region, awsx.Sanitize(err))
		}
		for _, s := range page.Pipelines {
			if s.Name != nil {
				out = append(out, pipelineSummary{name: *s.Name, version: s.Version, created: s.Created})
			}
		}
	}
	names := make([]string, len(out))
	for i, s := range out {
		names[i] = s.name
	}
	t.inv.retain(names)
	return out, nil
}

// namedSummaries is the configured pipelines, sorted and unique, with the
// version ListPipelines shows for each so that the inventory can spare
// their GetPipeline. A listing that fails (a role allowed only the named
// pipelines) leaves them unlisted: each is then read.
func (t *Target) namedSummaries(ctx context.Context) []pipelineSummary {
	names := slices.Clone(t.cfg.Pipelines)
	slices.Sort(names)
	names = slices.Compact(names)
	listed := map[string]pipelineSummary{}
	if all, err := t.listPipelines(ctx); err != nil {
		t.log.DebugContext(ctx, "no pipeline listing: reading each named pipeline", "err", err)
	} else {
		for _, s := range all {
			listed[s.name] = s
		}
	}
	out := make([]pipelineSummary, len(names))
	for i, n := range names {
		out[i] = pipelineSummary{name: n}
		if s, ok := listed[n]; ok {
			out[i] = s
		}
	}
	return out
}

// scan reads the pipelines concurrently, in the order given: GetPipeline
// (unless the inventory knows the pipeline at its listed version), and
// ListTagsForResource for those whose GitHub actions interest the caller,
// except, unless freshTags, for pipelines the inventory knows to have no
// stack tag: Apply reads those before it writes.
func (t *Target) scan(ctx context.Context, pipelines []pipelineSummary, interesting func([]ghAction) bool, freshTags bool) []scanned {
	out := make([]scanned, len(pipelines))
	idx := make([]int, len(pipelines))
	for i := range idx {
		idx[i] = i
	}
	var mu sync.Mutex
	forEach(ctx, t.cfg.Concurrency, idx, func(ctx context.Context, i int) {
		s := t.scanOne(ctx, pipelines[i], interesting, freshTags)
		mu.Lock()
		out[i] = s
		mu.Unlock()
	})
	for i := range out {
		if out[i].name == "" { // never started: ctx ended
			name := pipelines[i].name
			out[i] = scanned{name: name, err: fmt.Errorf("pipeline %s: %w", name, ctx.Err())}
		}
	}
	return out
}

func (t *Target) scanOne(ctx context.Context, p pipelineSummary, interesting func([]ghAction) bool, freshTags bool) scanned {
	name := p.name
	if e, ok := t.inv.lookup(p); ok {
		s := scannedFrom(name, e)
		if len(s.actions) == 0 || !interesting(s.actions) {
			return s
		}
		if !freshTags && e.StackKnown && e.Stack == "" {
			if a, err := arn.Parse(e.Arn); err == nil {
				s.account = a.AccountID
			}
			return s // Apply reads the tags before it writes
		}
		return t.tagged(ctx, s, e.Arn)
	}
	s := scanned{name: name}
	out, err := t.client.GetPipeline(ctx, &codepipeline.GetPipelineInput{Name: &name})
	if err != nil {
		if awsx.IsCode(err, "PipelineNotFoundException") {
			s.missing = true
		} else {
			s.err = getError(name, err)
		}
		return s
	}
	t.inv.remember(name, out, nil)
	s.actions = githubActions(out.Pipeline)
	s.maskedElsewhere = maskedElsewhere(out.Pipeline)
	if len(s.actions) == 0 || !interesting(s.actions) {
		return s
	}
	var pipelineArn string
	if md := out.Metadata; md != nil {
		pipelineArn = deref(md.PipelineArn)
		if md.PollingDisabledAt != nil {
			s.pollingDisabledAt = *md.PollingDisabledAt
		}
	}
	return t.tagged(ctx, s, pipelineArn)
}

// tagged fills in the account (from the ARN) and the CloudFormation stack
// (from the tags).
func (t *Target) tagged(ctx context.Context, s scanned, pipelineArn string) scanned {
	if a, err := arn.Parse(pipelineArn); err == nil {
		s.account = a.AccountID
	}
	if pipelineArn == "" {
		s.err = fmt.Errorf("pipeline %s: GetPipeline returned no pipelineArn: cannot tell whether CloudFormation manages it", s.name)
		return s
	}
	s.stack, s.err = t.stackOf(ctx, s.name, pipelineArn)
	return s
}

// saveInventory writes the inventory for the next process; failing to is
// not an error of the rotation.
func (t *Target) saveInventory(ctx context.Context) {
	if err := t.inv.save(ctx); err != nil {
		t.log.DebugContext(ctx, "pipeline inventory not saved", "err", err)
	}
}

// stackOf reads the CloudFormation stack tag of a pipeline, and notes that
// this process read it.
func (t *Target) stackOf(ctx context.Context, name, pipelineArn string) (string, error) {
	p := codepipeline.NewListTagsForResourcePaginator(t.client, &codepipeline.ListTagsForResourceInput{ResourceArn: &pipelineArn})
	stack := ""
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return "", fmt.Errorf("pipeline %s: tags: %w", name, awsx.Sanitize(err))
		}
		for _, tag := range page.Tags {
			if deref(tag.Key) == StackTag {
				stack = deref(tag.Value)
			}
		}
	}
	t.inv.tagged(name, pipelineArn, stack)
	t.mu.Lock()
	t.tagsRead[name] = time.Now()
	t.mu.Unlock()
	return stack, nil
}

// tagsFreshFor is how long tags read by discovery stand for Apply in the
// same process (a run's discovery and apply are seconds to minutes apart).
const tagsFreshFor = 10 * time.Minute

// tagsFresh reports whether this process read the pipeline's tags lately.
func (t *Target) tagsFresh(name string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	at, ok := t.tagsRead[name]
	return ok && time.Since(at) < tagsFreshFor
}

func (m *Match) String() string {
	if m == nil {
		return "anything"
	}
	or := func(s string) string {
		if s == "" {
			return "*"
		}
		return s
	}
	return or(m.Owner) + "/" + or(m.Repo) + "@" + or(m.Branch)
}

// PipelineAction says which action of which pipeline binding b is, for
// rotor plan; ok is false for another target's binding.
func (*Target) PipelineAction(b rotation.Binding) (cfnref.PipelineAction, bool) {
	if b.Target != Type {
		return cfnref.PipelineAction{}, false
	}
	return cfnref.PipelineAction{
		BindingID: b.ID, Pipeline: b.Attrs[AttrPipeline], Stage: b.Attrs[AttrStage], Action: b.Attrs[AttrAction],
		Stack: b.Attrs[AttrStack], Repository: b.Attrs[AttrOwner] + "/" + b.Attrs[AttrRepo],
	}, true
}

// PipelineActions is Inventory as rotor plan reads it: every GitHub action
// in the account and region, held by a credential or not. Read-only.
func (t *Target) PipelineActions(ctx context.Context) ([]cfnref.PipelineAction, error) {
	inv, err := t.Inventory(ctx)
	return actionsOf(inv), err
}

func actionsOf(inv []Action) []cfnref.PipelineAction {
	out := make([]cfnref.PipelineAction, 0, len(inv))
	for _, a := range inv {
		out = append(out, cfnref.PipelineAction{BindingID: a.BindingID, Pipeline: a.Pipeline, Stage: a.Stage, Action: a.Action, Stack: a.Stack, Repository: a.Owner + "/" + a.Repo})
	}
	return out
}
