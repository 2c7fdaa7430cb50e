package config

import (
	"fmt"
	"net"
	"net/url"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"
)

var (
	nameRE       = regexp.MustCompile(`^[a-z0-9][a-z0-9\-_.]{0,62}$`)
	pipelineRE   = regexp.MustCompile(`^[A-Za-z0-9.@\-_]{1,100}$`) // CodePipeline's PipelineName
	roleARNRE    = regexp.MustCompile(`^arn:aws(-[\w]+)*:iam::[0-9]{12}:role/.+$`)
	repoNameRE   = regexp.MustCompile(`^[A-Za-z0-9_.\-]{1,100}$`)
	ownerRE      = regexp.MustCompile(`^[A-Za-z0-9\-]{1,39}$`)
	ssmNameRE    = regexp.MustCompile(`^[a-zA-Z0-9_.\-/]+$`) // at most 2048
	regionRE     = regexp.MustCompile(`^[a-z0-9\-]{1,50}$`)
	permissionRE = regexp.MustCompile(`^[a-z_]{1,64}$`)
)

// targetFields lists which target fields each target type takes, beyond type.
var targetFields = map[string][]string{
	TargetCodePipeline:   {"pipelines", "match", "verify", "region", "role_arn", "external_id", "allow_cloudformation_drift", "concurrency"},
	TargetFile:           {"path"},
	TargetSecretsManager: {"secret_id", "json_key", "kms_key_id", "region", "role_arn", "external_id"},
	TargetSSM:            {"name", "kms_key_id", "region", "role_arn", "external_id"},
}

var (
	personalOnly = []string{"scopes", "allow_identity_change"}
	appOnly      = []string{"app_id", "client_id", "installation_id", "private_key_file", "repositories", "permissions"}
)

func credPath(i int) string { return fmt.Sprintf("credentials[%d]", i) }

// validate checks what the types alone cannot: required fields, known
// kinds, formats, uniqueness and schedules that make sense.
func (p *parser) validate(c *Config) Errors {
	p.errs = nil
	at := func(path, format string, a ...any) { p.add(p.line(path), path, format, a...) }

	switch {
	case strings.HasPrefix(c.Store, "sqlite:"):
		if c.StorePath() == "" {
			at("store", "sqlite: needs a path, like sqlite:rotor.db")
		}
	case strings.HasPrefix(c.Store, "postgres://"), strings.HasPrefix(c.Store, "postgresql://"):
		if u, err := url.Parse(c.Store); err != nil || u.Host == "" {
			at("store", "not a PostgreSQL URL like postgres://user@host/rotor")
		}
	default:
		at("store", "%s: want sqlite:PATH or postgres://…", quote(c.Store))
	}
	switch {
	case strings.HasPrefix(c.Key, "file:"):
		if c.KeyPath() == "" {
			at("key", "file: needs a path, like file:rotor.key")
		}
	case strings.HasPrefix(c.Key, "awskms:"):
		if strings.TrimPrefix(c.Key, "awskms:") == "" {
			at("key", "awskms: needs a key id, ARN or alias")
		}
	default:
		at("key", "%s: want file:PATH or awskms:KEY", quote(c.Key))
	}
	checkURL(at, "github.api_url", c.GitHub.APIURL)
	if c.AWS.EndpointURL != "" {
		checkURL(at, "aws.endpoint_url", c.AWS.EndpointURL)
	}
	if c.AWS.Region != "" && !regionRE.MatchString(c.AWS.Region) {
		at("aws.region", "%s: want a region like us-east-1", quote(c.AWS.Region))
	}
	p.validateServer(c, at)

	names := map[string]int{}
	places := map[string]string{} // file/secret/parameter → first target path
	for i := range c.Credentials {
		cr := &c.Credentials[i]
		cp := credPath(i)
		switch {
		case cr.Name == "":
			at(cp+".name", "required")
		case !nameRE.MatchString(cr.Name):
			at(cp+".name", "%s: want lowercase letters, digits, -, _ or . (at most 63, starting with a letter or digit)", quote(cr.Name))
		default:
			if first, dup := names[cr.Name]; dup {
				at(cp+".name", "%s is also the name of credentials[%d]: names must be unique", quote(cr.Name), first)
			} else {
				names[cr.Name] = i
			}
		}
		p.validateSource(cr, cp, at)
		p.validateRotate(cr, cp, at)
		if len(cr.Targets) == 0 {
			at(cp+".targets", "required: at least one target (where the token is used)")
		}
		for j := range cr.Targets {
			tp := fmt.Sprintf("%s.targets[%d]", cp, j)
			p.validateTarget(c, &cr.Targets[j], tp, at)
			if key := placeKey(c, &cr.Targets[j]); key != "" {
				if first, dup := places[key]; dup {
					at(tp, "writes the same place as %s: two targets would overwrite each other", first)
				} else {
					places[key] = tp
				}
			}
		}
	}
	return p.errs
}

