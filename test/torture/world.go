package torture

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/rotor-ci/rotor/internal/emulator"
	"github.com/rotor-ci/rotor/internal/emulator/codepipeline"
	"github.com/rotor-ci/rotor/internal/emulator/github"
	"github.com/rotor-ci/rotor/internal/installyaml"
)

// The torture world's GitHub names.
const (
	user    = "torture-org"
	appName = "rotor-torture"
	// userAppName is the GitHub App (device flow on) whose user tokens
	// the github-app-user credentials hold.
	userAppName = "rotor-torture-user"
	branch      = "main"
)

// Source types, as rotor.yaml names them.
const (
	personal = "personal-token"
	app      = "github-app"
	appUser  = "github-app-user"
)

// Cred is one credential of the torture world and the pipelines it holds.
type Cred struct {
	Name   string
	Source string // personal, app or appUser
	// Pipelines are the credential's own pipelines: one GitHub source
	// action each, reading the credential's repository.
	Pipelines []string
	// Doomed names one of Pipelines whose UpdatePipeline always fails (a
	// standing fault rule): every rotation of the credential rolls back.
	Doomed string
	// InFlight is the target's in_flight policy ("": the default, wait).
	InFlight string
}

// Repo is the repository every action bound to c reads.
func (c Cred) Repo() string { return "svc-" + c.Name }

// bootNote is the note of the personal token c's pipelines hold at first.
func (c Cred) bootNote() string { return "boot-" + c.Name }

// Shared is a pipeline with two GitHub source actions bound to two
// credentials: an update for one must send the other's token back.
type Shared struct {
	Name        string
	First, Then string // credential names; First's action is "Source", Then's "Tools"
}

// Layout is the shape of a torture world.
type Layout struct {
	Creds  []Cred
	Shared []Shared
}

// Pipelines counts every pipeline of the layout.
func (l Layout) Pipelines() int {
	n := len(l.Shared)
	for _, c := range l.Creds {
		n += len(c.Pipelines)
	}
	return n
}

// Cred returns the named credential.
func (l Layout) Cred(name string) (Cred, bool) {
	for _, c := range l.Creds {
		if c.Name == name {
			return c, true
		}
	}
	return Cred{}, false
}

// pipelinesOf lists every pipeline an action of credential name lives in.
func (l Layout) pipelinesOf(name string) []string {
	c, _ := l.Cred(name)
	out := append([]string(nil), c.Pipelines...)
	for _, s := range l.Shared {
		if s.First == name || s.Then == name {
			out = append(out, s.Name)
		}
	}
	return out
}

// NewLayout spreads n pipelines over two personal-token, three github-app
// credentials and one github-app-user credential; the last app credential
// has a doomed pipeline.
// With shared, one more pipeline has two GitHub actions, one bound to a
// personal and one to an app credential.
func NewLayout(n int, shared bool) Layout {
	names := []struct{ name, source string }{
		{"pat-a", personal}, {"pat-b", personal}, {"app-a", app}, {"app-b", app}, {"app-c", app}, {"user-a", appUser},
	}
	var l Layout
	if shared {
		l.Shared = []Shared{{Name: "shared-01", First: "pat-b", Then: "app-a"}}
	}
	own := max(n-len(l.Shared), len(names))
	for i, nm := range names {
		c := Cred{Name: nm.name, Source: nm.source}
		k := own / len(names)
		if i < own%len(names) {
			k++
		}
		for j := range k {
			c.Pipelines = append(c.Pipelines, fmt.Sprintf("%s-%02d", nm.name, j+1))
		}
		l.Creds = append(l.Creds, c)
	}
	last := &l.Creds[4] // app-c
	last.Doomed = last.Pipelines[len(last.Pipelines)-1]
	// One personal and one app credential skip busy pipelines: their
	// bindings become stragglers, moved later by a resume, the next
	// rotation or rotor serve; the others wait.
	l.Creds[1].InFlight, l.Creds[3].InFlight = "skip", "skip"
	return l
}

