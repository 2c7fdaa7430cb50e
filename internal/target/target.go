// Package target builds a credential's targets from their config: an
// explicit switch over the target types (no registry), so that an unknown
// type is a clear error and every implementation is visible here.
package target

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/rotor-ci/rotor/internal/awsx"
	"github.com/rotor-ci/rotor/internal/cfnref"
	"github.com/rotor-ci/rotor/internal/config"
	"github.com/rotor-ci/rotor/internal/github"
	"github.com/rotor-ci/rotor/internal/ratelimit"
	"github.com/rotor-ci/rotor/internal/rotation"
	"github.com/rotor-ci/rotor/internal/secretfile"
	"github.com/rotor-ci/rotor/internal/target/actionssecret"
	"github.com/rotor-ci/rotor/internal/target/codepipeline"
	"github.com/rotor-ci/rotor/internal/target/file"
	"github.com/rotor-ci/rotor/internal/target/secretsmanager"
	"github.com/rotor-ci/rotor/internal/target/ssm"
	"github.com/rotor-ci/rotor/internal/token"
)

// Deps is what targets need from the process.
type Deps struct {
	// AWS is how a target reaches AWS (wiring: AWSConfig with its options
	// applied); nil: AWSConfig of an empty aws section.
	AWS func(config.Target) awsx.Config
	Log *slog.Logger
	// Progress reports fan-out progress (codepipeline).
	Progress func(rotation.Progress)
	// Known tells the file target which tokens are this credential's
	// versions, the only ones it may replace.
	Known func(ctx context.Context, fingerprint string) (bool, error)
	Dir   string
	// CloudFormation builds the client that reads stack templates for a
	// target's account and region (codepipeline: to prove a stack-managed
	// pipeline safe); nil: each target builds an SDK client.
	CloudFormation func(ctx context.Context, c awsx.Config) (cfnref.API, error)
	// Inventory keeps codepipeline targets' pipeline inventory (rotor's
	// store); nil: a file in the user's cache directory.
	Inventory codepipeline.InventoryStore
	// Holds says what the credential's bindings hold that a stack template
	// can read the token from (codepipeline's Vet).
	Holds cfnref.Holds
	// GitHub is the GitHub API client (github-actions-secret).
	GitHub *github.Client
	// AWSCalls, if set, hears of every attempt of every paced AWS call
	// (codepipeline), with its account and region: rotor serve's metrics.
	AWSCalls func(ratelimit.Call)
}

func (d Deps) aws(t config.Target) awsx.Config {
	if d.AWS != nil {
		return d.AWS(t)
	}
	return AWSConfig(config.AWS{}, t)
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
			AWS:                      d.aws(t),
			Pipelines:                t.Pipelines,
			Verify:                   t.Verify,
			AllowCloudFormationDrift: t.AllowCloudFormationDrift,
			Concurrency:              t.Concurrency,
			InFlight:                 t.InFlight,
			MaxWait:                  t.MaxWait.D(),
			OnExpiry:                 t.OnExpiry,
			OtherActions:             t.OtherActions,
			Log:                      log,
			Progress:                 d.Progress,
			Holds:                    d.Holds,
			Inventory:                d.Inventory,
			Calls:                    d.AWSCalls,
		}
		if !t.Match.IsZero() {
			cfg.Match = &codepipeline.Match{Owner: t.Match.Owner, Repo: t.Match.Repo, Branch: t.Match.Branch}
		}
		if len(t.Accounts) > 0 || t.AWSOrganization.RoleName != "" {
			return newFleet(ctx, t, cfg, d)
		}
		if d.CloudFormation != nil {
			api, err := d.CloudFormation(ctx, cfg.AWS)
			if err != nil {
				return nil, err
			}
			cfg.CloudFormation = api
		}
		return codepipeline.New(ctx, cfg)
	case file.Type:
		return file.New(file.Config{Path: t.Path, Create: t.Create, Owner: t.Owner, Group: t.Group, Mode: t.FileMode(), Known: d.Known})
	case secretsmanager.Type:
		return secretsmanager.New(ctx, secretsmanager.Config{AWS: d.aws(t), SecretID: t.SecretID, JSONKey: t.JSONKey, KMSKeyID: t.KMSKeyID, Log: log})
	case ssm.Type:
		return ssm.New(ctx, ssm.Config{AWS: d.aws(t), Name: t.Name, KMSKeyID: t.KMSKeyID, Log: log})
	case actionssecret.Type:
		cfg := actionssecret.Config{
			GitHub: d.GitHub, Name: t.Name, Dependabot: t.Dependabot, Repositories: t.Repositories, Environment: t.Environment,
			Organization: t.Organization, Create: t.Create, Verify: t.Verify, Concurrency: t.Concurrency, Log: log,
			Workflow: actionssecret.Workflow{File: t.Workflow.File, Ref: t.Workflow.Ref, Repository: t.Workflow.Repository, Timeout: t.Workflow.Timeout.D()},
		}
		if !t.Match.IsZero() {
			cfg.Match = &actionssecret.Match{Owner: t.Match.Owner, Repo: t.Match.Repo}
		}
		if t.TokenFile != "" || t.App.IsZero() {
			cfg.Auth = TokenFile(t.TokenFile)
		} else {
			// The key is loaded now, so that a key file others can read
			// stops the target before it writes anything.
			app, err := github.LoadApp(t.App.AppID, t.App.ClientID, t.App.PrivateKeyFile, nil)
			if err != nil {
				return nil, fmt.Errorf("github-actions-secret %s: app: %w", t.Name, err)
			}
			cfg.App = &actionssecret.App{App: app, InstallationID: t.App.InstallationID}
		}
		return actionssecret.New(cfg)
	}
	return nil, fmt.Errorf("unknown target type %q (want codepipeline, file, github-actions-secret, secretsmanager or ssm)", t.Type)
}

// TokenFile reads a GitHub token from a file only its owner may read, at
// each call, so that a replaced file is picked up.
func TokenFile(path string) func(context.Context) (token.Token, error) {
	return func(context.Context) (token.Token, error) {
		tok, err := secretfile.Token(path)
		if err != nil {
			return token.Token{}, fmt.Errorf("token_file: %w", err)
		}
		return tok, nil
	}
}

// newFleet builds a codepipeline target over several accounts and regions
// (accounts: or organization:).
func newFleet(ctx context.Context, t config.Target, base codepipeline.Config, d Deps) (rotation.Target, error) {
	var places []codepipeline.Place
	for _, a := range t.Accounts {
		for _, r := range a.Regions {
			places = append(places, codepipeline.Place{RoleARN: a.RoleARN, ExternalID: a.ExternalID, Region: r})
		}
	}
	var org *codepipeline.Organization
	if o := t.AWSOrganization; o.RoleName != "" {
		org = &codepipeline.Organization{OU: o.OU, RoleName: o.RoleName, ExternalID: o.ExternalID, Regions: o.Regions}
	}
	return codepipeline.NewFleet(ctx, base, places, org, d.CloudFormation)
}
