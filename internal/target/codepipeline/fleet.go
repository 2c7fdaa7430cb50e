package codepipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	orgtypes "github.com/aws/aws-sdk-go-v2/service/organizations/types"

	"github.com/rotor-ci/rotor/internal/awsx"
	"github.com/rotor-ci/rotor/internal/cfnref"
	"github.com/rotor-ci/rotor/internal/ratelimit"
	"github.com/rotor-ci/rotor/internal/rotation"
	"github.com/rotor-ci/rotor/internal/token"
)

// Place is one account × region of a Fleet, reached by assuming RoleARN
// (with ExternalID when the role's trust policy asks for one).
type Place struct {
	RoleARN, ExternalID string
	Region              string
}

// Organization finds a Fleet's accounts through AWS Organizations.
type Organization struct {
	// OU limits discovery to the accounts under this organisational unit
	// (or root), at any depth; "": every account of the organization.
	OU         string
	RoleName   string // assumed in each account: arn:aws:iam::<account>:role/<RoleName>
	ExternalID string
	Regions    []string
}

// Fleet is one codepipeline target over many accounts and regions: a
// Target per account × region, each with its own adaptive limiter (AWS
// limits each account in each region on its own) and its own inventory,
// all discovered and applied in one fan-out, for one run of the credential.
// A slow or throttled account slows only its own bindings. It is safe for
// concurrent use.
type Fleet struct {
	base   Config
	org    *Organization
	orgAPI organizationsAPI
	cfnFor func(context.Context, awsx.Config) (cfnref.API, error)
	log    *slog.Logger

	mu     sync.Mutex
	places []Place            // in discovery order
	built  map[string]*Target // by account:region

	// progressMu orders the calls to base.Progress, so that a reader sees
	// each place's count only grow within a call.
	progressMu sync.Mutex
	stats      map[string]rotation.PlaceProgress // by account:region, for Config.Progress
	statKeys   []string                          // stats' keys, sorted
}

// organizationsAPI is what Fleet asks of AWS Organizations.
type organizationsAPI interface {
	organizations.ListAccountsAPIClient
	organizations.ListAccountsForParentAPIClient
	organizations.ListOrganizationalUnitsForParentAPIClient
}

var (
	_ rotation.Target    = (*Fleet)(nil)
	_ rotation.Waiter    = (*Fleet)(nil)
	_ rotation.Vetter    = (*Fleet)(nil)
	_ rotation.Inspector = (*Fleet)(nil)
)

// NewFleet builds a target over places, or over the accounts org finds
// (one of the two). base is every place's config but for its AWS role and
// region; base.AWS gives the endpoint, profile and base credentials that
// assume each role and read Organizations. It calls no AWS API.
//
// cfnFor builds the client that reads stack templates in one place's
// account and region; nil: an SDK client per place (base.CloudFormation,
// one account's, is not used).
func NewFleet(ctx context.Context, base Config, places []Place, org *Organization, cfnFor func(context.Context, awsx.Config) (cfnref.API, error)) (*Fleet, error) {
	if (len(places) == 0) == (org == nil) {
		return nil, fmt.Errorf("%w: give accounts or an organization", ErrConfig)
	}
	if base.Log == nil {
		base.Log = slog.New(slog.DiscardHandler)
	}
	base.CloudFormation = nil
	f := &Fleet{base: base, org: org, cfnFor: cfnFor, log: base.Log, built: map[string]*Target{}, stats: map[string]rotation.PlaceProgress{}}
	for _, p := range places {
		if _, err := f.place(ctx, p); err != nil {
			return nil, err
		}
	}
	if org != nil {
		awsCfg, err := awsx.Load(ctx, base.AWS)
		if err != nil {
			return nil, err
		}
		f.orgAPI = organizations.NewFromConfig(awsCfg)
	}
	return f, nil
}

// accountOf is the account an IAM role ARN names.
func accountOf(roleARN string) string {
	if parts := strings.Split(roleARN, ":"); len(parts) > 4 {
		return parts[4]
	}
	return ""
}

