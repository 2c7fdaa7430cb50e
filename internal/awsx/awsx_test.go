package awsx

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	sdkratelimit "github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/codepipeline"
	"github.com/aws/smithy-go"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/rotor-ci/rotor/internal/ratelimit"
	"github.com/rotor-ci/rotor/internal/token"
)

// isolate keeps the test away from the machine's AWS config and from IMDS.
func isolate(t *testing.T) {
	t.Helper()
	dir := t.TempDir()
	for k, v := range map[string]string{
		"AWS_CONFIG_FILE":             filepath.Join(dir, "config"),
		"AWS_SHARED_CREDENTIALS_FILE": filepath.Join(dir, "credentials"),
		"AWS_EC2_METADATA_DISABLED":   "true",
		"AWS_REGION":                  "",
		"AWS_DEFAULT_REGION":          "",
		"AWS_PROFILE":                 "",
		"AWS_ACCESS_KEY_ID":           "",
		"AWS_SECRET_ACCESS_KEY":       "",
		"AWS_SESSION_TOKEN":           "",
		"AWS_ENDPOINT_URL":            "",
		"AWS_MAX_ATTEMPTS":            "",
		"AWS_RETRY_MODE":              "",
	} {
		t.Setenv(k, v)
	}
}

var static = credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", "")

// jsonServer answers every AWS JSON 1.1 call with status and body.
func jsonServer(t *testing.T, status int, body string, hits *atomic.Int64) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hits != nil {
			hits.Add(1)
		}
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		w.Header().Set("X-Amzn-RequestId", "req-123")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func client(t *testing.T, endpoint string, attempts int) *codepipeline.Client {
	t.Helper()
	cfg, err := Load(context.Background(), Config{Region: "us-east-1", EndpointURL: endpoint, Credentials: static, MaxAttempts: attempts})
	if err != nil {
		t.Fatal(err)
	}
	return codepipeline.NewFromConfig(cfg)
}

func TestLoad_Region(t *testing.T) {
	isolate(t)
	if _, err := Load(context.Background(), Config{Credentials: static}); !errors.Is(err, ErrNoRegion) {
		t.Fatalf("no region: got %v, want ErrNoRegion", err)
	}
	t.Setenv("AWS_REGION", "eu-west-1")
	cfg, err := Load(context.Background(), Config{Credentials: static})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Region != "eu-west-1" {
		t.Errorf("region from env = %q", cfg.Region)
	}
	cfg, err = Load(context.Background(), Config{Region: "us-west-2", Credentials: static})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Region != "us-west-2" {
		t.Errorf("explicit region = %q", cfg.Region)
	}
}

func TestLoad_Endpoint(t *testing.T) {
	isolate(t)
	var hits atomic.Int64
	srv := jsonServer(t, 200, `{"pipelines":[]}`, &hits)
	if _, err := client(t, srv.URL, 0).ListPipelines(context.Background(), &codepipeline.ListPipelinesInput{}); err != nil {
		t.Fatal(err)
	}
	if hits.Load() != 1 {
		t.Errorf("endpoint got %d requests, want 1", hits.Load())
	}
}

