package ha

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rotor-ci/rotor/internal/token"
)

// request is one call a rotor process made to an emulator, as the emulator
// side saw it. It holds fingerprints only, never a token value.
type request struct {
	Process  string // which rotor process (each has its own proxies)
	Service  string // github | codepipeline
	Op       string // UpdatePipeline, GetPipeline…; "POST /app/installations/{id}/access_tokens"…
	Resource string // pipeline name, or the repository a token was minted for
	// Fingerprint is the token an UpdatePipeline wrote into the pipeline's
	// GitHub action, the token a mint returned, or the token a DELETE
	// /installation/token revoked.
	Fingerprint string
	Start, End  time.Time
	Status      int
}

// recorder logs every request of every rotor process. Each process gets its
// own loopback proxies in front of the in-process emulators, so a request
// is attributed to a process by the port it arrived on, not by anything the
// process says about itself.
type recorder struct {
	mu   sync.Mutex
	reqs []request
}

func (rec *recorder) add(r request) {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	rec.reqs = append(rec.reqs, r)
}

// requests returns the log so far, in order of arrival.
func (rec *recorder) requests() []request {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	out := slices.Clone(rec.reqs)
	slices.SortStableFunc(out, func(a, b request) int { return a.Start.Compare(b.Start) })
	return out
}

// proxy serves h on a new loopback port for process and returns its URL.
func (rec *recorder) proxy(t *testing.T, process, service string, h http.Handler) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		req := request{Process: process, Service: service, Start: time.Now()}
		if service == "codepipeline" {
			req.Op, req.Resource, req.Fingerprint = describeCodePipeline(r, body)
		} else {
			req.Op, req.Resource, req.Fingerprint = describeGitHub(r, body)
		}
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK, keep: req.Op == opMint}
		h.ServeHTTP(sw, r)
		req.End, req.Status = time.Now(), sw.status
		if req.Op == opMint {
			// The new token's fingerprint, to tell later whether rotor
			// ever recorded it.
			var out struct {
				Token string `json:"token"`
			}
			if json.Unmarshal(sw.body.Bytes(), &out) == nil && out.Token != "" {
				req.Fingerprint = token.New(out.Token).Fingerprint()
			}
			sw.body.Reset()
		}
		rec.add(req)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

type statusWriter struct {
	http.ResponseWriter
	status int
	keep   bool // keep a copy of the body (a mint's answer, parsed at once)
	body   bytes.Buffer
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.keep {
		w.body.Write(b)
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

// describeCodePipeline names an AWS JSON 1.1 call, the pipeline it is about
// and, for UpdatePipeline, the fingerprint of the token it writes.
func describeCodePipeline(r *http.Request, body []byte) (op, pipeline, fp string) {
	_, op, _ = strings.Cut(r.Header.Get("X-Amz-Target"), ".")
	var in struct {
		Name     string `json:"name"`
		Pipeline struct {
			Name   string `json:"name"`
			Stages []struct {
				Actions []struct {
					Configuration map[string]string `json:"configuration"`
				} `json:"actions"`
			} `json:"stages"`
		} `json:"pipeline"`
	}
	_ = json.Unmarshal(body, &in)
	pipeline = in.Name
	if in.Pipeline.Name != "" {
		pipeline = in.Pipeline.Name
	}
	for _, st := range in.Pipeline.Stages {
		for _, a := range st.Actions {
			if v := a.Configuration["OAuthToken"]; v != "" {
				fp = token.New(v).Fingerprint()
			}
		}
	}
	return op, pipeline, fp
}

var installationPath = regexp.MustCompile(`^/app/installations/\d+/access_tokens$`)

// describeGitHub names a REST call; for a mint, the repository the token is
// for; for a revocation, the fingerprint of the token revoked.
func describeGitHub(r *http.Request, body []byte) (op, repo, fp string) {
	path := strings.TrimPrefix(r.URL.Path, "/api/v3")
	switch {
	case r.Method == http.MethodPost && installationPath.MatchString(path):
		var in struct {
			Repositories []string `json:"repositories"`
		}
		_ = json.Unmarshal(body, &in)
		return opMint, strings.Join(in.Repositories, ","), ""
	case r.Method == http.MethodDelete && path == "/installation/token":
		auth := r.Header.Get("Authorization")
		if _, v, ok := strings.Cut(auth, " "); ok {
			fp = token.New(v).Fingerprint()
		}
		return opRevoke, "", fp
	}
	return r.Method + " " + path, "", ""
}

const (
	opMint   = "POST /app/installations/{id}/access_tokens"
	opRevoke = "DELETE /installation/token"
	opUpdate = "UpdatePipeline"
)
