package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/rotor-ci/rotor/internal/emulator"
	cpemu "github.com/rotor-ci/rotor/internal/emulator/codepipeline"
	"github.com/rotor-ci/rotor/internal/emulator/fault"
	ghemu "github.com/rotor-ci/rotor/internal/emulator/github"
	"github.com/rotor-ci/rotor/internal/installyaml"
	"github.com/rotor-ci/rotor/internal/seal"
	"github.com/rotor-ci/rotor/internal/store"
	"github.com/rotor-ci/rotor/internal/token"
)

// The fleet's names: the seed procedure's user and repository.
const (
	user       = emulator.SeedUser
	repo       = emulator.SeedRepo
	credential = "fleet"
	tokenNote  = "fleet"
)

// shape is one benchmark configuration.
type shape struct {
	N       int
	Rate    float64       // GetPipeline and UpdatePipeline throttle, calls/s each; 0: none
	Latency time.Duration // added to every CodePipeline call
	// Cold removes rotor's pipeline inventory (written by adopt) before
	// rotate, as on a machine where rotor never ran against this region.
	Cold bool
}

func (s shape) String() string {
	r := "unthrottled"
	if s.Rate > 0 {
		r = fmt.Sprintf("R=%g/s", s.Rate)
	}
	c := ""
	if s.Cold {
		c = " cold"
	}
	return fmt.Sprintf("N=%d %s L=%s%s", s.N, r, s.Latency, c)
}

// floor is the spec's floor, N/R: one GetPipeline and one UpdatePipeline per
// pipeline, each throttled at R.
func (s shape) floor() time.Duration {
	if s.Rate <= 0 {
		return 0
	}
	return time.Duration(float64(s.N) / s.Rate * float64(time.Second))
}

func (s shape) rules() []fault.Rule {
	var rs []fault.Rule
	if s.Rate > 0 {
		for _, op := range []string{"GetPipeline", "UpdatePipeline"} {
			rs = append(rs, fault.Rule{Service: cpemu.Service, Operation: op, RatePerSecond: s.Rate, Burst: 1})
		}
	}
	if s.Latency > 0 {
		rs = append(rs, fault.Rule{Service: cpemu.Service, Latency: fault.Duration{Duration: s.Latency}})
	}
	return rs
}

// fleet is one shape's emulators and rotor installation.
type fleet struct {
	shape
	sb     *emulator.Sandbox
	dir    string
	config string
	names  []string
}

func pipelineName(i int) string { return fmt.Sprintf("fleet-%04d", i) }

// startFleet starts the emulators with n pipelines (no polling: nothing but
// the benchmark calls the APIs) and writes a rotor installation for them.
func startFleet(ctx context.Context, s shape, dir string) (*fleet, error) {
	return startFleetWith(ctx, s, dir, nil)
}

// startFleetWith is startFleet with a change to the world (nil: none).
func startFleetWith(ctx context.Context, s shape, dir string, change func(*emulator.World)) (*fleet, error) {
	w := emulator.World{
		GitHub: ghemu.World{
			Users:  []ghemu.UserSpec{{Login: user}},
			Repos:  []ghemu.RepoSpec{{Owner: user, Name: repo, Private: true, Branches: []string{"master"}}},
			Tokens: []ghemu.WorldToken{{TokenSpec: ghemu.TokenSpec{User: user, Kind: ghemu.KindClassic, Note: tokenNote, Scopes: []string{"repo", "admin:repo_hook"}}}},
		},
		CodePipeline: cpemu.World{Account: cpemu.DefaultAccount, Region: cpemu.DefaultRegion},
	}
	f := &fleet{shape: s, dir: dir}
	for i := range s.N {
		name := pipelineName(i)
		f.names = append(f.names, name)
		w.CodePipeline.Pipelines = append(w.CodePipeline.Pipelines, cpemu.PipelineSpec{JSON: emulator.GitHubPipeline(name, user, repo, "master", tokenNote)})
	}
	if change != nil {
		change(&w)
	}
	// One personal-token credential bound to every pipeline whose GitHub
	// action reads user/repo (rotor finds them: ListPipelines, then each
	// pipeline).
	if err := f.start(ctx, w, "written by the rotor benchmark", installyaml.Target{Match: &installyaml.Match{Owner: user, Repo: repo}}); err != nil {
		return nil, err
	}
	f.sb.Faults.SetRules(s.rules())
	return f, nil
}

// start starts the emulators on w (no polling: nothing but the benchmark
// calls the APIs) and writes rotor's installation for them in f.dir: a
// sealing key, empty AWS files, and one personal-token credential whose
// target is t.
func (f *fleet) start(ctx context.Context, w emulator.World, comment string, t installyaml.Target) error {
	sb, err := emulator.Start(ctx, emulator.Config{World: w, PollInterval: -1})
	if err != nil {
		return fmt.Errorf("start emulators: %w", err)
	}
	f.sb = sb
	if err := f.install(comment, t); err != nil {
		sb.Close()
		return err
	}
	return nil
}

func (f *fleet) install(comment string, t installyaml.Target) error {
	if err := seal.Generate(filepath.Join(f.dir, "rotor.key")); err != nil {
		return err
	}
	f.config = filepath.Join(f.dir, "rotor.yaml")
	install := installyaml.Install{
		Comment: comment,
		GitHub:  installyaml.GitHub{APIURL: f.sb.GitHubURL},
		AWS:     installyaml.AWS{EndpointURL: f.sb.CodePipelineURL},
		Credentials: []installyaml.Credential{{Name: credential, Application: "fleet", Source: installyaml.Personal(),
			Rotate:  installyaml.Rotate{Every: "30d", RenewBefore: "7d", Grace: "10m"},
			Targets: []installyaml.Target{t}}},
	}
	if err := install.Write(f.config); err != nil {
		return err
	}
	for _, n := range []string{"aws-config", "aws-credentials"} {
		if err := os.WriteFile(filepath.Join(f.dir, n), nil, 0o600); err != nil {
			return err
		}
	}
	return nil
}

