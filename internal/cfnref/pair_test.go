package cfnref_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	cp "github.com/aws/aws-sdk-go-v2/service/codepipeline"
	cptypes "github.com/aws/aws-sdk-go-v2/service/codepipeline/types"
	sm "github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/google/go-cmp/cmp"

	"github.com/rotor-ci/rotor/internal/cfnref"
	"github.com/rotor-ci/rotor/internal/rotation"
	"github.com/rotor-ci/rotor/internal/seal/sealtest"
	"github.com/rotor-ci/rotor/internal/store"
	"github.com/rotor-ci/rotor/internal/target/secretsmanager"
	ssmtarget "github.com/rotor-ci/rotor/internal/target/ssm"
	"github.com/rotor-ci/rotor/internal/token"
)

// journal records the order in which targets are written.
type journal struct {
	mu      sync.Mutex
	entries []string
}

func (j *journal) add(s string) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.entries = append(j.entries, s)
}

func (j *journal) list() []string {
	j.mu.Lock()
	defer j.mu.Unlock()
	return slices.Clone(j.entries)
}

// recorded wraps a real target (secretsmanager or ssm) to journal its
// writes; Rollback stays the wrapped target's own.
type recorded struct {
	rotation.Target
	j *journal
}

func (r recorded) Apply(ctx context.Context, tok token.Token, bs []rotation.Binding, report func(rotation.Result)) {
	r.j.add(r.Type() + " apply " + tok.Fingerprint())
	r.Target.Apply(ctx, tok, bs, report)
}

type recordedRollbacker struct{ recorded }

func (r recordedRollbacker) Rollback(ctx context.Context, tok token.Token, bs []rotation.Binding, report func(rotation.Result)) {
	r.j.add(r.Type() + " rollback " + tok.Fingerprint())
	r.Target.(rotation.Rollbacker).Rollback(ctx, tok, bs, report)
}

func record(t rotation.Target, j *journal) rotation.Target {
	if _, ok := t.(rotation.Rollbacker); ok {
		return recordedRollbacker{recorded{t, j}}
	}
	return recorded{t, j}
}

// pipelineTarget stands in for the codepipeline target (another package):
// it writes one GitHub action's OAuthToken with GetPipeline/UpdatePipeline
// and fails, on demand, for one token (after the secret was written).
type pipelineTarget struct {
	cp       *cp.Client
	endpoint string
	name     string
	failOn   string // fingerprint whose Apply fails
	j        *journal
}

func (p *pipelineTarget) Type() string { return "codepipeline" }

func (p *pipelineTarget) id() string {
	return "codepipeline:" + region + ":" + p.name + "/Source/Source"
}

func (p *pipelineTarget) Discover(context.Context) ([]rotation.Binding, error) {
	return []rotation.Binding{{ID: p.id(), Target: "codepipeline", Resource: p.name}}, nil
}

func (p *pipelineTarget) Apply(ctx context.Context, tok token.Token, bs []rotation.Binding, report func(rotation.Result)) {
	p.j.add("codepipeline apply " + tok.Fingerprint())
	for _, b := range bs {
		report(rotation.Result{BindingID: b.ID, Err: p.apply(ctx, tok)})
	}
}

func (p *pipelineTarget) apply(ctx context.Context, tok token.Token) error {
	if tok.Fingerprint() == p.failOn {
		return errors.New("injected failure: UpdatePipeline refused")
	}
	decl, err := getPipeline(ctx, p.endpoint, p.name)
	if err != nil {
		return err
	}
	decl.Stages[0].Actions[0].Configuration["OAuthToken"] = tok.Reveal()
	if _, err := p.cp.UpdatePipeline(ctx, &cp.UpdatePipelineInput{Pipeline: decl}); err != nil {
		return fmt.Errorf("update pipeline: %s", "refused")
	}
	return nil
}