// World is the emulators' world for l: one private repository per
// credential, the boot token of each credential, the app installed on the
// whole account, and the pipelines. Rate limits are raised: twenty
// pipelines polling several times a second would exhaust GitHub's hourly
// budget in a minute, and the revocation API's 60 unauthenticated calls
// an hour would stop retirement.
func (l Layout) World() (emulator.World, error) {
	w := emulator.World{}
	w.GitHub = github.World{
		Users:                    []github.UserSpec{{Login: user}},
		RateLimit:                100_000_000,
		UnauthenticatedRateLimit: 100_000_000,
		// The person approves a device code at once: rotor authorize's
		// first poll need not wait GitHub's 5 s.
		DeviceFlowInterval: 1,
		Apps: []github.AppSpec{{
			Name: appName, Owner: user,
			Permissions:   map[string]string{"contents": "read", "metadata": "read"},
			Installations: []github.InstallationSpec{{Account: user}},
		}, {
			Name: userAppName, Owner: user, DeviceFlow: true,
			Permissions:   map[string]string{"contents": "read", "metadata": "read"},
			Installations: []github.InstallationSpec{{Account: user}},
		}},
	}
	for _, c := range l.Creds {
		w.GitHub.Repos = append(w.GitHub.Repos, github.RepoSpec{Owner: user, Name: c.Repo(), Private: true, Branches: []string{branch}})
		w.GitHub.Tokens = append(w.GitHub.Tokens, github.WorldToken{TokenSpec: github.TokenSpec{
			User: user, Kind: github.KindClassic, Note: c.bootNote(), Scopes: []string{"repo", "admin:repo_hook"},
		}})
	}
	w.CodePipeline = codepipeline.World{Account: codepipeline.DefaultAccount, Region: codepipeline.DefaultRegion}
	n := 0
	for _, c := range l.Creds {
		for _, p := range c.Pipelines {
			w.CodePipeline.Pipelines = append(w.CodePipeline.Pipelines, codepipeline.PipelineSpec{JSON: declaration(p, n, []ghAction{{"Source", c}})})
			n++
		}
	}
	for _, s := range l.Shared {
		first, ok1 := l.Cred(s.First)
		then, ok2 := l.Cred(s.Then)
		if !ok1 || !ok2 {
			return w, fmt.Errorf("shared pipeline %s: unknown credential", s.Name)
		}
		w.CodePipeline.Pipelines = append(w.CodePipeline.Pipelines, codepipeline.PipelineSpec{JSON: declaration(s.Name, n, []ghAction{{"Source", first}, {"Tools", then}})})
		n++
	}
	return w, w.Validate()
}

type ghAction struct {
	name string
	cred Cred
}

