package ssm

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/rotor-ci/rotor/internal/awsx"
	"github.com/rotor-ci/rotor/internal/cfnref"
	"github.com/rotor-ci/rotor/internal/rotation"
	"github.com/rotor-ci/rotor/internal/target/awsone"
	"github.com/rotor-ci/rotor/internal/token"
)

// defaultKey is the service's own key, which a resource without a key of
// its own uses.
const defaultKey = "alias/aws/ssm"

// Type is the target's name in the config.
const Type = "ssm"

// Binding attributes, for rotor plan and cfnref.Assess.
const (
	AttrRegion = "region"
	AttrName   = "name"
	AttrARN    = "arn"
	AttrKMSKey = "kms_key_id" // the key rotor writes with
)

// Config is one ssm target.
type Config struct {
	AWS      awsx.Config
	Name     string // the parameter's name, e.g. /ci/github-token
	KMSKeyID string // empty: keep the parameter's key
	Log      *slog.Logger
}

// Errors callers branch on.
var (
	// ErrParameterNotFound: no such parameter. rotor does not create them.
	ErrParameterNotFound = errors.New("parameter not found")
	// ErrNotSecure: the parameter is a String or StringList; a token must
	// be a SecureString.
	ErrNotSecure = errors.New("parameter is not a SecureString")
	// ErrMismatch: Verify found another value than the token applied.
	ErrMismatch = errors.New("parameter does not hold the token")
)

// api is the part of *ssm.Client the target uses.
type api interface {
	DescribeParameters(context.Context, *ssm.DescribeParametersInput, ...func(*ssm.Options)) (*ssm.DescribeParametersOutput, error)
	GetParameter(context.Context, *ssm.GetParameterInput, ...func(*ssm.Options)) (*ssm.GetParameterOutput, error)
	PutParameter(context.Context, *ssm.PutParameterInput, ...func(*ssm.Options)) (*ssm.PutParameterOutput, error)
}

var _ api = (*ssm.Client)(nil)

// Target keeps a token in one SecureString parameter. Safe for concurrent
// use; it holds no state between calls.
type Target struct {
	awsone.Base
	api api
	c   Config
}

var (
	_ rotation.Target     = (*Target)(nil)
	_ rotation.ReadBacker = (*Target)(nil)
)

// New builds the target. It calls no AWS API; Discover does.
func New(ctx context.Context, c Config) (*Target, error) {
	cfg, err := awsone.Load(ctx, c.AWS, Type, "name", c.Name)
	if err != nil {
		return nil, err
	}
	return newTarget(c, ssm.NewFromConfig(cfg), cfg.Region), nil
}

func newTarget(c Config, a api, region string) *Target {
	return &Target{Base: awsone.NewBase(Type, region, "parameter", c.Name, c.Log), api: a, c: c}
}

func (t *Target) Type() string { return Type }

// Discover checks that the parameter exists, is a SecureString rotor can
// decrypt, and returns its one binding. Read-only.
func (t *Target) Discover(ctx context.Context) ([]rotation.Binding, error) {
	m, err := t.describe(ctx)
	if err != nil {
		return nil, t.Wrap(err)
	}
	// Reading with decryption now proves the KMS grant before any
	// credential is touched.
	p, err := t.read(ctx)
	if err != nil {
		return nil, t.Wrap(err)
	}
	arn := aws.ToString(p.ARN)
	if arn == "" {
		arn = aws.ToString(m.ARN)
	}
	have := aws.ToString(m.KeyId)
	b := rotation.Binding{
		ID:       t.BindingID(),
		Target:   Type,
		Resource: arn,
		Attrs:    map[string]string{AttrRegion: t.Region, AttrName: t.c.Name, AttrARN: arn, AttrKMSKey: t.key(m)},
	}
	if t.c.KMSKeyID != "" && !awsone.SameKMSKey(t.c.KMSKeyID, have, defaultKey) {
		b.Warnings = append(b.Warnings, fmt.Sprintf("parameter %s is encrypted with %s; rotor will write it with %s as configured", t.c.Name, awsone.OrDefaultKey(have, defaultKey), t.c.KMSKeyID))
	}
	return []rotation.Binding{b}, nil
}

// Apply writes tok as a new version of the parameter, unless it already
// holds it. Idempotent.
func (t *Target) Apply(ctx context.Context, tok token.Token, bindings []rotation.Binding, report func(rotation.Result)) {
	for _, b := range bindings {
		report(rotation.Result{BindingID: b.ID, Err: t.Result(t.apply(ctx, tok), tok)})
	}
}

