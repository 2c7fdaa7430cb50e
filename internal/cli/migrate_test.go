package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	cp "github.com/aws/aws-sdk-go-v2/service/codepipeline"
	cptypes "github.com/aws/aws-sdk-go-v2/service/codepipeline/types"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/rotor-ci/rotor/internal/emulator"
	cpemu "github.com/rotor-ci/rotor/internal/emulator/codepipeline"
	ghemu "github.com/rotor-ci/rotor/internal/emulator/github"
)

// migrationRoles declares one pipeline service role without UseConnection;
// every other role is undeclared, so allowed everything.
const migrationRoles = `
aws:
  accounts:
    - id: "123456789012"
      roles:
        - name: no-connections
          policies: [{Statement: [{Effect: Allow, Action: "codepipeline:*", Resource: "*"}]}]
`

// newMigrateE2E is an installation whose credential pipeline-token feeds
// the seed pipeline and the clones named, by match (so that a pipeline
// whose action moved is simply no longer found), and nothing else; its
// token is adopted.
func newMigrateE2E(t *testing.T, clones ...string) *e2e {
	t.Helper()
	e := newE2EWorld(t, "0s", func(w *emulator.World) {
		parsed, err := emulator.ParseWorld("roles.yaml", []byte(migrationRoles))
		if err != nil {
			t.Fatal(err)
		}
		w.AWS = parsed.AWS
	})
	for _, name := range clones {
		e.clonePipeline(name, e.tokens[0])
	}
	b, err := os.ReadFile(e.config)
	if err != nil {
		t.Fatal(err)
	}
	cfg := strings.Replace(string(b), "      - {type: codepipeline, pipelines: [MyFirstPipeline]}\n      - {type: file, path: ci/github-token}\n",
		"      - {type: codepipeline, match: {owner: "+emulator.SeedUser+"}, verify: execution}\n", 1)
	if err := os.WriteFile(e.config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out := e.rotor(e.tokens[0].Reveal()+"\n", "adopt", "pipeline-token", "--token-stdin", "--confirm-unverifiable"); code != 0 {
		t.Fatalf("adopt: %d %s", code, out)
	}
	return e
}

// connection creates a connection through the CLI and, with handshake,
// completes it as a person would in the console.
func (e *e2e) connection(handshake bool) string {
	e.t.Helper()
	code, out := e.rotor("", "migrate", "pipeline-token", "--create-connection", "github-acme", "-o", "json")
	if code != 0 {
		e.t.Fatalf("create connection: %d\n%s", code, out)
	}
	var created map[string]string
	if err := json.NewDecoder(strings.NewReader(out)).Decode(&created); err != nil {
		e.t.Fatalf("create connection: %v\n%s", err, out)
	}
	arn := created["connection"]
	if created["status"] != "PENDING" || !strings.HasPrefix(arn, "arn:aws:codeconnections:us-east-1:123456789012:connection/") || created["console_url"] == "" {
		e.t.Fatalf("created %v", created)
	}
	if handshake {
		e.handshake(arn)
	}
	return arn
}

// handshake completes a connection as a person would in the console.
func (e *e2e) handshake(arn string) {
	e.t.Helper()
	body, _ := json.Marshal(map[string]any{"connection_arn": arn, "github_account": emulator.SeedUser, "repositories": []string{emulator.SeedRepo}})
	resp, err := http.Post(e.sb.AWSURL+"/_emulator/connections/handshake", "application/json", bytes.NewReader(body))
	if err != nil || resp.StatusCode != http.StatusOK {
		e.t.Fatalf("handshake: %v %v", resp, err)
	}
	resp.Body.Close()
}

// declarations reads every pipeline's declaration.
func (e *e2e) declarations(names ...string) map[string]*cptypes.PipelineDeclaration {
	e.t.Helper()
	client, _ := e.pipelines()
	out := map[string]*cptypes.PipelineDeclaration{}
	for _, n := range names {
		got, err := client.GetPipeline(context.Background(), &cp.GetPipelineInput{Name: aws.String(n)})
		if err != nil {
			e.t.Fatal(err)
		}
		out[n] = got.Pipeline
	}
	return out
}

// sameButSource compares two declarations with the Source action's type and
// configuration and the version left out.
func sameButSource(a, b *cptypes.PipelineDeclaration) bool {
	strip := func(d *cptypes.PipelineDeclaration) []byte {
		c := *d
		c.Version = nil
		c.Stages = append([]cptypes.StageDeclaration(nil), d.Stages...)
		c.Stages[0].Actions = append([]cptypes.ActionDeclaration(nil), d.Stages[0].Actions...)
		c.Stages[0].Actions[0].ActionTypeId, c.Stages[0].Actions[0].Configuration = nil, nil
		j, _ := json.Marshal(c)
		return j
	}
	return bytes.Equal(strip(a), strip(b))
}

func isV2(a cptypes.ActionDeclaration, conn string) bool {
	return aws.ToString(a.ActionTypeId.Provider) == "CodeStarSourceConnection" && a.Configuration["ConnectionArn"] == conn &&
		a.Configuration["FullRepositoryId"] == emulator.SeedUser+"/"+emulator.SeedRepo && a.Configuration["BranchName"] == emulator.SeedBranch
}

// TestCLI_Migrate: plan → migrate (PENDING refused, dry run changes
// nothing) → every pipeline on the connection, verified by an execution,
// no execution stopped, declarations identical but for the action, the
// webhook (whose secret is the token) deregistered and deleted, the token
// revoked, the credential migrated and no longer rotated.
func TestCLI_Migrate(t *testing.T) {
	e := newMigrateE2E(t, "Second", "Third")
	names := []string{emulator.SeedPipeline, "Second", "Third"}
	client, _ := e.pipelines()
	ctx := context.Background()
	if _, err := client.PutWebhook(ctx, &cp.PutWebhookInput{Webhook: &cptypes.WebhookDefinition{
		Name: aws.String("second-push"), TargetPipeline: aws.String("Second"), TargetAction: aws.String("Source"),
		Filters:                     []cptypes.WebhookFilterRule{{JsonPath: aws.String("$.ref"), MatchEquals: aws.String("refs/heads/{Branch}")}},
		Authentication:              cptypes.WebhookAuthenticationTypeGithubHmac,
		AuthenticationConfiguration: &cptypes.WebhookAuthConfiguration{SecretToken: aws.String(e.tokens[0].Reveal())},
	}}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.RegisterWebhookWithThirdParty(ctx, &cp.RegisterWebhookWithThirdPartyInput{WebhookName: aws.String("second-push")}); err != nil {
		t.Fatal(err)
	}
	if len(e.sb.GitHub.Hooks()) != 1 {
		t.Fatalf("GitHub hooks before: %v", e.sb.GitHub.Hooks())
	}

	code, out := e.rotor("", "plan", "pipeline-token")
	for _, want := range []string{"migration", "Second/Source/Source", "webhook second-push", "its secret is the token itself", "codeconnections:UseConnection"} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("plan lacks %q (exit %d):\n%s", want, code, out)
		}
	}

	conn := e.connection(false)
	if code, out := e.rotor("", "migrate", "pipeline-token", "--connection", conn); code != ExitUsage || !strings.Contains(out, "PENDING") || !strings.Contains(out, "console") {
		t.Fatalf("migrate on a PENDING connection: exit %d\n%s", code, out)
	}
	conn = e.connection(true) // a second one, completed; the first stays PENDING
	before := e.declarations(names...)
	if code, out := e.rotor("", "migrate", "pipeline-token", "--connection", conn, "--dry-run"); code != 0 || !strings.Contains(out, "would move") {
		t.Fatalf("dry run: %d\n%s", code, out)
	}
	for n, d := range e.declarations(names...) {
		if *d.Version != *before[n].Version {
			t.Fatalf("the dry run changed %s", n)
		}
	}

	start := time.Now()
	code, out = e.rotor("", "migrate", "pipeline-token", "--connection", conn)
	if code != 0 || !strings.Contains(out, "is migrated") {
		t.Fatalf("migrate: exit %d\n%s", code, out)
	}
	after := e.declarations(names...)
	for _, n := range names {
		if a := after[n].Stages[0].Actions[0]; !isV2(a, conn) {
			t.Errorf("%s: source action %+v, want version 2 on %s", n, a.ActionTypeId, conn)
		}
		if !sameButSource(before[n], after[n]) {
			t.Errorf("%s: the declaration changed beyond the source action", n)
		}
		if *after[n].Version != *before[n].Version+1 {
			t.Errorf("%s: version %d → %d, want one update", n, *before[n].Version, *after[n].Version)
		}
	}
	verified := map[string]bool{}
	for _, x := range e.sb.CodePipeline.Executions() {
		if x.StoppedBy == cpemu.StoppedByUpdate {
			t.Errorf("execution %s of %s stopped by an update", x.ID, x.Pipeline)
		}
		if x.Status == "Succeeded" && x.Started.After(start) && x.Trigger == "StartPipelineExecution" {
			verified[x.Pipeline] = true
		}
	}
	if len(verified) != len(names) {
		t.Errorf("pipelines verified by an execution: %v, want %v", verified, names)
	}
	if len(e.sb.CodePipeline.Webhooks()) != 0 || len(e.sb.GitHub.Hooks()) != 0 {
		t.Errorf("webhooks left: %v, GitHub hooks left: %v", e.sb.CodePipeline.Webhooks(), e.sb.GitHub.Hooks())
	}
	if st := e.state(e.tokens[0].Fingerprint()); st != ghemu.StateRevoked {
		t.Errorf("the token after the migration: %q, want revoked", st)
	}
	if code, out := e.rotor("", "status", "-o", "json"); code != 0 || !strings.Contains(out, `"migrated": true`) {
		t.Errorf("status after the migration: %d\n%s", code, out)
	}
	if code, out := e.rotor("", "status"); code != 0 || !strings.Contains(out, "never: migrated") {
		t.Errorf("status table after the migration: %d\n%s", code, out)
	}
	if code, out := e.rotor("x\n", "rotate", "pipeline-token", "--token-stdin"); code == 0 || !strings.Contains(out, "migrated") {
		t.Errorf("rotate after the migration: %d\n%s", code, out)
	}
	if code, out := e.rotor("", "audit", "verify"); code != 0 {
		t.Errorf("audit verify: %d\n%s", code, out)
	}
	e.canary()
}

