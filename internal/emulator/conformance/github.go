package conformance

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
)

// CodeloadPrefix is where the GitHub emulator serves what GitHub serves on
// its download host (codeload.github.com): the target of a tarball's
// 302. It is not the REST API, so the OpenAPI description does not cover
// it; the recorded get-archive exchange does (see the fixture tests).
const CodeloadPrefix = "/_codeload/"

// Statuses GitHub documents for every endpoint, beside each operation's
// own (docs.github.com/rest: "Authenticating to the REST API" — a missing,
// bad or insufficient credential gets 401, 403 or 404; "Rate limits for the
// REST API" — 403 or 429 with x-ratelimit-remaining 0 or retry-after;
// "Getting started with the REST API" — invalid JSON 400, invalid fields
// 422). Their bodies are basic-error.
func crossCutting(status int, h http.Header, hadBody bool) bool {
	switch {
	case status == http.StatusUnauthorized, status == http.StatusForbidden, status == http.StatusNotFound:
		return true
	case status == http.StatusTooManyRequests:
		return h.Get("X-RateLimit-Remaining") == "0" || h.Get("Retry-After") != ""
	case status == http.StatusBadRequest, status == http.StatusUnprocessableEntity:
		return hadBody
	case status == http.StatusRequestEntityTooLarge:
		return hadBody // HTTP's own answer to a body over the server's limit (RFC 9110)
	case status >= 500:
		return true
	}
	return false
}

// oauthScopes are GitHub's OAuth scopes ("Scopes for OAuth apps"): what
// X-OAuth-Scopes and X-Accepted-OAuth-Scopes may list.
var oauthScopes = map[string]bool{
	"repo": true, "repo:status": true, "repo_deployment": true, "public_repo": true, "repo:invite": true,
	"security_events": true, "admin:repo_hook": true, "write:repo_hook": true, "read:repo_hook": true,
	"admin:org": true, "write:org": true, "read:org": true, "admin:public_key": true, "write:public_key": true,
	"read:public_key": true, "admin:org_hook": true, "gist": true, "notifications": true, "user": true,
	"read:user": true, "user:email": true, "user:follow": true, "project": true, "read:project": true,
	"delete_repo": true, "write:packages": true, "read:packages": true, "delete:packages": true,
	"admin:gpg_key": true, "write:gpg_key": true, "read:gpg_key": true, "codespace": true, "workflow": true,
	"admin:enterprise": true, "manage_runners:enterprise": true, "manage_billing:enterprise": true,
	"read:enterprise": true, "audit_log": true, "read:audit_log": true, "copilot": true,
	"manage_billing:copilot": true, "admin:ssh_signing_key": true, "write:ssh_signing_key": true,
	"read:ssh_signing_key": true, "write:discussion": true, "read:discussion": true,
}

var (
	uintRe       = regexp.MustCompile(`^[0-9]+$`)
	expirationRe = regexp.MustCompile(`^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} (UTC|[+-]\d{4})$`)
	linkRe       = regexp.MustCompile(`^<[^>]+>; rel="[a-z]+"$`)
)

// RotorHeaders are the response headers rotor (or go-github for it) reads,
// with the form GitHub gives them. The OpenAPI description declares only
// some (link, x-rate-limit-limit/-remaining/-reset, location); the others
// are documented in GitHub's REST pages and present in the recorded
// exchanges: X-OAuth-Scopes and X-Accepted-OAuth-Scopes ("Scopes for
// OAuth apps"), GitHub-Authentication-Token-Expiration ("Troubleshooting":
// tokens that expire), x-ratelimit-used/-resource and retry-after ("Rate
// limits for the REST API").
var RotorHeaders = map[string]func(string) string{
	"X-RateLimit-Limit":     wantUint,
	"X-RateLimit-Remaining": wantUint,
	"X-RateLimit-Reset":     wantUint,
	"X-RateLimit-Used":      wantUint,
	"X-RateLimit-Resource": func(v string) string {
		if v == "" {
			return "empty"
		}
		return ""
	},
	"X-OAuth-Scopes":          wantScopes,
	"X-Accepted-OAuth-Scopes": wantScopes,
	"GitHub-Authentication-Token-Expiration": func(v string) string {
		if !expirationRe.MatchString(v) {
			return fmt.Sprintf("%q is not GitHub's form 2006-01-02 15:04:05 UTC (or -0700)", v)
		}
		return ""
	},
	"Retry-After": func(v string) string {
		if uintRe.MatchString(v) {
			return ""
		}
		if _, err := http.ParseTime(v); err == nil {
			return ""
		}
		return fmt.Sprintf("%q is neither seconds nor an HTTP date", v)
	},
	"Link": func(v string) string {
		for _, l := range strings.Split(v, ", ") {
			if !linkRe.MatchString(l) {
				return fmt.Sprintf("%q is not <url>; rel=\"name\"", l)
			}
		}
		return ""
	},
}

