package secretsmanager

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/aws/aws-sdk-go-v2/aws"
	sm "github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/rotor-ci/rotor/internal/awsx"
	"github.com/rotor-ci/rotor/internal/cfnref"
	"github.com/rotor-ci/rotor/internal/rotation"
	"github.com/rotor-ci/rotor/internal/target/awsone"
	"github.com/rotor-ci/rotor/internal/token"
)

// defaultKey is the service's own key, which a resource without a key of
// its own uses.
const defaultKey = "alias/aws/secretsmanager"

// Type is the target's name in the config.
const Type = "secretsmanager"

// Binding attributes, for rotor plan and cfnref.Assess.
const (
	AttrRegion  = "region"
	AttrARN     = "arn"
	AttrName    = "name"
	AttrJSONKey = "json_key"
	AttrKMSKey  = "kms_key_id" // the secret's key as Secrets Manager reports it; empty: aws/secretsmanager
)

// Config is one secretsmanager target.
type Config struct {
	AWS      awsx.Config
	SecretID string // name or ARN
	JSONKey  string // empty: the token is the whole SecretString
	KMSKeyID string // empty: whatever key the secret has; else it must be this one
	Log      *slog.Logger
}

// Errors callers branch on.
var (
	// ErrSecretNotFound: the secret does not exist (or is scheduled for
	// deletion). rotor does not create secrets.
	ErrSecretNotFound = errors.New("secret not found")
	// ErrKMSKeyMismatch: the secret is encrypted with another key than the
	// config says.
	ErrKMSKeyMismatch = errors.New("secret's KMS key is not the configured one")
	// ErrManaged: another AWS service owns the secret (RDS, …).
	ErrManaged = errors.New("secret is managed by another service")
	// ErrBinary: the secret holds SecretBinary, not a string.
	ErrBinary = errors.New("secret holds a binary value")
	// ErrMismatch: Verify found another token than the one applied.
	ErrMismatch = errors.New("secret does not hold the token")
)

// api is the part of *secretsmanager.Client the target uses.
type api interface {
	DescribeSecret(context.Context, *sm.DescribeSecretInput, ...func(*sm.Options)) (*sm.DescribeSecretOutput, error)
	GetSecretValue(context.Context, *sm.GetSecretValueInput, ...func(*sm.Options)) (*sm.GetSecretValueOutput, error)
	PutSecretValue(context.Context, *sm.PutSecretValueInput, ...func(*sm.Options)) (*sm.PutSecretValueOutput, error)
	UpdateSecretVersionStage(context.Context, *sm.UpdateSecretVersionStageInput, ...func(*sm.Options)) (*sm.UpdateSecretVersionStageOutput, error)
	ListSecretVersionIds(context.Context, *sm.ListSecretVersionIdsInput, ...func(*sm.Options)) (*sm.ListSecretVersionIdsOutput, error)
}

var _ api = (*sm.Client)(nil)

// Target keeps a token in one secret. Safe for concurrent use; it holds no
// state between calls.
type Target struct {
	awsone.Base
	api api
	c   Config
}

var (
	_ rotation.Target     = (*Target)(nil)
	_ rotation.Rollbacker = (*Target)(nil)
	_ rotation.ReadBacker = (*Target)(nil)
)

// New builds the target. It calls no AWS API; Discover does.
func New(ctx context.Context, c Config) (*Target, error) {
	cfg, err := awsone.Load(ctx, c.AWS, Type, "secret_id", c.SecretID)
	if err != nil {
		return nil, err
	}
	return newTarget(c, sm.NewFromConfig(cfg), cfg.Region), nil
}

func newTarget(c Config, a api, region string) *Target {
	return &Target{Base: awsone.NewBase(Type, region, "secret", c.SecretID, c.Log), api: a, c: c}
}

func (t *Target) Type() string { return Type }