type atFunc func(path, format string, a ...any)

func checkURL(at atFunc, path, s string) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		at(path, "%s: want an http(s) URL", quote(s))
		return
	}
	if u.User != nil {
		at(path, "must not hold a user name or password: put secrets in files, not the config")
	}
}

func (p *parser) validateServer(c *Config, at atFunc) {
	s := &c.Server
	if _, port, err := net.SplitHostPort(s.Listen); err != nil {
		at("server.listen", "%s: want host:port, like 127.0.0.1:8080", quote(s.Listen))
	} else if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		at("server.listen", "%s: port must be a number from 0 to 65535", quote(s.Listen))
	}
	if s.WatchEvery <= 0 {
		at("server.watch_every", "must be longer than 0")
	}
	for i, a := range s.Alerts {
		ap := fmt.Sprintf("server.alerts[%d]", i)
		switch a.Type {
		case AlertWebhook, AlertSlack:
		case "":
			at(ap+".type", "required: webhook or slack")
		default:
			at(ap+".type", "%s: want webhook or slack", quote(a.Type))
		}
		if a.URL == "" {
			at(ap+".url", "required")
		} else {
			checkURL(at, ap+".url", a.URL)
		}
	}
}

func (p *parser) validateSource(cr *Credential, cp string, at atFunc) {
	s := &cr.Source
	sp := cp + ".source"
	notFor := func(fields []string, typ string) {
		for _, f := range fields {
			if p.present[sp+"."+f] {
				at(sp+"."+f, "not a field of %s sources", typ)
			}
		}
	}
	switch s.Type {
	case SourcePersonalToken:
		notFor(appOnly, s.Type)
		for k, scope := range s.Scopes {
			if scope == "" || strings.ContainsAny(scope, " ,\t") {
				at(fmt.Sprintf("%s.scopes[%d]", sp, k), "%s: want one scope per list item, like [repo, admin:repo_hook]", quote(scope))
			}
		}
	case SourceGitHubApp:
		notFor(personalOnly, s.Type)
		if s.AppID < 0 {
			at(sp+".app_id", "must be a positive number")
		}
		if s.AppID == 0 && s.ClientID == "" {
			at(sp, "github-app needs app_id or client_id")
		}
		if s.InstallationID <= 0 {
			at(sp+".installation_id", "required: the installation's number (from the app's settings, Install App)")
		}
		if s.PrivateKeyFile == "" {
			at(sp+".private_key_file", "required: the app's private key (PEM file, mode 0600)")
		}
		for k, r := range s.Repositories {
			rp := fmt.Sprintf("%s.repositories[%d]", sp, k)
			switch {
			case strings.Contains(r, "/"):
				at(rp, "%s: name the repository without its owner (the installation's account owns it)", quote(r))
			case !repoNameRE.MatchString(r):
				at(rp, "%s: not a repository name", quote(r))
			}
		}
		for name, level := range s.Permissions {
			pp := sp + ".permissions." + name
			if !permissionRE.MatchString(name) {
				at(pp, "%s: not a permission name like contents or metadata", quote(name))
			}
			switch level {
			case "read", "write", "admin":
			default:
				at(pp, "%s: want read, write or admin", quote(level))
			}
		}
	case "":
		at(sp+".type", "required: personal-token or github-app")
	default:
		at(sp+".type", "%s: want personal-token or github-app", quote(s.Type))
	}
}

func (p *parser) validateRotate(cr *Credential, cp string, at atFunc) {
	r := &cr.Rotate
	rp := cp + ".rotate"
	if r.Every <= 0 {
		at(rp+".every", "must be longer than 0")
	}
	for _, f := range []struct {
		name string
		d    Duration
	}{{"renew_before", r.RenewBefore}, {"grace", r.Grace}, {"jitter", r.Jitter}} {
		if f.d < 0 {
			at(rp+"."+f.name, "must not be negative")
		}
	}
	if r.Every > 0 && r.Grace >= r.Every {
		at(rp+".grace", "%s must be shorter than every (%s): the old token would still be waiting to be retired when the next rotation starts", r.Grace, r.Every)
	}
	if r.Every > 0 && r.Jitter >= r.Every {
		at(rp+".jitter", "%s must be shorter than every (%s)", r.Jitter, r.Every)
	}
	if cr.Source.Type == SourceGitHubApp && r.Every.D() >= installationLifetime {
		at(rp+".every", "%s: installation tokens live 1h, so rotate more often (default 50m)", r.Every)
	}
}

