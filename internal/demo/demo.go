// Package demo tells rotor's whole story on local emulators, in seconds,
// with no setup: the seed's pipeline runs, a person creates a new token,
// rotor rotates it in with the real engine, store and target, the pipeline
// runs again, the old token is revoked, and the same happens with a GitHub
// App. Every rotor step is a real rotor command, run in process through the
// CLI, so what the demo shows is what a user types.
package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	cp "github.com/aws/aws-sdk-go-v2/service/codepipeline"
	cptypes "github.com/aws/aws-sdk-go-v2/service/codepipeline/types"

	"github.com/rotor-ci/rotor/internal/awsx"
	"github.com/rotor-ci/rotor/internal/emulator"
	cpemu "github.com/rotor-ci/rotor/internal/emulator/codepipeline"
	ghemu "github.com/rotor-ci/rotor/internal/emulator/github"
	"github.com/rotor-ci/rotor/internal/installyaml"
	"github.com/rotor-ci/rotor/internal/seal"
	"github.com/rotor-ci/rotor/internal/token"
)

// The AWS credentials of the demo: the emulator takes any, and the SDK must
// not find a real AWS account. The CLI gives them to the rotor commands it
// runs (wiring.WithStaticAWSCredentials); the process's environment is left
// as it is.
const (
	AWSAccessKeyID     = "demo"
	AWSSecretAccessKey = "demo"
)

// Options configure one demo.
type Options struct {
	Out io.Writer
	// Rotor runs one rotor command in process with the demo's config; the
	// CLI passes itself here (this package does not import it).
	Rotor func(ctx context.Context, args []string, stdin io.Reader, out io.Writer) error
	// Regenerate plays the seed's own path (regenerate first, update after)
	// and measures its outage window.
	Regenerate bool
	// HumanDelay is how long the person of the seed procedure takes between
	// regenerating the token and updating the pipeline.
	HumanDelay time.Duration
	// Keep leaves the demo's directory (config, store, key) in place.
	Keep bool
	// Inspect, if set, is called at the end with the emulators and the
	// demo's directory, before either is gone (tests grep them for tokens).
	Inspect func(sb *emulator.Sandbox, dir string)
}

const (
	user         = "MyGitHubUserName"
	repo         = "test-repo"
	pipeline     = "MyFirstPipeline"
	appPipeline  = "MyAppPipeline"
	personalCred = "codepipeline-test-repo"
	appCred      = "ci-app"
	appName      = "rotor-ci"
	pollInterval = 50 * time.Millisecond
)

// Run plays the demo.
func Run(ctx context.Context, o Options) error {
	start := time.Now()
	d := &demo{o: o}
	if err := d.setup(ctx); err != nil {
		return err
	}
	defer d.close()
	steps := []func(context.Context) error{d.personal, d.app, d.finale}
	if o.Regenerate {
		steps = []func(context.Context) error{d.regenerate, d.finale}
	}
	for _, step := range steps {
		if err := step(ctx); err != nil {
			return err
		}
	}
	fmt.Fprintf(o.Out, "\ndemo finished in %.1fs; no token value was printed, only fingerprints.\n", time.Since(start).Seconds())
	return nil
}

type demo struct {
	o       Options
	sandbox *emulator.Sandbox
	dir     string
	config  string
	aws     *cp.Client
	n       int
}

func (d *demo) say(format string, a ...any) { fmt.Fprintf(d.o.Out, format+"\n", a...) }

func (d *demo) section(title string) {
	d.n++
	fmt.Fprintf(d.o.Out, "\n%d. %s\n", d.n, title)
}

// rotor runs a rotor command, echoing it as the user would type it.
func (d *demo) rotor(ctx context.Context, stdin io.Reader, args ...string) error {
	shown := "rotor " + strings.Join(args, " ")
	if stdin != nil {
		shown = "<token> | " + shown
	}
	fmt.Fprintf(d.o.Out, "   $ %s\n", shown)
	w := &indent{w: d.o.Out, prefix: "     "}
	err := d.o.Rotor(ctx, append([]string{"--config", d.config, "--log-level", "warn"}, args...), stdin, w)
	w.flush()
	return err
}