// getPipeline calls GetPipeline by hand: moto 5.2 returns its metadata
// timestamps as strings, which the SDK refuses to decode.
func getPipeline(ctx context.Context, endpoint, name string) (*cptypes.PipelineDeclaration, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, endpoint+"/", strings.NewReader(`{"name":"`+name+`"}`))
	req.Header.Set("X-Amz-Target", "CodePipeline_20150709.GetPipeline")
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	// moto routes by the service named in the credential scope.
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=x/20260101/"+region+"/codepipeline/aws4_request, SignedHeaders=host, Signature=0")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("get pipeline: %w", err)
	}
	defer resp.Body.Close()
	// encoding/json matches the SDK's field names case-insensitively.
	var out struct{ Pipeline *cptypes.PipelineDeclaration }
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != http.StatusOK || out.Pipeline == nil {
		return nil, fmt.Errorf("get pipeline %s: status %d", name, resp.StatusCode)
	}
	return out.Pipeline, nil
}

func (p *pipelineTarget) Verify(ctx context.Context, tok token.Token, bs []rotation.Binding, report func(rotation.Result)) {
	for _, b := range bs {
		var err error
		if got := pipelineToken(ctx, p.endpoint, p.name); got != tok.Fingerprint() {
			err = fmt.Errorf("pipeline holds %s, want %s", got, tok.Fingerprint())
		}
		report(rotation.Result{BindingID: b.ID, Err: err})
	}
}

// pipelineToken is the fingerprint of the pipeline's token (moto does not
// mask it).
func pipelineToken(ctx context.Context, endpoint, name string) string {
	decl, err := getPipeline(ctx, endpoint, name)
	if err != nil {
		return "error"
	}
	return token.Fingerprint(decl.Stages[0].Actions[0].Configuration["OAuthToken"])
}

// source hands out one prepared token and records revocations.
type source struct {
	next    token.Token
	mu      sync.Mutex
	revoked []string
}

func (s *source) Type() string { return "test" }
func (s *source) Mint(context.Context, rotation.Requirements) (rotation.Minted, error) {
	return rotation.Minted{Token: s.next, ByRotor: true}, nil
}
func (s *source) Check(context.Context, token.Token, rotation.Requirements) (rotation.Identity, error) {
	return rotation.Identity{Login: "ci-bot"}, nil
}
func (s *source) Revoke(_ context.Context, tok token.Token) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.revoked = append(s.revoked, tok.Fingerprint())
	return nil
}

// pair is one credential whose targets are a secret (or parameter) and
// the pipeline whose stack reads it, in that order, with a real engine.
type pair struct {
	engine *rotation.Engine
	cred   rotation.Credential
	src    *source
	j      *journal
	pipe   *pipelineTarget
	holder rotation.Target
}

func newPair(t *testing.T, c *clients, holder rotation.Target, pipeline string, prev, next token.Token, log *slog.Logger) *pair {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, "sqlite::memory:", store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	sealer := sealtest.Key(t)
	j := &journal{}
	p := &pair{
		engine: &rotation.Engine{Store: st, Sealer: sealer, Log: log, Holder: "test"},
		src:    &source{next: next},
		j:      j,
		pipe:   &pipelineTarget{cp: c.cp, endpoint: c.endpoint, name: pipeline, j: j},
		holder: holder,
	}
	p.cred = rotation.Credential{Name: "ci", Source: p.src, Targets: []rotation.Target{record(holder, j), p.pipe}}
	if _, err := p.engine.Adopt(ctx, p.cred, prev, rotation.AdoptOptions{ConfirmUnverifiable: true}); err != nil {
		t.Fatalf("adopt: %v", err)
	}
	return p
}

// bindings are the credential's bindings in config order, as plan sees them.
func (p *pair) bindings(t *testing.T) []rotation.Binding {
	t.Helper()
	var all []rotation.Binding
	for _, tg := range p.cred.Targets {
		bs, err := tg.Discover(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, bs...)
	}
	return all
}

