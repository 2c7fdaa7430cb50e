package secretsmanager

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	sm "github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/google/go-cmp/cmp"

	"github.com/rotor-ci/rotor/internal/awsx"
	"github.com/rotor-ci/rotor/internal/rotation"
	"github.com/rotor-ci/rotor/internal/rotation/targettest"
	"github.com/rotor-ci/rotor/internal/token"
)

const region = "us-east-1"

func awsConfig(endpoint string) awsx.Config {
	return awsx.Config{
		Region:      region,
		EndpointURL: endpoint,
		Credentials: credentials.NewStaticCredentialsProvider("testing", "testing", ""),
	}
}

func client(t *testing.T, endpoint string) *sm.Client {
	t.Helper()
	cfg, err := awsx.Load(context.Background(), awsConfig(endpoint))
	if err != nil {
		t.Fatal(err)
	}
	return sm.NewFromConfig(cfg)
}

var seq atomic.Int64

// createSecret makes a secret with a unique name holding value.
func createSecret(t *testing.T, c *sm.Client, value string, kms string) string {
	t.Helper()
	name := fmt.Sprintf("rotor/test/%s-%d", strings.NewReplacer("/", "-", "#", "-").Replace(t.Name()), seq.Add(1))
	in := &sm.CreateSecretInput{Name: aws.String(name)}
	if value != "" {
		in.SecretString = aws.String(value)
	}
	if kms != "" {
		in.KmsKeyId = aws.String(kms)
	}
	if _, err := c.CreateSecret(context.Background(), in); err != nil {
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

// labels maps version id → its staging labels, sorted.
func labels(t *testing.T, c *sm.Client, name string) map[string][]string {
	t.Helper()
	out, err := c.ListSecretVersionIds(context.Background(), &sm.ListSecretVersionIdsInput{SecretId: aws.String(name), IncludeDeprecated: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	m := map[string][]string{}
	for _, v := range out.Versions {
		s := slices.Clone(v.VersionStages)
		sort.Strings(s)
		m[aws.ToString(v.VersionId)] = s
	}
	return m
}

func currentString(t *testing.T, c *sm.Client, name string) (string, string) {
	t.Helper()
	// moto 5.2 does not move its default version with
	// UpdateSecretVersionStage: ask for the label explicitly.
	out, err := c.GetSecretValue(context.Background(), &sm.GetSecretValueInput{SecretId: aws.String(name), VersionStage: aws.String(stageCurrent)})
	if err != nil {
		t.Fatal(err)
	}
	return aws.ToString(out.VersionId), aws.ToString(out.SecretString)
}

func discover(t *testing.T, tg *Target) []rotation.Binding {
	t.Helper()
	bs, err := tg.Discover(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return bs
}

// run calls one of Apply, Verify or Rollback and returns its one result.
func run(t *testing.T, f func(context.Context, token.Token, []rotation.Binding, func(rotation.Result)), tok token.Token, bs []rotation.Binding) error {
	t.Helper()
	var res []rotation.Result
	f(context.Background(), tok, bs, func(r rotation.Result) { res = append(res, r) })
	if len(res) != len(bs) {
		t.Fatalf("got %d results for %d bindings", len(res), len(bs))
	}
	return res[0].Err
}

func newToken(t *testing.T) token.Token {
	t.Helper()
	return token.Generate(token.KindClassicPAT)
}

func testTarget_Discover(t *testing.T, ep string) {
	c := client(t, ep)
	name := createSecret(t, c, "x", "alias/rotor")
	tg := newTestTarget(t, ep, Config{SecretID: name, KMSKeyID: "alias/rotor"})
	bs := discover(t, tg)
	want := []rotation.Binding{{
		ID: "secretsmanager:us-east-1:" + name, Target: Type, Resource: bs[0].Attrs[AttrARN],
		Attrs: map[string]string{AttrRegion: region, AttrARN: bs[0].Attrs[AttrARN], AttrName: name, AttrJSONKey: "", AttrKMSKey: "alias/rotor"},
	}}
	if diff := cmp.Diff(want, bs); diff != "" {
		t.Errorf("bindings (-want +got):\n%s", diff)
	}
	if !strings.HasPrefix(bs[0].Resource, "arn:aws:secretsmanager:us-east-1:") {
		t.Errorf("resource %q is not the secret's ARN", bs[0].Resource)
	}
}

func testTarget_DiscoverRefuses(t *testing.T, ep string) {
	c := client(t, ep)
	bin := createSecret(t, c, "", "")
	if _, err := c.PutSecretValue(context.Background(), &sm.PutSecretValueInput{SecretId: aws.String(bin), SecretBinary: []byte{1, 2, 3}}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		c       Config
		want    error
		mention string
	}{
		{"missing secret", Config{SecretID: "rotor/test/nope"}, ErrSecretNotFound, "rotor/test/nope"},
		{"kms mismatch", Config{SecretID: createSecret(t, c, "x", "alias/one"), KMSKeyID: "alias/two"}, ErrKMSKeyMismatch, "alias/one"},
		{"default key but one configured", Config{SecretID: createSecret(t, c, "x", ""), KMSKeyID: "alias/two"}, ErrKMSKeyMismatch, "aws/secretsmanager"},
		{"json key on a string", Config{SecretID: createSecret(t, c, "ghp_notjson", ""), JSONKey: "token"}, ErrNotJSONObject, ""},
		{"json key on a list", Config{SecretID: createSecret(t, c, `["a"]`, ""), JSONKey: "token"}, ErrNotJSONObject, ""},
		{"binary secret", Config{SecretID: bin}, ErrBinary, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := newTestTarget(t, ep, tt.c).Discover(context.Background())
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.c.SecretID) || !strings.Contains(err.Error(), tt.mention) {
				t.Errorf("error %q does not name %q and %q", err, tt.c.SecretID, tt.mention)
			}
			if strings.Contains(err.Error(), "ghp_notjson") {
				t.Errorf("error %q quotes the secret", err)
			}
		})
	}
}

func testTarget_DiscoverWarnings(t *testing.T, ep string) {
	c := client(t, ep)
	tests := []struct {
		name, value, key, want string
	}{
		{"no version yet", "", "", "no AWSCURRENT version"},
		{"json key absent", `{"user":"bot"}`, "token", `no key "token" yet`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name := createSecret(t, c, tt.value, "")
			bs := discover(t, newTestTarget(t, ep, Config{SecretID: name, JSONKey: tt.key}))
			if len(bs[0].Warnings) != 1 || !strings.Contains(bs[0].Warnings[0], tt.want) {
				t.Errorf("warnings %q, want one with %q", bs[0].Warnings, tt.want)
			}
		})
	}
}

func testTarget_ApplyLabels(t *testing.T, ep string) {
	c := client(t, ep)
	old, next := newToken(t), newToken(t)
	name := createSecret(t, c, old.Reveal(), "")
	oldID, _ := currentString(t, c, name)
	tg := newTestTarget(t, ep, Config{SecretID: name})
	bs := discover(t, tg)

	if err := run(t, tg.Apply, next, bs); err != nil {
		t.Fatal(err)
	}
	newID := versionID(name, "", next, "")
	want := map[string][]string{oldID: {stagePrevious}, newID: {stageCurrent}}
	if diff := cmp.Diff(want, labels(t, c, name)); diff != "" {
		t.Errorf("labels after apply (-want +got):\n%s", diff)
	}
	if id, v := currentString(t, c, name); id != newID || v != next.Reveal() {
		t.Errorf("AWSCURRENT is version %s holding %s, want %s holding %s", id, token.Fingerprint(v), newID, next.Fingerprint())
	}
	if err := run(t, tg.Verify, next, bs); err != nil {
		t.Errorf("verify new: %v", err)
	}
	if err := run(t, tg.Verify, old, bs); !errors.Is(err, ErrMismatch) {
		t.Errorf("verify old: %v, want ErrMismatch", err)
	}

	// Idempotent: the same token again writes no version and moves no label.
	if err := run(t, tg.Apply, next, bs); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, labels(t, c, name)); diff != "" {
		t.Errorf("labels after re-apply (-want +got):\n%s", diff)
	}
}

func testTarget_ApplyFirstVersion(t *testing.T, ep string) {
	c := client(t, ep)
	tok := newToken(t)
	name := createSecret(t, c, "", "")
	tg := newTestTarget(t, ep, Config{SecretID: name})
	bs := discover(t, tg)
	if err := run(t, tg.Apply, tok, bs); err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{versionID(name, "", tok, ""): {stageCurrent}}
	if diff := cmp.Diff(want, labels(t, c, name)); diff != "" {
		t.Errorf("labels (-want +got):\n%s", diff)
	}
}

func testTarget_ApplyJSONKey(t *testing.T, ep string) {
	c := client(t, ep)
	old, next := newToken(t), newToken(t)
	tests := []struct {
		name, before, after string
	}{
		{
			"replaced in place, others byte for byte",
			`{"user":"bot","token":"` + old.Reveal() + `","n":1.50,"nested":{"b": 2, "a": [1,2]},"z":null}`,
			`{"user":"bot","token":"` + next.Reveal() + `","n":1.50,"nested":{"b": 2, "a": [1,2]},"z":null}`,
		},
		{
			"added when absent",
			`{"user":"bot"}`,
			`{"user":"bot","token":"` + next.Reveal() + `"}`,
		},
		{
			"whitespace around members dropped, values kept",
			"{\n  \"token\": \"" + old.Reveal() + "\",\n  \"url\": \"https://x/?a=1&b=<2>\"\n}",
			`{"token":"` + next.Reveal() + `","url":"https://x/?a=1&b=<2>"}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name := createSecret(t, c, tt.before, "")
			tg := newTestTarget(t, ep, Config{SecretID: name, JSONKey: "token"})
			bs := discover(t, tg)
			if err := run(t, tg.Apply, next, bs); err != nil {
				t.Fatal(err)
			}
			if _, got := currentString(t, c, name); got != tt.after {
				t.Errorf("secret string:\n got %s\nwant %s", got, tt.after)
			}
			if err := run(t, tg.Verify, next, bs); err != nil {
				t.Errorf("verify: %v", err)
			}
		})
	}
}

func testTarget_Rollback(t *testing.T, ep string) {
	c := client(t, ep)

	t.Run("moves AWSCURRENT back to the old version", func(t *testing.T) {
		old, next := newToken(t), newToken(t)
		name := createSecret(t, c, old.Reveal(), "")
		oldID, _ := currentString(t, c, name)
		tg := newTestTarget(t, ep, Config{SecretID: name})
		bs := discover(t, tg)
		if err := run(t, tg.Apply, next, bs); err != nil {
			t.Fatal(err)
		}
		if err := run(t, tg.Rollback, old, bs); err != nil {
			t.Fatal(err)
		}
		want := map[string][]string{oldID: {stageCurrent}, versionID(name, "", next, ""): {stagePrevious}}
		if diff := cmp.Diff(want, labels(t, c, name)); diff != "" {
			t.Errorf("labels (-want +got):\n%s", diff)
		}
		if err := run(t, tg.Verify, old, bs); err != nil {
			t.Errorf("verify old: %v", err)
		}
		// Idempotent.
		if err := run(t, tg.Rollback, old, bs); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, labels(t, c, name)); diff != "" {
			t.Errorf("labels after a second rollback (-want +got):\n%s", diff)
		}
	})

	t.Run("writes the old token when no version holds it", func(t *testing.T) {
		old, next := newToken(t), newToken(t)
		name := createSecret(t, c, "something else", "")
		tg := newTestTarget(t, ep, Config{SecretID: name})
		bs := discover(t, tg)
		if err := run(t, tg.Apply, next, bs); err != nil {
			t.Fatal(err)
		}
		if err := run(t, tg.Rollback, old, bs); err != nil {
			t.Fatal(err)
		}
		if id, _ := currentString(t, c, name); id != versionID(name, "", old, "") {
			t.Errorf("AWSCURRENT is %s, want rotor's version for the old token", id)
		}
		if err := run(t, tg.Verify, old, bs); err != nil {
			t.Errorf("verify old: %v", err)
		}
	})

	t.Run("json key: other keys changed since are kept", func(t *testing.T) {
		old, next := newToken(t), newToken(t)
		name := createSecret(t, c, `{"token":"`+old.Reveal()+`","user":"a"}`, "")
		tg := newTestTarget(t, ep, Config{SecretID: name, JSONKey: "token"})
		bs := discover(t, tg)
		if err := run(t, tg.Apply, next, bs); err != nil {
			t.Fatal(err)
		}
		// Someone else edits another key mid-run. (Labels moved by hand:
		// moto 5.2's PutSecretValue moves AWSCURRENT from a stale version
		// once UpdateSecretVersionStage has moved it.)
		edit := "11111111-2222-3333-4444-555555555555"
		if _, err := c.PutSecretValue(context.Background(), &sm.PutSecretValueInput{
			SecretId: aws.String(name), SecretString: aws.String(`{"token":"` + next.Reveal() + `","user":"b"}`),
			ClientRequestToken: aws.String(edit), VersionStages: []string{"EDIT"},
		}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.UpdateSecretVersionStage(context.Background(), &sm.UpdateSecretVersionStageInput{
			SecretId: aws.String(name), VersionStage: aws.String(stageCurrent),
			MoveToVersionId: aws.String(edit), RemoveFromVersionId: aws.String(versionID(name, "token", next, "")),
		}); err != nil {
			t.Fatal(err)
		}
		if err := run(t, tg.Rollback, old, bs); err != nil {
			t.Fatal(err)
		}
		if _, got := currentString(t, c, name); got != `{"token":"`+old.Reveal()+`","user":"b"}` {
			t.Errorf("secret string after rollback holds %s (user b expected)", token.Fingerprint(got))
		}
	})
}

// flaky fails the nth call of one operation, like a crash at that point.
type flaky struct {
	api
	failStage atomic.Int32 // UpdateSecretVersionStage calls left before one fails
}

var errInjected = errors.New("injected failure")

func (f *flaky) UpdateSecretVersionStage(ctx context.Context, in *sm.UpdateSecretVersionStageInput, o ...func(*sm.Options)) (*sm.UpdateSecretVersionStageOutput, error) {
	if f.failStage.Add(-1) == 0 {
		return nil, errInjected
	}
	return f.api.UpdateSecretVersionStage(ctx, in, o...)
}

func testTarget_ApplyResumes(t *testing.T, ep string) {
	c := client(t, ep)
	tests := []struct {
		name  string
		failN int32 // which UpdateSecretVersionStage call fails
	}{
		{"crash after the put, before AWSCURRENT moves", 1},
		{"crash after AWSCURRENT moved, before AWSPENDING is removed", 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			old, next := newToken(t), newToken(t)
			name := createSecret(t, c, old.Reveal(), "")
			oldID, _ := currentString(t, c, name)
			f := &flaky{api: c}
			f.failStage.Store(tt.failN)
			tg := newTarget(Config{SecretID: name}, f, region)
			bs := discover(t, tg)
			if err := run(t, tg.Apply, next, bs); !errors.Is(err, errInjected) && !strings.Contains(fmt.Sprint(err), "injected") {
				t.Fatalf("first apply: %v, want the injected failure", err)
			}
			if err := run(t, tg.Apply, next, bs); err != nil {
				t.Fatalf("resumed apply: %v", err)
			}
			want := map[string][]string{oldID: {stagePrevious}, versionID(name, "", next, ""): {stageCurrent}}
			if diff := cmp.Diff(want, labels(t, c, name)); diff != "" {
				t.Errorf("labels (-want +got):\n%s", diff)
			}
		})
	}

	t.Run("rollback after a crash before AWSCURRENT moved clears AWSPENDING", func(t *testing.T) {
		old, next := newToken(t), newToken(t)
		name := createSecret(t, c, old.Reveal(), "")
		oldID, _ := currentString(t, c, name)
		f := &flaky{api: c}
		f.failStage.Store(1)
		tg := newTarget(Config{SecretID: name}, f, region)
		bs := discover(t, tg)
		_ = run(t, tg.Apply, next, bs)
		if err := run(t, tg.Rollback, old, bs); err != nil {
			t.Fatal(err)
		}
		want := map[string][]string{oldID: {stageCurrent}, versionID(name, "", next, ""): nil}
		got := labels(t, c, name)
		for id, l := range got {
			if len(l) == 0 {
				got[id] = nil
			}
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("labels (-want +got):\n%s", diff)
		}
	})
}

func testTarget_RoleARN(t *testing.T, ep string) {
	c := client(t, ep)
	old, next := newToken(t), newToken(t)
	name := createSecret(t, c, old.Reveal(), "")
	cfg := awsConfig(ep)
	cfg.RoleARN = "arn:aws:iam::123456789012:role/rotor"
	cfg.ExternalID = "ext"
	tg, err := New(context.Background(), Config{AWS: cfg, SecretID: name})
	if err != nil {
		t.Fatal(err)
	}
	bs := discover(t, tg)
	if err := run(t, tg.Apply, next, bs); err != nil {
		t.Fatal(err)
	}
	if err := run(t, tg.Verify, next, bs); err != nil {
		t.Fatal(err)
	}
}

func TestNew_RequiresSecretID(t *testing.T) {
	if _, err := New(context.Background(), Config{AWS: awsx.Config{Region: region}}); err == nil {
		t.Fatal("New without a secret id succeeded")
	}
}

// testContract: the contract every target passes.
func testContract(t *testing.T, ep string) {
	c := client(t, ep)
	targettest.Run(t, targettest.Harness{
		New: func(t *testing.T, prev token.Token) rotation.Target {
			return newTestTarget(t, ep, Config{SecretID: createSecret(t, c, prev.Reveal(), "")})
		},
		Holds: func(t *testing.T, b rotation.Binding) string {
			_, v := currentString(t, c, b.Attrs[AttrName])
			return token.Fingerprint(v)
		},
	})
}