func (d *demo) setup(ctx context.Context) error {
	sb, err := emulator.Start(ctx, emulator.Config{World: emulator.DefaultWorld(), PollInterval: pollInterval})
	if err != nil {
		return fmt.Errorf("start emulators: %w", err)
	}
	d.sandbox = sb
	if d.dir, err = os.MkdirTemp("", "rotor-demo-"); err != nil {
		return err
	}
	if err := seal.Generate(filepath.Join(d.dir, "rotor.key")); err != nil {
		return err
	}
	pem, err := sb.GitHub.AppPrivateKeyPEM(appName)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(d.dir, "rotor-ci.pem"), pem, 0o600); err != nil {
		return err
	}
	appID, installs := sb.GitHub.App(appName)
	if len(installs) == 0 {
		return errors.New("demo world: the app has no installation")
	}
	d.config = filepath.Join(d.dir, "rotor.yaml")
	if err := (installyaml.Install{
		Comment: "written by rotor demo",
		GitHub:  installyaml.GitHub{APIURL: sb.GitHubURL},
		AWS:     installyaml.AWS{EndpointURL: sb.CodePipelineURL},
		Credentials: []installyaml.Credential{
			{Name: personalCred, Application: pipeline, Source: installyaml.Personal(),
				Rotate:  installyaml.Rotate{Every: "30d", RenewBefore: "7d", Grace: "1s"},
				Targets: []installyaml.Target{{Pipelines: []string{pipeline}, Verify: "execution"}}},
			{Name: appCred, Application: appPipeline, Source: installyaml.App(appID, installs[0], "rotor-ci.pem", repo),
				Rotate:  installyaml.Rotate{Every: "50m", RenewBefore: "10m", Grace: "1s"},
				Targets: []installyaml.Target{{Pipelines: []string{appPipeline}}}},
		},
	}).Write(d.config); err != nil {
		return err
	}
	awsCfg, err := awsx.Load(ctx, awsx.Config{Region: "us-east-1", EndpointURL: sb.CodePipelineURL, Credentials: credentials.NewStaticCredentialsProvider(AWSAccessKeyID, AWSSecretAccessKey, ""), Isolated: true})
	if err != nil {
		return err
	}
	d.aws = cp.NewFromConfig(awsCfg)

	d.say("rotor demo: the AWS guide's token rotation, automated, on local emulators (nothing leaves this machine)")
	d.say("   github        %s   user %s, private repository %s", sb.GitHubURL, user, repo)
	d.say("   codepipeline  %s   pipeline %s with a GitHub (version 1) source action", sb.CodePipelineURL, pipeline)
	d.say("   rotor state   %s   rotor.yaml, the store and the sealing key", d.dir)
	return nil
}

func (d *demo) close() {
	if d.o.Inspect != nil {
		d.o.Inspect(d.sandbox, d.dir)
	}
	d.sandbox.Close()
	if d.o.Keep {
		d.say("\n(kept %s)", d.dir)
		return
	}
	os.RemoveAll(d.dir)
}

