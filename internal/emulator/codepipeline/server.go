package codepipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"time"

	"github.com/rotor-ci/rotor/internal/emulator/awsaccounts"
	"github.com/rotor-ci/rotor/internal/emulator/fault"
	token "github.com/rotor-ci/rotor/internal/emulator/ghtoken" // the emulators' own token code, not rotor's
)

// Service is the service name the emulator gives the fault injector.
const Service = "codepipeline"

// targetPrefix starts every X-Amz-Target header of the API.
const targetPrefix = "CodePipeline_20150709."

// maxBody bounds a request body; a pipeline declaration is a few KiB.
const maxBody = 1 << 20

// Options are how the emulator is wired into its surroundings. Zero values
// take the defaults noted.
type Options struct {
	GitHubURL  string       // base URL of the GitHub API the source actions fetch from
	HTTPClient *http.Client // for those fetches; default: a pooled client with a 10 s timeout
	Clock      func() time.Time
	Faults     *fault.Injector // default: an injector without rules (requests are still counted)
	Logger     *slog.Logger    // default: discard

	// PollInterval overrides the world's poll interval when positive; a
	// negative value turns polling off.
	PollInterval time.Duration
	// ActionDelay is how long an action other than a GitHub source or a
	// manual approval takes to succeed during an execution (default
	// 100ms), in stages the world gives no run time.
	ActionDelay time.Duration
	// FetchConcurrency bounds concurrent GitHub fetches (default 64).
	FetchConcurrency int
	// MaxPipelines is the region's pipeline quota (default 1000, as AWS).
	MaxPipelines int
	// MaxFetches bounds the fetch record; beyond it the oldest entries are
	// dropped and counted (default 1,000,000).
	MaxFetches int
	// TokenRef resolves "{{token:NOTE}}" in world pipelines. Nil: a world
	// pipeline with a reference is an error.
	TokenRef func(note string) (token.Token, error)
	// Connections is CodeConnections, for GitHub (version 2) source
	// actions; nil: every connection is unknown.
	Connections Connections
	// Accounts says who sent a request (the account of its access key, the
	// region of its credential scope) and what a pipeline's role may do.
	// Nil: every request is the default account's, in the region of its
	// credential scope.
	Accounts Accounts
}

// Server is the emulator. It is an http.Handler and safe for concurrent use.
type Server struct {
	account, region string
	githubURL       string
	client          *http.Client
	now             func() time.Time
	faults          *fault.Injector
	log             *slog.Logger
	pollInterval    time.Duration
	actionDelay     time.Duration
	maxPipelines    int

	mu        sync.RWMutex
	pipelines map[string]*pipeline
	names     []string // sorted, for ListPipelines

	fetches *fetchLog
	updates *updateLog
	sem     chan struct{} // fetch concurrency

	runTimes runTimes
	webhooks webhookStore

	// The other accounts and regions (see regions.go): the default server
	// holds them and routes to them; each of them has parent set.
	parent   *Server
	regions  regionSet
	accounts Accounts
	opts     Options

	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup // the poller, fetches and executions
	closeMu sync.RWMutex   // orders wg.Add against Close's wg.Wait
	closed  bool
	mux     *http.ServeMux
}

var _ http.Handler = (*Server)(nil)

// New builds the emulator with the world's pipelines (validated as
// CreatePipeline would; they start no execution) in the default account
// and region and in every other the world declares, and starts the poller.
func New(w World, opts Options) (*Server, error) {
	if err := w.validateRegions(); err != nil {
		return nil, fmt.Errorf("codepipeline world: %w", err)
	}
	s, err := newServer(w, opts, nil)
	if err != nil {
		return nil, err
	}
	s.regions.multi = len(w.Regions) > 0 || (opts.Accounts != nil && len(opts.Accounts.Accounts()) > 1)
	for i := range w.Regions {
		rs := &w.Regions[i]
		if _, err := s.place(Place{rs.Account, rs.Region}, rs); err != nil {
			s.Close()
			return nil, err
		}
	}
	return s, nil
}

