package codepipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/rotor-ci/rotor/internal/emulator/fault"
	"github.com/rotor-ci/rotor/internal/ratelimit"
	"github.com/rotor-ci/rotor/internal/rotation"
	"github.com/rotor-ci/rotor/internal/token"
)

// These tests need what only our emulator offers: fault injection, request
// counts, executions and the real stored token.

func counts(be backend) map[string]int64 {
	out := map[string]int64{}
	for k, c := range be.emu.Faults().Counts() {
		out[strings.TrimPrefix(k, "codepipeline ")] = c.Requests
	}
	return out
}

func TestDiscover_Paging(t *testing.T) {
	isolate(t)
	be, _ := emulatorBackend(t, nil)
	const matching, other = 230, 15
	for i := range matching {
		create(t, be, testDecl(fmt.Sprintf("svc-%03d", i), ghSpec{"GitHub", "acme", "svc", token.Generate(token.KindClassicPAT)}))
	}
	for i := range other {
		create(t, be, testDecl(fmt.Sprintf("web-%03d", i), ghSpec{"GitHub", "acme", "web", token.Generate(token.KindClassicPAT)}))
	}
	be.emu.Faults().ResetCounts()
	bs, err := newTarget(t, be, Config{Match: &Match{Owner: "acme", Repo: "svc"}, pageSize: 100}).Discover(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(bs) != matching {
		t.Errorf("Discover found %d bindings, want %d", len(bs), matching)
	}
	got := counts(be)
	// 245 pipelines, 100 a page: 3 pages. Under a loaded CI machine the SDK
	// has been seen to retry one page (a transport error, never a throttle:
	// none is injected); a second listing would show as 6.
	if n := got["ListPipelines"]; n == 4 {
		t.Logf("ListPipelines: 4 requests for 3 pages (one SDK retry)")
		got["ListPipelines"] = 3
	}
	want := map[string]int64{
		"ListPipelines":       3,
		"GetPipeline":         matching + other,
		"ListTagsForResource": matching, // only where an action matches
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("requests per operation (-want +got):\n%s", d)
	}
}

// TestApply_Fleet is the failure drill: 50 pipelines under throttling, one
// of which fails its update. That binding reports the error, the others take
// the new token; re-applying the previous token to those that took the new
// one leaves every pipeline on the previous token and otherwise unchanged.
func TestApply_Fleet(t *testing.T) {
	isolate(t)
	be, _ := emulatorBackend(t, nil)
	ctx := context.Background()
	prev, next := token.Generate(token.KindClassicPAT), token.Generate(token.KindFineGrained)
	const n = 50
	before := map[string]snapshot{}
	for i := range n {
		name := fmt.Sprintf("fleet-%02d", i)
		create(t, be, testDecl(name, ghSpec{"GitHub", "acme", "fleet", prev}))
		before[name] = getRaw(t, be, name)
	}
	be.emu.Faults().SetRules([]fault.Rule{
		{Service: "codepipeline", Operation: "GetPipeline", RatePerSecond: 50},
		{Service: "codepipeline", Operation: "UpdatePipeline", RatePerSecond: 50},
		{Service: "codepipeline", Operation: "UpdatePipeline", Resource: "fleet-17", Fail: true},
	})
	var (
		mu       sync.Mutex
		progress [][3]int
	)
	tg := newTarget(t, be, Config{
		Match:  &Match{Repo: "fleet"},
		Limits: ratelimit.Options{Initial: 80}, // above the server's rate: it must adapt
		Progress: func(p rotation.Progress) {
			mu.Lock()
			defer mu.Unlock()
			progress = append(progress, [3]int{p.Done, p.Total, p.Failed})
		},
	})
	be.emu.Faults().ResetCounts()
	bs, err := tg.Discover(ctx)
	if err != nil {
		t.Fatal(err)
	}
	progress = nil

	start := time.Now()
	res := apply(tg, next, bs)
	t.Logf("apply took %v; limiter %+v; counts %+v", time.Since(start), tg.RateStats(), be.emu.Faults().Counts())
	failed := failures(res)
	bad := id("fleet-17", "Source", "GitHub")
	if len(failed) != 1 || failed[bad] == "" {
		t.Fatalf("failures = %v, want only %s", failed, bad)
	}
	if msg := failed[bad]; !strings.Contains(msg, "fleet-17") || strings.Contains(msg, next.Reveal()) || strings.Contains(msg, prev.Reveal()) {
		t.Errorf("error %q must name the pipeline and hold no token", msg)
	}
	c := be.emu.Faults().Counts()
	if c["codepipeline GetPipeline"].Throttled+c["codepipeline UpdatePipeline"].Throttled == 0 {
		t.Error("no request was throttled in Discover or Apply: the drill did not drill")
	}
	if last := progress[len(progress)-1]; last != [3]int{n, n, 1} {
		t.Errorf("last progress = %v, want [%d %d 1]", last, n, n)
	}
	for i := 1; i < len(progress); i++ {
		if progress[i][0] < progress[i-1][0] {
			t.Fatalf("progress went backwards: %v", progress)
		}
	}

	// Roll back the ones that took the new token.
	var took []rotation.Binding
	for _, b := range bs {
		if res[b.ID] == nil {
			took = append(took, b)
		}
	}
	be.emu.Faults().SetRules(nil)
	if f := failures(apply(tg, prev, took)); len(f) > 0 {
		t.Fatalf("rollback: %v", f)
	}
	for name, b := range before {
		if got := be.stored(t, name, "GitHub"); !got.Equal(prev) {
			t.Errorf("%s holds %v after rollback, want %v", name, got, prev)
		}
		after := getRaw(t, be, name)
		if d := cmp.Diff(b.decl, after.decl); d != "" {
			t.Errorf("%s changed beyond the token:\n%s", name, d)
		}
		want := b.version + 2
		if name == "fleet-17" {
			want = b.version
		}
		if after.version != want {
			t.Errorf("%s version %d → %d, want %d", name, b.version, after.version, want)
		}
	}
}

// TestApply_Counts checks the call budget: one GetPipeline and one
// UpdatePipeline per pipeline per Apply, however many of its actions are
// bound, and no call at all for Verify after Apply in the same process.
func TestApply_Counts(t *testing.T) {
	isolate(t)
	be, _ := emulatorBackend(t, nil)
	ctx := context.Background()
	const n = 20
	for i := range n {
		create(t, be, testDecl(fmt.Sprintf("count-%02d", i),
			ghSpec{"App", "acme", "count", token.Generate(token.KindClassicPAT)},
			ghSpec{"Docs", "acme", "count-docs", token.Generate(token.KindClassicPAT)}))
	}
	var logs bytes.Buffer
	tg := newTarget(t, be, Config{Match: &Match{Owner: "acme"}, Log: slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	bs, err := tg.Discover(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(bs) != 2*n {
		t.Fatalf("%d bindings, want %d", len(bs), 2*n)
	}
	fresh := token.Generate(token.KindClassicPAT)

	be.emu.Faults().ResetCounts()
	if f := failures(apply(tg, fresh, bs)); len(f) > 0 {
		t.Fatal(f)
	}
	// One read, one idle check, one update per pipeline.
	if d := cmp.Diff(map[string]int64{"GetPipeline": n, "ListPipelineExecutions": n, "UpdatePipeline": n}, counts(be)); d != "" {
		t.Errorf("Apply requests (-want +got):\n%s", d)
	}
	if l := logs.String(); !strings.Contains(l, "pipeline updated") || strings.Contains(l, fresh.Reveal()) || strings.Contains(l, "ghp_") {
		t.Errorf("logs must say what was updated and hold no token:\n%s", l)
	}

	be.emu.Faults().ResetCounts()
	if f := failures(verify(tg, fresh, bs)); len(f) > 0 {
		t.Fatal(f)
	}
	if d := cmp.Diff(map[string]int64{}, counts(be)); d != "" {
		t.Errorf("Verify after Apply made requests (-want +got):\n%s", d)
	}

	// A resumed process reads each pipeline once.
	be.emu.Faults().ResetCounts()
	if f := failures(verify(newTarget(t, be, Config{Match: &Match{Owner: "acme"}}), fresh, bs)); len(f) > 0 {
		t.Fatal(f)
	}
	if d := cmp.Diff(map[string]int64{"GetPipeline": n}, counts(be)); d != "" {
		t.Errorf("resumed Verify requests (-want +got):\n%s", d)
	}
	for i := range n {
		for _, a := range []string{"App", "Docs"} {
			if got := be.stored(t, fmt.Sprintf("count-%02d", i), a); !got.Equal(fresh) {
				t.Fatalf("count-%02d %s holds %v", i, a, got)
			}
		}
	}
}

func TestVerify_Execution(t *testing.T) {
	isolate(t)
	be, gh := emulatorBackend(t, nil)
	ctx := context.Background()
	prev, good, revoked := token.Generate(token.KindClassicPAT), token.Generate(token.KindClassicPAT), token.Generate(token.KindClassicPAT)
	gh.allow(prev, true)
	gh.allow(good, true)
	for _, name := range []string{"exec-good", "exec-bad"} {
		create(t, be, testDecl(name, ghSpec{"GitHub", "acme", "exec", prev}))
	}
	tests := []struct {
		pipeline string
		tok      token.Token
		want     error
	}{
		{"exec-good", good, nil},
		{"exec-bad", revoked, ErrSourceFailed},
	}
	for _, tt := range tests {
		t.Run(tt.pipeline, func(t *testing.T) {
			tg := newTarget(t, be, Config{Pipelines: []string{tt.pipeline}, Verify: VerifyExecution})
			bs, err := tg.Discover(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if f := failures(apply(tg, tt.tok, bs)); len(f) > 0 {
				t.Fatal(f)
			}
			err = verify(tg, tt.tok, bs)[bs[0].ID]
			if !errors.Is(err, tt.want) {
				t.Fatalf("Verify = %v, want %v", err, tt.want)
			}
			if err != nil {
				if msg := err.Error(); !strings.Contains(msg, "Could not access the GitHub repository") || !strings.Contains(msg, tt.pipeline) || strings.Contains(msg, tt.tok.Reveal()) {
					t.Errorf("error %q: want the service's message and the pipeline, and no token", msg)
				}
			}
		})
	}
}

// rewrite is a proxy in front of the emulator that edits one operation's
// JSON response.
func rewrite(op string, edit func(doc map[string]any)) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !strings.HasSuffix(r.Header.Get("X-Amz-Target"), "."+op) {
				next.ServeHTTP(w, r)
				return
			}
			rec := &recorder{header: http.Header{}, code: 200}
			next.ServeHTTP(rec, r)
			b := rec.body.Bytes()
			if rec.code == 200 {
				var doc map[string]any
				if err := json.Unmarshal(b, &doc); err == nil {
					edit(doc)
					b, _ = json.Marshal(doc)
				}
			}
			for k, v := range rec.header {
				w.Header()[k] = v
			}
			w.Header().Set("Content-Length", fmt.Sprint(len(b)))
			w.WriteHeader(rec.code)
			_, _ = w.Write(b)
		})
	}
}

type recorder struct {
	header http.Header
	code   int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header         { return r.header }
func (r *recorder) WriteHeader(code int)        { r.code = code }
func (r *recorder) Write(b []byte) (int, error) { return r.body.Write(b) }

func firstAction(doc map[string]any, stage int) map[string]any {
	p := doc["pipeline"].(map[string]any)
	return p["stages"].([]any)[stage].(map[string]any)["actions"].([]any)[0].(map[string]any)
}

// TestApply_UnknownMember: a GetPipeline response with a member the SDK does
// not know. Sending the SDK's version back would drop it, so the update must
// never leave the process.
func TestApply_UnknownMember(t *testing.T) {
	isolate(t)
	be, _ := emulatorBackend(t, rewrite("GetPipeline", func(doc map[string]any) {
		firstAction(doc, 1)["futureMember"] = map[string]any{"mode": "strict"}
	}))
	old := token.Generate(token.KindClassicPAT)
	create(t, be, testDecl("future", ghSpec{"GitHub", "acme", "future", old}))
	tg := newTarget(t, be, Config{Pipelines: []string{"future"}})
	bs, err := tg.Discover(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	be.emu.Faults().ResetCounts()
	err = apply(tg, token.Generate(token.KindClassicPAT), bs)[bs[0].ID]
	if !errors.Is(err, ErrWouldChange) || !strings.Contains(err.Error(), "stages[1].actions[0].futureMember") {
		t.Fatalf("Apply = %v, want ErrWouldChange naming the member", err)
	}
	if c := counts(be); c["UpdatePipeline"] != 0 {
		t.Errorf("UpdatePipeline reached the service %d times", c["UpdatePipeline"])
	}
	if got := be.stored(t, "future", "GitHub"); !got.Equal(old) {
		t.Errorf("holds %v, want the old token", got)
	}
}

// TestVerify_ReadbackMismatch: the service answers the update with a
// declaration that differs from what was sent, or a version that is not one
// more. Apply wrote the token; Verify must fail, naming what differs.
func TestVerify_ReadbackMismatch(t *testing.T) {
	tests := []struct {
		name string
		edit func(doc map[string]any)
		want string
	}{
		{"changed member", func(doc map[string]any) {
			firstAction(doc, 1)["configuration"].(map[string]any)["ProjectName"] = "other"
		}, "stages[1].actions[0].configuration.ProjectName"},
		{"version jump", func(doc map[string]any) {
			p := doc["pipeline"].(map[string]any)
			v, _ := p["version"].(float64)
			p["version"] = v + 1
		}, "version 3 after the update, want 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			isolate(t)
			be, _ := emulatorBackend(t, rewrite("UpdatePipeline", tt.edit))
			create(t, be, testDecl("mismatch", ghSpec{"GitHub", "acme", "mm", token.Generate(token.KindClassicPAT)}))
			tg := newTarget(t, be, Config{Pipelines: []string{"mismatch"}})
			bs, err := tg.Discover(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			fresh := token.Generate(token.KindClassicPAT)
			if f := failures(apply(tg, fresh, bs)); len(f) > 0 {
				t.Fatal(f)
			}
			err = verify(tg, fresh, bs)[bs[0].ID]
			if !errors.Is(err, ErrReadback) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Verify = %v, want ErrReadback with %q", err, tt.want)
			}
		})
	}
}

func TestApply_Cancelled(t *testing.T) {
	isolate(t)
	be, _ := emulatorBackend(t, nil)
	create(t, be, testDecl("cancel", ghSpec{"GitHub", "acme", "c", token.Generate(token.KindClassicPAT)}))
	tg := newTarget(t, be, Config{Pipelines: []string{"cancel"}})
	bs, err := tg.Discover(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res := collect(func(report func(rotation.Result)) { tg.Apply(ctx, token.Generate(token.KindClassicPAT), bs, report) })
	if err := res[bs[0].ID]; !errors.Is(err, context.Canceled) {
		t.Errorf("Apply with a cancelled context = %v", err)
	}
	_ = io.EOF
}

// TestApply_OtherMaskedSecret: another action's secret property reads back
// "****". By default it goes back exactly as read (AWS keeps what it
// holds); other_actions: refuse refuses the pipeline before any write.
func TestApply_OtherMaskedSecret(t *testing.T) {
	isolate(t)
	be, _ := emulatorBackend(t, rewrite("GetPipeline", func(doc map[string]any) {
		firstAction(doc, 1)["configuration"].(map[string]any)["ApiKey"] = "****"
	}))
	old := token.Generate(token.KindClassicPAT)
	create(t, be, testDecl("secretive", ghSpec{"GitHub", "acme", "s", old}))
	refuse := newTarget(t, be, Config{Pipelines: []string{"secretive"}, OtherActions: OtherActionsRefuse})
	if _, err := refuse.Discover(context.Background()); !errors.Is(err, ErrOtherActions) || !strings.Contains(err.Error(), "Build/Build (ApiKey)") {
		t.Fatalf("Discover = %v, want ErrOtherActions naming Build/Build (ApiKey)", err)
	}
	b := rotation.Binding{ID: id("secretive", "Source", "GitHub"), Target: Type}
	be.emu.Faults().ResetCounts()
	if err := apply(refuse, token.Generate(token.KindClassicPAT), []rotation.Binding{b})[b.ID]; !errors.Is(err, ErrOtherActions) {
		t.Fatalf("Apply = %v, want ErrOtherActions", err)
	}
	if c := counts(be); c["UpdatePipeline"] != 0 {
		t.Errorf("UpdatePipeline reached the service")
	}

	carry := newTarget(t, be, Config{Pipelines: []string{"secretive"}})
	bs, err := carry.Discover(context.Background())
	if err != nil || len(bs) != 1 {
		t.Fatalf("Discover with carry = %v, %v", bs, err)
	}
	if f := failures(apply(carry, token.Generate(token.KindClassicPAT), bs)); len(f) > 0 {
		t.Fatalf("Apply with carry: %v", f)
	}
}

// TestInspect: after an execution whose source failed on a dead token,
// Inspect reports the binding broken; a pipeline whose source succeeded, or
// never ran, is healthy. One GetPipelineState per pipeline.
func TestInspect(t *testing.T) {
	isolate(t)
	be, gh := emulatorBackend(t, nil)
	ctx := context.Background()
	good, dead := token.Generate(token.KindClassicPAT), token.Generate(token.KindClassicPAT)
	gh.allow(good, true)
	create(t, be, testDecl("inspect-good", ghSpec{"GitHub", "acme", "inspect", good}))
	create(t, be, testDecl("inspect-dead", ghSpec{"GitHub", "acme", "inspect", good}))
	tg := newTarget(t, be, Config{Pipelines: []string{"inspect-good", "inspect-dead"}, Verify: VerifyExecution})
	bs, err := tg.Discover(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var deadB []rotation.Binding
	for _, b := range bs {
		if b.Attrs[AttrPipeline] == "inspect-dead" {
			deadB = append(deadB, b)
		}
	}
	_ = apply(tg, dead, deadB)
	_ = verify(tg, dead, deadB) // runs the pipeline: its source fails on the dead token
	before := counts(be)["GetPipelineState"]
	res := collect(func(report func(rotation.Result)) { tg.Inspect(ctx, bs, report) })
	for _, b := range bs {
		err := res[b.ID]
		switch b.Attrs[AttrPipeline] {
		case "inspect-good":
			if err != nil {
				t.Errorf("healthy pipeline reported: %v", err)
			}
		case "inspect-dead":
			if !errors.Is(err, ErrSourceFailed) || strings.Contains(err.Error(), dead.Reveal()) {
				t.Errorf("dead-token pipeline: %v, want ErrSourceFailed without the token", err)
			}
		}
	}
	if got := counts(be)["GetPipelineState"] - before; got != 2 {
		t.Errorf("GetPipelineState calls = %d, want 2 (one per pipeline)", got)
	}
}