// TestLoad_AssumeRole checks that the role is assumed through the same
// endpoint, with the external id, and that its credentials sign the call.
func TestLoad_AssumeRole(t *testing.T) {
	isolate(t)
	var gotExternal, gotRole, gotAuth atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Amz-Target") == "" { // STS: query protocol
			_ = r.ParseForm()
			gotExternal.Store(r.PostForm.Get("ExternalId"))
			gotRole.Store(r.PostForm.Get("RoleArn"))
			w.Header().Set("Content-Type", "text/xml")
			fmt.Fprint(w, `<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleResult>
<Credentials><AccessKeyId>ASIAROLE</AccessKeyId><SecretAccessKey>s</SecretAccessKey><SessionToken>tok</SessionToken><Expiration>2099-01-01T00:00:00Z</Expiration></Credentials>
<AssumedRoleUser><Arn>arn:aws:sts::123456789012:assumed-role/r/rotor</Arn><AssumedRoleId>AROA:rotor</AssumedRoleId></AssumedRoleUser>
</AssumeRoleResult></AssumeRoleResponse>`)
			return
		}
		gotAuth.Store(r.Header.Get("Authorization"))
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		fmt.Fprint(w, `{"pipelines":[]}`)
	}))
	defer srv.Close()
	cfg, err := Load(context.Background(), Config{
		Region: "us-east-1", EndpointURL: srv.URL, Credentials: static,
		RoleARN: "arn:aws:iam::123456789012:role/rotor", ExternalID: "ext-42",
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := codepipeline.NewFromConfig(cfg).ListPipelines(context.Background(), &codepipeline.ListPipelinesInput{}); err != nil {
		t.Fatal(Sanitize(err))
	}
	if gotRole.Load() != "arn:aws:iam::123456789012:role/rotor" || gotExternal.Load() != "ext-42" {
		t.Errorf("AssumeRole got role %v external id %v", gotRole.Load(), gotExternal.Load())
	}
	if auth, _ := gotAuth.Load().(string); !strings.Contains(auth, "Credential=ASIAROLE/") {
		t.Errorf("call not signed with the role's key: %q", auth)
	}
}

func TestSanitize(t *testing.T) {
	isolate(t)
	secret := token.New("not-shaped-like-a-token-but-secret")
	ghp := token.Generate(token.KindClassicPAT)
	closed := func() string { // a port nobody listens on
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		u := "http://" + l.Addr().String()
		l.Close()
		return u
	}()
	tests := []struct {
		name     string
		endpoint func(t *testing.T) string
		want     Error
		throttle bool
	}{{
		name: "api error echoing secrets",
		endpoint: func(t *testing.T) string {
			msg := fmt.Sprintf("Value '%s' and %s rejected", secret.Reveal(), ghp.Reveal())
			return jsonServer(t, 400, fmt.Sprintf(`{"__type":"InvalidActionDeclarationException","message":%q}`, msg), nil).URL
		},
		want: Error{Service: "CodePipeline", Operation: "ListPipelines", Code: "InvalidActionDeclarationException",
			Message: fmt.Sprintf("Value '%s' and %s rejected", secret.Redacted(), ghp.Redacted()), Status: 400, RequestID: "req-123"},
	}, {
		name: "throttle",
		endpoint: func(t *testing.T) string {
			return jsonServer(t, 400, `{"__type":"ThrottlingException","message":"Rate exceeded"}`, nil).URL
		},
		want:     Error{Service: "CodePipeline", Operation: "ListPipelines", Code: "ThrottlingException", Message: "Rate exceeded", Status: 400, RequestID: "req-123"},
		throttle: true,
	}, {
		name: "undecodable response holding a secret",
		endpoint: func(t *testing.T) string {
			return jsonServer(t, 200, `{"pipelines": "`+ghp.Reveal()+`"`, nil).URL
		},
		want: Error{Service: "CodePipeline", Operation: "ListPipelines", Message: "could not decode the response", Status: 200, RequestID: "req-123"},
	}, {
		name:     "connection refused",
		endpoint: func(*testing.T) string { return closed },
		want:     Error{Service: "CodePipeline", Operation: "ListPipelines"},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := client(t, tt.endpoint(t), 1).ListPipelines(context.Background(), &codepipeline.ListPipelinesInput{})
			if err == nil {
				t.Fatal("want an error")
			}
			got := Sanitize(err, secret)
			var e *Error
			if !errors.As(got, &e) {
				t.Fatalf("Sanitize returned %T", got)
			}
			if strings.Contains(got.Error(), secret.Reveal()) || strings.Contains(got.Error(), ghp.Reveal()) {
				t.Fatalf("secret in %q", got)
			}
			if tt.want.Message == "" { // transport errors: just check the fields we control
				if e.Message == "" || e.Service != tt.want.Service || e.Operation != tt.want.Operation {
					t.Errorf("got %+v", *e)
				}
			} else if *e != tt.want {
				t.Errorf("got  %+v\nwant %+v", *e, tt.want)
			}
			if IsThrottle(got) != tt.throttle || IsThrottle(err) != tt.throttle {
				t.Errorf("IsThrottle = %v/%v, want %v", IsThrottle(got), IsThrottle(err), tt.throttle)
			}
		})
	}
}