// personal is the seed's story: a personal token in MyFirstPipeline.
func (d *demo) personal(ctx context.Context) error {
	emuOld, ok := d.sandbox.CodePipeline.StoredToken(pipeline, "Source")
	old := token.New(emuOld.Reveal()) // from the emulator's token type to rotor's
	if !ok {
		return errors.New("demo world: MyFirstPipeline has no Source action token")
	}
	d.section(pipeline + " runs on today's token")
	if err := d.runPipeline(ctx, pipeline, true); err != nil {
		return err
	}

	d.section("rotor learns today's token (sealed in its store, never shown)")
	if err := d.rotor(ctx, strings.NewReader(old.Reveal()+"\n"), "adopt", personalCred, "--token-stdin", "--confirm-unverifiable"); err != nil {
		return err
	}
	if err := d.rotor(ctx, nil, "plan", personalCred); err != nil {
		return err
	}

	d.section("a person creates a NEW token in GitHub (not \"Regenerate\", which would kill the old one at once)")
	fresh, info, err := d.sandbox.GitHub.CreateToken(user, ghemu.TokenSpec{Kind: ghemu.KindClassic, Note: "codepipeline " + time.Now().Format("2006-01"),
		Scopes: []string{"repo", "admin:repo_hook"}, ExpiresIn: ghemu.Duration{Duration: 90 * 24 * time.Hour}})
	if err != nil {
		return err
	}
	d.say("   GitHub → Settings → Developer settings → Personal access tokens → Generate new token")
	d.say("   token %s for %s, scopes %s, expires %s", fresh.Fingerprint(), user, strings.Join(info.Scopes, ", "), info.ExpiresAt.Format(time.DateOnly))

	d.section("rotor rotates it in: check, apply, verify (a real pipeline execution), promote")
	d.sandbox.CodePipeline.ResetFetches()
	if err := d.rotor(ctx, strings.NewReader(fresh.Reveal()+"\n"), "rotate", personalCred, "--token-stdin"); err != nil {
		return err
	}
	during := d.sandbox.CodePipeline.FetchSummary()
	d.say("   zero downtime: %s polled GitHub %d times during the rotation, %d failed", pipeline, during.Total, during.Failed)

	d.section(pipeline + " runs on the new token")
	if err := d.runPipeline(ctx, pipeline, true); err != nil {
		return err
	}

	d.section("after the grace period rotor revokes the old token")
	time.Sleep(1100 * time.Millisecond) // the demo's grace is 1s
	if err := d.rotor(ctx, nil, "retire", personalCred); err != nil {
		return err
	}
	d.say("   GitHub now says of the old token %s: %s", old.Fingerprint(), d.tokenState(old))
	return d.staleCopy(ctx, old)
}

// staleCopy shows what the old token is worth now: a pipeline that still
// held it (a forgotten copy) fails exactly as AWS's troubleshooting page says.
func (d *demo) staleCopy(ctx context.Context, old token.Token) error {
	const name = "ForgottenCopy"
	decl, err := d.getDeclaration(ctx, pipeline)
	if err != nil {
		return err
	}
	decl.Name = aws.String(name)
	setToken(decl, old)
	if _, err := d.aws.CreatePipeline(ctx, &cp.CreatePipelineInput{Pipeline: decl}); err != nil {
		return fmt.Errorf("create %s: %w", name, awsx.Sanitize(err))
	}
	d.say("   a pipeline still holding the old token (%s):", name)
	return d.runPipeline(ctx, name, false)
}

// app does the same with a GitHub App: no person involved at all.
func (d *demo) app(ctx context.Context) error {
	d.section("the same with a GitHub App: rotor mints 1-hour installation tokens itself")
	emuBoot, _, err := d.sandbox.GitHub.CreateToken(user, ghemu.TokenSpec{Kind: ghemu.KindClassic, Note: "app pipeline (before the app)", Scopes: []string{"repo", "admin:repo_hook"}})
	if err != nil {
		return err
	}
	boot := token.New(emuBoot.Reveal())
	decl, err := d.getDeclaration(ctx, pipeline)
	if err != nil {
		return err
	}
	decl.Name = aws.String(appPipeline)
	setToken(decl, boot)
	if _, err := d.aws.CreatePipeline(ctx, &cp.CreatePipelineInput{Pipeline: decl}); err != nil {
		return fmt.Errorf("create %s: %w", appPipeline, awsx.Sanitize(err))
	}
	d.say("   %s reads %s/%s with a personal token today; the app %q is installed on %s", appPipeline, user, repo, appName, user)
	if err := d.rotor(ctx, strings.NewReader(boot.Reveal()+"\n"), "adopt", appCred, "--token-stdin", "--confirm-unverifiable"); err != nil {
		return err
	}
	for i := range 2 {
		if err := d.rotor(ctx, nil, "rotate", appCred); err != nil {
			return err
		}
		time.Sleep(1100 * time.Millisecond)
		if err := d.rotor(ctx, nil, "retire", appCred); err != nil {
			return err
		}
		if i == 0 {
			d.say("   the personal token it replaced: %s", d.tokenState(boot))
		}
	}
	return d.runPipeline(ctx, appPipeline, true)
}