// labels maps version id → its staging labels (nil for none), sorted.
func labels(t *testing.T, c *clients, name string) map[string][]string {
	t.Helper()
	out, err := c.sm.ListSecretVersionIds(context.Background(), &sm.ListSecretVersionIdsInput{SecretId: aws.String(name), IncludeDeprecated: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	m := map[string][]string{}
	for _, v := range out.Versions {
		var s []string
		if len(v.VersionStages) > 0 {
			s = slices.Clone(v.VersionStages)
			sort.Strings(s)
		}
		m[aws.ToString(v.VersionId)] = s
	}
	return m
}

func versionWith(t *testing.T, c *clients, name, label string) string {
	t.Helper()
	for id, l := range labels(t, c, name) {
		if slices.Contains(l, label) {
			return id
		}
	}
	return ""
}

// resolve is what CloudFormation's next stack update would put into
// OAuthToken: the reference's value, as a fingerprint.
func resolve(t *testing.T, c *clients, ref cfnref.Ref) string {
	t.Helper()
	ctx := context.Background()
	switch ref.Kind {
	case cfnref.KindSecretsManager:
		out, err := c.sm.GetSecretValue(ctx, &sm.GetSecretValueInput{SecretId: aws.String(ref.SecretID), VersionStage: aws.String("AWSCURRENT")})
		if err != nil {
			t.Fatal(err)
		}
		v := aws.ToString(out.SecretString)
		if ref.JSONKey != "" {
			var m map[string]string
			if err := json.Unmarshal([]byte(v), &m); err != nil {
				t.Fatal(err)
			}
			v = m[ref.JSONKey]
		}
		return token.Fingerprint(v)
	case cfnref.KindSSM:
		out, err := c.ssm.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(ref.Param), WithDecryption: aws.Bool(true)})
		if err != nil {
			t.Fatal(err)
		}
		return token.Fingerprint(aws.ToString(out.Parameter.Value))
	}
	t.Fatalf("cannot resolve a %s reference", ref.Kind)
	return ""
}

func testRotatePair(t *testing.T, c *clients) {
	ctx := context.Background()
	prev, next := token.Generate(token.KindClassicPAT), token.Generate(token.KindClassicPAT)
	secretID, stack := "ci/pair", "pair-stack"
	createSecret(t, c, secretID, `{"user":"ci-bot","token":"`+prev.Reveal()+`"}`)
	body := strings.Replace(jsonTemplate, `"json-pipeline"`, `"pair-pipeline"`, 1)
	createStack(t, c, stack, body, map[string]string{"SecretName": secretID})
	createPipeline(t, c, "pair-pipeline", prev)
	before := versionWith(t, c, secretID, "AWSCURRENT")

	holder, err := secretsmanager.New(ctx, secretsmanager.Config{AWS: c.cfg, SecretID: secretID, JSONKey: "token"})
	if err != nil {
		t.Fatal(err)
	}
	p := newPair(t, c, holder, "pair-pipeline", prev, next, nil)

	// rotor plan: the stack reads the secret; the secret comes first.
	ref := find(t, c, stack, "pair-pipeline")
	bs := p.bindings(t)
	f := cfnref.Assess(stack, ref, true, bs[1], bs, holder.Held)
	if !f.Safe || f.Holder != "secretsmanager:us-east-1:ci/pair" || len(f.Warnings) != 0 {
		t.Fatalf("Assess = safe %v holder %q warnings %q", f.Safe, f.Holder, f.Warnings)
	}

	run, err := p.engine.Rotate(ctx, p.cred, rotation.Options{Trigger: "manual"})
	if err != nil {
		t.Fatalf("rotate: %v (run %+v)", err, run)
	}
	// Secret first, then the pipeline's action.
	want := []string{"secretsmanager apply " + next.Fingerprint(), "codepipeline apply " + next.Fingerprint()}
	if diff := cmp.Diff(want, p.j.list()); diff != "" {
		t.Errorf("writes (-want +got):\n%s", diff)
	}
	// Labels: the new version AWSCURRENT, the old one AWSPREVIOUS.
	after := versionWith(t, c, secretID, "AWSCURRENT")
	wantLabels := map[string][]string{before: {"AWSPREVIOUS"}, after: {"AWSCURRENT"}}
	if diff := cmp.Diff(wantLabels, labels(t, c, secretID)); diff != "" || after == before {
		t.Errorf("labels (-want +got):\n%s", diff)
	}
	if got := pipelineToken(ctx, c.endpoint, "pair-pipeline"); got != next.Fingerprint() {
		t.Errorf("pipeline holds %s, want %s", got, next.Fingerprint())
	}
	// The drift is harmless: the stack's next update resolves to what the
	// pipeline holds.
	if got := resolve(t, c, ref); got != next.Fingerprint() {
		t.Errorf("the stack would resolve %s, the pipeline holds %s", got, next.Fingerprint())
	}
	out, _ := c.sm.GetSecretValue(ctx, &sm.GetSecretValueInput{SecretId: aws.String(secretID), VersionStage: aws.String("AWSCURRENT")})
	if got, want := aws.ToString(out.SecretString), `{"user":"ci-bot","token":"`+next.Reveal()+`"}`; got != want {
		t.Errorf("other keys were not kept: secret string is %d bytes, want %d", len(got), len(want))
	}
}

