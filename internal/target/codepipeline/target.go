package codepipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/codepipeline"

	"github.com/rotor-ci/rotor/internal/awsx"
	"github.com/rotor-ci/rotor/internal/cfnref"
	"github.com/rotor-ci/rotor/internal/ratelimit"
	"github.com/rotor-ci/rotor/internal/rotation"
)

// Type is the config name of the target.
const Type = "codepipeline"

// Verify modes.
const (
	VerifyReadback  = "readback"  // the update's own response (default)
	VerifyExecution = "execution" // also run the pipeline and see the source action succeed
)

// What Apply does with a pipeline that has an execution in progress
// (UpdatePipeline would stop it).
const (
	InFlightWait      = "wait"      // wait until it is idle, up to MaxWait (default)
	InFlightSkip      = "skip"      // leave the binding on the old token for now
	InFlightInterrupt = "interrupt" // update anyway: the execution stops
)

// What a wait does when the token the binding holds is about to expire.
const (
	OnExpiryInterrupt = "interrupt" // update before it dies, stopping the execution (default)
	OnExpiryWait      = "wait"      // keep waiting: the pipeline's source fails once the old token dies
)

// What Apply does with a pipeline's actions that this run does not rotate.
const (
	OtherActionsCarry  = "carry"  // send them back exactly as read: AWS keeps their tokens (default)
	OtherActionsRefuse = "refuse" // refuse the pipeline
)

// Defaults of Config's zero fields.
const (
	DefaultConcurrency      = 16
	DefaultExecutionTimeout = 2 * time.Minute
	DefaultPollInterval     = 2 * time.Second
	DefaultMaxWait          = 30 * time.Minute
	DefaultIdlePoll         = 10 * time.Second
)

// ExpiryMargin is how long before the old token expires a wait ends (by
// OnExpiry): enough for the update and for the pipeline's next fetch to
// use the new token.
const ExpiryMargin = 2 * time.Minute

// maxPageSize is the most pipelines ListPipelines returns at once.
const maxPageSize = 1000

// Scopes a classic token needs for a GitHub v1 source action.
var Scopes = []string{"repo", "admin:repo_hook"}

// Config configures one codepipeline target of a credential.
type Config struct {
	AWS awsx.Config
	// Pipelines names pipelines; each must exist and have a GitHub v1
	// action (that matches Match, when both are set).
	Pipelines []string
	// Match selects GitHub v1 actions by repository; empty fields match
	// anything. Without Pipelines it scans every pipeline of the region.
	Match *Match
	// Verify is VerifyReadback (default) or VerifyExecution.
	Verify string
	// AllowCloudFormationDrift lets rotor update pipelines that a
	// CloudFormation stack manages (the stack drifts; its next update
	// writes the template's token back).
	AllowCloudFormationDrift bool
	// Concurrency is how many pipelines are in flight; default 16. The
	// limiter, not this, keeps the calls under the service's rate; this
	// bounds how long a pipeline read for an update may wait for its
	// update slot (about Concurrency / rate) and how many calls latency
	// allows per second (about Concurrency / latency per pipeline).
	Concurrency      int
	ExecutionTimeout time.Duration // verify: execution; default 2 min
	PollInterval     time.Duration // how often an execution is polled; default 2 s
	// InFlight is what Apply does with a pipeline that has an execution
	// in progress: InFlightWait (default), InFlightSkip or
	// InFlightInterrupt.
	InFlight string
	// MaxWait bounds a wait (default 30 min); a binding still busy then is
	// reported Waiting and keeps the old token.
	MaxWait time.Duration
	// OnExpiry is what a wait does ExpiryMargin before the old token
	// expires: OnExpiryInterrupt (default) or OnExpiryWait.
	OnExpiry string
	// IdlePoll is how often, at most, a waiting pipeline's executions are
	// read (default 10 s): first after a second, then twice as long each
	// time, up to IdlePoll. Short deployments move soon, long ones cost
	// few calls.
	IdlePoll time.Duration
	// OtherActions is what Apply does with the pipeline's GitHub actions
	// (and other secret properties) this run does not rotate:
	// OtherActionsCarry (default) or OtherActionsRefuse.
	OtherActions string
	// CloudFormation reads stack templates, to prove a stack-managed
	// pipeline safe to rotate (Vet); nil: a client for the target's own
	// account and region.
	CloudFormation cfnref.API
	// Holds says what the credential's other bindings hold (a secret or
	// parameter the stack may read the token from), for Vet; nil: nothing,
	// so that no stack-managed pipeline is proven safe.
	Holds cfnref.Holds
	Log   *slog.Logger
	// Progress is called after each pipeline of an Apply or Verify with the
	// bindings done so far (failed included), one call at a time, in order.
	Progress func(rotation.Progress)
	// Limits tunes the adaptive limiter; zero: its defaults.
	Limits ratelimit.Options
	// Calls, if set, hears of every attempt of every CodePipeline call
	// (retries included) with its account and region: rotor serve's
	// per-account call and throttle metrics. It must be quick and safe for
	// concurrent use.
	Calls func(ratelimit.Call)
	// Inventory keeps the pipeline inventory (what discovery learned of
	// each pipeline at each version; nothing secret) for every replica and
	// the next process, so that discovery reads only pipelines that changed
	// since: rotor's store. nil: a file in CacheDir.
	Inventory InventoryStore
	// CacheDir holds the inventory's file when there is no Inventory. "":
	// the user's cache directory (os.UserCacheDir()/rotor); "-": memory
	// only.
	CacheDir string

	pageSize int32 // ListPipelines page size; tests make it small
}

