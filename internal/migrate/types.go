// Package migrate moves a credential's GitHub (version 1) source actions
// off its personal token, onto the GitHub (version 2) action
// (CodeStarSourceConnection), which holds no token: it uses a
// CodeConnections connection. Each action is rewritten for the same
// owner/repo/branch and nothing else, its pipeline verified by an
// execution and put back on its version 1 action (rotor holds the token) if
// that fails. A migration is a run of the credential (Trigger migrate),
// persisted action by action under the credential's lease, audited, and
// resumable after a crash. Once the last action moved, the token retires
// through the engine's Retire and the credential is migrated.
//
// The package knows pipelines and connections only through the interfaces
// below; wiring gives it the codepipeline target's implementation.
package migrate

import (
	"context"
	"errors"
	"time"

	"github.com/rotor-ci/rotor/internal/rotation"
	"github.com/rotor-ci/rotor/internal/token"
)

// Inspection is what a migration must know of one GitHub (version 1)
// action before it moves it, and what can block the move.
type Inspection struct {
	// V1 is the action's configuration without its OAuthToken: what the
	// way back restores (with the token rotor holds).
	V1 map[string]string
	// Stack is the CloudFormation stack that manages the pipeline ("" if
	// none): the stack must make the change, not rotor.
	Stack string
	// Role is the role the action runs with (its roleArn, else the
	// pipeline's): it needs UseConnection on the connection.
	Role string
	// Namespace is the action's variable namespace ("" if none).
	Namespace string
	// V1OnlyRefs are the downstream references to an output variable the
	// version 2 action does not have ("Build/Deploy: #{SourceVariables.CommitUrl}").
	V1OnlyRefs []string
	// V2 is the action the migration writes (for plan's CloudFormation
	// advice): actionTypeId and configuration, with connection as given.
	V2 map[string]any
}

// Webhook is a version 1 webhook of a pipeline. The secret is shown by
// fingerprint only.
type Webhook struct {
	Name, Pipeline, Action string
	// Account and Region are where the webhook lives: a pipeline of the
	// same name in another place is another pipeline ("" matches any).
	Account, Region   string
	SecretFingerprint string // of authenticationConfiguration.SecretToken; "" if none
}

// Pipelines is one codepipeline target of the credential, as a migration
// uses it. Binding IDs are the target's (rotation.Binding).
type Pipelines interface {
	// MoveWait bounds the wait for a busy pipeline before an action is
	// left on version 1 ("waiting") for the next try: the target's
	// in_flight and max_wait. 0: one look, no wait.
	MoveWait() time.Duration
	// V1Actions lists the target's GitHub (version 1) actions; a named
	// pipeline without one any more (moved) is not an error.
	V1Actions(ctx context.Context) ([]rotation.Binding, error)
	// InspectMove reads b's pipeline (read-only) for what the migration needs.
	InspectMove(ctx context.Context, b rotation.Binding, connection string) (Inspection, error)
	// ToConnection rewrites b's version 1 action into the version 2 action
	// for the same repository and branch on connection, changing nothing
	// else (the minimal-change guard of token rotations). detect sets
	// DetectChanges. A pipeline with an execution in progress is not
	// updated: the error wraps ErrBusy. Idempotent: an action already moved
	// to connection is left as it is.
	ToConnection(ctx context.Context, b rotation.Binding, connection string, detect bool) error
	// ToV1 puts b's version 1 action back: configuration v1 with tok.
	// ErrBusy as for ToConnection. Idempotent.
	ToV1(ctx context.Context, b rotation.Binding, v1 map[string]string, tok token.Token) error
	// VerifyExecution starts b's pipeline and waits until b's source
	// action succeeded (nil) or failed (the error says why).
	VerifyExecution(ctx context.Context, b rotation.Binding) error
	// Webhooks lists the version 1 webhooks of the target's accounts and
	// regions.
	Webhooks(ctx context.Context) ([]Webhook, error)
	// RegisterWebhook, DeregisterWebhook and DeleteWebhook act on one
	// webhook by name, in the account and region of b, the action it
	// targets. Deregistering needs the version 1 action (its token deletes
	// the GitHub hook), so it comes before the move.
	RegisterWebhook(ctx context.Context, b rotation.Binding, name string) error
	DeregisterWebhook(ctx context.Context, b rotation.Binding, name string) error
	DeleteWebhook(ctx context.Context, b rotation.Binding, name string) error
	// Connections is the CodeConnections API in place, one of the target's
	// accounts and regions, with the target's credentials there: a
	// connection is seen from its own account and region only. A place
	// that is not the target's is an error.
	Connections(ctx context.Context, place Place) (Connections, error)
}

// Connection statuses (CodeConnections' ConnectionStatus).
const (
	ConnectionPending   = "PENDING"
	ConnectionAvailable = "AVAILABLE"
	ConnectionError     = "ERROR"
)

// Connections is the CodeConnections API as a migration uses it.
type Connections interface {
	// Status is the connection's ConnectionStatus.
	Status(ctx context.Context, arn string) (string, error)
	// Create creates a GitHub connection (PENDING until the console
	// handshake) and returns its ARN.
	Create(ctx context.Context, name string) (string, error)
	// ConsoleURL is where a person completes the handshake.
	ConsoleURL(arn string) string
}

// Errors callers branch on.
var (
	// ErrBusy: the pipeline runs an execution that an update would stop.
	ErrBusy = errors.New("the pipeline has an execution in progress")
	// ErrNotAvailable: the connection cannot be used yet (PENDING) or any
	// more (ERROR).
	ErrNotAvailable = errors.New("connection not available")
	// ErrRolledBack: at least one pipeline failed its verification and was
	// put back on its version 1 action (the CLI exits 3).
	ErrRolledBack = errors.New("migration rolled back")
	// ErrFailed: an action could not be moved or put back.
	ErrFailed = errors.New("migration failed")
	// ErrNothing: the credential has no version 1 action to move.
	ErrNothing = errors.New("no GitHub (version 1) action to migrate")
	// ErrNoConnection: an action to move has no connection of its account
	// and region; the migration is refused before anything is written.
	ErrNoConnection = errors.New("no connection in the pipeline's account and region")
	// ErrBadConnection: a connection ARN is malformed, or two are in the
	// same account and region.
	ErrBadConnection = errors.New("bad connection")
	// ErrSeveralPlaces: a connection to create would serve actions in
	// several accounts and regions; it can be in one only.
	ErrSeveralPlaces = errors.New("the pipelines are in several accounts and regions")
)

// V1OnlyVariables are the output variables of the version 1 action that the
// version 2 action does not have (reference: "The GitHub (version 2)
// source action").
var V1OnlyVariables = []string{"CommitUrl", "RepositoryName", "CommitterDate"}

// UseConnectionStatement is the policy statement the role of a pipeline
// needs for connection: the action's prefix must be the ARN's.
func UseConnectionStatement(connection string) string {
	prefix := "codeconnections"
	if len(connection) > len("arn:aws:codestar-connections:") && connection[:len("arn:aws:codestar-connections:")] == "arn:aws:codestar-connections:" {
		prefix = "codestar-connections"
	}
	if connection == "" {
		connection = "*"
	}
	return `{"Effect": "Allow", "Action": "` + prefix + `:UseConnection", "Resource": "` + connection + `"}`
}