func TestSanitize_Context(t *testing.T) {
	isolate(t)
	srv := jsonServer(t, 200, `{"pipelines":[]}`, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := client(t, srv.URL, 1).ListPipelines(ctx, &codepipeline.ListPipelinesInput{})
	if got := Sanitize(err); !errors.Is(got, context.Canceled) {
		t.Errorf("Sanitize(%v) = %v, does not unwrap to context.Canceled", err, got)
	}
	if Sanitize(nil) != nil {
		t.Error("Sanitize(nil) != nil")
	}
}

func TestSanitize_Clip(t *testing.T) {
	e := Sanitize(&Error{Message: strings.Repeat("é", 600)}).(*Error)
	if len(e.Message) > maxMessage+len("…") || !strings.HasSuffix(e.Message, "…") {
		t.Errorf("message not clipped: %d bytes", len(e.Message))
	}
	if !strings.Contains(e.Error(), "é") || strings.ToValidUTF8(e.Message, "?") != e.Message {
		t.Error("clipping broke UTF-8")
	}
}

func TestNewRetryer(t *testing.T) {
	r := NewRetryer(5)
	if r.MaxAttempts() != 5 {
		t.Errorf("MaxAttempts = %d", r.MaxAttempts())
	}
	// The SDK's default quota (500 tokens, 5 per throttled retry) would run
	// dry after 100 retries; rotor's must never refuse one.
	throttle := &Error{Code: "ThrottlingException"}
	for i := range 1000 {
		if _, err := r.GetRetryToken(context.Background(), throttle); err != nil {
			t.Fatalf("retry %d refused: %v", i, err)
		}
	}
	if !r.IsErrorRetryable(&apiErr{"ThrottlingException"}) || !r.IsErrorRetryable(&apiErr{"LimitExceededException"}) {
		t.Error("throttles are not retryable")
	}
}

// TestNewRetryer_Attempts checks the bound: a server that always throttles
// sees exactly MaxAttempts requests.
func TestNewRetryer_Attempts(t *testing.T) {
	isolate(t)
	var hits atomic.Int64
	srv := jsonServer(t, 400, `{"__type":"ThrottlingException","message":"Rate exceeded"}`, &hits)
	_, err := client(t, srv.URL, 2).ListPipelines(context.Background(), &codepipeline.ListPipelinesInput{})
	if !IsThrottle(err) {
		t.Fatalf("got %v, want a throttle", err)
	}
	if hits.Load() != 2 {
		t.Errorf("server saw %d attempts, want 2", hits.Load())
	}
}

func TestHTTPClient(t *testing.T) {
	if n := HTTPClient().GetTransport().MaxIdleConnsPerHost; n < 64 {
		t.Fatalf("transport keeps %d idle connections per host, want >= 64", n)
	}
}

type apiErr struct{ code string }

func (e *apiErr) Error() string                 { return e.code }
func (e *apiErr) ErrorCode() string             { return e.code }
func (e *apiErr) ErrorMessage() string          { return e.code }
func (e *apiErr) ErrorFault() smithy.ErrorFault { return smithy.FaultUnknown }

// TestPace checks that every attempt, retries included, passes through the
// operation's limiter and reports how it was answered, to the limiter and
// to the observer.
func TestPace(t *testing.T) {
	isolate(t)
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		switch n.Add(1) {
		case 1, 2:
			w.WriteHeader(400)
			fmt.Fprint(w, `{"__type":"ThrottlingException","message":"Rate exceeded"}`)
		case 3:
			fmt.Fprint(w, `{"pipelines":[]}`)
		default:
			w.WriteHeader(400)
			fmt.Fprint(w, `{"__type":"PipelineNotFoundException","message":"no such pipeline"}`)
		}
	}))
	defer srv.Close()
	cfg, err := Load(context.Background(), Config{Region: "us-east-1", EndpointURL: srv.URL, Credentials: static})
	if err != nil {
		t.Fatal(err)
	}
	g := ratelimit.NewGroup(ratelimit.Options{Initial: 1000})
	var (
		mu    sync.Mutex
		calls []ratelimit.Call
	)
	observe := func(c ratelimit.Call) { mu.Lock(); calls = append(calls, c); mu.Unlock() }
	c := codepipeline.NewFromConfig(cfg, func(o *codepipeline.Options) {
		o.APIOptions = append(o.APIOptions, Pace(g, observe))
		o.Retryer = retry.NewStandard(func(o *retry.StandardOptions) {
			o.MaxAttempts = 5
			o.RateLimiter = sdkratelimit.None
			o.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return 0, nil })
		})
	})
	if _, err := c.ListPipelines(context.Background(), &codepipeline.ListPipelinesInput{}); err != nil {
		t.Fatal(Sanitize(err))
	}
	if _, err := c.GetPipeline(context.Background(), &codepipeline.GetPipelineInput{Name: aws.String("p")}); !IsCode(err, "PipelineNotFoundException") {
		t.Fatalf("GetPipeline: %v", err)
	}
	// An unpaced call is observed, but neither waits nor teaches the
	// limiter.
	unpaced := func(o *codepipeline.Options) { o.APIOptions = append(o.APIOptions, Unpaced) }
	if _, err := c.ListPipelines(context.Background(), &codepipeline.ListPipelinesInput{}, unpaced); !IsCode(err, "PipelineNotFoundException") {
		t.Fatalf("unpaced ListPipelines: %v", err)
	}
	got := g.Stats()
	if s := got["ListPipelines"]; s.Throttles != 2 || s.Successes != 1 {
		t.Errorf("ListPipelines stats = %+v, want 2 throttles and 1 success", s)
	}
	if s := got["GetPipeline"]; s.Throttles != 0 || s.Successes != 1 {
		t.Errorf("GetPipeline stats = %+v, want 1 success (a 4xx answer)", s)
	}
	// The observer tells the 4xx answer from a success, and sees the rate
	// the limiter allows after each answer.
	call := func(op, result string) ratelimit.Call {
		return ratelimit.Call{Service: "codepipeline", Operation: op, Region: "us-east-1", Result: result}
	}
	want := []ratelimit.Call{
		call("ListPipelines", ratelimit.ResultThrottled), call("ListPipelines", ratelimit.ResultThrottled),
		call("ListPipelines", ratelimit.ResultOK), call("GetPipeline", ratelimit.ResultError),
		call("ListPipelines", ratelimit.ResultError),
	}
	if diff := cmp.Diff(want, calls, cmpopts.IgnoreFields(ratelimit.Call{}, "Rate")); diff != "" {
		t.Fatalf("observed calls (-want +got):\n%s", diff)
	}
	for _, i := range []int{2, 3} { // each operation's last paced call
		if c := calls[i]; c.Rate != got[c.Operation].Rate || c.Rate <= 0 {
			t.Errorf("%s observed at %v calls/s, its limiter is at %v", c.Operation, c.Rate, got[c.Operation].Rate)
		}
	}
	if r := calls[4].Rate; r != 0 {
		t.Errorf("unpaced call observed at %v calls/s, want 0 (no limiter)", r)
	}
}

