package awsaccounts

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"maps"
	"mime"
	"net/http"
	"slices"
	"strings"

	"github.com/rotor-ci/rotor/internal/emulator/fault"
)

// Service names the fault injector knows these APIs by.
const (
	ServiceSTS           = "sts"
	ServiceOrganizations = "organizations"
)

// Options wire the server into its surroundings; zero values take defaults.
type Options struct {
	Faults *fault.Injector // default: an injector without rules
	Logger *slog.Logger    // default: discard
}

// Server serves STS and Organizations for a Directory. It is an
// http.Handler and safe for concurrent use.
type Server struct {
	dir    *Directory
	faults *fault.Injector
	log    *slog.Logger
}

var _ http.Handler = (*Server)(nil)

// New serves dir.
func New(dir *Directory, opts Options) *Server {
	s := &Server{dir: dir, faults: opts.Faults, log: opts.Logger}
	if s.faults == nil {
		s.faults = fault.New()
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	return s
}

// Directory is the accounts the server answers for.
func (s *Server) Directory() *Directory { return s.dir }

// Handles reports whether r is addressed to this server: an Organizations
// X-Amz-Target, or a Query-protocol request (no X-Amz-Target, a form body
// or an Action in the query string; STS is the only Query API the
// emulators serve).
func Handles(r *http.Request) bool {
	if t := r.Header.Get("X-Amz-Target"); t != "" {
		return strings.HasPrefix(t, OrganizationsTargetPrefix)
	}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return ct == "application/x-www-form-urlencoded" || r.URL.Query().Get("Action") != ""
}

// ServeHTTP answers STS (Query) and Organizations (JSON 1.1).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			s.log.Error("aws accounts emulator: handler panic", "panic", fmt.Sprint(v))
			http.Error(w, "internal error", http.StatusInternalServerError)
		}
	}()
	w.Header().Set("X-Amzn-Requestid", newRequestID())
	if t := r.Header.Get("X-Amz-Target"); t != "" {
		s.serveOrganizations(w, r, t)
		return
	}
	s.serveSTS(w, r)
}

// decide maps a fault outcome to an error code, message and status for
// both protocols ("" when the request passes).
func (s *Server) decide(ctx context.Context, service, op string) (int, string, string) {
	switch s.faults.Decide(ctx, service, op, "") {
	case fault.Throttle:
		if service == ServiceSTS {
			return http.StatusBadRequest, "Throttling", "Rate exceeded"
		}
		return http.StatusBadRequest, "TooManyRequestsException", "AWS Organizations can't complete your request because of an internal service error. Try again later."
	case fault.ServerError:
		return http.StatusInternalServerError, "InternalFailure", "An internal error occurred (injected fault)"
	case fault.Fail:
		if service == ServiceSTS {
			return http.StatusBadRequest, "ValidationError", "Injected fault: " + op + " fails (an emulator fault rule matches it)"
		}
		return http.StatusBadRequest, "InvalidInputException", "Injected fault: " + op + " fails (an emulator fault rule matches it)"
	}
	return 0, "", ""
}

// Operations lists what the server serves, by botocore service directory
// ("sts", "organizations"): the conformance tests check that AWS's models
// describe each.
func Operations() map[string][]string {
	return map[string][]string{
		"sts":           slices.Sorted(maps.Keys(stsOperations)),
		"organizations": slices.Sorted(maps.Keys(orgOperations)),
	}
}

// NewID is a random (version 4) UUID, the shape of AWS request ids,
// execution ids and connection ids; every AWS emulator uses it.
func NewID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

func newRequestID() string { return NewID() }

func clip(s string) string {
	if len(s) > 256 {
		return s[:256] + "…"
	}
	return s
}
