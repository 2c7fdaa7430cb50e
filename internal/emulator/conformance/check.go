package conformance

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
)

// Violation is one way an exchange departs from the description.
type Violation struct {
	Service   string // "codepipeline", "github"
	Operation string // "UpdatePipeline", "GET /repos/{owner}/{repo}"
	Part      string // "request", "response 200", …
	Path      string // the field: "pipeline.stages[0].name", "/owner/login", "header Location"; empty: the whole part
	Problem   string
}

func (v Violation) Error() string {
	at := v.Part
	if v.Path != "" {
		at += " " + v.Path
	}
	return fmt.Sprintf("%s %s: %s: %s", v.Service, v.Operation, at, v.Problem)
}

// Option tunes a Check.
type Option func(*Check)

// AllowInvalidRequests is for tests that send what AWS or GitHub would
// refuse on purpose, to see the emulator refuse it too: such a request is
// no violation as long as the emulator answers it with an error. Without
// it, a request the description refuses is a violation even when the
// emulator refuses it too, because the client under test (rotor) sent it.
func AllowInvalidRequests() Option { return func(c *Check) { c.lenient = true } }

// Check validates exchanges against the descriptions. Safe for concurrent
// use; the descriptions behind it are loaded once per process.
type Check struct {
	report  func(Violation)
	lenient bool
	aws     *awsModels
	gh      *openAPI

	mu    sync.Mutex
	stats map[string]int // "service operation" → exchanges checked
}

// New makes a Check that hands every violation to report. A description
// that is not installed is announced once per process on stderr with a
// line starting "SKIP:", and its exchanges pass unchecked.
func New(report func(Violation), opts ...Option) *Check {
	c := &Check{report: report, stats: map[string]int{}}
	for _, o := range opts {
		o(c)
	}
	d := load()
	c.aws, c.gh = d.aws, d.gh
	return c
}

// For makes a Check that fails t on every violation (t.Errorf: the test
// goes on and reports them all), logs the exchanges it checked at the end
// of t, and says SKIP in t's log for each description that is missing.
func For(t testing.TB, opts ...Option) *Check {
	t.Helper()
	var mu sync.Mutex
	done := false
	c := New(func(v Violation) {
		mu.Lock()
		defer mu.Unlock()
		if done { // the test is over: say it where it cannot be missed
			fmt.Fprintf(os.Stderr, "conformance violation after %s ended: %v\n", t.Name(), v)
			return
		}
		t.Errorf("conformance: %v", v)
	}, opts...)
	d := load()
	if d.aws == nil {
		t.Log("SKIP: conformance (AWS): " + d.whyNoAWS)
	}
	if d.gh == nil {
		t.Log("SKIP: conformance (GitHub): " + d.whyNoGitHub)
	}
	t.Cleanup(func() {
		mu.Lock()
		done = true
		mu.Unlock()
		c.logStats(t)
	})
	return c
}

// Wrap is For(t).AWS or For(t).GitHub for one bare handler: service is
// "codepipeline" (any AWS JSON service) or "github".
func Wrap(t testing.TB, service string, h http.Handler, opts ...Option) http.Handler {
	t.Helper()
	c := For(t, opts...)
	if service == "github" {
		return c.GitHub(h)
	}
	return c.AWS(h)
}

// AWS wraps an AWS JSON 1.1 emulator.
func (c *Check) AWS(next http.Handler) http.Handler {
	if c.aws == nil {
		return next
	}
	return c.middleware(next, c.checkAWS)
}

// GitHub wraps the GitHub REST emulator.
func (c *Check) GitHub(next http.Handler) http.Handler {
	if c.gh == nil {
		return next
	}
	return c.middleware(next, c.checkGitHub)
}

// Stats returns how many exchanges were checked, by "service operation".
func (c *Check) Stats() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]int, len(c.stats))
	for k, v := range c.stats {
		out[k] = v
	}
	return out
}