// TestCLI_MigrateRollsBackARoleWithoutUseConnection: the pipeline whose
// role may not use the connection fails its verification and is put back on
// its version 1 action (which works again), the others move, the run exits
// 3, the token stays live, the credential is not migrated, and it is still
// rotated for the pipeline left on version 1.
func TestCLI_MigrateRollsBackARoleWithoutUseConnection(t *testing.T) {
	e := newMigrateE2E(t, "Second")
	client, decl := e.pipelines()
	decl.Name = aws.String("NoConn")
	decl.RoleArn = aws.String("arn:aws:iam::123456789012:role/no-connections")
	if _, err := client.CreatePipeline(context.Background(), &cp.CreatePipelineInput{Pipeline: decl}); err != nil {
		t.Fatal(err)
	}
	names := []string{emulator.SeedPipeline, "Second", "NoConn"}
	conn := e.connection(true)
	before := e.declarations(names...)
	code, out := e.rotor("", "migrate", "pipeline-token", "--connection", conn)
	if code != ExitRolledBack || !strings.Contains(out, "rolled_back") || !strings.Contains(out, "sufficient permissions") {
		t.Fatalf("migrate with a role lacking UseConnection: exit %d\n%s", code, out)
	}
	after := e.declarations(names...)
	for _, n := range names[:2] {
		if !isV2(after[n].Stages[0].Actions[0], conn) || !sameButSource(before[n], after[n]) {
			t.Errorf("%s did not move cleanly", n)
		}
	}
	back := after["NoConn"]
	if a := back.Stages[0].Actions[0]; aws.ToString(a.ActionTypeId.Provider) != "GitHub" || !sameButSource(before["NoConn"], back) ||
		!reflect.DeepEqual(withoutToken(a.Configuration), withoutToken(before["NoConn"].Stages[0].Actions[0].Configuration)) {
		t.Errorf("NoConn after the rollback: %+v %v", a.ActionTypeId, withoutToken(a.Configuration))
	}
	if tok, _ := e.sb.CodePipeline.StoredToken("NoConn", "Source"); tok.Fingerprint() != e.tokens[0].Fingerprint() {
		t.Errorf("NoConn holds %s after the rollback, want the token %s", tok.Fingerprint(), e.tokens[0].Fingerprint())
	}
	if st := e.state(e.tokens[0].Fingerprint()); st != ghemu.StateActive {
		t.Errorf("the token: %q, want active (NoConn still uses it)", st)
	}
	for _, x := range e.sb.CodePipeline.Executions() {
		if x.StoppedBy == cpemu.StoppedByUpdate {
			t.Errorf("execution %s of %s stopped by an update", x.ID, x.Pipeline)
		}
	}
	if code, out := e.rotor("", "status", "-o", "json"); code != 0 || !strings.Contains(out, `"migrated": false`) {
		t.Errorf("status: %d\n%s", code, out)
	}
	// The credential is still rotated (for NoConn): a rotation finds only it.
	if code, out := e.rotor("", "plan", "pipeline-token"); code != 0 || !strings.Contains(out, "NoConn/Source/Source") || strings.Contains(out, "Second/Source/Source") {
		t.Errorf("plan after a partial migration: %d\n%s", code, out)
	}
	e.canary()
}