// Verify reads the parameter back with decryption and compares
// fingerprints. Read-only.
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

func (t *Target) describe(ctx context.Context) (types.ParameterMetadata, error) {
	out, err := t.api.DescribeParameters(ctx, &ssm.DescribeParametersInput{
		ParameterFilters: []types.ParameterStringFilter{{Key: aws.String("Name"), Option: aws.String("Equals"), Values: []string{t.c.Name}}},
	})
	if err != nil {
		return types.ParameterMetadata{}, awsx.Sanitize(err)
	}
	for _, m := range out.Parameters {
		if aws.ToString(m.Name) == t.c.Name {
			if m.Type != types.ParameterTypeSecureString {
				return m, fmt.Errorf("%w (it is a %s): create it as a SecureString first", ErrNotSecure, m.Type)
			}
			return m, nil
		}
	}
	return types.ParameterMetadata{}, fmt.Errorf("%w: rotor does not create parameters; create it as a SecureString (with the KMS key you want) first", ErrParameterNotFound)
}

// read returns the decrypted value and its version.
func (t *Target) read(ctx context.Context) (*types.Parameter, error) {
	out, err := t.api.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(t.c.Name), WithDecryption: aws.Bool(true)})
	if awsx.IsCode(err, "ParameterNotFound") {
		return nil, ErrParameterNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("read with decryption: %w", awsx.Sanitize(err))
	}
	if out.Parameter == nil {
		return nil, ErrParameterNotFound
	}
	if out.Parameter.Type != types.ParameterTypeSecureString {
		return nil, fmt.Errorf("%w (it is a %s)", ErrNotSecure, out.Parameter.Type)
	}
	return out.Parameter, nil
}

// key is the KMS key rotor writes with: the configured one, else the one
// the parameter has (empty: the account's aws/ssm key).
func (t *Target) key(m types.ParameterMetadata) string {
	if t.c.KMSKeyID != "" {
		return t.c.KMSKeyID
	}
	return aws.ToString(m.KeyId)
}

func (t *Target) apply(ctx context.Context, tok token.Token) error {
	p, err := t.read(ctx)
	if err != nil {
		return err
	}
	if token.Fingerprint(aws.ToString(p.Value)) == tok.Fingerprint() {
		return nil // written by an earlier attempt
	}
	m, err := t.describe(ctx)
	if err != nil {
		return err
	}
	in := &ssm.PutParameterInput{
		Name:      aws.String(t.c.Name),
		Value:     aws.String(tok.Reveal()),
		Type:      types.ParameterTypeSecureString,
		Overwrite: aws.Bool(true),
		Tier:      m.Tier,
	}
	// Sent back as they are: an overwrite is a whole new declaration.
	if k := t.key(m); k != "" {
		in.KeyId = aws.String(k)
	}
	if m.Description != nil && *m.Description != "" {
		in.Description = m.Description
	}
	if m.AllowedPattern != nil && *m.AllowedPattern != "" {
		in.AllowedPattern = m.AllowedPattern
	}
	if m.DataType != nil && *m.DataType != "" {
		in.DataType = m.DataType
	}
	out, err := t.api.PutParameter(ctx, in)
	if err != nil {
		return fmt.Errorf("put: %w", awsx.Sanitize(err, tok))
	}
	t.Log.InfoContext(ctx, "parameter written", "version", out.Version, "previous", p.Version, "fingerprint", tok.Fingerprint())
	return nil
}

func (t *Target) verify(ctx context.Context, tok token.Token) error {
	p, err := t.read(ctx)
	if err != nil {
		return err
	}
	if got := token.Fingerprint(aws.ToString(p.Value)); got != tok.Fingerprint() {
		return fmt.Errorf("%w: version %d holds %s, want %s", ErrMismatch, p.Version, got, tok.Fingerprint())
	}
	return nil
}

var _ cfnref.Holder = (*Target)(nil)

// Held says which parameter binding b holds the token in, for a stack
// template that reads it ({{resolve:ssm-secure:…}}).
func (*Target) Held(b rotation.Binding) (cfnref.Held, bool) {
	if b.Target != Type {
		return cfnref.Held{}, false
	}
	return cfnref.Held{Kind: cfnref.KindSSM, Region: b.Attrs[AttrRegion], ARN: b.Attrs[AttrARN], Name: b.Attrs[AttrName]}, true
}