// rateHeaders are on every answer below 500 (docs: "Checking the status of
// your rate limit"; every recorded exchange has them).
var rateHeaders = []string{"X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset", "X-RateLimit-Used", "X-RateLimit-Resource"}

func wantUint(v string) string {
	if !uintRe.MatchString(v) {
		return fmt.Sprintf("%q is not a whole number", v)
	}
	return ""
}

func wantScopes(v string) string {
	if v == "" {
		return ""
	}
	for _, s := range strings.Split(v, ", ") {
		if !oauthScopes[s] {
			return fmt.Sprintf("%q lists %q, which is not a GitHub OAuth scope (scopes are separated by \", \")", v, s)
		}
	}
	return ""
}

// Errata are places where GitHub's description contradicts GitHub itself;
// the check lets these exact departures through and docs/emulator.md lists
// them. Each names the operation, the part and a pattern of the field path.
var Errata = []struct {
	Operation, Part string
	Path            *regexp.Regexp
	Why             string
}{
	{"GET /app/installations", "response 200", regexp.MustCompile(`^/\d+/account/(name|slug|created_at|updated_at)$`),
		"the account is allOf [Simple User, Enterprise] here, so it would need an enterprise's members too; " +
			"components/schemas/installation (GET /app/installations/{installation_id}) has anyOf, and GitHub sends a user"},
	{"GET /repos/{owner}/{repo}/actions/runs", "request", regexp.MustCompile(`^query created$`),
		"the parameter is declared format date-time, but its own description (and \"Understanding the search syntax\", which it links) " +
			"takes GitHub's date search syntax: >=2024-01-01T00:00:00Z, 2024-01-01..2024-01-02, a bare date; go-github sends it as given"},
	{"POST /app/installations/{installation_id}/access_tokens", "request", regexp.MustCompile(`^/$`),
		"go-github sends the JSON null when there are no options (CreateInstallationToken(ctx, id, nil)), " +
			"which GitHub takes as no body; the description's body is a non-nullable object"},
}

func erratum(op, part, path string) bool {
	for _, e := range Errata {
		if e.Operation == op && strings.HasPrefix(part, e.Part) && e.Path.MatchString(path) {
			return true
		}
	}
	return false
}

