// Package target builds a credential's targets from their config: an
// explicit switch over the target types (no registry), so that an unknown
// type is a clear error and every implementation is visible here.
package target

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/rotor-ci/rotor/internal/awsx"
	"github.com/rotor-ci/rotor/internal/config"
	"github.com/rotor-ci/rotor/internal/rotation"
	"github.com/rotor-ci/rotor/internal/target/codepipeline"
	"github.com/rotor-ci/rotor/internal/target/file"
	"github.com/rotor-ci/rotor/internal/target/secretsmanager"
	"github.com/rotor-ci/rotor/internal/target/ssm"
	"github.com/rotor-ci/rotor/internal/token"
)

// Deps is what targets need from the process.
type Deps struct {
	AWS config.AWS
	Log *slog.Logger
	// Progress reports fan-out progress (codepipeline).
	Progress func(done, total, failed int)
	// OtherTokens tells codepipeline which token another credential's
	// binding holds, so that it never sends a masked "****" back.
	OtherTokens func(ctx context.Context, bindingID string) (token.Token, bool, error)
	Dir         string
}

// AWSConfig is the AWS access a target's config asks for: the global aws
// section, with the target's own region and role on top.
func AWSConfig(global config.AWS, t config.Target) awsx.Config {
	c := awsx.Config{Region: global.Region, EndpointURL: global.EndpointURL, Profile: global.Profile, RoleARN: t.RoleARN, ExternalID: t.ExternalID}
	if t.Region != "" {
		c.Region = t.Region
	}
	return c
}

// New builds the target t describes.
func New(ctx context.Context, t config.Target, d Deps) (rotation.Target, error) {
	log := d.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	switch t.Type {
	case codepipeline.Type:
		cfg := codepipeline.Config{
			AWS:                      AWSConfig(d.AWS, t),
			Pipelines:                t.Pipelines,
			Verify:                   t.Verify,
			AllowCloudFormationDrift: t.AllowCloudFormationDrift,
			Concurrency:              t.Concurrency,
			OtherTokens:              d.OtherTokens,
			Log:                      log,
			Progress:                 d.Progress,
		}
		if !t.Match.IsZero() {
			cfg.Match = &codepipeline.Match{Owner: t.Match.Owner, Repo: t.Match.Repo, Branch: t.Match.Branch}
		}
		return codepipeline.New(ctx, cfg)
	case file.Type:
		return file.New(t.Path), nil
	case secretsmanager.Type:
		return secretsmanager.New(ctx, secretsmanager.Config{AWS: AWSConfig(d.AWS, t), SecretID: t.SecretID, JSONKey: t.JSONKey, KMSKeyID: t.KMSKeyID, Log: log})
	case ssm.Type:
		return ssm.New(ctx, ssm.Config{AWS: AWSConfig(d.AWS, t), Name: t.Name, KMSKeyID: t.KMSKeyID, Log: log})
	}
	return nil, fmt.Errorf("unknown target type %q (want codepipeline, file, secretsmanager or ssm)", t.Type)
}
