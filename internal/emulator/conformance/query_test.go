package conformance_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/rotor-ci/rotor/internal/emulator/awsaccounts"
	"github.com/rotor-ci/rotor/internal/emulator/codeconnections"
	"github.com/rotor-ci/rotor/internal/emulator/conformance"
)

// TestRoutes_AWSAccounts: every STS and Organizations operation the
// emulator serves is in AWS's models.
func TestRoutes_AWSAccounts(t *testing.T) {
	dir := botocore(t)
	for service, ops := range awsaccounts.Operations() {
		md, err := conformance.LoadModel(dir, service)
		if err != nil {
			t.Fatal(err)
		}
		if len(ops) == 0 {
			t.Errorf("%s: no operations listed", service)
		}
		for _, op := range ops {
			if !md.HasOperation(op) {
				t.Errorf("the emulator serves %s %s, which botocore's model (%s) does not describe", service, op, md.Version)
			}
		}
	}
}

const stsAuth = "AWS4-HMAC-SHA256 Credential=AKIAEXAMPLE000000000/20260101/us-east-1/sts/aws4_request, SignedHeaders=host, Signature=x"

// queryExchange runs one Query request through the check in front of a
// handler answering status and body.
func queryExchange(t *testing.T, opts []conformance.Option, form string, status int, respBody string) []conformance.Violation {
	t.Helper()
	var got []conformance.Violation
	c := conformance.New(func(v conformance.Violation) { got = append(got, v) }, opts...)
	h := c.AWS(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "text/xml")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, respBody)
	}))
	req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(form))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	req.Header.Set("Authorization", stsAuth)
	h.ServeHTTP(httptest.NewRecorder(), req)
	return got
}

func TestCheck_Query(t *testing.T) {
	botocore(t)
	const identity = `<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><GetCallerIdentityResult><Arn>arn:aws:iam::123456789012:root</Arn><UserId>123456789012</UserId><Account>123456789012</Account></GetCallerIdentityResult><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></GetCallerIdentityResponse>`
	const gci = "Action=GetCallerIdentity&Version=2011-06-15"
	const assume = "Action=AssumeRole&Version=2011-06-15&RoleArn=arn%3Aaws%3Aiam%3A%3A111111111111%3Arole%2Fr&RoleSessionName="
	errBody := func(code string) string {
		return `<ErrorResponse><Error><Type>Sender</Type><Code>` + code + `</Code><Message>m</Message></Error><RequestId>r</RequestId></ErrorResponse>`
	}
	strict, lenient := []conformance.Option(nil), []conformance.Option{conformance.AllowInvalidRequests()}
	for _, tt := range []struct {
		name   string
		opts   []conformance.Option
		form   string
		status int
		resp   string
		wantIn string // "": no violation
	}{
		{"valid exchange", strict, gci, 200, identity, ""},
		{"unknown action", strict, "Action=Bogus&Version=2011-06-15", 400, errBody("InvalidAction"), "no operation Bogus"},
		{"unknown action accepted", lenient, "Action=Bogus&Version=2011-06-15", 200, identity, "accepted a request AWS refuses"},
		{"wrong version", strict, "Action=GetCallerIdentity&Version=2020-01-01", 400, errBody("InvalidAction"), "want the model's 2011-06-15"},
		{"pattern", strict, assume + "bad+name%21", 400, errBody("ValidationError"), "does not match the pattern"},
		{"bad input accepted", lenient, assume + "x", 200, identity, "accepted input AWS refuses"},
		{"member the model lacks", strict, gci, 200, strings.Replace(identity, "<Account>", "<Extra>1</Extra><Account>", 1), "no such member"},
		{"wrong root", strict, gci, 200, strings.ReplaceAll(identity, "GetCallerIdentityResponse", "Other"), "want <GetCallerIdentityResponse>"},
		{"not XML", strict, gci, 200, "{}", "not XML"},
		{"undeclared error", strict, gci, 400, errBody("NoSuchEntity"), "neither declared by GetCallerIdentity"},
		{"declared error", lenient, assume + "rr", 400, errBody("MalformedPolicyDocument"), ""},
		{"declared error, wrong status", lenient, assume + "rr", 403, errBody("MalformedPolicyDocument"), "HTTP 400 in the model"},
		{"common error", strict, assume + "rr", 403, errBody("AccessDenied"), ""},
		{"error without type", strict, gci, 403, `<ErrorResponse><Error><Code>AccessDenied</Code><Message>m</Message></Error></ErrorResponse>`, "want Sender or Receiver"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := queryExchange(t, tt.opts, tt.form, tt.status, tt.resp)
			if tt.wantIn == "" {
				if len(got) > 0 {
					t.Fatalf("violations %v, want none", got)
				}
				return
			}
			if !slices.ContainsFunc(got, func(v conformance.Violation) bool { return strings.Contains(v.Error(), tt.wantIn) }) {
				t.Fatalf("violations %v, want one saying %q", got, tt.wantIn)
			}
		})
	}
}

// TestRoutes_CodeConnections: every operation the connections emulator
// serves is in both of AWS's models (codeconnections and the older
// codestar-connections).
func TestRoutes_CodeConnections(t *testing.T) {
	dir := botocore(t)
	ops := codeconnections.Operations()
	if len(ops) < 7 {
		t.Fatalf("the emulator lists only %d operations: %v", len(ops), ops)
	}
	for _, service := range []string{"codeconnections", "codestar-connections"} {
		md, err := conformance.LoadModel(dir, service)
		if err != nil {
			t.Fatal(err)
		}
		for _, op := range ops {
			if !md.HasOperation(op) {
				t.Errorf("the emulator serves %s %s, which botocore's model (%s) does not describe", service, op, md.Version)
			}
		}
	}
}