func (c *Check) checkGitHub(ex *exchange) (string, string, []Violation) {
	const service = "github"
	path := ex.req.URL.Path
	if rest, ok := strings.CutPrefix(path, "/api/v3/"); ok {
		path = "/" + rest // go-github's enterprise URLs
	}
	if strings.HasPrefix(path, CodeloadPrefix) {
		return "", "", nil
	}
	if _, ok := GitHubDotCom[ex.req.Method+" "+path]; ok && path == ex.req.URL.Path {
		op := ex.req.Method + " " + path
		return service, op, checkDotCom(op, ex)
	}
	method := ex.req.Method
	if method == http.MethodHead {
		method = http.MethodGet // GitHub answers HEAD wherever it answers GET ("HTTP verbs", REST docs)
	}
	op := method + " " + path
	var vs []Violation
	part := "response " + strconv.Itoa(ex.status)
	bad := func(part, at, problem string) {
		if !erratum(op, part, at) {
			vs = append(vs, Violation{Service: service, Operation: op, Part: part, Path: at, Problem: problem})
		}
	}
	refused := ex.status >= 400
	t, params := c.gh.route(path)
	if t == nil || !slices.Contains(t.Methods, method) {
		problem := "GitHub's description has no " + op
		if t != nil {
			op = method + " " + t.Path
			problem = "GitHub's description has no " + op + " (only " + strings.Join(t.Methods, ", ") + ")"
		}
		if !c.lenient {
			bad("request", "", problem)
		}
		if ex.status != http.StatusNotFound && ex.status < 500 {
			bad(part, "", "GitHub answers 404 to "+problem[len("GitHub's description has no "):])
		}
		return service, op, vs
	}
	op = method + " " + t.Path
	doc, err := c.gh.doc(t.Path)
	if err != nil {
		bad("description", "", err.Error())
		return service, op, vs
	}
	item := doc.Paths.Value(t.Path)
	o := item.GetOperation(method)

	// The request.
	var rejects []string
	if ex.bodyOK {
		r := ex.req.Clone(context.Background())
		r.Body = io.NopCloser(bytes.NewReader(ex.reqBody))
		in := &openapi3filter.RequestValidationInput{
			Request: r, PathParams: params,
			Route:   &routers.Route{Spec: doc, Path: t.Path, PathItem: item, Method: method, Operation: o},
			Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, MultiError: true},
		}
		if err := openapi3filter.ValidateRequest(context.Background(), in); err != nil {
			for _, p := range flatten(err) {
				if erratum(op, "request", p.at) {
					continue
				}
				rejects = append(rejects, p.at+": "+p.problem)
				if !c.lenient {
					bad("request", p.at, p.problem)
				}
			}
		}
	}
	if !refused && len(rejects) > 0 {
		bad(part, "", "the emulator accepted a request GitHub refuses: "+strings.Join(rejects, "; "))
	}

	// The status and the body.
	var schema *openapi3.Schema
	var declared openapi3.Headers
	wantBody := false
	if ref := o.Responses.Status(ex.status); ref != nil && ref.Value != nil {
		declared = ref.Value.Headers
		if mt := jsonContent(ref.Value.Content); mt != nil {
			wantBody = true
			if mt.Schema != nil {
				schema = mt.Schema.Value
			}
		} else if len(ref.Value.Content) == 0 && ex.body.Len() > 0 && ex.status != http.StatusNotModified {
			bad(part, "", "GitHub documents no body for this answer, the emulator sent "+strconv.Itoa(ex.body.Len())+" bytes")
		}
	} else if crossCutting(ex.status, ex.header, len(bytes.TrimSpace(ex.reqBody)) > 0) {
		wantBody = ex.body.Len() > 0
		if s := doc.Components.Schemas["basic-error"]; s != nil {
			schema = s.Value
		}
	} else {
		var documented []string
		for code := range o.Responses.Map() {
			documented = append(documented, code)
		}
		slices.Sort(documented)
		bad(part, "", fmt.Sprintf("status %d is not documented for %s (documented: %s)", ex.status, op, strings.Join(documented, ", ")))
	}
	if wantBody && ex.complete {
		ct, _, _ := mime.ParseMediaType(ex.header.Get("Content-Type"))
		var body any
		switch {
		case ct != "application/json":
			bad(part, "header Content-Type", fmt.Sprintf("%q, want application/json", ex.header.Get("Content-Type")))
		case json.Unmarshal(ex.body.Bytes(), &body) != nil:
			bad(part, "", "body is not JSON")
		case schema != nil:
			if err := schema.VisitJSON(body, openapi3.MultiErrors()); err != nil {
				for _, p := range flatten(err) {
					bad(part, p.at, p.problem)
				}
			}
		}
	}

	// Headers: the ones this answer declares, and the ones rotor reads.
	for name, ref := range declared {
		v := ex.header.Get(name)
		if v == "" {
			if ref.Value != nil && ref.Value.Required {
				bad(part, "header "+name, "required by the description, missing")
			}
			continue
		}
		if ref.Value != nil && ref.Value.Schema != nil && ref.Value.Schema.Value != nil {
			var val any = v
			if ref.Value.Schema.Value.Type.Is("integer") {
				n, err := strconv.ParseInt(v, 10, 64)
				if err != nil {
					bad(part, "header "+name, fmt.Sprintf("%q is not an integer", v))
					continue
				}
				val = float64(n)
			}
			if err := ref.Value.Schema.Value.VisitJSON(val); err != nil {
				bad(part, "header "+name, err.Error())
			}
		}
	}
	for name, check := range RotorHeaders {
		if v := ex.header.Get(name); v != "" {
			if problem := check(v); problem != "" {
				bad(part, "header "+name, problem)
			}
		}
	}
	if ex.status < 500 {
		for _, name := range rateHeaders {
			if ex.header.Get(name) == "" {
				bad(part, "header "+name, "missing: GitHub sends the rate-limit headers with every answer")
			}
		}
	}
	if auth := ex.req.Header.Get("Authorization"); ex.status < 300 &&
		(strings.Contains(auth, "ghp_") || strings.Contains(auth, "gho_")) && len(ex.header.Values("X-OAuth-Scopes")) == 0 {
		bad(part, "header X-OAuth-Scopes", "missing: GitHub lists a classic token's scopes on every answer to it")
	}
	if v := ex.header.Get("GitHub-Authentication-Token-Expiration"); v != "" {
		if _, err := time.Parse("2006-01-02 15:04:05 MST", v); err != nil {
			if _, err := time.Parse("2006-01-02 15:04:05 -0700", v); err != nil {
				bad(part, "header GitHub-Authentication-Token-Expiration", "go-github cannot parse "+strconv.Quote(v))
			}
		}
	}
	return service, op, vs
}