func (d *demo) finale(ctx context.Context) error {
	d.section("what rotor remembers")
	if err := d.rotor(ctx, nil, "status"); err != nil {
		return err
	}
	if err := d.rotor(ctx, nil, "history", personalCred); err != nil {
		return err
	}
	return d.rotor(ctx, nil, "audit", "verify")
}

// regenerate plays the seed as written: Regenerate in GitHub (the old value
// dies at once), then get-pipeline, paste, update-pipeline. It measures the
// outage from the emulator's fetch record.
func (d *demo) regenerate(ctx context.Context) error {
	d.section("the seed's path: \"Regenerate token\" in GitHub, then update the pipeline by hand")
	var id int64
	for _, t := range d.sandbox.GitHub.Tokens() {
		if t.User == user && t.State == ghemu.StateActive {
			id = t.ID
		}
	}
	d.sandbox.CodePipeline.ResetFetches()
	regenAt := time.Now()
	emuFresh, _, err := d.sandbox.GitHub.Regenerate(id)
	if err != nil {
		return err
	}
	fresh := token.New(emuFresh.Reveal())
	d.say("   regenerated: the old value stopped working at once; new token %s", fresh.Fingerprint())
	d.say("   the person copies the token, runs get-pipeline, edits pipeline.json, removes metadata … (%s here; minutes in life)", d.o.HumanDelay)
	time.Sleep(d.o.HumanDelay)
	decl, err := d.getDeclaration(ctx, pipeline)
	if err != nil {
		return err
	}
	setToken(decl, fresh)
	if _, err := d.aws.UpdatePipeline(ctx, &cp.UpdatePipelineInput{Pipeline: decl}); err != nil {
		return fmt.Errorf("update-pipeline: %w", awsx.Sanitize(err))
	}
	updatedAt := time.Now()
	time.Sleep(3 * pollInterval)
	window := outage(d.sandbox.CodePipeline.Fetches(), pipeline)
	d.say("   update-pipeline done %.1fs after the regeneration", updatedAt.Sub(regenAt).Seconds())
	d.say("   outage measured from the emulator's fetch record: %s held a dead token for %.2fs (%d failed fetches)", pipeline, window.dur.Seconds(), window.failed)

	d.section("rotor's path on the same pipeline: create new → switch → verify → revoke old")
	if err := d.rotor(ctx, strings.NewReader(fresh.Reveal()+"\n"), "adopt", personalCred, "--token-stdin", "--confirm-unverifiable"); err != nil {
		return err
	}
	next, _, err := d.sandbox.GitHub.CreateToken(user, ghemu.TokenSpec{Kind: ghemu.KindClassic, Note: "codepipeline next", Scopes: []string{"repo", "admin:repo_hook"}})
	if err != nil {
		return err
	}
	d.sandbox.CodePipeline.ResetFetches()
	if err := d.rotor(ctx, strings.NewReader(next.Reveal()+"\n"), "rotate", personalCred, "--token-stdin"); err != nil {
		return err
	}
	time.Sleep(1100 * time.Millisecond)
	if err := d.rotor(ctx, nil, "retire", personalCred); err != nil {
		return err
	}
	time.Sleep(3 * pollInterval)
	ours := outage(d.sandbox.CodePipeline.Fetches(), pipeline)
	d.say("\n   dead-token window   seed procedure: %.2fs (%d failed fetches)   rotor: %.2fs (%d failed fetches)",
		window.dur.Seconds(), window.failed, ours.dur.Seconds(), ours.failed)
	return nil
}

type window struct {
	dur    time.Duration
	failed int
}

// outage is the time from the first failed fetch of a pipeline to the first
// good fetch after it, and the number of failed fetches.
func outage(fetches []cpemu.Fetch, name string) window {
	var w window
	var first time.Time
	for _, f := range fetches {
		if f.Pipeline != name {
			continue
		}
		switch {
		case !f.OK:
			w.failed++
			if first.IsZero() {
				first = f.Time
			}
		case !first.IsZero() && w.dur == 0:
			w.dur = f.Time.Sub(first)
		}
	}
	return w
}

