package wiring

import (
	"context"
	"fmt"

	"github.com/rotor-ci/rotor/internal/awsx"
	"github.com/rotor-ci/rotor/internal/config"
	"github.com/rotor-ci/rotor/internal/target"
)

// ErrNoAWSCredentials is returned (wrapped) when the standard AWS chain
// finds no credentials: its message says in one line what to set.
var ErrNoAWSCredentials = awsx.ErrNoCredentials

// CheckAWSCredentials resolves, once for each distinct AWS configuration
// cc's targets use, the credentials its clients will sign with. It calls
// no AWS API (an assumed role is not assumed), so a command can say what
// to set before it discovers anything, instead of failing once per call.
func (e *Env) CheckAWSCredentials(ctx context.Context, cc *config.Credential) error {
	seen := map[string]bool{}
	for _, tc := range cc.Targets {
		switch tc.Type {
		case config.TargetCodePipeline, config.TargetSecretsManager, config.TargetSSM:
		default:
			continue // not an AWS target
		}
		c := e.opts.aws(target.AWSConfig(e.Config.AWS, tc))
		c.RoleARN, c.ExternalID = "", "" // the base credentials are what may be missing
		if k := c.Region + " " + c.EndpointURL + " " + c.Profile; seen[k] {
			continue
		} else {
			seen[k] = true
		}
		cfg, err := awsx.Load(ctx, c)
		if err != nil {
			return fmt.Errorf("%s: %w", cc.Name, err)
		}
		if _, err := cfg.Credentials.Retrieve(ctx); err != nil {
			return fmt.Errorf("%s: %w", cc.Name, awsx.Sanitize(err))
		}
	}
	return nil
}