// place returns the Target of p, building it the first time.
func (f *Fleet) place(ctx context.Context, p Place) (*Target, error) {
	key := accountOf(p.RoleARN) + ":" + p.Region
	f.mu.Lock()
	defer f.mu.Unlock()
	if t, ok := f.built[key]; ok {
		return t, nil
	}
	cfg := f.base
	cfg.AWS.RoleARN, cfg.AWS.ExternalID, cfg.AWS.Region = p.RoleARN, p.ExternalID, p.Region
	cfg.Log = f.base.Log.With("account", accountOf(p.RoleARN))
	account := accountOf(p.RoleARN)
	cfg.Progress = func(pr rotation.Progress) {
		f.progress(key, rotation.PlaceProgress{Account: account, Region: p.Region, Done: pr.Done, Total: pr.Total, Failed: pr.Failed})
	}
	if f.cfnFor != nil {
		api, err := f.cfnFor(ctx, cfg.AWS)
		if err != nil {
			return nil, err
		}
		cfg.CloudFormation = api
	}
	t, err := New(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("account %s region %s: %w", accountOf(p.RoleARN), p.Region, err)
	}
	// The role names the account before any pipeline does: a binding of
	// another account is refused from the start.
	t.learnAccount(accountOf(p.RoleARN))
	f.built[key] = t
	f.places = append(f.places, p)
	return t, nil
}

// progress records one place's progress and passes on the sum, with every
// place's part (the per-account progress of a run), to Config.Progress.
func (f *Fleet) progress(key string, p rotation.PlaceProgress) {
	if f.base.Progress == nil {
		return
	}
	f.progressMu.Lock()
	defer f.progressMu.Unlock()
	if i, found := slices.BinarySearch(f.statKeys, key); !found {
		f.statKeys = slices.Insert(f.statKeys, i, key)
	}
	f.stats[key] = p
	sum := rotation.Progress{Places: make([]rotation.PlaceProgress, 0, len(f.statKeys))}
	for _, k := range f.statKeys {
		s := f.stats[k]
		sum.Done, sum.Total, sum.Failed = sum.Done+s.Done, sum.Total+s.Total, sum.Failed+s.Failed
		sum.Places = append(sum.Places, s)
	}
	f.base.Progress(sum)
}

// Type is "codepipeline".
func (f *Fleet) Type() string { return Type }

// Places lists the account × region targets built so far ("account:region").
func (f *Fleet) Places() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Sorted(maps.Keys(f.built))
}

// RateStats reports each place's limiters, by "account:region".
func (f *Fleet) RateStats() map[string]map[string]ratelimit.Stats {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]map[string]ratelimit.Stats{}
	for k, t := range f.built {
		out[k] = t.RateStats()
	}
	return out
}

// targets is every place's Target, after finding the organization's
// accounts when the fleet has one.
func (f *Fleet) targets(ctx context.Context) ([]*Target, error) {
	if f.org != nil {
		accounts, err := f.orgAccounts(ctx)
		if err != nil {
			return nil, err
		}
		for _, a := range accounts {
			for _, r := range f.org.Regions {
				p := Place{RoleARN: "arn:aws:iam::" + a + ":role/" + f.org.RoleName, ExternalID: f.org.ExternalID, Region: r}
				if _, err := f.place(ctx, p); err != nil {
					return nil, err
				}
			}
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]*Target, 0, len(f.places))
	for _, p := range f.places {
		out = append(out, f.built[accountOf(p.RoleARN)+":"+p.Region])
	}
	return out, nil
}

// orgAccounts lists the organization's active accounts (under the OU and
// every OU below it, when one is given), sorted.
func (f *Fleet) orgAccounts(ctx context.Context) ([]string, error) {
	var ids []string
	add := func(as []orgtypes.Account) {
		for _, a := range as {
			if a.Id != nil && (a.Status == "" || a.Status == orgtypes.AccountStatusActive) {
				ids = append(ids, *a.Id)
			}
		}
	}
	if f.org.OU == "" {
		p := organizations.NewListAccountsPaginator(f.orgAPI, &organizations.ListAccountsInput{})
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				return nil, fmt.Errorf("organizations: list accounts: %w", awsx.Sanitize(err))
			}
			add(page.Accounts)
		}
	} else {
		// ListAccountsForParent lists the direct children only: walk the
		// units below.
		queue := []string{f.org.OU}
		for len(queue) > 0 {
			parent := queue[0]
			queue = queue[1:]
			p := organizations.NewListAccountsForParentPaginator(f.orgAPI, &organizations.ListAccountsForParentInput{ParentId: aws.String(parent)})
			for p.HasMorePages() {
				page, err := p.NextPage(ctx)
				if err != nil {
					return nil, fmt.Errorf("organizations: list accounts under %s: %w", parent, awsx.Sanitize(err))
				}
				add(page.Accounts)
			}
			u := organizations.NewListOrganizationalUnitsForParentPaginator(f.orgAPI, &organizations.ListOrganizationalUnitsForParentInput{ParentId: aws.String(parent)})
			for u.HasMorePages() {
				page, err := u.NextPage(ctx)
				if err != nil {
					return nil, fmt.Errorf("organizations: list units under %s: %w", parent, awsx.Sanitize(err))
				}
				for _, ou := range page.OrganizationalUnits {
					if ou.Id != nil {
						queue = append(queue, *ou.Id)
					}
				}
			}
		}
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	if len(ids) == 0 {
		where := "the organization"
		if f.org.OU != "" {
			where = f.org.OU
		}
		return nil, fmt.Errorf("organizations: no active account in %s", where)
	}
	return ids, nil
}