// newServer builds the server of one account and region; parent is the
// default one's, nil for the default itself.
func newServer(w World, opts Options, parent *Server) (*Server, error) {
	decls, err := w.declarations()
	if err != nil {
		if we, ok := err.(*WorldError); ok && parent != nil {
			we.In = fmt.Sprintf("account %s region %s", w.Account, w.Region)
		}
		return nil, fmt.Errorf("codepipeline world: %w", err)
	}
	s := &Server{
		account:      orDefault(w.Account, DefaultAccount),
		region:       orDefault(w.Region, DefaultRegion),
		githubURL:    strings.TrimRight(opts.GitHubURL, "/"),
		client:       opts.HTTPClient,
		now:          opts.Clock,
		faults:       opts.Faults,
		log:          opts.Logger,
		pollInterval: w.PollInterval.Duration,
		actionDelay:  opts.ActionDelay,
		maxPipelines: opts.MaxPipelines,
		pipelines:    map[string]*pipeline{},
		fetches:      newFetchLog(opts.MaxFetches),
		updates:      &updateLog{},
		parent:       parent,
		accounts:     opts.Accounts,
	}
	s.runTimes.world = w.RunTimes
	concurrency := opts.FetchConcurrency
	if concurrency <= 0 {
		concurrency = 64
	}
	s.sem = make(chan struct{}, concurrency)
	if parent != nil {
		s.sem, s.client = parent.sem, parent.client // one pool for every account and region
	}
	if s.client == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = concurrency
		s.client = &http.Client{Transport: tr, Timeout: 10 * time.Second}
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.faults == nil {
		s.faults = fault.New()
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.pollInterval == 0 {
		s.pollInterval = DefaultPollInterval
	}
	if opts.PollInterval != 0 {
		s.pollInterval = opts.PollInterval
	}
	if s.actionDelay <= 0 {
		s.actionDelay = 100 * time.Millisecond
	}
	if s.maxPipelines <= 0 {
		s.maxPipelines = 1000
	}
	s.opts = opts
	s.opts.HTTPClient = s.client
	for i, d := range decls {
		if err := s.loadWorldPipeline(d, opts.TokenRef); err != nil {
			we := &WorldError{Index: i, Line: w.Pipelines[i].Line, Name: d.Name, Err: err}
			if parent != nil {
				we.In = fmt.Sprintf("account %s region %s", s.account, s.region)
			}
			return nil, fmt.Errorf("codepipeline world: %w", we)
		}
	}
	s.mux = http.NewServeMux()
	s.mux.HandleFunc("/", s.serveAPI)
	s.mountAdmin(s.mux)
	s.ctx, s.cancel = context.WithCancel(context.Background())
	if s.pollInterval > 0 {
		s.wg.Add(1)
		go s.pollLoop()
	}
	return s, nil
}

func (s *Server) loadWorldPipeline(d Declaration, ref func(string) (token.Token, error)) error {
	if err := resolveTokenRefs(&d, ref); err != nil {
		return err
	}
	p, err := s.newPipeline(d, s.now())
	if err != nil {
		return err
	}
	if aerr := s.insert(p); aerr != nil {
		return aerr
	}
	return nil
}

// resolveTokenRefs replaces "{{token:NOTE}}" configuration values.
func resolveTokenRefs(d *Declaration, ref func(string) (token.Token, error)) error {
	for i := range d.Stages {
		for j := range d.Stages[i].Actions {
			a := &d.Stages[i].Actions[j]
			for k, v := range a.Configuration {
				note, ok := strings.CutPrefix(v, TokenRefPrefix)
				if !ok {
					continue
				}
				note, ok = strings.CutSuffix(note, TokenRefSuffix)
				if !ok {
					continue
				}
				if ref == nil {
					return fmt.Errorf("action %s: configuration %s refers to token %q but no token source is wired", a.Name, k, note)
				}
				t, err := ref(note)
				if err != nil {
					return fmt.Errorf("action %s: configuration %s: token %q: %w", a.Name, k, note, err)
				}
				cfg := make(map[string]string, len(a.Configuration))
				for ck, cv := range a.Configuration {
					cfg[ck] = cv
				}
				cfg[k] = t.Reveal()
				a.Configuration = cfg
			}
		}
	}
	return nil
}

// Close stops the poller and every running execution, of every account
// and region, and waits for them.
func (s *Server) Close() error {
	s.regions.mu.RLock()
	others := make([]*Server, 0, len(s.regions.places))
	for _, o := range s.regions.places {
		others = append(others, o)
	}
	s.regions.mu.RUnlock()
	for _, o := range others {
		o.Close()
	}
	s.closeMu.Lock()
	s.closed = true
	s.closeMu.Unlock()
	s.cancel()
	s.wg.Wait()
	return nil
}

// Faults is the injector every operation consults.
func (s *Server) Faults() *fault.Injector { return s.faults }

// Account and Region are where the emulated pipelines live.
func (s *Server) Account() string { return s.account }
func (s *Server) Region() string  { return s.region }

// ServeHTTP serves the API at POST / and the admin API under /_emulator/.
// A panic in a handler answers 500 InternalFailure instead of killing the
// connection.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			s.log.Error("codepipeline emulator: handler panic", "op", r.Header.Get("X-Amz-Target"), "panic", fmt.Sprint(v))
			writeError(w, newError(http.StatusInternalServerError, typeInternalFailure, "An internal error occurred"))
		}
	}()
	if !strings.HasPrefix(r.URL.Path, AdminPrefix) {
		// Straight to the API, not through the mux: the mux answers an
		// unclean path ("/.", "//") with a redirect and no body, where AWS
		// answers with an error in its JSON shape.
		if r.URL.Path == "/" && r.Method == http.MethodPost && r.Header.Get("Authorization") != "" {
			target, aerr := s.route(r)
			if aerr != nil {
				w.Header().Set("X-Amzn-Requestid", newUUID())
				writeError(w, aerr)
				return
			}
			target.serveAPI(w, r)
			return
		}
		s.serveAPI(w, r)
		return
	}
	target, ok := s.adminTarget(r)
	if !ok {
		adminJSON(w, http.StatusNotFound, map[string]string{"message": "this emulator serves one account and region; leave account and region out"})
		return
	}
	target.mux.ServeHTTP(w, r)
}

