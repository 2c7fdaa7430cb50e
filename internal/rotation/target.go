package rotation

import (
	"context"
	"time"

	"github.com/rotor-ci/rotor/internal/token"
)

// Binding is one place a credential's token lives: one GitHub action in one
// pipeline, one secret, one file. Its ID is stable across runs.
type Binding struct {
	ID           string            `json:"id"`     // e.g. "codepipeline:123456789012:us-east-1:MyFirstPipeline/Source/Source"
	Target       string            `json:"target"` // the target's Type()
	Resource     string            `json:"resource"`
	Repositories []string          `json:"repositories,omitempty"` // "owner/repo" the binding reads
	Scopes       []string          `json:"scopes,omitempty"`       // scopes the binding needs
	Attrs        map[string]string `json:"attrs,omitempty"`        // target-specific, persisted with the run
	Warnings     []string          `json:"warnings,omitempty"`     // for rotor plan
	// Aliases are IDs earlier rotor versions gave this binding, so that
	// what they stored (runs, watch baselines) still matches it.
	Aliases []string `json:"aliases,omitempty"`
	// Slot is the index of the credential's target that produced the
	// binding; the engine sets it so that a resumed run finds the target.
	Slot int `json:"slot"`
}

// Result is the outcome of one binding in Apply, Verify or Rollback.
type Result struct {
	BindingID string
	Err       error // nil on success; sanitised, never holds a token
	// Unchanged, with Err, says the target knows the binding was left as it
	// was: the service refused the write (a 4xx answer, a refusal before any
	// write). Rollback then has nothing to undo there. Leave it false when
	// in doubt (a timeout, a 5xx): rollback will restore the binding.
	Unchanged bool
	// Waiting, with Err nil, says the binding was not written because the
	// place it lives in is busy (a pipeline running a deployment, which an
	// update would stop) and why: it still holds what it held before, and
	// moves once the place is idle.
	Waiting string
	// Interrupted names what the write stopped (executions in progress,
	// allowed by the target's policy), for the run's result and its audit
	// record.
	Interrupted []string
}

// Progress is how far one Apply or Verify of a target with many bindings
// has come, for progress output: its bindings done so far (failed
// included) and, for a target spanning several AWS accounts and regions,
// the same for each.
type Progress struct {
	Done, Total, Failed int
	// Places is the progress per account × region, sorted by account then
	// region; empty for a target in one place.
	Places []PlaceProgress
}

// PlaceProgress is one account × region's part of a Progress.
type PlaceProgress struct {
	Account, Region     string
	Done, Total, Failed int
}

// Target writes a credential's token into the places that use it.
// Implementations do their own fan-out (bounded concurrency, rate limits,
// retries) because only they know their API's limits; they are safe for
// concurrent use.
type Target interface {
	// Type is the config name of the target ("codepipeline", "file").
	Type() string
	// Discover expands the target into bindings. Read-only. A binding that
	// cannot be used safely is an error naming it, not a silent skip.
	Discover(ctx context.Context) ([]Binding, error)
	// Apply writes tok into each binding and changes nothing else. Idempotent.
	// report is called once per binding, from any goroutine, as each finishes.
	Apply(ctx context.Context, tok token.Token, bindings []Binding, report func(Result))
	// Verify proves each binding works with tok (read-back, and where
	// configured a live check). Read-only. report as in Apply.
	Verify(ctx context.Context, tok token.Token, bindings []Binding, report func(Result))
}

// Rollbacker is implemented by targets that have a better way back than
// applying the previous token again (Secrets Manager moves AWSCURRENT back).
type Rollbacker interface {
	Rollback(ctx context.Context, prev token.Token, bindings []Binding, report func(Result))
}

// Inspector is implemented by targets that can tell, read-only, whether
// bindings still work with the token they hold (for CodePipeline: the
// latest source action did not fail with "Could not access the GitHub
// repository"). report is called once per binding; a nil Err means healthy.
// rotor serve's watcher uses it; targets without it are watched through
// Discover alone.
type Inspector interface {
	Inspect(ctx context.Context, bindings []Binding, report func(Result))
}

// WaitBounds bound how long a Waiter waits for busy bindings.
type WaitBounds struct {
	// NoWait applies only bindings whose place is idle now and reports the
	// others Waiting at once (rotor serve moving stragglers on a tick).
	NoWait bool
	// HeldExpires is when the token the bindings hold now stops working
	// (zero: never). A binding must not be left waiting past it: the
	// target's expiry policy decides what happens before then.
	HeldExpires time.Time
}

// Waiter is implemented by targets whose bindings can be busy: a pipeline
// with an execution in progress, which UpdatePipeline would stop. The
// engine calls ApplyWaiting instead of Apply; Apply itself waits as the
// target's policy says, with no expiry.
type Waiter interface {
	ApplyWaiting(ctx context.Context, tok token.Token, bindings []Binding, w WaitBounds, report func(Result))
}

// Vetter is implemented by targets whose bindings can be proven safe only
// with the credential's other bindings in view (a CloudFormation-managed
// pipeline whose stack reads the token from a secret the same credential
// rotates). The engine calls it after discovery, before any token is
// minted or asked for; own are the bindings this target discovered, all
// every binding of the credential in apply order. It returns own, marked
// as proven where that matters, or an error naming every binding it
// refuses.
type Vetter interface {
	Vet(ctx context.Context, own, all []Binding) ([]Binding, error)
}