func withoutToken(c map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range c {
		if k != "OAuthToken" {
			out[k] = v
		}
	}
	return out
}

// TestCLI_MigrateRefusesV1OnlyVariables: an action whose namespace's
// CommitUrl a downstream action uses is blocked in plan and refused by
// migrate (unchanged), the others move, and the token stays.
func TestCLI_MigrateRefusesV1OnlyVariables(t *testing.T) {
	e := newMigrateE2E(t)
	client, decl := e.pipelines()
	decl.Name = aws.String("Vars")
	decl.Stages[0].Actions[0].Namespace = aws.String("SourceVariables")
	build := &decl.Stages[1].Actions[0]
	build.Configuration = map[string]string{"ProjectName": "test-project",
		"EnvironmentVariables": `[{"name":"URL","value":"#{SourceVariables.CommitUrl}","type":"PLAINTEXT"}]`}
	if _, err := client.CreatePipeline(context.Background(), &cp.CreatePipelineInput{Pipeline: decl}); err != nil {
		t.Fatal(err)
	}
	code, out := e.rotor("", "plan", "pipeline-token")
	if code != 0 || !strings.Contains(out, "Vars/Source/Source") || !strings.Contains(out, "blocker: Build/Build EnvironmentVariables: #{SourceVariables.CommitUrl}") {
		t.Fatalf("plan: %d\n%s", code, out)
	}
	conn := e.connection(true)
	before := e.declarations("Vars")
	code, out = e.rotor("", "migrate", "pipeline-token", "--connection", conn)
	if code != 0 || !strings.Contains(out, "refused") || !strings.Contains(out, "the token stays in use") {
		t.Fatalf("migrate: %d\n%s", code, out)
	}
	if after := e.declarations("Vars"); *after["Vars"].Version != *before["Vars"].Version {
		t.Errorf("the refused pipeline was written")
	}
	if !isV2(e.declarations(emulator.SeedPipeline)[emulator.SeedPipeline].Stages[0].Actions[0], conn) {
		t.Errorf("the seed pipeline did not move")
	}
	if st := e.state(e.tokens[0].Fingerprint()); st != ghemu.StateActive {
		t.Errorf("token %q, want active", st)
	}
	e.canary()
}