func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Amzn-Requestid", newUUID())
	if r.URL.Path != "/" || r.Method != http.MethodPost {
		writeError(w, newError(http.StatusNotFound, typeUnknownOperation, "The API is POST / with an X-Amz-Target header"))
		return
	}
	if r.Header.Get("Authorization") == "" {
		writeError(w, newError(http.StatusBadRequest, typeMissingAuth, "Missing Authentication Token"))
		return
	}
	target := r.Header.Get("X-Amz-Target")
	name, ok := strings.CutPrefix(target, targetPrefix)
	op := operations[name]
	if !ok || op == nil {
		writeError(w, newError(http.StatusBadRequest, typeUnknownOperation, "Operation %q is not supported by this endpoint", clip(target)))
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, newError(http.StatusRequestEntityTooLarge, typeEntityTooLarge, "Request body is larger than %d bytes", maxBody))
			return
		}
		writeError(w, newError(http.StatusBadRequest, typeSerialization, "Could not read the request body"))
		return
	}
	out, aerr := op(s, r.Context(), name, body)
	if aerr != nil {
		s.log.Debug("codepipeline emulator: error", "op", name, "type", aerr.Type)
		writeError(w, aerr)
		return
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	if out == nil {
		w.Header().Set("Content-Length", "0")
		w.WriteHeader(http.StatusOK)
		return
	}
	b, err := json.Marshal(out)
	if err != nil {
		writeError(w, newError(http.StatusInternalServerError, typeInternalFailure, "An internal error occurred"))
		return
	}
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
}

func writeError(w http.ResponseWriter, e *apiError) {
	b, _ := json.Marshal(struct {
		Type    string `json:"__type"`
		Message string `json:"message"`
	}{e.Type, e.Message})
	h := w.Header()
	h.Set("Content-Type", "application/x-amz-json-1.1")
	h.Set("X-Amzn-Errortype", e.Type)
	w.WriteHeader(e.Status)
	_, _ = w.Write(b)
}

// opFunc runs one operation on a request body.
type opFunc func(s *Server, ctx context.Context, name string, body []byte) (any, *apiError)

// operation decodes the input, asks the fault injector, then runs.
func operation[In any](run func(*Server, context.Context, *In) (any, *apiError), resource func(*In) string) opFunc {
	return func(s *Server, ctx context.Context, name string, body []byte) (any, *apiError) {
		in := new(In)
		derr := decodeInput(body, in)
		res := ""
		if derr == nil {
			res = resource(in)
		}
		if err := s.decide(ctx, name, res); err != nil {
			return nil, err
		}
		if derr != nil {
			return nil, derr
		}
		return run(s, ctx, in)
	}
}