// Match selects GitHub v1 source actions by repository. Owner and Repo
// compare without regard to case, as GitHub names do.
type Match struct {
	Owner, Repo, Branch string
}

func (m *Match) matches(a ghAction) bool {
	if m == nil {
		return true
	}
	return (m.Owner == "" || strings.EqualFold(m.Owner, a.owner)) &&
		(m.Repo == "" || strings.EqualFold(m.Repo, a.repo)) &&
		(m.Branch == "" || m.Branch == a.branch)
}

// Errors callers can branch on; each is wrapped with the pipeline and action.
var (
	ErrConfig             = errors.New("codepipeline target config")
	ErrPipelineNotFound   = errors.New("pipeline not found")
	ErrNoGitHubAction     = errors.New("no GitHub (version 1) source action")
	ErrCloudFormation     = errors.New("managed by CloudFormation")
	ErrOtherActions       = errors.New("the pipeline has actions this credential does not rotate (other_actions: refuse)")
	ErrActionChanged      = errors.New("action changed since discovery")
	ErrWouldChange        = errors.New("update would change more than the token")
	ErrReadback           = errors.New("read-back differs")
	ErrNotApplied         = errors.New("pipeline does not hold the token")
	ErrSourceFailed       = errors.New("source action failed")
	ErrExecutionTimeout   = errors.New("execution did not finish in time")
	ErrForeignBinding     = errors.New("binding is not this target's")
	ErrMaskedSecret       = errors.New("another secret property is masked and would be overwritten")
	errVersionUnavailable = errors.New("no version in response")
)

// Target is a codepipeline target. It is safe for concurrent use.
type Target struct {
	cfg    Config
	client *codepipeline.Client
	region string
	limits *ratelimit.Group
	log    *slog.Logger

	inv      *inventory
	pageSize int32
	cfn      cfnref.API

	accountMu sync.Mutex
	account   string // learnt from pipeline ARNs; "" until then

	mu       sync.Mutex
	records  map[string]*record   // by pipeline: what this process last wrote
	tagsRead map[string]time.Time // by pipeline: when this process read its tags
}

var _ rotation.Target = (*Target)(nil)