// TestCLI_MigrateOnePipelineAtATimeWaitsForDeployments: --pipeline moves
// one pipeline and keeps the token; a pipeline running a deployment is
// waited for, not stopped; the second migration moves the last action and
// the credential is migrated.
func TestCLI_MigrateOnePipelineAtATimeWaitsForDeployments(t *testing.T) {
	e := newMigrateE2E(t, "Second")
	conn := e.connection(true)
	code, out := e.rotor("", "migrate", "pipeline-token", "--connection", conn, "--pipeline", "Second")
	if code != 0 || !strings.Contains(out, "the token stays in use: 1 GitHub (version 1) action") {
		t.Fatalf("migrate --pipeline Second: %d\n%s", code, out)
	}
	got := e.declarations(emulator.SeedPipeline, "Second")
	if !isV2(got["Second"].Stages[0].Actions[0], conn) || isV2(got[emulator.SeedPipeline].Stages[0].Actions[0], conn) {
		t.Fatalf("after --pipeline Second: only Second must have moved")
	}

	// A deployment of the seed pipeline runs for a few seconds.
	e.sb.CodePipeline.SetRunTime(emulator.SeedPipeline, "Build", 3*time.Second)
	client, _ := e.pipelines()
	ex, err := client.StartPipelineExecution(context.Background(), &cp.StartPipelineExecutionInput{Name: aws.String(emulator.SeedPipeline)})
	if err != nil {
		t.Fatal(err)
	}
	for !e.sb.CodePipeline.Busy(emulator.SeedPipeline) {
		time.Sleep(10 * time.Millisecond)
	}
	code, out = e.rotor("", "migrate", "pipeline-token", "--connection", conn)
	if code != 0 || !strings.Contains(out, "is migrated") {
		t.Fatalf("migrate the rest: %d\n%s", code, out)
	}
	for _, x := range e.sb.CodePipeline.Executions() {
		if x.StoppedBy != "" {
			t.Errorf("execution %s of %s stopped (%s)", x.ID, x.Pipeline, x.StoppedBy)
		}
		if x.ID == aws.ToString(ex.PipelineExecutionId) && x.Status != "Succeeded" {
			t.Errorf("the deployment: %s, want Succeeded", x.Status)
		}
	}
	if st := e.state(e.tokens[0].Fingerprint()); st != ghemu.StateRevoked {
		t.Errorf("token %q, want revoked", st)
	}
	e.canary()
}