func testRotatePairRollsBack(t *testing.T, c *clients) {
	ctx := context.Background()
	prev, next := token.Generate(token.KindClassicPAT), token.Generate(token.KindClassicPAT)
	secretID, stack := "ci/rollback", "rollback-stack"
	createSecret(t, c, secretID, `{"token":"`+prev.Reveal()+`"}`)
	body := strings.Replace(jsonTemplate, `"json-pipeline"`, `"rollback-pipeline"`, 1)
	createStack(t, c, stack, body, map[string]string{"SecretName": secretID})
	createPipeline(t, c, "rollback-pipeline", prev)
	before := versionWith(t, c, secretID, "AWSCURRENT")

	holder, err := secretsmanager.New(ctx, secretsmanager.Config{AWS: c.cfg, SecretID: secretID, JSONKey: "token"})
	if err != nil {
		t.Fatal(err)
	}
	p := newPair(t, c, holder, "rollback-pipeline", prev, next, nil)
	p.pipe.failOn = next.Fingerprint() // the pipeline fails after the secret took next

	_, err = p.engine.Rotate(ctx, p.cred, rotation.Options{Trigger: "manual"})
	if !errors.Is(err, rotation.ErrRolledBack) {
		t.Fatalf("rotate: %v, want ErrRolledBack", err)
	}
	want := []string{
		"secretsmanager apply " + next.Fingerprint(), "codepipeline apply " + next.Fingerprint(),
		"secretsmanager rollback " + prev.Fingerprint(), "codepipeline apply " + prev.Fingerprint(),
	}
	if diff := cmp.Diff(want, p.j.list()); diff != "" {
		t.Errorf("writes (-want +got):\n%s", diff)
	}
	// The previous version is AWSCURRENT again; rotor's is AWSPREVIOUS.
	got := labels(t, c, secretID)
	if !slices.Contains(got[before], "AWSCURRENT") || len(got) != 2 {
		t.Errorf("labels %v: want the original version %s AWSCURRENT again", got, before)
	}
	for id, l := range got {
		if id != before && !slices.Equal(l, []string{"AWSPREVIOUS"}) {
			t.Errorf("rotor's version %s has labels %v, want [AWSPREVIOUS]", id, l)
		}
	}
	ref := find(t, c, stack, "rollback-pipeline")
	if r, pl := resolve(t, c, ref), pipelineToken(ctx, c.endpoint, "rollback-pipeline"); r != prev.Fingerprint() || pl != prev.Fingerprint() {
		t.Errorf("after rollback the stack resolves %s and the pipeline holds %s, want both %s", r, pl, prev.Fingerprint())
	}
	if !slices.Contains(p.src.revoked, next.Fingerprint()) {
		t.Errorf("the exposed new token was not revoked (revoked %v)", p.src.revoked)
	}
}