// An isolated config reads nothing of the machine's AWS setup: a profile
// named in the environment that no file has would fail the default loader.
func TestLoad_isolated(t *testing.T) {
	t.Setenv("AWS_PROFILE", "no-such-profile")
	t.Setenv("AWS_ACCESS_KEY_ID", "from-the-environment")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "from-the-environment")
	if _, err := Load(context.Background(), Config{Region: "us-east-1"}); err == nil {
		t.Fatal("the default loader accepted a profile no file has; the test proves nothing")
	}
	cfg, err := Load(context.Background(), Config{Region: "us-east-1", EndpointURL: "http://127.0.0.1:1", Isolated: true,
		Credentials: credentials.NewStaticCredentialsProvider("demo", "demo", "")})
	if err != nil {
		t.Fatal(err)
	}
	creds, err := cfg.Credentials.Retrieve(context.Background())
	if err != nil || creds.AccessKeyID != "demo" {
		t.Fatalf("credentials = %q, %v; want the static demo key", creds.AccessKeyID, err)
	}
	if cfg.BaseEndpoint == nil || *cfg.BaseEndpoint != "http://127.0.0.1:1" {
		t.Errorf("endpoint = %v", cfg.BaseEndpoint)
	}
	if _, err := Load(context.Background(), Config{Region: "us-east-1", Isolated: true}); err == nil {
		t.Error("an isolated config without credentials loaded")
	}
}