func (d *demo) tokenState(t token.Token) string {
	fp := t.Fingerprint()
	for _, ti := range d.sandbox.GitHub.Tokens() {
		if ti.Fingerprint == fp {
			return string(ti.State)
		}
	}
	return "unknown to GitHub (revoked and gone)"
}

// runPipeline starts an execution and waits for it, reporting the source
// action's outcome; want says whether success is expected.
func (d *demo) runPipeline(ctx context.Context, name string, want bool) error {
	d.say("   $ aws codepipeline start-pipeline-execution --name %s", name)
	out, err := d.aws.StartPipelineExecution(ctx, &cp.StartPipelineExecutionInput{Name: aws.String(name)})
	if err != nil {
		return fmt.Errorf("start %s: %w", name, awsx.Sanitize(err))
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		ex, err := d.aws.GetPipelineExecution(ctx, &cp.GetPipelineExecutionInput{PipelineName: aws.String(name), PipelineExecutionId: out.PipelineExecutionId})
		if err != nil {
			return fmt.Errorf("get execution of %s: %w", name, awsx.Sanitize(err))
		}
		switch st := ex.PipelineExecution.Status; st {
		case cptypes.PipelineExecutionStatusInProgress:
			time.Sleep(50 * time.Millisecond)
			continue
		case cptypes.PipelineExecutionStatusSucceeded:
			d.say("     execution %s: Succeeded", short(*out.PipelineExecutionId))
			if !want {
				return fmt.Errorf("%s succeeded but should have failed", name)
			}
			return nil
		default:
			msg := d.sourceError(ctx, name)
			d.say("     execution %s: %s: %s", short(*out.PipelineExecutionId), st, msg)
			if want {
				return fmt.Errorf("%s: execution %s: %s", name, st, msg)
			}
			return nil
		}
	}
	return fmt.Errorf("%s: execution did not finish in 10s", name)
}

func (d *demo) sourceError(ctx context.Context, name string) string {
	st, err := d.aws.GetPipelineState(ctx, &cp.GetPipelineStateInput{Name: aws.String(name)})
	if err != nil {
		return "(state unavailable)"
	}
	for _, s := range st.StageStates {
		for _, a := range s.ActionStates {
			if a.LatestExecution != nil && a.LatestExecution.ErrorDetails != nil {
				return aws.ToString(a.LatestExecution.ErrorDetails.Message)
			}
		}
	}
	return "(no error details)"
}

func (d *demo) getDeclaration(ctx context.Context, name string) (*cptypes.PipelineDeclaration, error) {
	out, err := d.aws.GetPipeline(ctx, &cp.GetPipelineInput{Name: aws.String(name)})
	if err != nil {
		return nil, fmt.Errorf("get-pipeline %s: %w", name, awsx.Sanitize(err))
	}
	return out.Pipeline, nil
}

// setToken puts t into every GitHub source action of decl (the demo's
// pipelines have one), as the seed's person does in pipeline.json.
func setToken(decl *cptypes.PipelineDeclaration, t token.Token) {
	for _, s := range decl.Stages {
		for _, a := range s.Actions {
			if a.ActionTypeId != nil && aws.ToString(a.ActionTypeId.Provider) == "GitHub" {
				a.Configuration["OAuthToken"] = t.Reveal()
			}
		}
	}
}

func short(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}

// indent prefixes every line written through it.
type indent struct {
	w      io.Writer
	prefix string
	buf    []byte
}

func (i *indent) Write(p []byte) (int, error) {
	i.buf = append(i.buf, p...)
	for {
		n := strings.IndexByte(string(i.buf), '\n')
		if n < 0 {
			return len(p), nil
		}
		fmt.Fprintf(i.w, "%s%s\n", i.prefix, i.buf[:n])
		i.buf = i.buf[n+1:]
	}
}

func (i *indent) flush() {
	if len(i.buf) > 0 {
		fmt.Fprintf(i.w, "%s%s\n", i.prefix, i.buf)
		i.buf = nil
	}
}