func jsonContent(c openapi3.Content) *openapi3.MediaType {
	for name, mt := range c {
		if ct, _, _ := mime.ParseMediaType(name); ct == "application/json" || strings.HasSuffix(ct, "+json") {
			return mt
		}
	}
	return nil
}

type kinProblem struct{ at, problem string }

// flatten turns kin-openapi's errors into (JSON pointer, reason) pairs.
func flatten(err error) []kinProblem {
	var out []kinProblem
	var walk func(error)
	walk = func(err error) {
		// A parameter's error first (it wraps the schema's), so that the
		// violation names the parameter ("query created").
		var re *openapi3filter.RequestError
		if pe, ok := err.(*openapi3filter.RequestError); ok && pe.Parameter != nil && pe.Err != nil {
			at := pe.Parameter.In + " " + pe.Parameter.Name
			for _, p := range flatten(pe.Err) {
				out = append(out, kinProblem{at + strings.TrimSuffix(p.at, "/"), p.problem})
			}
			return
		}
		var me openapi3.MultiError
		if errors.As(err, &me) {
			for _, e := range me {
				walk(e)
			}
			return
		}
		var se *openapi3.SchemaError
		if errors.As(err, &se) {
			out = append(out, kinProblem{"/" + strings.Join(se.JSONPointer(), "/"), se.Reason})
			return
		}
		if errors.As(err, &re) {
			at := "body"
			if re.Parameter != nil {
				at = re.Parameter.In + " " + re.Parameter.Name
			}
			if re.Err != nil {
				for _, p := range flatten(re.Err) {
					out = append(out, kinProblem{at + p.at, p.problem})
				}
				return
			}
			out = append(out, kinProblem{at, re.Reason})
			return
		}
		out = append(out, kinProblem{"", err.Error()})
	}
	walk(err)
	return out
}

// GitHubDotCom are the routes the GitHub emulator serves that are
// github.com's, not the REST API's, so GitHub's OpenAPI description of
// api.github.com has none of them: the OAuth endpoints of the device flow
// and the refresh grant, each with the documentation page it follows. The
// check holds their answers to what those pages state (checkDotCom)
// instead of to the description; any other path is held to the
// description as before.
var GitHubDotCom = map[string]string{
	"POST /login/device/code":        "https://docs.github.com/en/apps/creating-github-apps/authenticating-with-a-github-app/generating-a-user-access-token-for-a-github-app#using-the-device-flow-to-generate-a-user-access-token",
	"POST /login/oauth/access_token": "https://docs.github.com/en/apps/creating-github-apps/authenticating-with-a-github-app/refreshing-user-access-tokens",
}