// declaration is a pipeline with the given GitHub actions and, so that a
// rewrite that loses or changes anything besides a token shows, a varied
// rest: V2 pipelines with variables, explicit PollForSourceChanges, run
// orders, build environment variables, an approval stage.
func declaration(name string, n int, sources []ghAction) json.RawMessage {
	var actions []string
	var inputs []string
	for _, a := range sources {
		poll := ""
		if n%3 == 0 {
			poll = `, "PollForSourceChanges": "true"`
		}
		actions = append(actions, fmt.Sprintf(`{"name": %q, "runOrder": 1,
      "actionTypeId": {"category": "Source", "owner": "ThirdParty", "provider": "GitHub", "version": "1"},
      "configuration": {"Owner": %q, "Repo": %q, "Branch": %q, "OAuthToken": "%s%s%s"%s},
      "outputArtifacts": [{"name": "%sOut"}]}`,
			a.name, user, a.cred.Repo(), branch, codepipeline.TokenRefPrefix, a.cred.bootNote(), codepipeline.TokenRefSuffix, poll, a.name))
		inputs = append(inputs, fmt.Sprintf(`{"name": "%sOut"}`, a.name))
	}
	extra := ""
	if n%2 == 0 {
		extra = `, "pipelineType": "V2", "executionMode": "QUEUED", "variables": [{"name": "DEPLOY_ENV", "defaultValue": "prod-` + fmt.Sprint(n) + `", "description": "where it goes"}]`
	}
	approval := ""
	if n%4 == 1 {
		approval = `, {"name": "Approve", "actions": [{"name": "Gate", "actionTypeId": {"category": "Approval", "owner": "AWS", "provider": "Manual", "version": "1"}, "configuration": {"CustomData": "torture ` + name + `"}}]}`
	}
	return json.RawMessage(fmt.Sprintf(`{
  "name": %q,
  "roleArn": "arn:aws:iam::%s:role/torture-%d",
  "artifactStore": {"type": "S3", "location": "torture-artifacts-%d"}%s,
  "stages": [
    {"name": "Source", "actions": [%s]},
    {"name": "Build", "actions": [{"name": "Build", "runOrder": 2,
      "actionTypeId": {"category": "Build", "owner": "AWS", "provider": "CodeBuild", "version": "1"},
      "configuration": {"ProjectName": "build-%s", "EnvironmentVariables": "[{\"name\":\"N\",\"value\":\"%d\",\"type\":\"PLAINTEXT\"}]"},
      "inputArtifacts": [%s]}]}%s
  ]
}`, name, codepipeline.DefaultAccount, n, n, extra, strings.Join(actions, ", "), name, n, strings.Join(inputs, ", "), approval))
}

// install is rotor.yaml for l.
func (l Layout) install(githubURL, codepipelineURL string, appID, installationID int64, userClientID string, grace, appEvery time.Duration) installyaml.Install {
	in := installyaml.Install{
		Comment: "written by the torture harness",
		GitHub:  installyaml.GitHub{APIURL: githubURL},
		AWS:     installyaml.AWS{EndpointURL: codepipelineURL},
		Server:  &installyaml.Server{Listen: "127.0.0.1:0", AuthTokenFile: "api.token", WatchEvery: "1h"},
	}
	for _, c := range l.Creds {
		ic := installyaml.Credential{Name: c.Name, Application: c.Name,
			Targets: []installyaml.Target{{Pipelines: l.pipelinesOf(c.Name), Match: &installyaml.Match{Owner: user, Repo: c.Repo()}, InFlight: c.InFlight}}}
		switch c.Source {
		case personal:
			ic.Source = installyaml.Personal()
			ic.Rotate = installyaml.Rotate{Every: "30d", RenewBefore: "1d", Grace: grace.String()}
		case app:
			ic.Source = installyaml.App(appID, installationID, "app.pem", c.Repo())
			ic.Rotate = installyaml.Rotate{Every: appEvery.String(), RenewBefore: "10m", Grace: grace.String()}
		case appUser:
			// Its pipelines start on a boot personal token that rotor does
			// not adopt (a user token source cannot): rotor authorize's
			// first rotation moves them, and the person deletes the boot
			// token.
			ic.Source = installyaml.AppUser(userClientID)
			ic.Rotate = installyaml.Rotate{Every: appEvery.String(), RenewBefore: "10m", Grace: grace.String()}
		}
		in.Credentials = append(in.Credentials, ic)
	}
	return in
}

// userCreds lists the github-app-user credentials.
func (l Layout) userCreds() []string {
	var out []string
	for _, c := range l.Creds {
		if c.Source == appUser {
			out = append(out, c.Name)
		}
	}
	return out
}

// interrupting lists the pipelines of credentials whose policy lets an
// update stop an execution (in_flight: interrupt).
func (l Layout) interrupting() map[string]bool {
	out := map[string]bool{}
	for _, c := range l.Creds {
		if c.InFlight == "interrupt" {
			for _, p := range l.pipelinesOf(c.Name) {
				out[p] = true
			}
		}
	}
	return out
}
