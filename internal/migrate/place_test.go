package migrate

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/rotor-ci/rotor/internal/rotation"
)

func TestParseConnection(t *testing.T) {
	for _, c := range []struct {
		arn  string
		want Place // zero: refused
	}{
		{"arn:aws:codeconnections:us-east-1:123456789012:connection/0d0b1a2c-3e4f", Place{"123456789012", "us-east-1"}},
		{"arn:aws:codestar-connections:eu-west-1:111111111111:connection/abc", Place{"111111111111", "eu-west-1"}},
		{"arn:aws-cn:codeconnections:cn-north-1:222222222222:connection/abc", Place{"222222222222", "cn-north-1"}},
		{"", Place{}},
		{"abc", Place{}},
		{"arn:aws:codeconnections:us-east-1:12345:connection/abc", Place{}},         // short account
		{"arn:aws:codeconnections::123456789012:connection/abc", Place{}},           // no region
		{"arn:aws:codepipeline:us-east-1:123456789012:connection/abc", Place{}},     // another service
		{"arn:aws:codeconnections:us-east-1:123456789012:host/abc", Place{}},        // a host, not a connection
		{"arn:aws:codeconnections:us-east-1:123456789012:connection/", Place{}},     // no id
		{" arn:aws:codeconnections:us-east-1:123456789012:connection/abc", Place{}}, // pasted with a space
	} {
		got, err := ParseConnection(c.arn)
		if c.want == (Place{}) {
			if !errors.Is(err, ErrBadConnection) || !strings.Contains(err.Error(), "--connection "+`"`+c.arn+`"`) {
				t.Errorf("%q: %v, want ErrBadConnection naming it", c.arn, err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("%q: %v %v, want %v", c.arn, got, err, c.want)
		}
	}
}

func TestParseConnections(t *testing.T) {
	us := "arn:aws:codeconnections:us-east-1:123456789012:connection/a"
	us2 := "arn:aws:codestar-connections:us-east-1:123456789012:connection/b"
	eu := "arn:aws:codeconnections:eu-west-1:111111111111:connection/c"
	got, err := ParseConnections([]string{us, eu, us})
	want := map[Place]string{{"123456789012", "us-east-1"}: us, {"111111111111", "eu-west-1"}: eu}
	if err != nil || !cmp.Equal(got, want) {
		t.Errorf("two places (one ARN twice): %v %v, want %v", got, err, want)
	}
	_, err = ParseConnections([]string{us, eu, us2})
	if !errors.Is(err, ErrBadConnection) || !strings.Contains(err.Error(), us) || !strings.Contains(err.Error(), us2) ||
		!strings.Contains(err.Error(), "account 123456789012, region us-east-1") {
		t.Errorf("two connections in one place: %v, want ErrBadConnection naming both and the place", err)
	}
	if _, err := ParseConnections([]string{us, "arn:aws:codeconnections:us-east-1"}); !errors.Is(err, ErrBadConnection) {
		t.Errorf("a malformed ARN among good ones: %v", err)
	}
}

func binding(account, region, pipeline string) rotation.Binding {
	return rotation.Binding{ID: "codepipeline:" + account + ":" + region + ":" + pipeline + "/Source/Source",
		Attrs: map[string]string{"account": account, "region": region, "pipeline": pipeline, "stage": "Source", "action": "Source"}}
}

// TestUnplaced: every action whose account and region has no connection is
// named once per pipeline and place, sorted, and the refusal says where the
// connections given are and what to do.
func TestUnplaced(t *testing.T) {
	planned := func(b rotation.Binding) Planned { return Planned{Binding: b, ID: b.ID, Pipeline: b.Attrs["pipeline"]} }
	twice := binding("111111111111", "eu-west-1", "dev")
	twice.ID = strings.Replace(twice.ID, "/Source/Source", "/Source/Other", 1)
	actions := []Planned{
		planned(binding("123456789012", "us-east-1", "prod")),
		planned(binding("111111111111", "eu-west-1", "dev")),
		planned(twice),
		planned(binding("111111111111", "us-east-1", "dev")), // the same name in another region
		planned(binding("123456789012", "us-east-1", "other")),
	}
	conns := map[Place]string{{"123456789012", "us-east-1"}: "arn:aws:codeconnections:us-east-1:123456789012:connection/a"}
	missing := unplaced(actions, conns)
	var got []string
	for _, a := range missing {
		got = append(got, a.Pipeline+" "+PlaceOf(a.Binding).String())
	}
	want := []string{"dev account 111111111111, region eu-west-1", "dev account 111111111111, region us-east-1"}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("unplaced (-want +got):\n%s", d)
	}
	err := errUnplaced("payments", missing, conns)
	for _, s := range []string{"payments: no connection in the pipeline's account and region",
		"\n  dev (account 111111111111, region eu-west-1)\n  dev (account 111111111111, region us-east-1)\n",
		"Nothing was changed", "the --connection given is in account 123456789012, region us-east-1",
		"--create-connection NAME --account 111111111111 --region eu-west-1", "with --account and --region (or --pipeline)"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("the refusal lacks %q:\n%v", s, err)
		}
	}
	if !errors.Is(err, ErrNoConnection) {
		t.Errorf("%v is not ErrNoConnection", err)
	}
	conns[Place{"111111111111", "eu-west-1"}] = "arn:aws:codeconnections:eu-west-1:111111111111:connection/b"
	conns[Place{"111111111111", "us-east-1"}] = "arn:aws:codeconnections:us-east-1:111111111111:connection/c"
	if m := unplaced(actions, conns); len(m) != 0 {
		t.Errorf("every place has a connection, yet %v", m)
	}
}

