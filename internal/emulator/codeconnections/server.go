package codeconnections

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/rotor-ci/rotor/internal/emulator/awsaccounts"
	"github.com/rotor-ci/rotor/internal/emulator/fault"
)

// Service is the name the fault injector knows both APIs by.
const Service = "codeconnections"

// The two API names' X-Amz-Target prefixes: botocore sends its models'
// metadata.targetPrefix (namespaced), the Smithy SDKs (aws-sdk-go-v2) the
// service shape's name alone; AWS accepts both, so does the emulator.
const (
	TargetPrefix        = "com.amazonaws.codeconnections.CodeConnections_20231201."
	LegacyTargetPrefix  = "com.amazonaws.codestar.connections.CodeStar_connections_20191201."
	shortPrefix         = "CodeConnections_20231201."
	shortLegacyPrefix   = "CodeStar_connections_20191201."
	arnService          = "codeconnections"
	legacyARNService    = "codestar-connections"
	maxBody             = 64 << 10
	maxConnections      = 250 // per account and region (CodeConnections quotas)
	defaultRegion       = "us-east-1"
	statusPending       = "PENDING"
	statusAvailable     = "AVAILABLE"
	statusError         = "ERROR"
	providerGitHub      = "GitHub"
	providerGitHubEntSv = "GitHubEnterpriseServer"
)

// Handles reports whether r is addressed to either API name.
func Handles(r *http.Request) bool {
	_, _, ok := splitTarget(r.Header.Get("X-Amz-Target"))
	return ok
}

// splitTarget returns the operation of a target of either API name, in
// either form, and whether it is the older name.
func splitTarget(t string) (op string, legacy, ok bool) {
	for _, p := range []struct {
		prefix string
		legacy bool
	}{{TargetPrefix, false}, {shortPrefix, false}, {LegacyTargetPrefix, true}, {shortLegacyPrefix, true}} {
		if op, found := strings.CutPrefix(t, p.prefix); found {
			return op, p.legacy, true
		}
	}
	return "", false, false
}

// Accounts says who sent a request; *awsaccounts.Directory is one.
type Accounts interface {
	Resolve(*http.Request) (awsaccounts.Caller, *awsaccounts.AuthError)
}

// Options wire the server; zero values take defaults.
type Options struct {
	GitHubURL  string       // the GitHub emulator, for the handshake and installation tokens
	HTTPClient *http.Client // default: a client with a 10 s timeout
	Accounts   Accounts     // nil: every request is DefaultAccount's
	// DefaultAccount and DefaultRegion place requests that carry none
	// (defaults 123456789012, us-east-1).
	DefaultAccount, DefaultRegion string
	Faults                        *fault.Injector
	Logger                        *slog.Logger
	Clock                         func() time.Time
}

// Server is the CodeConnections emulator: an http.Handler (both API names
// and the admin API under /_emulator/connections) and safe for concurrent
// use.
type Server struct {
	githubURL      string
	client         *http.Client
	accounts       Accounts
	defaultAccount string
	defaultRegion  string
	faults         *fault.Injector
	log            *slog.Logger
	now            func() time.Time

	mu          sync.Mutex
	connections map[string]*connection // by ARN
	connector   *connector             // the connector app, once a handshake made it
	tokens      map[int64]cachedToken  // installation id → token
}

var _ http.Handler = (*Server)(nil)

// connection is one connection; exported fields are the state file's.
type connection struct {
	Name         string    `json:"name"`
	Arn          string    `json:"arn"`
	ProviderType string    `json:"provider_type"`
	Account      string    `json:"account"`
	Region       string    `json:"region"`
	Status       string    `json:"status"`
	HostArn      string    `json:"host_arn,omitempty"`
	Tags         []Tag     `json:"tags,omitempty"`
	Created      time.Time `json:"created"`
	// The handshake's result: the GitHub account the connector app is
	// installed on, and the installation.
	GitHubAccount  string `json:"github_account,omitempty"`
	InstallationID int64  `json:"installation_id,omitempty"`
}

// Tag is a resource tag, as the model spells it.
type Tag struct {
	Key   string `json:"Key"`
	Value string `json:"Value"`
}

