package rotation

import (
	"context"

	"github.com/rotor-ci/rotor/internal/token"
)

// Binding is one place a credential's token lives: one GitHub action in one
// pipeline, one secret, one file. Its ID is stable across runs.
type Binding struct {
	ID           string            `json:"id"`     // e.g. "codepipeline:us-east-1:MyFirstPipeline/Source/Source"
	Target       string            `json:"target"` // the target's Type()
	Resource     string            `json:"resource"`
	Repositories []string          `json:"repositories,omitempty"` // "owner/repo" the binding reads
	Scopes       []string          `json:"scopes,omitempty"`       // scopes the binding needs
	Attrs        map[string]string `json:"attrs,omitempty"`        // target-specific, persisted with the run
	Warnings     []string          `json:"warnings,omitempty"`     // for rotor plan
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