// fakePipelines is one place's target: its version 1 actions and a
// CodeConnections that records what it created.
type fakePipelines struct {
	Pipelines // the methods these tests do not call panic
	place     Place
	actions   []rotation.Binding
	created   []string
}

func (f *fakePipelines) V1Actions(context.Context) ([]rotation.Binding, error) { return f.actions, nil }
func (f *fakePipelines) Webhooks(context.Context) ([]Webhook, error)           { return nil, nil }
func (f *fakePipelines) MoveWait() time.Duration                               { return 0 }
func (f *fakePipelines) InspectMove(_ context.Context, b rotation.Binding, conn string) (Inspection, error) {
	return Inspection{V1: map[string]string{"Owner": "o", "Repo": "r", "Branch": "main"}, V2: map[string]any{"ConnectionArn": conn}}, nil
}
func (f *fakePipelines) Connections(_ context.Context, p Place) (Connections, error) {
	if p != f.place {
		return nil, errors.New("not this target's place")
	}
	return fakeConnections{f}, nil
}

type fakeConnections struct{ f *fakePipelines }

func (c fakeConnections) Status(context.Context, string) (string, error) {
	return ConnectionAvailable, nil
}
func (c fakeConnections) Create(_ context.Context, name string) (string, error) {
	arn := "arn:aws:codeconnections:" + c.f.place.Region + ":" + c.f.place.Account + ":connection/" + name
	c.f.created = append(c.f.created, arn)
	return arn, nil
}
func (c fakeConnections) ConsoleURL(arn string) string { return "https://console/" + arn }

// TestCreateConnection: a credential in one place gets its connection
// there, through that place's target; one in two places is refused naming
// both, and nothing is created, unless the pipeline narrows it to one.
func TestCreateConnection(t *testing.T) {
	ctx := context.Background()
	us := &fakePipelines{place: Place{"123456789012", "us-east-1"}, actions: []rotation.Binding{binding("123456789012", "us-east-1", "prod")}}
	eu := &fakePipelines{place: Place{"111111111111", "eu-west-1"}, actions: []rotation.Binding{binding("111111111111", "eu-west-1", "dev")}}
	c := Credential{Name: "payments", Pipelines: []Pipelines{us, nil, eu}}

	_, err := CreateConnection(ctx, c, Selection{}, "gh")
	if !errors.Is(err, ErrSeveralPlaces) || !strings.Contains(err.Error(), "account 111111111111, region eu-west-1; account 123456789012, region us-east-1") {
		t.Errorf("two places: %v, want ErrSeveralPlaces naming both", err)
	}
	if len(us.created)+len(eu.created) != 0 {
		t.Fatalf("refused, yet created %v %v", us.created, eu.created)
	}
	got, err := CreateConnection(ctx, c, Selection{Pipeline: "dev"}, "gh")
	if err != nil || got.Place != eu.place || got.Connection != "arn:aws:codeconnections:eu-west-1:111111111111:connection/gh" ||
		got.Status != ConnectionPending || len(eu.created) != 1 || len(us.created) != 0 {
		t.Errorf("--pipeline dev: %+v %v (created here %v, there %v)", got, err, eu.created, us.created)
	}
	if _, err := CreateConnection(ctx, c, Selection{Pipeline: "nope"}, "gh"); !errors.Is(err, ErrNothing) {
		t.Errorf("a pipeline with no version 1 action: %v, want ErrNothing", err)
	}
	one := Credential{Name: "app", Pipelines: []Pipelines{us}}
	if got, err := CreateConnection(ctx, one, Selection{}, "gh"); err != nil || got.Place != us.place {
		t.Errorf("one place: %+v %v", got, err)
	}
	// The same pipeline name in both places: only the account and region
	// tell them apart.
	us.actions = append(us.actions, binding("123456789012", "us-east-1", "app"))
	eu.actions = append(eu.actions, binding("111111111111", "eu-west-1", "app"))
	us.created, eu.created = nil, nil
	if _, err := CreateConnection(ctx, c, Selection{Pipeline: "app"}, "gh"); !errors.Is(err, ErrSeveralPlaces) {
		t.Errorf("--pipeline app in two places: %v, want ErrSeveralPlaces", err)
	}
	got, err = CreateConnection(ctx, c, Selection{Pipeline: "app", Account: "123456789012", Region: "us-east-1"}, "gh")
	if err != nil || got.Place != us.place || len(us.created) != 1 || len(eu.created) != 0 {
		t.Errorf("--pipeline app --account 123456789012 --region us-east-1: %+v %v (created there %v, here %v)", got, err, us.created, eu.created)
	}
}

