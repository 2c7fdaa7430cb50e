package codepipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/codepipeline"

	"github.com/rotor-ci/rotor/internal/awsx"
	"github.com/rotor-ci/rotor/internal/ratelimit"
	"github.com/rotor-ci/rotor/internal/rotation"
	"github.com/rotor-ci/rotor/internal/token"
)

// Type is the config name of the target.
const Type = "codepipeline"

// Verify modes.
const (
	VerifyReadback  = "readback"  // the update's own response (default)
	VerifyExecution = "execution" // also run the pipeline and see the source action succeed
)

// Defaults of Config's zero fields.
const (
	DefaultConcurrency      = 16
	DefaultExecutionTimeout = 2 * time.Minute
	DefaultPollInterval     = 2 * time.Second
)

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
	// OtherTokens returns the token another credential holds for a binding
	// (by ID), for the other GitHub actions of a pipeline: an update must
	// re-send them, since GetPipeline only shows "****". Nil, or not held:
	// that pipeline is refused. It must return the newest token the binding
	// may hold: the other credential's pending token once its run is
	// applying (it passed its checks), its current token otherwise.
	// Returning current while the other run is applying would write that
	// run's old token back over its new one.
	OtherTokens func(ctx context.Context, bindingID string) (token.Token, bool, error)
	Log         *slog.Logger
	// Progress is called after each pipeline of an Apply or Verify with the
	// bindings done so far (failed included), from any goroutine, in order.
	Progress func(done, total, failed int)
	// Limits tunes the adaptive limiter; zero: its defaults.
	Limits ratelimit.Options
	// CacheDir holds the pipeline inventory (what discovery learned of each
	// pipeline at each version; nothing secret) for the next process, so
	// that discovery reads only pipelines that changed since. "": the
	// user's cache directory (os.UserCacheDir()/rotor); "-": memory only.
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
	ErrTokenNotHeld       = errors.New("another GitHub action's token is not held by rotor")
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
	limits := ratelimit.NewGroup(cfg.Limits)
	client := codepipeline.NewFromConfig(awsCfg, func(o *codepipeline.Options) {
		o.APIOptions = append(o.APIOptions, awsx.Pace(limits))
	})
	return &Target{
		cfg:      cfg,
		client:   client,
		region:   awsCfg.Region,
		limits:   limits,
		log:      log.With("target", Type, "region", awsCfg.Region),
		inv:      newInventory(inventoryPath(cfg.CacheDir, cfg.AWS.EndpointURL, awsCfg.Region, cfg.AWS.Profile, cfg.AWS.RoleARN)),
		pageSize: cfg.pageSize,
		records:  map[string]*record{},
		tagsRead: map[string]time.Time{},
	}, nil
}

// Type is "codepipeline".
func (t *Target) Type() string { return Type }

// Region is the region the target works in.
func (t *Target) Region() string { return t.region }

// RateStats reports the adaptive limiter of each operation (for benchmarks
// and metrics).
func (t *Target) RateStats() map[string]ratelimit.Stats { return t.limits.Stats() }

// BindingID names one GitHub action of one pipeline:
// "codepipeline:<region>:<pipeline>/<stage>/<action>". Pipeline, stage and
// action names cannot contain "/", so the ID is unambiguous.
func BindingID(region, pipeline, stage, action string) string {
	return Type + ":" + region + ":" + pipeline + "/" + stage + "/" + action
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
)

// where locates a binding: from its attributes, or failing that its ID.
type where struct{ pipeline, stage, action string }

func (w where) String() string { return w.pipeline + "/" + w.stage + "/" + w.action }

func (t *Target) locate(b rotation.Binding) (where, error) {
	if b.Target != "" && b.Target != Type {
		return where{}, fmt.Errorf("binding %s: %w (target %q)", b.ID, ErrForeignBinding, b.Target)
	}
	w := where{b.Attrs[AttrPipeline], b.Attrs[AttrStage], b.Attrs[AttrAction]}
	prefix := Type + ":" + t.region + ":"
	rest, ok := strings.CutPrefix(b.ID, prefix)
	if !ok {
		return where{}, fmt.Errorf("binding %s: %w (not %s in %s)", b.ID, ErrForeignBinding, Type, t.region)
	}
	if w.pipeline == "" || w.stage == "" || w.action == "" {
		parts := strings.Split(rest, "/")
		if len(parts) != 3 {
			return where{}, fmt.Errorf("binding %s: %w (malformed id)", b.ID, ErrForeignBinding)
		}
		w = where{parts[0], parts[1], parts[2]}
	}
	if BindingID(t.region, w.pipeline, w.stage, w.action) != b.ID {
		return where{}, fmt.Errorf("binding %s: %w (attributes name %s)", b.ID, ErrForeignBinding, w)
	}
	return w, nil
}
