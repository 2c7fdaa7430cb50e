package wiring

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"

	"github.com/rotor-ci/rotor/internal/awsx"
	"github.com/rotor-ci/rotor/internal/cfnref"
	"github.com/rotor-ci/rotor/internal/config"
	"github.com/rotor-ci/rotor/internal/ratelimit"
)

// Option changes how wiring builds the implementations: tests and the demo
// swap parts through options, never through package variables.
type Option func(*options)

type options struct {
	cloudFormation func(ctx context.Context, c awsx.Config) (cfnref.API, error)
	// staticAWS, if set, are the credentials of every AWS client, which
	// then read no shared config file or profile of the machine.
	staticAWS *credentials.StaticCredentialsProvider
	// awsCalls hears of every paced AWS call of every target built.
	awsCalls func(ratelimit.Call)
}

func newOptions(opts []Option) options {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	return o
}

// WithCloudFormation replaces the client that reads stack templates (rotor
// plan, and the codepipeline target's proof that a stack-managed pipeline
// is safe); the default is an SDK client per target's account and region.
func WithCloudFormation(f func(ctx context.Context, c awsx.Config) (cfnref.API, error)) Option {
	return func(o *options) { o.cloudFormation = f }
}

// WithStaticAWSCredentials gives every AWS client these credentials and an
// AWS configuration of its own: no shared config or credentials file, no
// profile. The demo uses it so that its emulator clients can never reach a
// real account, without changing the process's environment.
func WithStaticAWSCredentials(accessKeyID, secretAccessKey string) Option {
	return func(o *options) {
		p := credentials.NewStaticCredentialsProvider(accessKeyID, secretAccessKey, "")
		o.staticAWS = &p
	}
}

// WithAWSCalls has every target that paces its AWS calls (codepipeline)
// report each attempt, retries included, to observe, with its account,
// region and result. One observer serves every credential and run of the
// process, so that what it counts outlives the targets, which are built
// per run: rotor serve's per-account call and throttle metrics. observe
// must be quick and safe for concurrent use.
func WithAWSCalls(observe func(ratelimit.Call)) Option {
	return func(o *options) { o.awsCalls = observe }
}

// aws applies the options to an AWS configuration wiring built.
func (o options) aws(c awsx.Config) awsx.Config {
	if o.staticAWS != nil {
		c.Credentials, c.Isolated, c.Profile = *o.staticAWS, true, ""
	}
	return c
}

// awsSection is the config's aws section as an AWS configuration, with the
// options applied (sealing keys in KMS).
func (o options) awsSection(a config.AWS) awsx.Config {
	return o.aws(awsx.Config{Region: a.Region, EndpointURL: a.EndpointURL, Profile: a.Profile})
}

// cloudFormationClient builds the client that reads stack templates.
func (o options) cloudFormationClient(ctx context.Context, c awsx.Config) (cfnref.API, error) {
	c = o.aws(c)
	if o.cloudFormation != nil {
		return o.cloudFormation(ctx, c)
	}
	cfg, err := awsx.Load(ctx, c)
	if err != nil {
		return nil, err
	}
	return cloudformation.NewFromConfig(cfg), nil
}
