package ssm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/google/go-cmp/cmp"

	"github.com/rotor-ci/rotor/internal/awsx"
	"github.com/rotor-ci/rotor/internal/rotation"
	"github.com/rotor-ci/rotor/internal/rotation/targettest"
	"github.com/rotor-ci/rotor/internal/token"
)

const region = "us-east-1"

func awsConfig(endpoint string) awsx.Config {
	return awsx.Config{Region: region, EndpointURL: endpoint, Credentials: credentials.NewStaticCredentialsProvider("testing", "testing", "")}
}

func client(t *testing.T, endpoint string) *ssm.Client {
	t.Helper()
	cfg, err := awsx.Load(context.Background(), awsConfig(endpoint))
	if err != nil {
		t.Fatal(err)
	}
	return ssm.NewFromConfig(cfg)
}

var seq atomic.Int64

type param struct {
	typ         types.ParameterType
	value, kms  string
	description string
}

func createParam(t *testing.T, c *ssm.Client, p param) string {
	t.Helper()
	name := fmt.Sprintf("/rotor/test/%s-%d", strings.NewReplacer("/", "-", "#", "-").Replace(t.Name()), seq.Add(1))
	in := &ssm.PutParameterInput{Name: aws.String(name), Type: p.typ, Value: aws.String(p.value)}
	if p.kms != "" {
		in.KeyId = aws.String(p.kms)
	}
	if p.description != "" {
		in.Description = aws.String(p.description)
	}
	if _, err := c.PutParameter(context.Background(), in); err != nil {
		t.Fatal(err)
	}
	return name
}