// dotComErrors are the error codes those pages and "Authorizing OAuth
// apps" (error codes for the device flow) and "Troubleshooting OAuth app
// access token request errors" list.
var dotComErrors = map[string]bool{
	"authorization_pending": true, "slow_down": true, "expired_token": true, "unsupported_grant_type": true,
	"incorrect_client_credentials": true, "incorrect_device_code": true, "access_denied": true,
	"device_flow_disabled": true, "bad_refresh_token": true,
}

// checkDotCom checks an answer of a GitHubDotCom route against its pages:
// JSON or form-encoded as the request's Accept asks; an error is a listed
// code with a description; a device code answer has device_code,
// user_code, verification_uri, expires_in and interval; a token answer has
// access_token (ghu_), token_type bearer, expires_in 28800, refresh_token
// (ghr_) and refresh_token_expires_in; slow_down carries the new interval.
func checkDotCom(op string, ex *exchange) []Violation {
	var vs []Violation
	part := "response " + strconv.Itoa(ex.status)
	bad := func(at, problem string) {
		vs = append(vs, Violation{Service: "github", Operation: op, Part: part, Path: at, Problem: problem + " (" + GitHubDotCom[op] + ")"})
	}
	if ex.status >= 500 || ex.status == http.StatusTooManyRequests || ex.status == http.StatusNotFound || !ex.complete {
		return nil // faults, throttling, an unknown client: GitHub's general answers
	}
	ct, _, _ := mime.ParseMediaType(ex.header.Get("Content-Type"))
	fields := map[string]string{}
	switch ct {
	case "application/json":
		var m map[string]any
		dec := json.NewDecoder(bytes.NewReader(ex.body.Bytes()))
		dec.UseNumber()
		if err := dec.Decode(&m); err != nil {
			bad("", "body is not JSON")
			return vs
		}
		for k, v := range m {
			fields[k] = fmt.Sprint(v)
		}
	case "application/x-www-form-urlencoded":
		q, err := url.ParseQuery(ex.body.String())
		if err != nil {
			bad("", "body is not form-encoded")
			return vs
		}
		for k := range q {
			fields[k] = q.Get(k)
		}
	default:
		bad("header Content-Type", fmt.Sprintf("%q: GitHub answers application/x-www-form-urlencoded, or JSON when asked", ex.header.Get("Content-Type")))
		return vs
	}
	if strings.Contains(ex.req.Header.Get("Accept"), "json") != (ct == "application/json") {
		bad("header Content-Type", fmt.Sprintf("%q does not follow the request's Accept %q", ct, ex.req.Header.Get("Accept")))
	}
	need := func(names ...string) {
		for _, n := range names {
			if fields[n] == "" {
				bad(n, "required, missing")
			}
		}
	}
	if code, ok := fields["error"]; ok {
		if !dotComErrors[code] {
			bad("error", fmt.Sprintf("%q is not an error code GitHub documents", code))
		}
		need("error_description")
		if code == "slow_down" {
			need("interval")
		}
		return vs
	}
	if ex.status != http.StatusOK {
		bad("", "an answer other than 200 without an error code")
		return vs
	}
	if op == "POST /login/device/code" {
		need("device_code", "user_code", "verification_uri", "expires_in", "interval")
		return vs
	}
	need("access_token", "token_type", "expires_in", "refresh_token", "refresh_token_expires_in")
	if !strings.HasPrefix(fields["access_token"], "ghu_") || !strings.HasPrefix(fields["refresh_token"], "ghr_") {
		bad("access_token", "a GitHub App user token is ghu_ with a ghr_ refresh token")
	}
	if fields["expires_in"] != "" && fields["expires_in"] != "28800" {
		bad("expires_in", fields["expires_in"]+", GitHub says 28800 (eight hours)")
	}
	if strings.ToLower(fields["token_type"]) != "bearer" {
		bad("token_type", fmt.Sprintf("%q, want bearer", fields["token_type"]))
	}
	return vs
}