// TestSelection: what --pipeline, --account and --region select, how an
// error names them, and an account that is no account ID.
func TestSelection(t *testing.T) {
	b := binding("111111111111", "eu-west-1", "dev")
	for _, tt := range []struct {
		sel  Selection
		want bool
	}{
		{Selection{}, true},
		{Selection{Pipeline: "dev"}, true},
		{Selection{Pipeline: "prod"}, false},
		{Selection{Account: "111111111111"}, true},
		{Selection{Account: "123456789012"}, false},
		{Selection{Region: "eu-west-1"}, true},
		{Selection{Account: "111111111111", Region: "us-east-1"}, false},
		{Selection{Pipeline: "dev", Account: "111111111111", Region: "eu-west-1"}, true},
	} {
		if got := tt.sel.Selects(b); got != tt.want {
			t.Errorf("%+v selects %v: %v, want %v", tt.sel, b.ID, got, tt.want)
		}
	}
	if got := (Selection{Pipeline: "dev", Region: "eu-west-1"}).String(); got != " in pipeline dev, region eu-west-1" {
		t.Errorf("String = %q", got)
	}
	if got := (Selection{}).String(); got != "" {
		t.Errorf("String of everything = %q, want empty", got)
	}
	if err := (Selection{Account: "11111111111"}).Check(); err == nil || !strings.Contains(err.Error(), `--account "11111111111"`) {
		t.Errorf("an 11-digit account: %v, want an error naming it", err)
	}
	if err := (Selection{Account: "111111111111"}).Check(); err != nil {
		t.Errorf("a 12-digit account: %v", err)
	}
}

// TestPlanShowsEachActionsConnection: each action's statement names the
// connection of its own place, or a placeholder of that place.
func TestPlanShowsEachActionsConnection(t *testing.T) {
	us := &fakePipelines{place: Place{"123456789012", "us-east-1"}, actions: []rotation.Binding{binding("123456789012", "us-east-1", "prod")}}
	eu := &fakePipelines{place: Place{"111111111111", "eu-west-1"}, actions: []rotation.Binding{binding("111111111111", "eu-west-1", "dev")}}
	conn := "arn:aws:codestar-connections:us-east-1:123456789012:connection/a"
	mp, err := Plan(context.Background(), Credential{Name: "payments", Pipelines: []Pipelines{us, eu}}, map[Place]string{us.place: conn}, "")
	if err != nil || len(mp.Actions) != 2 {
		t.Fatalf("Plan: %+v %v", mp, err)
	}
	if s := mp.Actions[0].Statement; !strings.Contains(s, "arn:aws:codeconnections:eu-west-1:111111111111:connection/ID") {
		t.Errorf("dev (no connection given): %s", s)
	}
	if s := mp.Actions[1].Statement; !strings.Contains(s, `"codestar-connections:UseConnection", "Resource": "`+conn+`"`) {
		t.Errorf("prod: %s", s)
	}
	if mp.Actions[0].Binding.Slot != 1 {
		t.Errorf("dev's slot %d, want 1", mp.Actions[0].Binding.Slot)
	}
}
