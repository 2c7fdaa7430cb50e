package codepipeline

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/rotor-ci/rotor/internal/rotation"
	"github.com/rotor-ci/rotor/internal/rotation/targettest"
	"github.com/rotor-ci/rotor/internal/token"
)

// TestContract_Emulator runs the contract against our CodePipeline emulator.
func TestContract_Emulator(t *testing.T) {
	isolate(t)
	be, _ := emulatorBackend(t, nil)
	runContract(t, be)
	runTargetContract(t, be)
}

// TestContract_Moto runs the same contract against moto_server, an
// implementation nobody here wrote.
func TestContract_Moto(t *testing.T) {
	if testing.Short() {
		t.Skip("moto_server takes seconds to start")
	}
	isolate(t)
	be := motoBackend(t)
	runContract(t, be)
	runTargetContract(t, be)
}

// runTargetContract runs the contract every target passes
// (rotation/targettest) on a pipeline of its own per case.
func runTargetContract(t *testing.T, be backend) {
	n := 0
	t.Run("target contract", func(t *testing.T) {
		targettest.Run(t, targettest.Harness{
			New: func(t *testing.T, prev token.Token) rotation.Target {
				n++
				name := fmt.Sprintf("targettest-%d", n)
				create(t, be, testDecl(name, ghSpec{"GitHub", "acme", "contract", prev}))
				return newTarget(t, be, Config{Pipelines: []string{name}})
			},
			Holds: func(t *testing.T, b rotation.Binding) string {
				return be.stored(t, b.Attrs[AttrPipeline], b.Attrs[AttrAction]).Fingerprint()
			},
		})
	})
}