func decodeInput(body []byte, v any) *apiError {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	if err := json.Unmarshal(body, v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return newError(http.StatusBadRequest, typeSerialization, "Cannot read member '%s': expected %s, found JSON %s", te.Field, jsonKind(te.Type), te.Value)
		}
		return newError(http.StatusBadRequest, typeSerialization, "Request body is not valid JSON: %s", err.Error())
	}
	return nil
}

func jsonKind(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Struct, reflect.Map:
		return "a structure"
	case reflect.Slice:
		return "a list"
	case reflect.String:
		return "a string"
	case reflect.Int, reflect.Int64, reflect.Float64:
		return "a number"
	case reflect.Bool:
		return "a boolean"
	}
	return t.Kind().String()
}

// decide maps the fault injector's outcome to the wire.
func (s *Server) decide(ctx context.Context, op, resource string) *apiError {
	switch s.faults.Decide(ctx, Service, op, resource) {
	case fault.Throttle:
		return newError(http.StatusBadRequest, typeThrottling, "Rate exceeded")
	case fault.ServerError:
		return newError(http.StatusInternalServerError, typeInternalFailure, "An internal error occurred (injected fault)")
	case fault.Fail:
		what := op
		if resource != "" {
			what += " on '" + resource + "'"
		}
		return newError(http.StatusBadRequest, typeValidation, "Injected fault: %s fails (an emulator fault rule matches it)", what)
	}
	return nil
}

var operations = map[string]opFunc{
	"CreatePipeline":                  operation((*Server).createPipeline, func(in *createInput) string { return declName(in.Pipeline) }),
	"GetPipeline":                     operation((*Server).getPipeline, func(in *nameInput) string { return in.Name }),
	"UpdatePipeline":                  operation((*Server).updatePipeline, func(in *updateInput) string { return declName(in.Pipeline) }),
	"ListPipelines":                   operation((*Server).listPipelines, func(*listInput) string { return "" }),
	"DeletePipeline":                  operation((*Server).deletePipeline, func(in *nameInput) string { return in.Name }),
	"GetPipelineState":                operation((*Server).getPipelineState, func(in *nameInput) string { return in.Name }),
	"StartPipelineExecution":          operation((*Server).startExecution, func(in *startInput) string { return in.Name }),
	"GetPipelineExecution":            operation((*Server).getExecution, func(in *getExecutionInput) string { return in.PipelineName }),
	"ListPipelineExecutions":          operation((*Server).listExecutions, func(in *listExecutionsInput) string { return in.PipelineName }),
	"ListActionExecutions":            operation((*Server).listActionExecutions, func(in *listActionExecutionsInput) string { return in.PipelineName }),
	"PutWebhook":                      operation((*Server).putWebhook, func(in *putWebhookInput) string { return webhookTarget(in.Webhook) }),
	"ListWebhooks":                    operation((*Server).listWebhooks, func(*listWebhooksInput) string { return "" }),
	"RegisterWebhookWithThirdParty":   operation((*Server).registerWebhook, func(in *webhookNameInput) string { return in.WebhookName }),
	"DeregisterWebhookWithThirdParty": operation((*Server).deregisterWebhook, func(in *webhookNameInput) string { return in.WebhookName }),
	"DeleteWebhook":                   operation((*Server).deleteWebhook, func(in *webhookNameInput) string { return in.Name }),
	"PutApprovalResult":               operation((*Server).putApprovalResult, func(in *approvalInput) string { return in.PipelineName }),
	"StopPipelineExecution":           operation((*Server).stopExecution, func(in *stopInput) string { return in.PipelineName }),
	"ListTagsForResource":             operation((*Server).listTags, func(in *listTagsInput) string { return arnName(in.ResourceArn) }),
	"TagResource":                     operation((*Server).tagResource, func(in *tagInput) string { return arnName(in.ResourceArn) }),
	"UntagResource":                   operation((*Server).untagResource, func(in *untagInput) string { return arnName(in.ResourceArn) }),
}

func webhookTarget(d *webhookDefinition) string {
	if d == nil {
		return ""
	}
	return d.TargetPipeline
}

func declName(d *Declaration) string {
	if d == nil {
		return ""
	}
	return d.Name
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// newUUID is a random (version 4) UUID, the shape of AWS execution and
// request ids.
func newUUID() string { return awsaccounts.NewID() }