// Discover checks that the secret exists, is rotor's to write, is encrypted
// with the configured key and (with a JSON key) holds a JSON object, and
// returns its one binding. Read-only.
func (t *Target) Discover(ctx context.Context) ([]rotation.Binding, error) {
	d, err := t.describe(ctx)
	if err != nil {
		return nil, t.Wrap(err)
	}
	if o := aws.ToString(d.OwningService); o != "" {
		return nil, t.Wrap(fmt.Errorf("%w (%s): rotate it through that service", ErrManaged, o))
	}
	have := aws.ToString(d.KmsKeyId)
	if t.c.KMSKeyID != "" && !awsone.SameKMSKey(t.c.KMSKeyID, have, defaultKey) {
		return nil, t.Wrap(fmt.Errorf("%w: the secret uses %s, the config says %s; rotor never re-encrypts a secret: fix kms_key_id or the secret", ErrKMSKeyMismatch, awsone.OrDefaultKey(have, defaultKey), t.c.KMSKeyID))
	}
	b := rotation.Binding{
		ID:       t.BindingID(),
		Target:   Type,
		Resource: aws.ToString(d.ARN),
		Attrs: map[string]string{
			AttrRegion: t.Region, AttrARN: aws.ToString(d.ARN), AttrName: aws.ToString(d.Name),
			AttrJSONKey: t.c.JSONKey, AttrKMSKey: have,
		},
	}
	if aws.ToBool(d.RotationEnabled) {
		b.Warnings = append(b.Warnings, fmt.Sprintf("secret %s also has Secrets Manager rotation enabled (%s): that rotation would overwrite rotor's token; turn one of them off", t.c.SecretID, aws.ToString(d.RotationLambdaARN)))
	}
	if current(d) == "" {
		b.Warnings = append(b.Warnings, fmt.Sprintf("secret %s has no AWSCURRENT version yet: rotor will write the first one", t.c.SecretID))
	} else if _, err := t.readCurrent(ctx); errors.Is(err, errNoKey) {
		b.Warnings = append(b.Warnings, fmt.Sprintf("secret %s has no key %q yet: rotor will add it", t.c.SecretID, t.c.JSONKey))
	} else if err != nil {
		// Reading now (read-only) finds a binary secret or a string that is
		// not JSON before any credential is touched.
		return nil, t.Wrap(err)
	}
	return []rotation.Binding{b}, nil
}

// Apply writes tok as a new version and makes it AWSCURRENT. Idempotent:
// the version id comes from tok's fingerprint, so a retried or resumed
// call finds the version it wrote.
func (t *Target) Apply(ctx context.Context, tok token.Token, bindings []rotation.Binding, report func(rotation.Result)) {
	for _, b := range bindings {
		report(rotation.Result{BindingID: b.ID, Err: t.Result(t.apply(ctx, tok), tok)})
	}
}

// Verify reads AWSCURRENT back and compares fingerprints. Read-only.
func (t *Target) Verify(ctx context.Context, tok token.Token, bindings []rotation.Binding, report func(rotation.Result)) {
	for _, b := range bindings {
		report(rotation.Result{BindingID: b.ID, Err: t.Result(t.verify(ctx, tok), tok)})
	}
}

// ReadBack implements rotation.ReadBacker (rotor adopt): Verify is a
// read-back already.
func (t *Target) ReadBack(ctx context.Context, tok token.Token, bindings []rotation.Binding, report func(rotation.Result)) {
	t.Verify(ctx, tok, bindings, report)
}

// Rollback moves AWSCURRENT back to the version holding prev (found by
// fingerprint); when no version holds it any more, it writes prev again.
func (t *Target) Rollback(ctx context.Context, prev token.Token, bindings []rotation.Binding, report func(rotation.Result)) {
	for _, b := range bindings {
		report(rotation.Result{BindingID: b.ID, Err: t.Result(t.rollback(ctx, prev), prev)})
	}
}

func (t *Target) verify(ctx context.Context, tok token.Token) error {
	v, err := t.readCurrent(ctx)
	if errors.Is(err, errNoVersion) {
		return fmt.Errorf("%w: no AWSCURRENT version", ErrMismatch)
	}
	if err != nil {
		return err
	}
	if got := token.Fingerprint(v.value); got != tok.Fingerprint() {
		return fmt.Errorf("%w: AWSCURRENT (version %s) holds %s, want %s", ErrMismatch, v.versionID, got, tok.Fingerprint())
	}
	return nil
}

var _ cfnref.Holder = (*Target)(nil)

// Held says which secret binding b holds the token in, for a stack
// template that reads it ({{resolve:secretsmanager:…}}).
func (*Target) Held(b rotation.Binding) (cfnref.Held, bool) {
	if b.Target != Type {
		return cfnref.Held{}, false
	}
	return cfnref.Held{Kind: cfnref.KindSecretsManager, Region: b.Attrs[AttrRegion], ARN: b.Attrs[AttrARN], Name: b.Attrs[AttrName], JSONKey: b.Attrs[AttrJSONKey]}, true
}
