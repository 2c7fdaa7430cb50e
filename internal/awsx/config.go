package awsx

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	sdkratelimit "github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go/middleware"

	"github.com/rotor-ci/rotor/internal/lease"
)

// Config says which account, region and endpoint to talk to. The zero value
// means the default credential chain and the region from the environment.
type Config struct {
	Region      string // empty: AWS_REGION / the profile's region
	EndpointURL string // the emulator or moto; empty: the real service
	Profile     string // a shared-config profile; empty: the default chain
	RoleARN     string // assume this role on top of the base credentials
	ExternalID  string // with RoleARN, when the role's trust policy asks for one
	// HTTPClient replaces the shared client (tests); nil: HTTPClient(). A
	// plain *http.Client cannot take AWS_CA_BUNDLE; the shared client can.
	HTTPClient aws.HTTPClient
	// Credentials replaces the default chain (tests, the emulators: any
	// static key works there); nil: the chain.
	Credentials aws.CredentialsProvider
	// Isolated builds the configuration from these fields alone: no
	// environment variable, shared config or credentials file is read, so
	// nothing of the machine's AWS setup is used (the demo). It needs
	// Credentials and Region and takes no Profile or RoleARN.
	Isolated bool
	// MaxAttempts bounds the SDK's attempts per call (throttles and 5xx
	// included); 0: DefaultMaxAttempts.
	MaxAttempts int
}

// DefaultMaxAttempts is generous because throttles are expected under load and
// the adaptive limiter, not the retryer, does the pacing.
const DefaultMaxAttempts = 8

// ErrNoRegion is returned by Load when no region is configured anywhere.
var ErrNoRegion = errors.New("aws: no region (set aws.region in the config, or AWS_REGION)")

// Load resolves c into an SDK configuration. It reads shared config files and
// the environment but calls no AWS API (an assumed role is assumed lazily, on
// the first call that needs credentials).
func Load(ctx context.Context, c Config) (aws.Config, error) {
	var hc aws.HTTPClient = HTTPClient()
	if c.HTTPClient != nil {
		hc = c.HTTPClient
	}
	// A process that wakes up past its run's lease sends nothing more
	// (see package lease): checked before every attempt leaves.
	guard := func(st *middleware.Stack) error {
		return st.Deserialize.Add(middleware.DeserializeMiddlewareFunc("rotorLeaseGuard", func(ctx context.Context, in middleware.DeserializeInput, next middleware.DeserializeHandler) (middleware.DeserializeOutput, middleware.Metadata, error) {
			if err := lease.Check(ctx); err != nil {
				return middleware.DeserializeOutput{}, middleware.Metadata{}, err
			}
			return next.HandleDeserialize(ctx, in)
		}), middleware.Before)
	}
	retryer := func() aws.Retryer { return NewRetryer(c.MaxAttempts) }
	if c.Isolated {
		return isolated(c, hc, guard, retryer)
	}
	opts := []func(*config.LoadOptions) error{
		config.WithHTTPClient(hc),
		config.WithAPIOptions([]func(*middleware.Stack) error{guard}),
		config.WithRetryer(retryer),
		config.WithLogger(sdkLogger),
	}
	if c.Region != "" {
		opts = append(opts, config.WithRegion(c.Region))
	}
	if c.Profile != "" {
		opts = append(opts, config.WithSharedConfigProfile(c.Profile))
	}
	if c.Credentials != nil {
		opts = append(opts, config.WithCredentialsProvider(c.Credentials))
	}
	if c.EndpointURL != "" {
		// aws.Config.BaseEndpoint reaches every service client built from
		// the config, STS included, which is what the emulators and moto
		// (one port for every service) want.
		opts = append(opts, config.WithBaseEndpoint(c.EndpointURL))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("aws config: %w", Sanitize(err))
	}
	if cfg.Region == "" {
		return aws.Config{}, ErrNoRegion
	}
	if c.Credentials == nil && cfg.Credentials != nil {
		cfg.Credentials = explained{cfg.Credentials}
	}
	if c.RoleARN != "" {
		stsClient := sts.NewFromConfig(cfg)
		p := stscreds.NewAssumeRoleProvider(stsClient, c.RoleARN, func(o *stscreds.AssumeRoleOptions) {
			o.RoleSessionName = "rotor"
			if c.ExternalID != "" {
				o.ExternalID = aws.String(c.ExternalID)
			}
		})
		cfg.Credentials = aws.NewCredentialsCache(p)
	}
	return cfg, nil
}

// isolated is Load for an isolated config: built from c alone, without the
// SDK's loaders, which read the environment and the shared files.
func isolated(c Config, hc aws.HTTPClient, guard func(*middleware.Stack) error, retryer func() aws.Retryer) (aws.Config, error) {
	if c.Credentials == nil {
		return aws.Config{}, errors.New("aws: an isolated config needs credentials")
	}
	if c.Region == "" {
		return aws.Config{}, ErrNoRegion
	}
	if c.Profile != "" || c.RoleARN != "" {
		return aws.Config{}, errors.New("aws: an isolated config takes neither a profile nor a role")
	}
	cfg := aws.Config{
		Region:      c.Region,
		Credentials: aws.NewCredentialsCache(c.Credentials),
		HTTPClient:  hc,
		APIOptions:  []func(*middleware.Stack) error{guard},
		Retryer:     retryer,
	}
	if c.EndpointURL != "" {
		cfg.BaseEndpoint = aws.String(c.EndpointURL)
	}
	return cfg, nil
}

// NewRetryer is the SDK's standard retryer (throttles, 5xx, connection
// errors; exponential backoff with jitter) without its client-side retry
// quota: under sustained throttling that token bucket runs dry and fails
// calls outright, while rotor's adaptive limiter already slows down.
func NewRetryer(maxAttempts int) aws.Retryer {
	if maxAttempts <= 0 {
		maxAttempts = DefaultMaxAttempts
	}
	return retry.NewStandard(func(o *retry.StandardOptions) {
		o.MaxAttempts = maxAttempts
		o.MaxBackoff = 10 * time.Second
		o.RateLimiter = sdkratelimit.None
	})
}

var sharedClient = awshttp.NewBuildableClient().WithTransportOptions(func(t *http.Transport) {
	t.MaxIdleConns = 256
	t.MaxIdleConnsPerHost = 128
	t.IdleConnTimeout = 90 * time.Second
	t.ResponseHeaderTimeout = 60 * time.Second
})

// HTTPClient is the client every AWS target shares: keep-alive connections
// enough for high fan-out to one endpoint (the SDK's default keeps 10 per
// host), so that a thousand calls do not open a thousand connections. It is
// the SDK's buildable client, so AWS_CA_BUNDLE still applies.
func HTTPClient() *awshttp.BuildableClient { return sharedClient }
