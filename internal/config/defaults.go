package config

import (
	"fmt"
	"strings"
	"time"
)

// Defaults, as rotor.yaml documents them.
const (
	DefaultStore      = "sqlite:rotor.db"
	DefaultKey        = "file:rotor.key"
	DefaultGitHubAPI  = "https://api.github.com"
	DefaultListen     = "127.0.0.1:8080"
	DefaultAuthToken  = "rotor-api.token" // beside the config file
	DefaultWatchEvery = Duration(5 * time.Minute)
	DefaultGrace      = Duration(10 * time.Minute)
	DefaultMaxWait    = Duration(30 * time.Minute)
	// DefaultWorkflowTimeout bounds the wait for a verify workflow's run.
	DefaultWorkflowTimeout = Duration(10 * time.Minute)
)

// DefaultRotate is the schedule a source type gets when rotate: leaves a
// field out. Installation tokens live one hour, so an app's schedule is in
// minutes.
func DefaultRotate(sourceType string) Rotate {
	if sourceType == SourceGitHubAppUser {
		// User tokens live 8 hours; the refresh also ends the old one, so
		// the grace only delays recording it as retired.
		return Rotate{Every: Duration(7 * time.Hour), RenewBefore: Duration(time.Hour), Grace: DefaultGrace}
	}
	if sourceType == SourceGitHubApp {
		return Rotate{Every: Duration(50 * time.Minute), RenewBefore: Duration(10 * time.Minute), Grace: DefaultGrace}
	}
	return Rotate{Every: Duration(30 * 24 * time.Hour), RenewBefore: Duration(7 * 24 * time.Hour), Grace: DefaultGrace}
}

// CodePipelineScopes are the classic scopes the CodePipeline GitHub (v1)
// source action needs: read the repository and manage its webhook.
var CodePipelineScopes = []string{"repo", "admin:repo_hook"}

// setDefaults fills what the file left out. A field written in the file,
// even as 0, is kept: grace: 0 means no grace.
func (c *Config) setDefaults(present map[string]bool) {
	if c.Store == "" {
		c.Store = DefaultStore
	}
	if c.Key == "" {
		c.Key = DefaultKey
	}
	if c.GitHub.APIURL == "" {
		c.GitHub.APIURL = DefaultGitHubAPI
	}
	if c.Server.Listen == "" {
		c.Server.Listen = DefaultListen
	}
	if c.Server.AuthTokenFile == "" {
		c.Server.AuthTokenFile = DefaultAuthToken
	}
	if !present["server.watch_every"] {
		c.Server.WatchEvery = DefaultWatchEvery
	}
	for i := range c.Credentials {
		cr := &c.Credentials[i]
		p := credPath(i) + ".rotate."
		def := DefaultRotate(cr.Source.Type)
		if !present[p+"every"] {
			cr.Rotate.Every = def.Every
		}
		if !present[p+"renew_before"] {
			cr.Rotate.RenewBefore = def.RenewBefore
		}
		if !present[p+"grace"] {
			cr.Rotate.Grace = def.Grace
		}
		if cr.Source.Type == SourcePersonalToken && !present[credPath(i)+".source.scopes"] {
			cr.Source.Scopes = cr.neededScopes()
		}
		for j := range cr.Targets {
			t := &cr.Targets[j]
			if t.Type == TargetGitHubActionsSecret {
				if t.Verify == "" {
					t.Verify = VerifyUpdatedAt
				}
				if t.Workflow.Timeout == 0 && t.Verify == VerifyWorkflow {
					t.Workflow.Timeout = DefaultWorkflowTimeout
				}
				continue
			}
			if t.Type != TargetCodePipeline {
				continue
			}
			tp := credPath(i) + fmt.Sprintf(".targets[%d].", j)
			if t.Verify == "" {
				t.Verify = VerifyReadback
			}
			if t.InFlight == "" {
				t.InFlight = InFlightWait
			}
			if !present[tp+"max_wait"] {
				t.MaxWait = DefaultMaxWait
			}
			if t.OnExpiry == "" {
				t.OnExpiry = OnExpiryInterrupt
			}
			if t.OtherActions == "" {
				t.OtherActions = OtherActionsCarry
			}
		}
	}
}

// neededScopes is what the credential's targets need of a classic token.
// Only CodePipeline's needs are known; a file or secret's consumer is not.
func (cr *Credential) neededScopes() []string {
	for _, t := range cr.Targets {
		if t.Type == TargetCodePipeline {
			return append([]string(nil), CodePipelineScopes...)
		}
	}
	return nil
}

func (c *Config) resolvePaths() {
	if p := c.StorePath(); p != "" && !strings.HasPrefix(p, ":") && !strings.HasPrefix(p, "file:") {
		c.Store = "sqlite:" + c.ResolvePath(p) + strings.TrimPrefix(c.Store, "sqlite:"+p)
	}
	if p := c.KeyPath(); p != "" {
		c.Key = "file:" + c.ResolvePath(p)
	}
	for i, k := range c.PreviousKeys {
		if p, ok := strings.CutPrefix(k, "file:"); ok && p != "" {
			c.PreviousKeys[i] = "file:" + c.ResolvePath(p)
		}
	}
	c.Server.AuthTokenFile = c.ResolvePath(c.Server.AuthTokenFile)
	c.Server.TLSCertFile = c.ResolvePath(c.Server.TLSCertFile)
	c.Server.TLSKeyFile = c.ResolvePath(c.Server.TLSKeyFile)
	for i := range c.Server.Alerts {
		a := &c.Server.Alerts[i]
		a.URLFile, a.SecretFile = c.ResolvePath(a.URLFile), c.ResolvePath(a.SecretFile)
	}
	for i := range c.Credentials {
		cr := &c.Credentials[i]
		cr.Source.PrivateKeyFile = c.ResolvePath(cr.Source.PrivateKeyFile)
		cr.Source.ClientSecretFile = c.ResolvePath(cr.Source.ClientSecretFile)
		cr.Source.OrgRevoke.PrivateKeyFile = c.ResolvePath(cr.Source.OrgRevoke.PrivateKeyFile)
		for j := range cr.Targets {
			if t := &cr.Targets[j]; t.Type == TargetFile {
				t.Path = c.ResolvePath(t.Path)
			}
			if t := &cr.Targets[j]; t.Type == TargetGitHubActionsSecret {
				t.TokenFile = c.ResolvePath(t.TokenFile)
				t.App.PrivateKeyFile = c.ResolvePath(t.App.PrivateKeyFile)
			}
		}
	}
}