func newTestTarget(t *testing.T, endpoint string, c Config) *Target {
	t.Helper()
	c.AWS = awsConfig(endpoint)
	tg, err := New(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	return tg
}

func run(t *testing.T, f func(context.Context, token.Token, []rotation.Binding, func(rotation.Result)), tok token.Token, bs []rotation.Binding) error {
	t.Helper()
	var res []rotation.Result
	f(context.Background(), tok, bs, func(r rotation.Result) { res = append(res, r) })
	if len(res) != len(bs) {
		t.Fatalf("got %d results for %d bindings", len(res), len(bs))
	}
	return res[0].Err
}

// state is what a parameter looks like from outside.
type state struct {
	Value       string
	Type        types.ParameterType
	Version     int64
	KeyID       string
	Description string
}

func read(t *testing.T, c *ssm.Client, name string) state {
	t.Helper()
	g, err := c.GetParameter(context.Background(), &ssm.GetParameterInput{Name: aws.String(name), WithDecryption: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	d, err := c.DescribeParameters(context.Background(), &ssm.DescribeParametersInput{
		ParameterFilters: []types.ParameterStringFilter{{Key: aws.String("Name"), Option: aws.String("Equals"), Values: []string{name}}},
	})
	if err != nil || len(d.Parameters) != 1 {
		t.Fatalf("describe %s: %v (%d found)", name, err, len(d.Parameters))
	}
	return state{
		Value: token.Fingerprint(aws.ToString(g.Parameter.Value)), Type: g.Parameter.Type, Version: g.Parameter.Version,
		KeyID: aws.ToString(d.Parameters[0].KeyId), Description: aws.ToString(d.Parameters[0].Description),
	}
}

func testTarget_Discover(t *testing.T, ep string) {
	c := client(t, ep)
	old := token.Generate(token.KindClassicPAT)
	name := createParam(t, c, param{typ: types.ParameterTypeSecureString, value: old.Reveal(), kms: "alias/one"})
	bs, err := newTestTarget(t, ep, Config{Name: name}).Discover(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := []rotation.Binding{{
		ID: "ssm:us-east-1:" + name, Target: Type, Resource: bs[0].Resource,
		Attrs: map[string]string{AttrRegion: region, AttrName: name, AttrARN: bs[0].Resource, AttrKMSKey: "alias/one"},
	}}
	if diff := cmp.Diff(want, bs); diff != "" {
		t.Errorf("bindings (-want +got):\n%s", diff)
	}
	if !strings.HasPrefix(bs[0].Resource, "arn:aws:ssm:us-east-1:") {
		t.Errorf("resource %q is not the parameter's ARN", bs[0].Resource)
	}

	bs, err = newTestTarget(t, ep, Config{Name: name, KMSKeyID: "alias/two"}).Discover(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(bs[0].Warnings) != 1 || !strings.Contains(bs[0].Warnings[0], "alias/one") || !strings.Contains(bs[0].Warnings[0], "alias/two") {
		t.Errorf("warnings %q, want one naming both keys", bs[0].Warnings)
	}
}

func testTarget_DiscoverRefuses(t *testing.T, ep string) {
	c := client(t, ep)
	tests := []struct {
		name string
		c    Config
		want error
	}{
		{"missing", Config{Name: "/rotor/test/nope"}, ErrParameterNotFound},
		{"plain string", Config{Name: createParam(t, c, param{typ: types.ParameterTypeString, value: "ghp_plain"})}, ErrNotSecure},
		{"string list", Config{Name: createParam(t, c, param{typ: types.ParameterTypeStringList, value: "a,b"})}, ErrNotSecure},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := newTestTarget(t, ep, tt.c).Discover(context.Background())
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.c.Name) {
				t.Errorf("error %q does not name the parameter", err)
			}
		})
	}
}

func testTarget_Apply(t *testing.T, ep string) {
	c := client(t, ep)
	tests := []struct {
		name      string
		kmsBefore string
		kmsConfig string
		kmsAfter  string
	}{
		{"configured key", "alias/one", "alias/one", "alias/one"},
		{"the parameter's key kept", "alias/one", "", "alias/one"},
		{"configured key applied", "alias/one", "alias/two", "alias/two"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			old, next := token.Generate(token.KindClassicPAT), token.Generate(token.KindClassicPAT)
			name := createParam(t, c, param{typ: types.ParameterTypeSecureString, value: old.Reveal(), kms: tt.kmsBefore, description: "GitHub token for CI"})
			tg := newTestTarget(t, ep, Config{Name: name, KMSKeyID: tt.kmsConfig})
			bs, err := tg.Discover(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			before := read(t, c, name)
			if err := run(t, tg.Apply, next, bs); err != nil {
				t.Fatal(err)
			}
			want := state{Value: next.Fingerprint(), Type: types.ParameterTypeSecureString, Version: before.Version + 1, KeyID: tt.kmsAfter, Description: "GitHub token for CI"}
			if diff := cmp.Diff(want, read(t, c, name)); diff != "" {
				t.Errorf("parameter after apply (-want +got):\n%s", diff)
			}
			if err := run(t, tg.Verify, next, bs); err != nil {
				t.Errorf("verify: %v", err)
			}
			if err := run(t, tg.Verify, old, bs); !errors.Is(err, ErrMismatch) {
				t.Errorf("verify old: %v, want ErrMismatch", err)
			}
			// Idempotent: no second version.
			if err := run(t, tg.Apply, next, bs); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, read(t, c, name)); diff != "" {
				t.Errorf("parameter after re-apply (-want +got):\n%s", diff)
			}
			// Rolling back is applying the old token.
			if err := run(t, tg.Apply, old, bs); err != nil {
				t.Fatal(err)
			}
			if err := run(t, tg.Verify, old, bs); err != nil {
				t.Errorf("verify old after rollback: %v", err)
			}
		})
	}
}

func testTarget_RoleARN(t *testing.T, ep string) {
	c := client(t, ep)
	old, next := token.Generate(token.KindClassicPAT), token.Generate(token.KindClassicPAT)
	name := createParam(t, c, param{typ: types.ParameterTypeSecureString, value: old.Reveal()})
	cfg := awsConfig(ep)
	cfg.RoleARN = "arn:aws:iam::123456789012:role/rotor"
	tg, err := New(context.Background(), Config{AWS: cfg, Name: name})
	if err != nil {
		t.Fatal(err)
	}
	bs, err := tg.Discover(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := run(t, tg.Apply, next, bs); err != nil {
		t.Fatal(err)
	}
	if err := run(t, tg.Verify, next, bs); err != nil {
		t.Fatal(err)
	}
}

// TestCanary plants tokens, drives every path and checks that no error,
// warning or log line holds any of them (I6).
func testCanary(t *testing.T, ep string) {
	c := client(t, ep)
	old, next := token.Generate(token.KindClassicPAT), token.Generate(token.KindClassicPAT)
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	var said []string
	collect := func(r rotation.Result) {
		if r.Err != nil {
			said = append(said, r.Err.Error(), fmt.Sprintf("%+v %#v", r.Err, r.Err))
		}
	}
	ctx := context.Background()
	for _, cfg := range []Config{
		{Name: createParam(t, c, param{typ: types.ParameterTypeSecureString, value: old.Reveal()})},
		{Name: createParam(t, c, param{typ: types.ParameterTypeString, value: old.Reveal()})},
		{Name: "/rotor/test/absent"},
		{Name: createParam(t, c, param{typ: types.ParameterTypeSecureString, value: old.Reveal(), kms: "alias/a"}), KMSKeyID: "alias/b"},
		{Name: createParam(t, c, param{typ: types.ParameterTypeSecureString, value: old.Reveal(), description: "x"})},
	} {
		cfg.Log = log
		tg := newTestTarget(t, ep, cfg)
		bs, err := tg.Discover(ctx)
		if err != nil {
			said = append(said, err.Error())
		}
		for _, b := range bs {
			said = append(said, b.Warnings...)
		}
		if len(bs) == 0 {
			bs = []rotation.Binding{{ID: tg.BindingID(), Target: Type}}
		}
		tg.Verify(ctx, next, bs, collect)
		tg.Apply(ctx, next, bs, collect)
		tg.Verify(ctx, old, bs, collect)
		tg.Apply(ctx, old, bs, collect)
	}
	// A put the service refuses (a value the allowed pattern rejects).
	name := createParam(t, c, param{typ: types.ParameterTypeSecureString, value: old.Reveal()})
	fail := &refusing{api: client(t, ep)}
	tg := newTarget(Config{Name: name, Log: log}, fail, region)
	tg.Apply(ctx, next, []rotation.Binding{{ID: tg.BindingID()}}, collect)

	if len(said) < 8 {
		t.Fatalf("only %d messages: the failure paths did not run", len(said))
	}
	said = append(said, strings.Split(logs.String(), "\n")...)
	for _, s := range said {
		for _, tok := range []token.Token{old, next} {
			if strings.Contains(s, tok.Reveal()) {
				t.Errorf("a message holds a token: %s", strings.ReplaceAll(s, tok.Reveal(), "<CANARY>"))
			}
		}
	}
}

// refusing answers PutParameter with an error that echoes the value, as a
// careless service message might; the target must not pass it on.
type refusing struct{ api }

func (r *refusing) PutParameter(_ context.Context, in *ssm.PutParameterInput, _ ...func(*ssm.Options)) (*ssm.PutParameterOutput, error) {
	return nil, &types.ParameterPatternMismatchException{Message: aws.String("value " + aws.ToString(in.Value) + " does not match")}
}

// testContract: the contract every target passes.
func testContract(t *testing.T, ep string) {
	c := client(t, ep)
	targettest.Run(t, targettest.Harness{
		New: func(t *testing.T, prev token.Token) rotation.Target {
			return newTestTarget(t, ep, Config{Name: createParam(t, c, param{typ: types.ParameterTypeSecureString, value: prev.Reveal()})})
		},
		Holds: func(t *testing.T, b rotation.Binding) string { return read(t, c, b.Attrs[AttrName]).Value },
	})
}