// New checks cfg and builds the AWS client. It calls no AWS API.
func New(ctx context.Context, cfg Config) (*Target, error) {
	switch {
	case len(cfg.Pipelines) == 0 && cfg.Match == nil:
		return nil, fmt.Errorf("%w: name pipelines or give a match", ErrConfig)
	case cfg.Verify == "":
		cfg.Verify = VerifyReadback
	case cfg.Verify != VerifyReadback && cfg.Verify != VerifyExecution:
		return nil, fmt.Errorf("%w: verify %q is not %q or %q", ErrConfig, cfg.Verify, VerifyReadback, VerifyExecution)
	}
	if err := cfg.policyDefaults(); err != nil {
		return nil, err
	}
	for _, p := range cfg.Pipelines {
		if p == "" {
			return nil, fmt.Errorf("%w: empty pipeline name", ErrConfig)
		}
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = DefaultConcurrency
	}
	if cfg.ExecutionTimeout <= 0 {
		cfg.ExecutionTimeout = DefaultExecutionTimeout
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = DefaultPollInterval
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	awsCfg, err := awsx.Load(ctx, cfg.AWS)
	if err != nil {
		return nil, err
	}
	if cfg.pageSize <= 0 {
		cfg.pageSize = maxPageSize
	}
	cfn := cfg.CloudFormation
	if cfn == nil {
		cfn = cloudformation.NewFromConfig(awsCfg)
	}
	t := &Target{
		cfg:      cfg,
		region:   awsCfg.Region,
		limits:   ratelimit.NewGroup(cfg.Limits),
		log:      log.With("target", Type, "region", awsCfg.Region),
		inv:      newInventory(cfg.keeper(awsCfg.Region)),
		pageSize: cfg.pageSize,
		cfn:      cfn,
		records:  map[string]*record{},
		tagsRead: map[string]time.Time{},
	}
	var observe func(ratelimit.Call)
	if cfg.Calls != nil {
		observe = t.observe
	}
	t.client = codepipeline.NewFromConfig(awsCfg, func(o *codepipeline.Options) {
		o.APIOptions = append(o.APIOptions, awsx.Pace(t.limits, observe))
	})
	return t, nil
}

// observe passes a paced call on to Config.Calls with the account it went
// to, which the request does not name.
func (t *Target) observe(c ratelimit.Call) {
	c.Account = t.callAccount()
	t.cfg.Calls(c)
}

// callAccount is the account a call went to, as far as the target knows at
// the time: its own once its pipelines named it; before that the role's
// (every place of a fleet has one), or the account of the pipelines that
// the inventory remembers of this view, from earlier discoveries of this
// process or, through the store, of another; "" when none is known yet, as
// for the first calls (ListPipelines, the first GetPipelines) of a target
// without a role that has never discovered before. The last two only name
// calls: they decide nothing about bindings.
func (t *Target) callAccount() string {
	if a := t.ownAccount(); a != "" {
		return a
	}
	if a := accountOf(t.cfg.AWS.RoleARN); a != "" {
		return a
	}
	return t.inv.account()
}

// keeper is where the inventory of the account view the target talks to
// lives between processes: the store when there is one, else a file.
func (c Config) keeper(region string) keeper {
	view := []string{c.AWS.EndpointURL, region, c.AWS.Profile, c.AWS.RoleARN}
	if c.Inventory != nil {
		return storeKeeper{st: c.Inventory, place: inventoryPlace(view...)}
	}
	if p := inventoryPath(c.CacheDir, view...); p != "" {
		return fileKeeper{path: p}
	}
	return nil
}

// Type is "codepipeline".
func (t *Target) Type() string { return Type }

// Region is the region the target works in.
func (t *Target) Region() string { return t.region }

// RateStats reports the adaptive limiter of each operation (for benchmarks
// and metrics).
func (t *Target) RateStats() map[string]ratelimit.Stats { return t.limits.Stats() }

// BindingID names one GitHub action of one pipeline:
// "codepipeline:<account>:<region>:<pipeline>/<stage>/<action>", so that the
// same pipeline name in two accounts or regions never collides. Pipeline,
// stage and action names cannot contain "/" or ":", so the ID is
// unambiguous.
func BindingID(account, region, pipeline, stage, action string) string {
	return Type + ":" + account + ":" + region + ":" + pipeline + "/" + stage + "/" + action
}

// legacyBindingID is the ID rotor gave a binding before IDs named the
// account: "codepipeline:<region>:<pipeline>/<stage>/<action>". Runs stored
// by those versions still use it.
func legacyBindingID(region, pipeline, stage, action string) string {
	return Type + ":" + region + ":" + pipeline + "/" + stage + "/" + action
}

// PipelineARN is the ARN of a pipeline, the binding's Resource.
func PipelineARN(account, region, pipeline string) string {
	return "arn:aws:codepipeline:" + region + ":" + account + ":" + pipeline
}

// Attribute keys of a binding.
const (
	AttrPipeline = "pipeline"
	AttrStage    = "stage"
	AttrAction   = "action"
	AttrOwner    = "owner"
	AttrRepo     = "repo"
	AttrBranch   = "branch"
	AttrStack    = "stack"
	AttrAccount  = "account"
	AttrRegion   = "region"
	// AttrStackProven marks a stack-managed binding that Vet proved safe:
	// the stack reads the token from a secret or parameter this credential
	// rotates first.
	AttrStackProven = "stack_proven"
)

// where locates a binding.
type where struct{ account, pipeline, stage, action string }

func (w where) String() string { return w.pipeline + "/" + w.stage + "/" + w.action }

// locate finds a binding's pipeline, stage and action from its ID, in the
// current form or the legacy one, and checks that it is this target's:
// its region, and its account once the target knows its own.
func (t *Target) locate(b rotation.Binding) (where, error) {
	if b.Target != "" && b.Target != Type {
		return where{}, fmt.Errorf("binding %s: %w (target %q)", b.ID, ErrForeignBinding, b.Target)
	}
	rest, ok := strings.CutPrefix(b.ID, Type+":")
	if !ok {
		return where{}, fmt.Errorf("binding %s: %w (not a %s binding)", b.ID, ErrForeignBinding, Type)
	}
	var w where
	parts := strings.Split(rest, ":")
	switch len(parts) {
	case 3: // account:region:pipeline/stage/action
		w.account, rest = parts[0], parts[2]
		if parts[1] != t.region {
			return where{}, fmt.Errorf("binding %s: %w (not in %s)", b.ID, ErrForeignBinding, t.region)
		}
	case 2: // legacy: region:pipeline/stage/action
		w.account, rest = b.Attrs[AttrAccount], parts[1]
		if parts[0] != t.region {
			return where{}, fmt.Errorf("binding %s: %w (not in %s)", b.ID, ErrForeignBinding, t.region)
		}
	default:
		return where{}, fmt.Errorf("binding %s: %w (malformed id)", b.ID, ErrForeignBinding)
	}
	names := strings.Split(rest, "/")
	if len(names) != 3 || names[0] == "" || names[1] == "" || names[2] == "" {
		return where{}, fmt.Errorf("binding %s: %w (malformed id)", b.ID, ErrForeignBinding)
	}
	w.pipeline, w.stage, w.action = names[0], names[1], names[2]
	if own := t.ownAccount(); own != "" && w.account != "" && w.account != own {
		return where{}, fmt.Errorf("binding %s: %w (account %s, this target works in %s)", b.ID, ErrForeignBinding, w.account, own)
	}
	return w, nil
}

// ownAccount is the account the target's pipelines live in, once learnt.
func (t *Target) ownAccount() string {
	t.accountMu.Lock()
	defer t.accountMu.Unlock()
	return t.account
}

func (t *Target) learnAccount(account string) {
	if account == "" {
		return
	}
	t.accountMu.Lock()
	defer t.accountMu.Unlock()
	if t.account == "" {
		t.account = account
	}
}

// policyDefaults fills and checks the in-flight and other-actions policy.
func (c *Config) policyDefaults() error {
	if c.InFlight == "" {
		c.InFlight = InFlightWait
	}
	if c.OnExpiry == "" {
		c.OnExpiry = OnExpiryInterrupt
	}
	if c.OtherActions == "" {
		c.OtherActions = OtherActionsCarry
	}
	if c.MaxWait <= 0 {
		c.MaxWait = DefaultMaxWait
	}
	if c.IdlePoll <= 0 {
		c.IdlePoll = DefaultIdlePoll
	}
	switch {
	case c.InFlight != InFlightWait && c.InFlight != InFlightSkip && c.InFlight != InFlightInterrupt:
		return fmt.Errorf("%w: in_flight %q is not wait, skip or interrupt", ErrConfig, c.InFlight)
	case c.OnExpiry != OnExpiryInterrupt && c.OnExpiry != OnExpiryWait:
		return fmt.Errorf("%w: on_expiry %q is not interrupt or wait", ErrConfig, c.OnExpiry)
	case c.OtherActions != OtherActionsCarry && c.OtherActions != OtherActionsRefuse:
		return fmt.Errorf("%w: other_actions %q is not carry or refuse", ErrConfig, c.OtherActions)
	}
	return nil
}
