package config

import (
	"fmt"
	"net"
	"net/url"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

var (
	nameRE       = regexp.MustCompile(`^[a-z0-9][a-z0-9\-_.]{0,62}$`)
	pipelineRE   = regexp.MustCompile(`^[A-Za-z0-9.@\-_]{1,100}$`) // CodePipeline's PipelineName
	roleARNRE    = regexp.MustCompile(`^arn:aws(-[\w]+)*:iam::[0-9]{12}:role/.+$`)
	kmsKeyARNRE  = regexp.MustCompile(`^arn:aws(-[\w]+)*:kms:[a-z0-9\-]+:[0-9]{12}:key/[A-Za-z0-9\-]+$`)
	repoNameRE   = regexp.MustCompile(`^[A-Za-z0-9_.\-]{1,100}$`)
	ownerRE      = regexp.MustCompile(`^[A-Za-z0-9\-]{1,39}$`)
	ssmNameRE    = regexp.MustCompile(`^[a-zA-Z0-9_.\-/]+$`) // at most 2048
	regionRE     = regexp.MustCompile(`^[a-z0-9\-]{1,50}$`)
	permissionRE = regexp.MustCompile(`^[a-z_]{1,64}$`)
	ownerNameRE  = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,31}\$?$`)
	roleNameRE   = regexp.MustCompile(`^[\w+=,.@\-/]{1,64}$`)                                  // IAM role name (with path)
	ouRE         = regexp.MustCompile(`^(ou-[0-9a-z]{4,32}-[a-z0-9]{8,32}|r-[0-9a-z]{4,32})$`) // an OU or root id
)

// targetFields lists which target fields each target type takes, beyond type.
var targetFields = map[string][]string{
	TargetCodePipeline:   {"pipelines", "match", "verify", "region", "role_arn", "external_id", "allow_cloudformation_drift", "concurrency", "in_flight", "max_wait", "on_expiry", "other_actions", "accounts", "aws_organization"},
	TargetFile:           {"path", "create", "owner", "group", "mode"},
	TargetSecretsManager: {"secret_id", "json_key", "kms_key_id", "region", "role_arn", "external_id"},
	TargetSSM:            {"name", "kms_key_id", "region", "role_arn", "external_id"},
	TargetGitHubActionsSecret: {"name", "repositories", "environment", "organization", "match", "dependabot", "create",
		"verify", "workflow", "token_file", "app", "concurrency"},
}

// secretNameRE is a GitHub secret's name ("Naming your secrets").
var secretNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

var (
	personalOnly = []string{"scopes", "allow_identity_change", "max_lifetime"}
	appOnly      = []string{"app_id", "client_id", "installation_id", "private_key_file", "repositories", "permissions"}
	appUserOnly  = []string{"client_secret_file"}
	// appUserNot are the fields a github-app-user source does not take.
	appUserNot = []string{"scopes", "allow_identity_change", "max_lifetime", "app_id", "installation_id", "private_key_file", "repositories", "permissions", "org_revoke"}
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
	checkKey(at, "key", c.Key)
	for i, k := range c.PreviousKeys {
		checkKey(at, fmt.Sprintf("previous_keys[%d]", i), k)
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

func validHostPort(s string) bool {
	_, _, err := net.SplitHostPort(s)
	return err == nil
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
	switch {
	case (s.TLSCertFile == "") != (s.TLSKeyFile == ""):
		at("server.tls_cert_file", "tls_cert_file and tls_key_file go together: set both or neither")
	case s.TLS() && s.InsecureListen:
		at("server.insecure_listen", "not needed with tls_cert_file: remove one of them")
	case !s.TLS() && !s.InsecureListen && validHostPort(s.Listen) && !IsLoopback(s.Listen):
		at("server.listen", "%s can be reached from other machines, and the API's bearer token would cross the network in the clear: "+
			"set tls_cert_file and tls_key_file, or insecure_listen: true if TLS ends in front of rotor (a proxy or a service mesh)", quote(s.Listen))
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
		switch {
		case a.URL == "" && a.URLFile == "":
			at(ap+".url", "required: url, or url_file naming a file (0600) that holds it")
		case a.URL != "" && a.URLFile != "":
			at(ap+".url_file", "give url or url_file, not both")
		case a.URL != "":
			checkURL(at, ap+".url", a.URL)
		}
		if a.SecretFile != "" && a.Type == AlertSlack {
			at(ap+".secret_file", "Slack does not check signatures: secret_file is for webhook alerts")
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
		notFor(appUserOnly, s.Type)
		for k, scope := range s.Scopes {
			if scope == "" || strings.ContainsAny(scope, " ,\t") {
				at(fmt.Sprintf("%s.scopes[%d]", sp, k), "%s: want one scope per list item, like [repo, admin:repo_hook]", quote(scope))
			}
		}
		switch {
		case !p.present[sp+".max_lifetime"]:
		case s.MaxLifetime <= 0:
			at(sp+".max_lifetime", "%s: must be longer than 0: the organisation's maximum lifetime of a personal access token, like 90d (leave it out if there is none)", s.MaxLifetime)
		case s.MaxLifetime <= cr.Rotate.RenewBefore:
			// A new token must outlive renew_before (the check step) and
			// live at most max_lifetime (the policy): none could do both.
			at(sp+".max_lifetime", "%s is not longer than rotate.renew_before (%s): a new token must still be valid renew_before from now, "+
				"and one that lives longer than max_lifetime is blocked; shorten renew_before", s.MaxLifetime, cr.Rotate.RenewBefore)
		}
		if p.present[sp+".org_revoke"] {
			validateOrgRevoke(s.OrgRevoke, sp+".org_revoke", at)
		}
	case SourceGitHubAppUser:
		notFor(appUserNot, s.Type)
		if s.ClientID == "" {
			at(sp+".client_id", "required: the GitHub App's client ID (its settings page, About)")
		}
	case SourceGitHubApp:
		notFor(personalOnly, s.Type)
		notFor(appUserOnly, s.Type)
		notFor([]string{"org_revoke"}, s.Type)
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
		at(sp+".type", "required: personal-token, github-app or github-app-user")
	default:
		at(sp+".type", "%s: want personal-token, github-app or github-app-user", quote(s.Type))
	}
}

// validateOrgRevoke checks a personal-token source's org_revoke: the
// organisation and the app installed on it, as a github-app source names
// its app.
func validateOrgRevoke(o OrgRevoke, op string, at atFunc) {
	switch {
	case o.Org == "":
		at(op+".org", "required: the organisation (login) whose fine-grained token grants rotor revokes")
	case !ownerRE.MatchString(o.Org):
		at(op+".org", "%s: not an organisation login", quote(o.Org))
	}
	checkApp(op, o.AppID, o.ClientID, o.InstallationID, o.PrivateKeyFile, at,
		`the GitHub App with the organisation permission "Personal access tokens" (write)`,
		"the app's installation on the organisation (its number, from the organisation's Settings → GitHub Apps → Configure)")
}

// checkApp checks the fields that name a GitHub App installation rotor
// acts as, by the rules of a github-app source; which and installation
// say, in errors, what app and installation are meant.
func checkApp(op string, appID int64, clientID string, installationID int64, keyFile string, at atFunc, which, installation string) {
	if appID < 0 {
		at(op+".app_id", "must be a positive number")
	}
	if appID == 0 && clientID == "" {
		at(op, "needs app_id or client_id: %s", which)
	}
	if installationID <= 0 {
		at(op+".installation_id", "required: %s", installation)
	}
	if keyFile == "" {
		at(op+".private_key_file", "required: the app's private key (PEM file, mode 0600)")
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
	if cr.Source.Type == SourceGitHubAppUser && r.Every.D() >= userTokenLifetime {
		at(rp+".every", "%s: GitHub App user tokens live 8h, so rotate more often (default 7h)", r.Every)
	}
	if cr.Source.Type == SourceGitHubApp && r.Every.D() >= installationLifetime {
		at(rp+".every", "%s: installation tokens live 1h, so rotate more often (default 50m)", r.Every)
	}
}

const (
	installationLifetime = time.Hour
	userTokenLifetime    = 8 * time.Hour
)

func (p *parser) validateTarget(c *Config, t *Target, tp string, at atFunc) {
	allowed, known := targetFields[t.Type]
	switch {
	case t.Type == "":
		at(tp+".type", "required: codepipeline, file, github-actions-secret, secretsmanager or ssm")
		return
	case !known:
		at(tp+".type", "%s: want codepipeline, file, github-actions-secret, secretsmanager or ssm", quote(t.Type))
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
		switch t.InFlight {
		case InFlightWait, InFlightSkip, InFlightInterrupt:
		default:
			at(tp+".in_flight", "%s: want wait, skip or interrupt (what to do with a pipeline whose execution an update would stop)", quote(t.InFlight))
		}
		if t.MaxWait <= 0 {
			at(tp+".max_wait", "%s: must be positive (in_flight: skip does not wait at all)", t.MaxWait)
		} else if p.present[tp+".max_wait"] && t.InFlight != InFlightWait {
			at(tp+".max_wait", "only with in_flight: wait (it is %s)", t.InFlight)
		}
		switch t.OnExpiry {
		case OnExpiryInterrupt, OnExpiryWait:
		default:
			at(tp+".on_expiry", "%s: want interrupt or wait", quote(t.OnExpiry))
		}
		switch t.OtherActions {
		case OtherActionsCarry, OtherActionsRefuse:
		default:
			at(tp+".other_actions", "%s: want carry or refuse", quote(t.OtherActions))
		}
		p.validateAccounts(t, tp, at)
	case TargetFile:
		if t.Path == "" {
			at(tp+".path", "required: the file to write the token to")
		} else if strings.HasSuffix(t.Path, "/") {
			at(tp+".path", "%s: names a directory; name the file", quote(t.Path))
		}
		if t.Mode != "" && !slices.Contains(FileModes, "0"+strings.TrimPrefix(t.Mode, "0")) {
			at(tp+".mode", "%s: want one of %s (quoted): others must never read a token, and nobody runs it", quote(t.Mode), strings.Join(FileModes, ", "))
		}
		for _, f := range []struct{ name, v string }{{"owner", t.Owner}, {"group", t.Group}} {
			if f.v != "" && !ownerNameRE.MatchString(f.v) {
				at(tp+"."+f.name, "%s: want a user or group name or a numeric id", quote(f.v))
			}
		}
	case TargetSecretsManager:
		if t.SecretID == "" {
			at(tp+".secret_id", "required: the secret's name or ARN")
		}
	case TargetGitHubActionsSecret:
		p.validateActionsSecret(t, tp, at)
	case TargetSSM:
		switch {
		case t.Name == "":
			at(tp+".name", "required: the parameter's name, like /ci/github-token")
		case !ssmNameRE.MatchString(t.Name) || len(t.Name) > 2048:
			at(tp+".name", "%s: not a parameter name (letters, digits, _ . - /)", quote(t.Name))
		}
	}
}

// validateAccounts checks a codepipeline target's accounts: or
// aws_organization: (one or the other, and then neither role_arn nor region of
// its own: each account names its role and regions).
func (p *parser) validateAccounts(t *Target, tp string, at atFunc) {
	org := p.present[tp+".aws_organization"]
	switch {
	case !p.present[tp+".accounts"] && !org:
		return
	case p.present[tp+".accounts"] && org:
		at(tp+".aws_organization", "give accounts or aws_organization, not both")
	case p.present[tp+".accounts"] && len(t.Accounts) == 0:
		at(tp+".accounts", "empty: list {role_arn, regions} per account, or leave accounts out")
	}
	for _, f := range []string{"role_arn", "external_id", "region"} {
		if p.present[tp+"."+f] {
			at(tp+"."+f, "not with accounts or aws_organization: each account names its role and regions")
		}
	}
	regions := func(path string, rs []string) {
		if len(rs) == 0 {
			at(path, "required: the regions to look in, like [us-east-1, eu-west-1]")
		}
		seen := map[string]bool{}
		for k, r := range rs {
			rp := fmt.Sprintf("%s[%d]", path, k)
			switch {
			case !regionRE.MatchString(r):
				at(rp, "%s: want a region like us-east-1", quote(r))
			case seen[r]:
				at(rp, "%s listed twice", quote(r))
			}
			seen[r] = true
		}
	}
	seen := map[string]int{}
	for i, a := range t.Accounts {
		ap := fmt.Sprintf("%s.accounts[%d]", tp, i)
		switch {
		case a.RoleARN == "":
			at(ap+".role_arn", "required: the role rotor assumes in that account, like arn:aws:iam::123456789012:role/rotor")
		case !roleARNRE.MatchString(a.RoleARN):
			at(ap+".role_arn", "%s: want an IAM role ARN like arn:aws:iam::123456789012:role/rotor", quote(a.RoleARN))
		default:
			account := strings.Split(a.RoleARN, ":")[4]
			if j, ok := seen[account]; ok {
				at(ap+".role_arn", "account %s is accounts[%d] already: list its regions there", account, j)
			}
			seen[account] = i
		}
		regions(ap+".regions", a.Regions)
	}
	if o := t.AWSOrganization; org {
		op := tp + ".aws_organization"
		switch {
		case o.RoleName == "":
			at(op+".role_name", "required: the role rotor assumes in each account, like rotor")
		case !roleNameRE.MatchString(o.RoleName) || strings.HasPrefix(o.RoleName, "arn:"):
			at(op+".role_name", "%s: want a role name like rotor (not an ARN: the account comes from Organizations)", quote(o.RoleName))
		}
		if o.OU != "" && !ouRE.MatchString(o.OU) {
			at(op+".ou", "%s: want an organisational unit id like ou-ab12-cd345678 (or a root id like r-ab12)", quote(o.OU))
		}
		regions(op+".regions", o.Regions)
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

// validateActionsSecret checks a github-actions-secret target.
func (p *parser) validateActionsSecret(t *Target, tp string, at atFunc) {
	switch {
	case t.Name == "":
		at(tp+".name", "required: the secret's name, like GH_TOKEN")
	case !secretNameRE.MatchString(t.Name) || strings.HasPrefix(strings.ToUpper(t.Name), "GITHUB_"):
		at(tp+".name", "%s: not a secret name GitHub allows (letters, digits and _, not a digit first, not GITHUB_ first)", quote(t.Name))
	}
	if len(t.Repositories) == 0 && t.Organization == "" && t.Match.IsZero() {
		at(tp, "github-actions-secret needs repositories, organization, match or several of them")
	}
	seen := map[string]bool{}
	for k, r := range t.Repositories {
		rp := fmt.Sprintf("%s.repositories[%d]", tp, k)
		owner, name, ok := strings.Cut(r, "/")
		switch {
		case !ok || !ownerRE.MatchString(owner) || !repoNameRE.MatchString(name):
			at(rp, "%s: want owner/name", quote(r))
		case seen[strings.ToLower(r)]:
			at(rp, "%s listed twice", quote(r))
		}
		seen[strings.ToLower(r)] = true
	}
	if t.Organization != "" && !ownerRE.MatchString(t.Organization) {
		at(tp+".organization", "%s: not a GitHub organisation name", quote(t.Organization))
	}
	if !t.Match.IsZero() {
		if t.Match.Owner == "" {
			at(tp+".match.owner", "required: the user or organisation whose repositories to search")
		} else if !ownerRE.MatchString(t.Match.Owner) {
			at(tp+".match.owner", "%s: not a GitHub user or organisation name", quote(t.Match.Owner))
		}
		if t.Match.Repo != "" && !repoNameRE.MatchString(t.Match.Repo) {
			at(tp+".match.repo", "%s: not a repository name (without its owner)", quote(t.Match.Repo))
		}
		if t.Match.Branch != "" {
			at(tp+".match.branch", "not a field of github-actions-secret targets (secrets belong to a repository, not a branch)")
		}
	}
	if t.Environment != "" {
		if t.Dependabot {
			at(tp+".environment", "environments hold Actions secrets only, not Dependabot secrets")
		}
		if len(t.Repositories) == 0 && t.Match.IsZero() {
			at(tp+".environment", "needs repositories or match: an environment belongs to a repository")
		}
	}
	switch app := p.present[tp+".app"]; {
	case t.TokenFile == "" && !app:
		at(tp+".token_file", "required, or app: a file (0600) with the token that writes the secrets (repo scope or the secrets permission; not the token being rotated), or the GitHub App to write them as")
	case t.TokenFile != "" && app:
		at(tp+".app", "token_file is set too: the target writes with one of them, the token in token_file or the app's installation token")
	case app:
		a := t.App
		checkApp(tp+".app", a.AppID, a.ClientID, a.InstallationID, a.PrivateKeyFile, at,
			"the GitHub App whose installation writes the secrets",
			"the app's installation on the account that owns the secrets (its number, from the account's Settings → GitHub Apps → Configure)")
		if accounts := secretAccounts(t); len(accounts) > 1 {
			at(tp+".app", "an app installation belongs to one account, and these secrets belong to %s: use one target per account", strings.Join(accounts, " and "))
		}
	}
	if t.Concurrency < 0 || t.Concurrency > 64 {
		at(tp+".concurrency", "%d: want 1 to 64 (0: the default)", t.Concurrency)
	}
	switch t.Verify {
	case VerifyUpdatedAt:
		if !t.Workflow.IsZero() {
			at(tp+".workflow", "only with verify: workflow")
		}
	case VerifyWorkflow:
		if t.Workflow.File == "" {
			at(tp+".workflow.file", "required with verify: workflow: the workflow's file name, like check-token.yml")
		}
		if t.Workflow.Ref == "" {
			at(tp+".workflow.ref", "required with verify: workflow: the branch or tag to run it on")
		}
		if r := t.Workflow.Repository; r != "" {
			if owner, name, ok := strings.Cut(r, "/"); !ok || !ownerRE.MatchString(owner) || !repoNameRE.MatchString(name) {
				at(tp+".workflow.repository", "%s: want owner/name", quote(r))
			}
		} else if t.Organization != "" {
			at(tp+".workflow.repository", "required for an organisation secret: the repository to run the workflow in")
		}
		if p.present[tp+".workflow.timeout"] && t.Workflow.Timeout <= 0 {
			at(tp+".workflow.timeout", "%s: must be positive", t.Workflow.Timeout)
		}
	default:
		at(tp+".verify", "%s: want updated_at or workflow", quote(t.Verify))
	}
}

// checkKey checks a sealing key spec: an age key file or a KMS key ARN
// (seal.OpenKey opens them).
func checkKey(at func(path, format string, a ...any), path, spec string) {
	switch {
	case strings.HasPrefix(spec, "file:"):
		if strings.TrimPrefix(spec, "file:") == "" {
			at(path, "file: needs a path, like file:rotor.key")
		}
	case strings.HasPrefix(spec, "awskms:"):
		if !kmsKeyARNRE.MatchString(strings.TrimPrefix(spec, "awskms:")) {
			at(path, "%s: awskms: needs a key ARN, like awskms:arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab (not an alias: the ARN is recorded in each sealed version)", quote(spec))
		}
	default:
		at(path, "%s: want file:PATH or awskms:ARN", quote(spec))
	}
}

// secretAccounts lists the accounts (lower case) whose secrets, or whose
// repositories' secrets, a github-actions-secret target writes.
func secretAccounts(t *Target) []string {
	var out []string
	add := func(owner string) {
		if o := strings.ToLower(owner); o != "" && !slices.Contains(out, o) {
			out = append(out, o)
		}
	}
	for _, r := range t.Repositories {
		owner, _, _ := strings.Cut(r, "/")
		add(owner)
	}
	add(t.Organization)
	add(t.Match.Owner)
	if owner, _, ok := strings.Cut(t.Workflow.Repository, "/"); ok {
		add(owner)
	}
	return out
}