// Discover discovers every place at once and returns all their bindings;
// an error names the account and region it comes from. Each place is
// summarised in the log.
func (f *Fleet) Discover(ctx context.Context) ([]rotation.Binding, error) {
	return f.gather(ctx, (*Target).Discover)
}

// gather calls discover on every place at once and returns all their
// bindings, sorted; an error names the account and region it comes from.
func (f *Fleet) gather(ctx context.Context, discover func(*Target, context.Context) ([]rotation.Binding, error)) ([]rotation.Binding, error) {
	ts, err := f.targets(ctx)
	if err != nil {
		return nil, err
	}
	per := make([][]rotation.Binding, len(ts))
	errs := make([]error, len(ts))
	var wg sync.WaitGroup
	for i, t := range ts {
		wg.Go(func() {
			start := time.Now()
			per[i], errs[i] = discover(t, ctx)
			if errs[i] != nil {
				errs[i] = fmt.Errorf("account %s region %s: %w", t.ownAccount(), t.region, errs[i])
			}
			f.log.InfoContext(ctx, "discovered", "account", t.ownAccount(), "region", t.region, "bindings", len(per[i]), "seconds", time.Since(start).Seconds(), "ok", errs[i] == nil)
		})
	}
	wg.Wait()
	var out []rotation.Binding
	for _, bs := range per {
		out = append(out, bs...)
	}
	slices.SortFunc(out, func(a, b rotation.Binding) int { return strings.Compare(a.ID, b.ID) })
	return out, errors.Join(errs...)
}

// Inventory lists every GitHub v1 source action of every place.
func (f *Fleet) Inventory(ctx context.Context) ([]Action, error) {
	ts, err := f.targets(ctx)
	if err != nil {
		return nil, err
	}
	var (
		mu   sync.Mutex
		out  []Action
		errs []error
		wg   sync.WaitGroup
	)
	for _, t := range ts {
		wg.Go(func() {
			as, err := t.Inventory(ctx)
			mu.Lock()
			defer mu.Unlock()
			out = append(out, as...)
			if err != nil {
				errs = append(errs, fmt.Errorf("account %s region %s: %w", t.ownAccount(), t.region, err))
			}
		})
	}
	wg.Wait()
	slices.SortFunc(out, func(a, b Action) int { return strings.Compare(a.BindingID, b.BindingID) })
	return out, errors.Join(errs...)
}

// split routes bindings to their place by the account and region their ID
// names; a binding of no place of the fleet is reported failed.
func (f *Fleet) split(ctx context.Context, bindings []rotation.Binding, report func(rotation.Result)) (map[*Target][]rotation.Binding, []*Target) {
	ts, err := f.targets(ctx)
	byKey := map[string]*Target{}
	if err == nil {
		for _, t := range ts {
			byKey[t.ownAccount()+":"+t.region] = t
		}
	}
	out := map[*Target][]rotation.Binding{}
	var order []*Target
	for _, b := range bindings {
		key := placeKey(b)
		t, ok := byKey[key]
		if !ok {
			why := fmt.Errorf("binding %s: %w (no account and region of this target is %s)", b.ID, ErrForeignBinding, key)
			if err != nil {
				why = fmt.Errorf("binding %s: %w", b.ID, err)
			}
			report(rotation.Result{BindingID: b.ID, Err: why, Unchanged: true})
			continue
		}
		if _, ok := out[t]; !ok {
			order = append(order, t)
		}
		out[t] = append(out[t], b)
	}
	return out, order
}