const installationLifetime = time.Hour

func (p *parser) validateTarget(c *Config, t *Target, tp string, at atFunc) {
	allowed, known := targetFields[t.Type]
	switch {
	case t.Type == "":
		at(tp+".type", "required: codepipeline, file, secretsmanager or ssm")
		return
	case !known:
		at(tp+".type", "%s: want codepipeline, file, secretsmanager or ssm", quote(t.Type))
		return
	}
	for _, f := range tagsOf(targetType) {
		if f == "type" || !p.present[tp+"."+f] || contains(allowed, f) {
			continue
		}
		at(tp+"."+f, "not a field of %s targets", t.Type)
	}
	if t.Region != "" && !regionRE.MatchString(t.Region) {
		at(tp+".region", "%s: want a region like us-east-1", quote(t.Region))
	}
	if t.RoleARN != "" && !roleARNRE.MatchString(t.RoleARN) {
		at(tp+".role_arn", "%s: want an IAM role ARN like arn:aws:iam::123456789012:role/rotor", quote(t.RoleARN))
	}
	if t.ExternalID != "" && t.RoleARN == "" {
		at(tp+".external_id", "needs role_arn: an external id is only sent when assuming a role")
	}
	switch t.Type {
	case TargetCodePipeline:
		if len(t.Pipelines) == 0 && t.Match.IsZero() {
			at(tp, "codepipeline needs pipelines, match or both")
		}
		seen := map[string]bool{}
		for k, name := range t.Pipelines {
			pp := fmt.Sprintf("%s.pipelines[%d]", tp, k)
			switch {
			case !pipelineRE.MatchString(name):
				at(pp, "%s: not a pipeline name (1 to 100 of A-Z a-z 0-9 . @ - _)", quote(name))
			case seen[name]:
				at(pp, "%s listed twice", quote(name))
			}
			seen[name] = true
		}
		if t.Match.Owner != "" && !ownerRE.MatchString(t.Match.Owner) {
			at(tp+".match.owner", "%s: not a GitHub user or organisation name", quote(t.Match.Owner))
		}
		if t.Match.Repo != "" && !repoNameRE.MatchString(t.Match.Repo) {
			at(tp+".match.repo", "%s: not a repository name (without its owner)", quote(t.Match.Repo))
		}
		switch t.Verify {
		case VerifyReadback, VerifyExecution:
		default:
			at(tp+".verify", "%s: want readback or execution", quote(t.Verify))
		}
		if t.Concurrency < 0 || t.Concurrency > 64 {
			at(tp+".concurrency", "%d: want 1 to 64 (0: the default)", t.Concurrency)
		}
	case TargetFile:
		if t.Path == "" {
			at(tp+".path", "required: the file to write the token to")
		} else if strings.HasSuffix(t.Path, "/") {
			at(tp+".path", "%s: names a directory; name the file", quote(t.Path))
		}
	case TargetSecretsManager:
		if t.SecretID == "" {
			at(tp+".secret_id", "required: the secret's name or ARN")
		}
	case TargetSSM:
		switch {
		case t.Name == "":
			at(tp+".name", "required: the parameter's name, like /ci/github-token")
		case !ssmNameRE.MatchString(t.Name) || len(t.Name) > 2048:
			at(tp+".name", "%s: not a parameter name (letters, digits, _ . - /)", quote(t.Name))
		}
	}
}

var targetType = reflect.TypeFor[Target]()

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// placeKey names the one place a file, secret or parameter target writes,
// so that two targets writing it can be refused. CodePipeline overlaps are
// for rotor plan, which sees the actual pipelines.
func placeKey(c *Config, t *Target) string {
	region := t.Region
	if region == "" {
		region = c.AWS.Region
	}
	switch t.Type {
	case TargetFile:
		if t.Path != "" {
			return "file:" + c.ResolvePath(t.Path)
		}
	case TargetSecretsManager:
		if t.SecretID != "" {
			return "secretsmanager:" + region + ":" + t.SecretID
		}
	case TargetSSM:
		if t.Name != "" {
			return "ssm:" + region + ":" + t.Name
		}
	}
	return ""
}