// runContract is what every CodePipeline implementation must let the target
// do. Each case works on its own pipelines.
func runContract(t *testing.T, be backend) {
	ctx := context.Background()
	gen := func() token.Token { return token.Generate(token.KindClassicPAT) }
	// noMask checks that no GitHub action anywhere was sent "****".
	noMask := func(t *testing.T, pipeline string, actions ...string) {
		t.Helper()
		for _, a := range actions {
			if got := be.stored(t, pipeline, a); got.Reveal() == masked || got.IsZero() {
				t.Errorf("%s %s holds %q", pipeline, a, got.Reveal())
			}
		}
	}

	t.Run("discover by name", func(t *testing.T) {
		old := gen()
		create(t, be, testDecl("name-1", ghSpec{"GitHub", "acme", "api", old}))
		create(t, be, plainDecl("name-plain"))
		tg := newTarget(t, be, Config{Pipelines: []string{"name-1"}})
		got, err := tg.Discover(ctx)
		if err != nil {
			t.Fatal(err)
		}
		want := []rotation.Binding{{
			ID: "codepipeline:123456789012:us-east-1:name-1/Source/GitHub", Target: Type, Resource: "arn:aws:codepipeline:us-east-1:123456789012:name-1",
			Repositories: []string{"acme/api"}, Scopes: []string{"repo", "admin:repo_hook"},
			Attrs: map[string]string{"pipeline": "name-1", "stage": "Source", "action": "GitHub", "owner": "acme", "repo": "api",
				"branch": "main", "stack": "", "account": account, "region": region},
			Warnings: []string{"PollForSourceChanges is false: only webhooks start this pipeline, so a bad token shows on the next push; consider verify: execution"},
			Aliases:  []string{"codepipeline:us-east-1:name-1/Source/GitHub"},
		}}
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("bindings (-want +got):\n%s", d)
		}
		// With verify: execution already set, plan does not advise it.
		exec, err := newTarget(t, be, Config{Pipelines: []string{"name-1"}, Verify: VerifyExecution}).Discover(ctx)
		if err != nil || len(exec) != 1 || len(exec[0].Warnings) != 1 || strings.Contains(exec[0].Warnings[0], "consider verify: execution") {
			t.Errorf("warnings with verify: execution = %q, want the webhook note without the advice", exec[0].Warnings)
		}

		for _, tt := range []struct {
			name string
			cfg  Config
			want error
		}{
			{"missing pipeline", Config{Pipelines: []string{"name-1", "name-missing"}}, ErrPipelineNotFound},
			{"no GitHub action", Config{Pipelines: []string{"name-plain"}}, ErrNoGitHubAction},
			{"no matching action", Config{Pipelines: []string{"name-1"}, Match: &Match{Repo: "web"}}, ErrNoGitHubAction},
		} {
			t.Run(tt.name, func(t *testing.T) {
				bs, err := newTarget(t, be, tt.cfg).Discover(ctx)
				if !errors.Is(err, tt.want) {
					t.Fatalf("Discover = %v, want %v", err, tt.want)
				}
				if !strings.Contains(err.Error(), "name-") {
					t.Errorf("error does not name the pipeline: %v", err)
				}
				if tt.want == ErrPipelineNotFound && len(bs) != 1 {
					t.Errorf("usable bindings = %d, want the one of name-1", len(bs))
				}
			})
		}
	})

	t.Run("discover by match", func(t *testing.T) {
		for i := range 3 {
			create(t, be, testDecl(fmt.Sprintf("match-%d", i), ghSpec{"GitHub", "Match-Org", "svc", gen()}))
		}
		create(t, be, testDecl("match-other", ghSpec{"GitHub", "elsewhere", "svc", gen()}))
		bs, err := newTarget(t, be, Config{Match: &Match{Owner: "match-org", Repo: "SVC"}}).Discover(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, b := range bs {
			ids = append(ids, b.ID)
		}
		want := []string{
			"codepipeline:123456789012:us-east-1:match-0/Source/GitHub",
			"codepipeline:123456789012:us-east-1:match-1/Source/GitHub",
			"codepipeline:123456789012:us-east-1:match-2/Source/GitHub",
		}
		if d := cmp.Diff(want, ids); d != "" {
			t.Errorf("bindings (-want +got):\n%s", d)
		}
		inv, err := newTarget(t, be, Config{Match: &Match{}}).Inventory(ctx)
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, a := range inv {
			if a.Pipeline == "match-other" && a.Owner == "elsewhere" && a.Repo == "svc" && !a.PollForSourceChanges {
				found = true
			}
		}
		if !found {
			t.Errorf("Inventory misses match-other's action: %+v", inv)
		}
	})

	t.Run("apply changes only the token", func(t *testing.T) {
		old, fresh, other := gen(), gen(), gen()
		create(t, be, testDecl("only-token",
			ghSpec{"App", "acme", "app", old},
			ghSpec{"Lib", "acme", "lib", other}))
		before := getRaw(t, be, "only-token")
		// Lib is not this credential's: the update sends it back exactly
		// as read, and the service keeps its token.
		tg := newTarget(t, be, Config{Pipelines: []string{"only-token"}, Match: &Match{Repo: "app"}})
		bs, err := tg.Discover(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(bs) != 1 || len(bs[0].Warnings) != 2 {
			t.Fatalf("bindings = %+v, want the App action, warned about Lib", bs)
		}
		if f := failures(apply(tg, fresh, bs)); len(f) > 0 {
			t.Fatalf("Apply: %v", f)
		}
		after := getRaw(t, be, "only-token")
		if d := cmp.Diff(before.decl, after.decl); d != "" {
			t.Errorf("declaration changed beyond the token (-before +after):\n%s", d)
		}
		if after.version != before.version+1 {
			t.Errorf("version %d → %d, want +1", before.version, after.version)
		}
		if got := be.stored(t, "only-token", "App"); !got.Equal(fresh) {
			t.Errorf("App holds %v, want %v", got, fresh)
		}
		if got := be.stored(t, "only-token", "Lib"); !got.Equal(other) {
			t.Errorf("Lib holds %v, want its own token %v back", got, other)
		}
		noMask(t, "only-token", "App", "Lib")
		if f := failures(verify(tg, fresh, bs)); len(f) > 0 {
			t.Errorf("Verify: %v", f)
		}
	})

	t.Run("other_actions refuse", func(t *testing.T) {
		old, fresh, other := gen(), gen(), gen()
		create(t, be, testDecl("foreign",
			ghSpec{"App", "acme", "app", old},
			ghSpec{"Lib", "acme", "lib", other}))
		before := getRaw(t, be, "foreign")
		// Refused by discovery, before anything is minted or written.
		tg := newTarget(t, be, Config{Pipelines: []string{"foreign"}, Match: &Match{Owner: "acme", Repo: "app"}, OtherActions: OtherActionsRefuse})
		bs, err := tg.Discover(ctx)
		if !errors.Is(err, ErrOtherActions) || !strings.Contains(err.Error(), "Source/Lib") || len(bs) != 0 {
			t.Fatalf("Discover = %v, %v; want ErrOtherActions naming Source/Lib", bs, err)
		}
		// And by Apply, should the action appear after discovery.
		carry := newTarget(t, be, Config{Pipelines: []string{"foreign"}, Match: &Match{Owner: "acme", Repo: "app"}})
		bs, err = carry.Discover(ctx)
		if err != nil || len(bs) != 1 {
			t.Fatalf("Discover with carry = %v, %v", bs, err)
		}
		res := apply(tg, fresh, bs)
		if err := res[bs[0].ID]; !errors.Is(err, ErrOtherActions) {
			t.Fatalf("Apply = %v, want ErrOtherActions", err)
		}
		after := getRaw(t, be, "foreign")
		if after.version != before.version {
			t.Errorf("refused pipeline was updated: version %d → %d", before.version, after.version)
		}
		if got := be.stored(t, "foreign", "App"); !got.Equal(old) {
			t.Errorf("App holds %v, want the old token", got)
		}
	})

	t.Run("refuses a CloudFormation-managed pipeline", func(t *testing.T) {
		old, fresh := gen(), gen()
		create(t, be, testDecl("cfn", ghSpec{"GitHub", "acme", "cfn", old}))
		be.tagStack(t, "cfn", "my-stack")
		tg := newTarget(t, be, Config{Pipelines: []string{"cfn"}})
		// Discovery names the stack; Vet refuses it (its template cannot
		// be read here to prove it safe) before anything is minted.
		bs, err := tg.Discover(ctx)
		if err != nil || len(bs) != 1 || bs[0].Attrs[AttrStack] != "my-stack" {
			t.Fatalf("Discover = %+v, %v; want the binding with its stack", bs, err)
		}
		if !strings.Contains(strings.Join(bs[0].Warnings, "\n"), "CloudFormation stack my-stack") {
			t.Errorf("warnings %q, want the stack named", bs[0].Warnings)
		}
		if _, err := tg.Vet(ctx, bs, bs); !errors.Is(err, ErrCloudFormation) || !strings.Contains(err.Error(), "my-stack") {
			t.Fatalf("Vet = %v, want ErrCloudFormation naming my-stack", err)
		}
		if err := apply(tg, fresh, bs)[bs[0].ID]; !errors.Is(err, ErrCloudFormation) {
			t.Errorf("Apply of an unproven binding = %v, want ErrCloudFormation", err)
		}
		if got := be.stored(t, "cfn", "GitHub"); !got.Equal(old) {
			t.Errorf("refused pipeline holds %v", got)
		}
		allowed := newTarget(t, be, Config{Pipelines: []string{"cfn"}, AllowCloudFormationDrift: true})
		if vetted, err := allowed.Vet(ctx, bs, bs); err != nil || len(vetted) != 1 {
			t.Fatalf("Vet with allow = %v, %v", vetted, err)
		}
		if f := failures(apply(allowed, fresh, bs)); len(f) > 0 {
			t.Fatalf("Apply with allow: %v", f)
		}
		if got := be.stored(t, "cfn", "GitHub"); !got.Equal(fresh) {
			t.Errorf("allowed pipeline holds %v, want %v", got, fresh)
		}
	})

	t.Run("idempotent re-apply", func(t *testing.T) {
		old, fresh := gen(), gen()
		create(t, be, testDecl("again", ghSpec{"GitHub", "acme", "again", old}))
		tg := newTarget(t, be, Config{Pipelines: []string{"again"}})
		bs, err := tg.Discover(ctx)
		if err != nil {
			t.Fatal(err)
		}
		start := getRaw(t, be, "again")
		for i := range 2 {
			if f := failures(apply(tg, fresh, bs)); len(f) > 0 {
				t.Fatalf("Apply #%d: %v", i+1, f)
			}
		}
		if v := getRaw(t, be, "again").version; v != start.version+1 {
			t.Errorf("after two applies in one process version = %d, want %d (the second is a no-op)", v, start.version+1)
		}
		// A new process (after a crash) has no record: it updates again,
		// with the same result.
		again := newTarget(t, be, Config{Pipelines: []string{"again"}})
		if f := failures(apply(again, fresh, bs)); len(f) > 0 {
			t.Fatalf("Apply from a new process: %v", f)
		}
		end := getRaw(t, be, "again")
		if d := cmp.Diff(start.decl, end.decl); d != "" || end.version != start.version+2 {
			t.Errorf("version %d → %d; declaration diff:\n%s", start.version, end.version, d)
		}
		if got := be.stored(t, "again", "GitHub"); !got.Equal(fresh) {
			t.Errorf("holds %v, want %v", got, fresh)
		}
	})

	t.Run("verify readback", func(t *testing.T) {
		old, fresh := gen(), gen()
		create(t, be, testDecl("readback", ghSpec{"GitHub", "acme", "readback", old}))
		tg := newTarget(t, be, Config{Pipelines: []string{"readback"}})
		bs, err := tg.Discover(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if f := failures(apply(tg, fresh, bs)); len(f) > 0 {
			t.Fatal(f)
		}
		if f := failures(verify(tg, fresh, bs)); len(f) > 0 {
			t.Errorf("Verify(new) after Apply: %v", f)
		}
		if err := verify(tg, old, bs)[bs[0].ID]; !errors.Is(err, ErrNotApplied) {
			t.Errorf("Verify(old) after Apply = %v, want ErrNotApplied", err)
		}
		// A resumed process reads the pipeline once.
		resumed := newTarget(t, be, Config{Pipelines: []string{"readback"}})
		if f := failures(verify(resumed, fresh, bs)); len(f) > 0 {
			t.Errorf("resumed Verify(new): %v", f)
		}
		if !be.masks {
			if err := verify(resumed, old, bs)[bs[0].ID]; !errors.Is(err, ErrNotApplied) {
				t.Errorf("resumed Verify(old) on an unmasking service = %v, want ErrNotApplied", err)
			}
		}
	})

	t.Run("rollback by re-apply", func(t *testing.T) {
		prev, next := gen(), gen()
		create(t, be, testDecl("rollback", ghSpec{"GitHub", "acme", "rb", prev}))
		start := getRaw(t, be, "rollback")
		tg := newTarget(t, be, Config{Pipelines: []string{"rollback"}})
		bs, err := tg.Discover(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if f := failures(apply(tg, next, bs)); len(f) > 0 {
			t.Fatal(f)
		}
		if f := failures(apply(tg, prev, bs)); len(f) > 0 {
			t.Fatalf("rollback Apply: %v", f)
		}
		if got := be.stored(t, "rollback", "GitHub"); !got.Equal(prev) {
			t.Errorf("after rollback holds %v, want %v", got, prev)
		}
		end := getRaw(t, be, "rollback")
		if d := cmp.Diff(start.decl, end.decl); d != "" || end.version != start.version+2 {
			t.Errorf("version %d → %d; declaration diff:\n%s", start.version, end.version, d)
		}
		if f := failures(verify(tg, prev, bs)); len(f) > 0 {
			t.Errorf("Verify(prev) after rollback: %v", f)
		}
	})
}