func (f *fleet) close() { f.sb.Close() }

// forgetInventory removes what rotor remembers of the pipelines between
// processes: the store's pipeline_inventory table (and the file a process
// without a store keeps in the user's cache directory, HOME being the
// fleet's).
func (f *fleet) forgetInventory(ctx context.Context) error {
	st, err := store.Open(ctx, "sqlite:"+filepath.Join(f.dir, "rotor.db"), store.Options{})
	if err != nil {
		return err
	}
	defer st.Close()
	if _, err := st.DB().ExecContext(ctx, "DELETE FROM pipeline_inventory"); err != nil {
		return fmt.Errorf("forget the inventory: %w", err)
	}
	return os.RemoveAll(filepath.Join(f.dir, ".cache", "rotor"))
}

// oldToken is the token every pipeline holds at the start.
func (f *fleet) oldToken() token.Token {
	t, _ := f.sb.Token(tokenNote)
	return token.New(t.Reveal()) // from the emulator's token type to rotor's
}

// newToken creates a token as a person would in GitHub's settings.
func (f *fleet) newToken() (token.Token, error) {
	t, _, err := f.sb.GitHub.CreateToken(user, ghemu.TokenSpec{Kind: ghemu.KindClassic, Note: fmt.Sprintf("fleet %d", time.Now().UnixNano()), Scopes: []string{"repo", "admin:repo_hook"}})
	return token.New(t.Reveal()), err
}

// env is the environment of every child process: dummy AWS credentials,
// empty AWS config files, HOME in the fleet's directory, so nothing reaches
// a real account or the user's settings.
func (f *fleet) env() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "AWS_") || strings.HasPrefix(kv, "HOME=") || strings.HasPrefix(kv, "XDG_CACHE_HOME=") {
			continue
		}
		env = append(env, kv)
	}
	return append(env,
		"HOME="+f.dir,
		"AWS_ACCESS_KEY_ID=bench", "AWS_SECRET_ACCESS_KEY=bench", "AWS_DEFAULT_REGION=us-east-1", "AWS_REGION=us-east-1",
		"AWS_CONFIG_FILE="+filepath.Join(f.dir, "aws-config"),
		"AWS_SHARED_CREDENTIALS_FILE="+filepath.Join(f.dir, "aws-credentials"),
		"AWS_EC2_METADATA_DISABLED=true", "AWS_PAGER=",
		"AWS_ENDPOINT_URL="+f.sb.CodePipelineURL,
	)
}

// snapshot is every pipeline's declaration as GetPipeline shows it.
type snapshot map[string]declared

type declared struct {
	decl    map[string]any // without its version
	version int
}

func (f *fleet) snapshot(names []string) (snapshot, error) {
	out := make(snapshot, len(names))
	for _, n := range names {
		raw, v, ok := f.sb.CodePipeline.Pipeline(n)
		if !ok {
			return nil, fmt.Errorf("pipeline %s is gone", n)
		}
		var d map[string]any
		if err := json.Unmarshal(raw, &d); err != nil {
			return nil, fmt.Errorf("pipeline %s: %w", n, err)
		}
		delete(d, "version")
		out[n] = declared{d, v}
	}
	return out, nil
}

// checked is what the checks after a run found.
type checked struct {
	Pipelines  int    `json:"pipelines"`
	OnOldToken int    `json:"on_old_token"`    // holding the token before the run
	NotOnNew   int    `json:"not_on_new"`      // holding anything but the new token
	I4Broken   int    `json:"i4_broken"`       // changed beyond the token, or version not +1
	First      string `json:"first,omitempty"` // the first problem, for the log
}

func (c checked) ok() bool {
	return c.OnOldToken == 0 && c.NotOnNew == 0 && c.I4Broken == 0 && c.Pipelines > 0
}

// check compares every pipeline in before with its state now: it must hold
// tok (not old), and its declaration must be the same but for the version,
// which must be one more (I4).
func (f *fleet) check(before snapshot, old, tok token.Token) checked {
	var c checked
	problem := func(format string, a ...any) {
		if c.First == "" {
			c.First = fmt.Sprintf(format, a...)
		}
	}
	for name, b := range before {
		c.Pipelines++
		held, ok := f.sb.CodePipeline.StoredToken(name, "Source")
		switch {
		case !ok:
			c.NotOnNew++
			problem("%s: no Source action", name)
		case held.Reveal() == old.Reveal():
			c.OnOldToken++
			c.NotOnNew++
			problem("%s: still on the old token", name)
		case held.Reveal() != tok.Reveal():
			c.NotOnNew++
			problem("%s: holds a token that is neither the old nor the new one", name)
		}
		now, err := f.snapshot([]string{name})
		if err != nil {
			c.I4Broken++
			problem("%v", err)
			continue
		}
		a := now[name]
		if a.version != b.version+1 {
			c.I4Broken++
			problem("%s: version %d → %d, want +1", name, b.version, a.version)
			continue
		}
		if d := cmp.Diff(b.decl, a.decl); d != "" {
			c.I4Broken++
			problem("%s: declaration changed beyond the token (-before +after):\n%s", name, d)
		}
	}
	return c
}