// testCanary plants tokens and runs everything against moto — both
// targets, as the holder of a pair, succeeding and rolling back, plus Find
// on a template that holds a token — and checks that no error, warning,
// event or log line holds one (I6).
func testCanary(t *testing.T, c *clients) {
	ctx := context.Background()
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	var said []string
	var planted []token.Token
	plant := func() token.Token {
		tok := token.Generate(token.KindClassicPAT)
		planted = append(planted, tok)
		return tok
	}

	for i, kind := range []string{"secretsmanager", "ssm", "secretsmanager-fail", "ssm-fail"} {
		prev, next := plant(), plant()
		name := fmt.Sprintf("canary-%d", i)
		var holder rotation.Target
		var err error
		body := strings.Replace(jsonTemplate, `"json-pipeline"`, `"`+name+`"`, 1)
		if strings.HasPrefix(kind, "ssm") {
			param := "/ci/" + name
			if _, err := c.ssm.PutParameter(ctx, &ssm.PutParameterInput{Name: aws.String(param), Value: aws.String(prev.Reveal()), Type: ssmtypes.ParameterTypeSecureString, KeyId: aws.String("alias/ci")}); err != nil {
				t.Fatal(err)
			}
			body = strings.Replace(body, `{"Fn::Sub": "{{resolve:secretsmanager:${SecretName}:SecretString:token}}"}`, `"{{resolve:ssm-secure:`+param+`}}"`, 1)
			holder, err = ssmtarget.New(ctx, ssmtarget.Config{AWS: c.cfg, Name: param, KMSKeyID: "alias/ci", Log: log})
		} else {
			createSecret(t, c, "ci/"+name, `{"token":"`+prev.Reveal()+`","other":"`+plant().Reveal()+`"}`)
			holder, err = secretsmanager.New(ctx, secretsmanager.Config{AWS: c.cfg, SecretID: "ci/" + name, JSONKey: "token", Log: log})
		}
		if err != nil {
			t.Fatal(err)
		}
		createStack(t, c, name+"-stack", body, map[string]string{"SecretName": "ci/" + name})
		createPipeline(t, c, name, prev)
		p := newPair(t, c, holder, name, prev, next, log)
		p.engine.Observe = func(e rotation.Event) { said = append(said, fmt.Sprintf("%+v", e)) }
		if strings.HasSuffix(kind, "-fail") {
			p.pipe.failOn = next.Fingerprint()
		}
		ref, ok, err := cfnref.Find(ctx, c.cfn, name+"-stack", name, "Source", "Source")
		if err != nil || !ok {
			t.Fatalf("%s: Find: %v %v", kind, ok, err)
		}
		bs := p.bindings(t)
		f := cfnref.Assess(name+"-stack", ref, ok, bs[1], bs, holder.(cfnref.Holder).Held)
		if !f.Safe {
			t.Errorf("%s: not safe: %q", kind, f.Warnings)
		}
		said = append(said, fmt.Sprintf("%+v", f))
		for _, b := range bs {
			said = append(said, b.Warnings...)
		}
		run, err := p.engine.Rotate(ctx, p.cred, rotation.Options{Trigger: "manual"})
		if (err != nil) != strings.HasSuffix(kind, "-fail") {
			t.Errorf("%s: rotate: %v", kind, err)
		}
		said = append(said, fmt.Sprint(err), fmt.Sprintf("%+v", run))
		// Verify with the wrong token: mismatch errors name fingerprints.
		holder.Verify(ctx, plant(), bs[:1], func(r rotation.Result) { said = append(said, fmt.Sprint(r.Err)) })
	}

	// A template that holds a token literally, and one with a broken
	// reference built around it.
	lit := plant()
	literal := strings.Replace(jsonTemplate, `{"Fn::Sub": "{{resolve:secretsmanager:${SecretName}:SecretString:token}}"}`, `"`+lit.Reveal()+`"`, 1)
	createStack(t, c, "literal-stack", literal, nil)
	ref, ok, err := cfnref.Find(ctx, c.cfn, "literal-stack", "json-pipeline", "Source", "Source")
	if err != nil || !ok || ref.Kind != cfnref.KindLiteral || ref.LiteralFingerprint != lit.Fingerprint() {
		t.Errorf("literal: %+v %v %v", ref, ok, err)
	}
	said = append(said, fmt.Sprintf("%+v", ref), fmt.Sprintf("%+v", cfnref.Assess("literal-stack", ref, ok, rotation.Binding{ID: "codepipeline:x"}, nil, nil)))
	broken := strings.Replace(jsonTemplate, `{"Fn::Sub": "{{resolve:secretsmanager:${SecretName}:SecretString:token}}"}`, `"{{resolve:secretsmanager:ci/x:`+lit.Reveal()+`:token}}"`, 1)
	createStack(t, c, "broken-stack", broken, nil)
	_, _, err = cfnref.Find(ctx, c.cfn, "broken-stack", "json-pipeline", "Source", "Source")
	if err == nil {
		t.Error("a malformed reference was accepted")
	}
	said = append(said, fmt.Sprint(err))

	said = append(said, strings.Split(logs.String(), "\n")...)
	if len(said) < 20 {
		t.Fatalf("only %d messages: the paths did not run", len(said))
	}
	for _, s := range said {
		for _, tok := range planted {
			if strings.Contains(s, tok.Reveal()) {
				t.Errorf("a message holds a token: %s", strings.ReplaceAll(s, tok.Reveal(), "<CANARY>"))
			}
		}
	}
}