// New builds an empty emulator.
func New(opts Options) *Server {
	s := &Server{githubURL: strings.TrimRight(opts.GitHubURL, "/"), client: opts.HTTPClient, accounts: opts.Accounts,
		defaultAccount: cmp.Or(opts.DefaultAccount, "123456789012"), defaultRegion: cmp.Or(opts.DefaultRegion, defaultRegion),
		faults: opts.Faults, log: opts.Logger, now: opts.Clock, connections: map[string]*connection{}, tokens: map[int64]cachedToken{}}
	if s.client == nil {
		s.client = &http.Client{Timeout: 10 * time.Second}
	}
	if s.faults == nil {
		s.faults = fault.New()
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	return s
}

// apiError is answered as AWS JSON 1.0 does: {"__type", "Message"}.
type apiError struct {
	status       int
	typ, message string
}

func errorf(status int, typ, format string, args ...any) *apiError {
	return &apiError{status, typ, fmt.Sprintf(format, args...)}
}

func notFound(arn string) *apiError {
	return errorf(http.StatusBadRequest, "ResourceNotFoundException", "Connection %s does not exist", clip(arn))
}

// ServeHTTP serves both API names at POST / and the admin API.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, AdminPrefix) {
		s.serveAdmin(w, r)
		return
	}
	w.Header().Set("X-Amzn-Requestid", newID())
	target := r.Header.Get("X-Amz-Target")
	name, legacy, known := splitTarget(target)
	op := operations[name]
	switch {
	case !known || op == nil || r.Method != http.MethodPost || r.URL.Path != "/":
		writeError(w, errorf(http.StatusBadRequest, "UnknownOperationException", "Operation %q is not supported by this endpoint", clip(target)))
		return
	case r.Header.Get("Authorization") == "":
		writeError(w, errorf(http.StatusBadRequest, "MissingAuthenticationTokenException", "Missing Authentication Token"))
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		writeError(w, errorf(http.StatusBadRequest, "SerializationException", "Could not read the request body"))
		return
	}
	switch s.faults.Decide(r.Context(), Service, name, "") {
	case fault.Throttle:
		writeError(w, errorf(http.StatusBadRequest, "ThrottlingException", "Rate exceeded"))
		return
	case fault.ServerError:
		writeError(w, errorf(http.StatusInternalServerError, "InternalFailure", "An internal error occurred (injected fault)"))
		return
	case fault.Fail:
		writeError(w, errorf(http.StatusBadRequest, "ValidationException", "Injected fault: %s fails (an emulator fault rule matches it)", name))
		return
	}
	c := call{account: s.defaultAccount, region: s.defaultRegion, legacy: legacy}
	if s.accounts != nil {
		caller, aerr := s.accounts.Resolve(r)
		if aerr != nil {
			typ := aerr.Code
			if typ == "InvalidClientTokenId" {
				typ = "UnrecognizedClientException"
			}
			writeError(w, errorf(http.StatusBadRequest, typ, "%s", aerr.Message))
			return
		}
		c.account, c.region = caller.Account, cmp.Or(caller.Region, s.defaultRegion)
	} else if cred, ok := awsaccounts.ParseCredential(r); ok && cred.Region != "" {
		c.region = cred.Region
	}
	out, aerr := op(s, c, body)
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	b, err := json.Marshal(out)
	if err != nil {
		writeError(w, errorf(http.StatusInternalServerError, "InternalFailure", "An internal error occurred"))
		return
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
}

func writeError(w http.ResponseWriter, e *apiError) {
	b, _ := json.Marshal(map[string]string{"__type": e.typ, "Message": e.message})
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	w.Header().Set("X-Amzn-Errortype", e.typ)
	w.WriteHeader(e.status)
	_, _ = w.Write(b)
}

// call is who an operation runs for.
type call struct {
	account, region string
	legacy          bool // codestar-connections: new ARNs use that service name
}

func (c call) arnService() string {
	if c.legacy {
		return legacyARNService
	}
	return arnService
}

type opFunc func(*Server, call, []byte) (any, *apiError)

var operations = map[string]opFunc{
	"CreateConnection":    op((*Server).createConnection),
	"GetConnection":       op((*Server).getConnection),
	"ListConnections":     op((*Server).listConnections),
	"DeleteConnection":    op((*Server).deleteConnection),
	"ListTagsForResource": op((*Server).listTags),
	"TagResource":         op((*Server).tagResource),
	"UntagResource":       op((*Server).untagResource),
}

// Operations lists the operations served (the same under both names).
func Operations() []string { return slices.Sorted(maps.Keys(operations)) }

func op[In any](run func(*Server, call, *In) (any, *apiError)) opFunc {
	return func(s *Server, c call, body []byte) (any, *apiError) {
		in := new(In)
		if len(bytes.TrimSpace(body)) > 0 {
			if err := json.Unmarshal(body, in); err != nil {
				var te *json.UnmarshalTypeError
				if errors.As(err, &te) {
					return nil, errorf(http.StatusBadRequest, "SerializationException", "Cannot read member '%s'", te.Field)
				}
				return nil, errorf(http.StatusBadRequest, "SerializationException", "Request body is not valid JSON")
			}
		}
		return run(s, c, in)
	}
}

func newID() string { return awsaccounts.NewID() }

func clip(s string) string {
	if len(s) > 256 {
		return s[:256] + "…"
	}
	return s
}