// placeKey is "account:region" of b, as its ID names them (else its
// attributes).
func placeKey(b rotation.Binding) string {
	if rest, ok := strings.CutPrefix(b.ID, Type+":"); ok {
		if parts := strings.SplitN(rest, ":", 3); len(parts) == 3 {
			return parts[0] + ":" + parts[1]
		}
	}
	return b.Attrs[AttrAccount] + ":" + b.Attrs[AttrRegion]
}

// each runs fn on every place's bindings at once and logs each place's
// outcome: the per-account results of a run.
func (f *Fleet) each(ctx context.Context, step string, bindings []rotation.Binding, report func(rotation.Result), fn func(t *Target, bs []rotation.Binding, report func(rotation.Result))) {
	var mu sync.Mutex
	safe := func(r rotation.Result) { mu.Lock(); defer mu.Unlock(); report(r) }
	f.progressMu.Lock()
	clear(f.stats) // this call's places only
	f.statKeys = f.statKeys[:0]
	f.progressMu.Unlock()
	groups, order := f.split(ctx, bindings, safe)
	var wg sync.WaitGroup
	for _, t := range order {
		wg.Go(func() {
			start := time.Now()
			var failed int
			fn(t, groups[t], func(r rotation.Result) {
				if r.Err != nil {
					mu.Lock()
					failed++
					mu.Unlock()
				}
				safe(r)
			})
			mu.Lock()
			n := failed
			mu.Unlock()
			f.log.InfoContext(ctx, step+" done", "account", t.ownAccount(), "region", t.region, "bindings", len(groups[t]), "failed", n, "seconds", time.Since(start).Seconds())
		})
	}
	wg.Wait()
}

// Apply applies tok in every place at once.
func (f *Fleet) Apply(ctx context.Context, tok token.Token, bindings []rotation.Binding, report func(rotation.Result)) {
	f.ApplyWaiting(ctx, tok, bindings, rotation.WaitBounds{}, report)
}

// ApplyWaiting is Target.ApplyWaiting in every place at once.
func (f *Fleet) ApplyWaiting(ctx context.Context, tok token.Token, bindings []rotation.Binding, w rotation.WaitBounds, report func(rotation.Result)) {
	f.each(ctx, "apply", bindings, report, func(t *Target, bs []rotation.Binding, r func(rotation.Result)) {
		t.ApplyWaiting(ctx, tok, bs, w, r)
	})
}

// Verify verifies every place at once.
func (f *Fleet) Verify(ctx context.Context, tok token.Token, bindings []rotation.Binding, report func(rotation.Result)) {
	f.each(ctx, "verify", bindings, report, func(t *Target, bs []rotation.Binding, r func(rotation.Result)) {
		t.Verify(ctx, tok, bs, r)
	})
}

// Inspect inspects every place at once.
func (f *Fleet) Inspect(ctx context.Context, bindings []rotation.Binding, report func(rotation.Result)) {
	f.each(ctx, "inspect", bindings, report, func(t *Target, bs []rotation.Binding, r func(rotation.Result)) {
		t.Inspect(ctx, bs, r)
	})
}

// Vet vets each place's own bindings with the credential's others in view.
func (f *Fleet) Vet(ctx context.Context, own, all []rotation.Binding) ([]rotation.Binding, error) {
	var out []rotation.Binding
	var errs []error
	groups, order := f.split(ctx, own, func(r rotation.Result) { errs = append(errs, r.Err) })
	for _, t := range order {
		bs, err := t.Vet(ctx, groups[t], all)
		out = append(out, bs...)
		if err != nil {
			errs = append(errs, err)
		}
	}
	slices.SortFunc(out, func(a, b rotation.Binding) int { return strings.Compare(a.ID, b.ID) })
	return out, errors.Join(errs...)
}

// PipelineAction is Target.PipelineAction: it needs no place.
func (f *Fleet) PipelineAction(b rotation.Binding) (cfnref.PipelineAction, bool) {
	return (*Target)(nil).PipelineAction(b)
}

// PipelineActions is Inventory as rotor plan reads it, over every place.
func (f *Fleet) PipelineActions(ctx context.Context) ([]cfnref.PipelineAction, error) {
	inv, err := f.Inventory(ctx)
	return actionsOf(inv), err
}
