package codepipeline

import (
	"context"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/rotor-ci/rotor/internal/migrate"
	"github.com/rotor-ci/rotor/internal/rotation"
	"github.com/rotor-ci/rotor/internal/token"
)

// runMoveContract: ToConnection rewrites the one action to the version 2
// action and changes nothing else (the other GitHub action keeps its token),
// is idempotent, and ToV1 restores the declaration exactly, with the token.
func runMoveContract(t *testing.T, be backend) {
	ctx := context.Background()
	tok, other := token.Generate(token.KindClassicPAT), token.Generate(token.KindClassicPAT)
	create(t, be, testDecl("move", ghSpec{"GitHub", "acme", "app", tok}, ghSpec{"Other", "acme", "lib", other}))
	tg := newTarget(t, be, Config{Pipelines: []string{"move"}, Match: &Match{Repo: "app"}})
	bs, err := tg.V1Actions(ctx)
	if err != nil || len(bs) != 1 {
		t.Fatalf("%s: V1Actions: %v %v", be.name, bs, err)
	}
	b := bs[0]
	in, err := tg.InspectMove(ctx, b, "arn:aws:codeconnections:us-east-1:123456789012:connection/x")
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]string{propOwner: "acme", propRepo: "app", propBranch: "main", propPoll: "false"}; !reflect.DeepEqual(in.V1, want) {
		t.Errorf("%s: V1 %v, want %v (no token)", be.name, in.V1, want)
	}
	before := getRaw(t, be, "move")
	conn := "arn:aws:codeconnections:us-east-1:123456789012:connection/0d0b1a2c-3e4f-5061-7283-94a5b6c7d8e9"
	if err := tg.ToConnection(ctx, b, conn, true); err != nil {
		t.Fatalf("%s: ToConnection: %v", be.name, err)
	}
	moved := getRaw(t, be, "move")
	if moved.version != before.version+1 {
		t.Errorf("%s: version %d → %d", be.name, before.version, moved.version)
	}
	diff := differences(before.decl, moved.decl, 100)
	for _, d := range diff {
		if !strings.HasPrefix(d, "stages[0].actions[0].actionTypeId.") && !strings.HasPrefix(d, "stages[0].actions[0].configuration.") {
			t.Errorf("%s: the move changed %s", be.name, d)
		}
	}
	if len(diff) == 0 {
		t.Errorf("%s: the move changed nothing", be.name)
	}
	if got := be.stored(t, "move", "Other"); !got.Equal(other) {
		t.Errorf("%s: the other GitHub action holds %s, want its own token", be.name, got.Fingerprint())
	}
	if err := tg.ToConnection(ctx, b, conn, true); err != nil || getRaw(t, be, "move").version != moved.version {
		t.Errorf("%s: ToConnection again: %v (must write nothing)", be.name, err)
	}
	if err := tg.ToV1(ctx, b, in.V1, tok); err != nil {
		t.Fatalf("%s: ToV1: %v", be.name, err)
	}
	back := getRaw(t, be, "move")
	if diff := differences(before.decl, back.decl, 10); len(diff) > 0 || back.version != before.version+2 {
		t.Errorf("%s: after the way back: version %d, differs at %v", be.name, back.version, diff)
	}
	if got := be.stored(t, "move", "GitHub"); !got.Equal(tok) {
		t.Errorf("%s: the action holds %s after the way back, want the token", be.name, got.Fingerprint())
	}
	if err := tg.ToV1(ctx, b, in.V1, token.Token{}); err == nil {
		t.Errorf("%s: ToV1 with an empty token: no error", be.name)
	}
}

func TestMove_Emulator(t *testing.T) {
	isolate(t)
	be, _ := emulatorBackend(t, nil)
	runMoveContract(t, be)
}

func TestMove_Moto(t *testing.T) {
	if testing.Short() {
		t.Skip("SKIP: moto_server takes seconds to start")
	}
	isolate(t)
	runMoveContract(t, motoBackend(t))
}

// TestFleet_Migrate: a fleet migrates as its places do. Each place's
// CodeConnections client works in that account and region (a connection
// created there is named so, and another place cannot see it); a place the
// fleet does not span has none; ToConnection rewrites the action in its
// binding's place only, not the same pipeline name elsewhere.
func TestFleet_Migrate(t *testing.T) {
	isolate(t)
	sb := startFleetSandbox(t)
	ctx := context.Background()
	f, err := NewFleet(ctx, fleetBase(sb.AWSURL), sandboxPlaces(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	bs, err := f.V1Actions(ctx)
	if err != nil || len(bs) != 4 {
		t.Fatalf("V1Actions: %v, %v", bindingIDs(bs), err)
	}
	eu := migrate.Place{Account: "111111111111", Region: "eu-west-1"}
	api, err := f.Connections(ctx, eu)
	if err != nil {
		t.Fatal(err)
	}
	arn, err := api.Create(ctx, "github-dev")
	if err != nil {
		t.Fatal(err)
	}
	if p, err := migrate.ParseConnection(arn); err != nil || p != eu {
		t.Errorf("created %s: place %v (%v), want %v", arn, p, err, eu)
	}
	if st, err := api.Status(ctx, arn); err != nil || st != migrate.ConnectionPending {
		t.Errorf("status in its place: %q %v, want PENDING", st, err)
	}
	prod, err := f.Connections(ctx, migrate.Place{Account: "222222222222", Region: "us-east-1"})
	if err != nil {
		t.Fatal(err)
	}
	if st, err := prod.Status(ctx, arn); err == nil {
		t.Errorf("account 222222222222 sees the connection of %v: %q", eu, st)
	}
	if _, err := f.Connections(ctx, migrate.Place{Account: "333333333333", Region: "us-east-1"}); err == nil {
		t.Error("a place the fleet does not span has a connections client")
	}

	id := BindingID(eu.Account, eu.Region, "dev-a", "Source", "Source")
	i := slices.IndexFunc(bs, func(b rotation.Binding) bool { return b.ID == id })
	if i < 0 {
		t.Fatalf("no binding %s in %v", id, bindingIDs(bs))
	}
	seed, _ := sb.CodePipeline.In("111111111111", "us-east-1").StoredToken("dev-a", "Source")
	if err := f.ToConnection(ctx, bs[i], arn, true); err != nil {
		t.Fatalf("ToConnection: %v", err)
	}
	if _, v1 := sb.CodePipeline.In(eu.Account, eu.Region).StoredToken("dev-a", "Source"); v1 {
		t.Errorf("dev-a in %v is still on version 1", eu)
	}
	if got, v1 := sb.CodePipeline.In("111111111111", "us-east-1").StoredToken("dev-a", "Source"); !v1 || !got.Equal(seed) {
		t.Errorf("dev-a in us-east-1 changed: version 1 %v", v1)
	}
	if hooks, err := f.Webhooks(ctx); err != nil || len(hooks) != 0 {
		t.Errorf("Webhooks: %v %v", hooks, err)
	}
}