// TestCLI_MigrateHonoursInFlightSkip: under in_flight: skip a busy pipeline
// is not waited for: its action stays on version 1 ("waiting") at once,
// the deployment runs on, and the token stays in use.
func TestCLI_MigrateHonoursInFlightSkip(t *testing.T) {
	e := newMigrateE2E(t)
	b, err := os.ReadFile(e.config)
	if err != nil {
		t.Fatal(err)
	}
	cfg := strings.Replace(string(b), "verify: execution}", "verify: execution, in_flight: skip}", 1)
	if cfg == string(b) {
		t.Fatal("the config has no codepipeline target to change")
	}
	if err := os.WriteFile(e.config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	conn := e.connection(true)
	e.sb.CodePipeline.SetRunTime(emulator.SeedPipeline, "Build", time.Hour) // a deployment that outlasts the test
	client, _ := e.pipelines()
	if _, err := client.StartPipelineExecution(context.Background(), &cp.StartPipelineExecutionInput{Name: aws.String(emulator.SeedPipeline)}); err != nil {
		t.Fatal(err)
	}
	for !e.sb.CodePipeline.Busy(emulator.SeedPipeline) {
		time.Sleep(10 * time.Millisecond)
	}
	start := time.Now()
	code, out := e.rotor("", "migrate", "pipeline-token", "--connection", conn)
	if code != 0 || strings.Contains(out, "is migrated") || !strings.Contains(out, "waiting: the pipeline has an execution in progress") {
		t.Fatalf("migrate with the only pipeline busy under in_flight: skip: %d\n%s", code, out)
	}
	if took := time.Since(start); took > 20*time.Second {
		t.Errorf("migrate took %s: it waited for the busy pipeline", took)
	}
	if got := e.declarations(emulator.SeedPipeline)[emulator.SeedPipeline]; isV2(got.Stages[0].Actions[0], conn) {
		t.Error("the busy pipeline moved")
	}
	for _, x := range e.sb.CodePipeline.Executions() {
		if x.StoppedBy != "" {
			t.Errorf("execution %s of %s stopped (%s)", x.ID, x.Pipeline, x.StoppedBy)
		}
	}
	if st := e.state(e.tokens[0].Fingerprint()); st == ghemu.StateRevoked {
		t.Error("the token was revoked with an action still on version 1")
	}
	e.canary()
}

// placedPipeline is one pipeline of the two-account installation, read from
// the emulator of its account and region.
type placedPipeline struct{ account, region, name string }

func (e *e2e) rawPipelines(ps ...placedPipeline) map[placedPipeline]string {
	e.t.Helper()
	out := map[placedPipeline]string{}
	for _, p := range ps {
		raw, version, ok := e.sb.CodePipeline.In(p.account, p.region).Pipeline(p.name)
		if !ok {
			e.t.Fatalf("no pipeline %v", p)
		}
		out[p] = fmt.Sprintf("version %d: %s", version, raw)
	}
	return out
}

// TestCLI_MigrateTwoAccounts: a credential whose pipelines are in two
// accounts and regions. --create-connection refuses to pick a place, and
// creates in the one --pipeline (or --account and --region) narrows to.
// With only the home account's connection, migrate (and its dry run) is
// refused before any write, naming the other account's pipeline: every
// declaration and version unchanged, no run opened; narrowed to the home
// account and region, it is not. A malformed ARN and two connections of one place are usage
// errors. With one connection per place, each action moves to its own
// place's (-o json says which, before and after), both are verified, and
// the credential is migrated.
func TestCLI_MigrateTwoAccounts(t *testing.T) {
	e := newTwoAccountE2E(t, "        verify: execution\n")
	home := placedPipeline{"123456789012", "us-east-1", emulator.SeedPipeline}
	dev := placedPipeline{"111111111111", "eu-west-1", "DevPipeline"}
	before := e.rawPipelines(home, dev)

	code, out := e.rotor("", "migrate", "pipeline-token", "--create-connection", "github-acme")
	if code != ExitUsage || !strings.Contains(out, "account 111111111111, region eu-west-1; account 123456789012, region us-east-1") || len(e.sb.Connections.Connections()) != 0 {
		t.Fatalf("--create-connection over two places: exit %d, connections %v\n%s", code, e.sb.Connections.Connections(), out)
	}
	if code, out := e.rotor("", "migrate", "pipeline-token", "--create-connection", "github-acme", "--account", "11111111111"); code != ExitUsage || !strings.Contains(out, `--account "11111111111"`) {
		t.Fatalf("--account of 11 digits: exit %d\n%s", code, out)
	}
	create := func(name string, narrow ...string) string {
		t.Helper()
		code, out := e.rotor("", append([]string{"migrate", "pipeline-token", "--create-connection", name, "-o", "json"}, narrow...)...)
		var created map[string]string
		if code != 0 || json.NewDecoder(strings.NewReader(out)).Decode(&created) != nil {
			t.Fatalf("--create-connection %s %v: exit %d\n%s", name, narrow, code, out)
		}
		e.handshake(created["connection"])
		return created["connection"]
	}
	// Narrowed by pipeline, or by account and region.
	homeConn := create("github-home", "--pipeline", emulator.SeedPipeline)
	devConn := create("github-dev", "--account", "111111111111", "--region", "eu-west-1")
	for conn, want := range map[string]string{homeConn: "arn:aws:codeconnections:us-east-1:123456789012:connection/", devConn: "arn:aws:codeconnections:eu-west-1:111111111111:connection/"} {
		if !strings.HasPrefix(conn, want) {
			t.Fatalf("created %s, want one under %s", conn, want)
		}
	}

	// (a) One connection for two places: refused, nothing written.
	for _, dry := range []bool{true, false} {
		args := []string{"migrate", "pipeline-token", "--connection", homeConn}
		if dry {
			args = append(args, "--dry-run")
		}
		code, out := e.rotor("", args...)
		if code != ExitUsage || !strings.Contains(out, "rotor: pipeline-token: no connection in the pipeline's account and region, for:\n  DevPipeline (account 111111111111, region eu-west-1)\nNothing was changed.") ||
			strings.Contains(out, "MyFirstPipeline (") {
			t.Fatalf("migrate %v with the home account's connection only: exit %d\n%s", args, code, out)
		}
		if !dry {
			t.Logf("what a user sees:\n%s", out)
		}
	}
	// Narrowed to the home place, the same connection is enough.
	code, out = e.rotor("", "migrate", "pipeline-token", "--connection", homeConn, "--account", "123456789012", "--region", "us-east-1", "--dry-run", "-o", "json")
	if code != 0 || !strings.Contains(out, `"binding": "codepipeline:123456789012:us-east-1:MyFirstPipeline/Source/Source"`) || strings.Contains(out, "DevPipeline") {
		t.Fatalf("dry run narrowed to the home account and region: exit %d\n%s", code, out)
	}
	if d := cmp.Diff(before, e.rawPipelines(home, dev)); d != "" {
		t.Fatalf("a refused migration changed a pipeline (-before +after):\n%s", d)
	}
	if code, out := e.rotor("", "history", "pipeline-token"); code != 0 || strings.Contains(out, "migrate") {
		t.Errorf("a refused migration opened a run: %d\n%s", code, out)
	}

	// (c) Usage errors, named.
	bad := "arn:aws:codeconnections:us-east-1:12345:connection/x"
	if code, out := e.rotor("", "migrate", "pipeline-token", "--connection", bad); code != ExitUsage || !strings.Contains(out, `--connection "`+bad+`"`) {
		t.Errorf("a malformed ARN: exit %d\n%s", code, out)
	}
	other := "arn:aws:codestar-connections:us-east-1:123456789012:connection/other"
	if code, out := e.rotor("", "migrate", "pipeline-token", "--connection", homeConn, "--connection", devConn, "--connection", other); code != ExitUsage ||
		!strings.Contains(out, homeConn) || !strings.Contains(out, other) || !strings.Contains(out, "one connection per account × region") {
		t.Errorf("two connections in one place: exit %d\n%s", code, out)
	}
	if d := cmp.Diff(before, e.rawPipelines(home, dev)); d != "" {
		t.Fatalf("a usage error changed a pipeline (-before +after):\n%s", d)
	}

	// (b) One connection per place.
	wantConn := map[string]string{
		"codepipeline:123456789012:us-east-1:MyFirstPipeline/Source/Source": homeConn,
		"codepipeline:111111111111:eu-west-1:DevPipeline/Source/Source":     devConn,
	}
	result := func(args ...string) (string, map[string]string) {
		t.Helper()
		code, out := e.rotor("", append([]string{"migrate", "pipeline-token", "--connection", devConn, "--connection", homeConn, "-o", "json"}, args...)...)
		var res struct {
			Connections []string `json:"connections"`
			Migrated    bool     `json:"migrated"`
			Actions     []struct {
				Binding, Connection, Status string
			} `json:"actions"`
		}
		if code != 0 || json.NewDecoder(strings.NewReader(out)).Decode(&res) != nil {
			t.Fatalf("migrate %v: exit %d\n%s", args, code, out)
		}
		got := map[string]string{}
		for _, a := range res.Actions {
			got[a.Binding] = a.Connection + " " + a.Status
		}
		if d := cmp.Diff([]string{devConn, homeConn}, res.Connections, cmpopts.SortSlices(func(a, b string) bool { return a < b })); d != "" {
			t.Errorf("connections (-want +got):\n%s", d)
		}
		return fmt.Sprint(res.Migrated), got
	}
	_, got := result("--dry-run")
	for id, conn := range wantConn {
		if got[id] != conn+" pending" {
			t.Errorf("dry run: %s would use %q, want %s", id, got[id], conn)
		}
	}
	if d := cmp.Diff(before, e.rawPipelines(home, dev)); d != "" {
		t.Fatalf("the dry run changed a pipeline (-before +after):\n%s", d)
	}
	migrated, got := result()
	for id, conn := range wantConn {
		if got[id] != conn+" verified" {
			t.Errorf("%s: %q, want verified on %s", id, got[id], conn)
		}
	}
	if migrated != "true" {
		t.Errorf("migrated: %s", migrated)
	}
	after := e.rawPipelines(home, dev)
	for p, conn := range map[placedPipeline]string{home: homeConn, dev: devConn} {
		if !strings.Contains(after[p], `"ConnectionArn":"`+conn+`"`) || !strings.Contains(after[p], `"provider":"CodeStarSourceConnection"`) {
			t.Errorf("%v after the migration: %s", p, after[p])
		}
		var v0, v1 int
		fmt.Sscanf(before[p], "version %d", &v0)
		fmt.Sscanf(after[p], "version %d", &v1)
		if v1 != v0+1 {
			t.Errorf("%v: version %d → %d, want one update", p, v0, v1)
		}
	}
	if st := e.state(e.tokens[0].Fingerprint()); st != ghemu.StateRevoked {
		t.Errorf("the token after the migration: %q, want revoked", st)
	}
	e.canary()
}