// EnvReport names a file that every Check made by For appends its counts
// to (one JSON line per test), for docs/emulator.md's coverage figures.
const EnvReport = "ROTOR_CONFORMANCE_REPORT"

func (c *Check) logStats(t testing.TB) {
	stats := c.Stats()
	if len(stats) == 0 {
		return
	}
	total := 0
	keys := make([]string, 0, len(stats))
	for k, n := range stats {
		total += n
		keys = append(keys, k)
	}
	sort.Strings(keys)
	t.Logf("conformance: %d exchanges checked over %d operations", total, len(keys))
	if path := os.Getenv(EnvReport); path != "" {
		line, _ := json.Marshal(map[string]any{"test": t.Name(), "exchanges": stats})
		if f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644); err == nil {
			_, _ = f.Write(append(line, '\n'))
			_ = f.Close()
		}
	}
}

// exchange is one request and its answer, as the client saw them.
type exchange struct {
	req      *http.Request
	reqBody  []byte
	bodyOK   bool // the whole request body was read (not over maxCapture)
	status   int
	header   http.Header
	body     bytes.Buffer
	complete bool // the whole response body was kept
}

// maxCapture bounds what is kept of a body; larger ones are not validated.
const maxCapture = 4 << 20

func (c *Check) middleware(next http.Handler, check func(*exchange) (string, string, []Violation)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/_emulator/") {
			next.ServeHTTP(w, r) // the emulators' own admin APIs: described in docs/emulator.md only
			return
		}
		ex := &exchange{req: r, complete: true}
		if r.Body != nil {
			b, err := io.ReadAll(io.LimitReader(r.Body, maxCapture+1))
			ex.reqBody, ex.bodyOK = b, err == nil && len(b) <= maxCapture
			r.Body = readCloser{io.MultiReader(bytes.NewReader(b), r.Body), r.Body}
		} else {
			ex.bodyOK = true
		}
		cw := &captureWriter{ResponseWriter: w, ex: ex}
		next.ServeHTTP(cw, r)
		if ex.status == 0 {
			cw.WriteHeader(http.StatusOK)
		}
		service, op, vs := check(ex)
		if op != "" {
			c.mu.Lock()
			c.stats[service+" "+op]++
			c.mu.Unlock()
		}
		for _, v := range vs {
			c.report(v)
		}
	})
}

type readCloser struct {
	io.Reader
	io.Closer
}

type captureWriter struct {
	http.ResponseWriter
	ex *exchange
}

func (w *captureWriter) WriteHeader(code int) {
	if w.ex.status == 0 {
		w.ex.status = code
		w.ex.header = w.ResponseWriter.Header().Clone()
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *captureWriter) Write(b []byte) (int, error) {
	if w.ex.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if w.ex.body.Len()+len(b) <= maxCapture {
		w.ex.body.Write(b)
	} else {
		w.ex.complete = false
	}
	return w.ResponseWriter.Write(b)
}

func (w *captureWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// descriptions are loaded once per process.
type descriptions struct {
	aws                   *awsModels
	gh                    *openAPI
	whyNoAWS, whyNoGitHub string
}

var load = sync.OnceValue(func() descriptions {
	p := Locate()
	var d descriptions
	if p.Botocore == "" {
		d.whyNoAWS = p.WhyNoBotocore
	} else {
		d.aws = newAWSModels(p.Botocore)
	}
	if p.OpenAPI == "" {
		d.whyNoGitHub = p.WhyNoGitHub
	} else if gh, err := newOpenAPI(p.OpenAPI); err != nil {
		d.whyNoGitHub = err.Error()
	} else {
		d.gh = gh
	}
	if d.aws == nil {
		fmt.Fprintln(os.Stderr, "SKIP: conformance (AWS): "+d.whyNoAWS+"; CodePipeline exchanges are not checked")
	}
	if d.gh == nil {
		fmt.Fprintln(os.Stderr, "SKIP: conformance (GitHub): "+d.whyNoGitHub+"; GitHub exchanges are not checked")
	}
	return d
})
