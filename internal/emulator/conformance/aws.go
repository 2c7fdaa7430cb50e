package conformance

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"
)

// AWS service models are read with a validator written here: no Go library
// reads botocore's model format (aws-sdk-go-v2 is generated from the same
// models, but only its client-side "required" checks survive generation).
// The format is small: shapes of type structure, list, map, string,
// integer/long/float/double, boolean, timestamp, blob, with the
// constraints required, min, max, pattern and enum.

// Model is one botocore service model.
type Model struct {
	Metadata struct {
		APIVersion   string `json:"apiVersion"`
		JSONVersion  string `json:"jsonVersion"`
		Protocol     string `json:"protocol"`
		ServiceID    string `json:"serviceId"`
		TargetPrefix string `json:"targetPrefix"`
	} `json:"metadata"`
	Operations map[string]struct {
		Input  *struct{ Shape string } `json:"input"`
		Output *struct {
			Shape         string
			ResultWrapper string `json:"resultWrapper"` // the Query protocol's <OpResult>
		} `json:"output"`
		Errors []struct{ Shape string } `json:"errors"`
	} `json:"operations"`
	Shapes map[string]*shape `json:"shapes"`

	// Version is the model's directory date and botocore's version, for
	// reports.
	Version string `json:"-"`
	dir     string // botocore's directory name: "sts", "codestar-connections"
}

type shape struct {
	Type      string            `json:"type"`
	Members   map[string]member `json:"members"`
	Required  []string          `json:"required"`
	Member    *member           `json:"member"`
	Key       *member           `json:"key"`
	Value     *member           `json:"value"`
	Min       *float64          `json:"min"`
	Max       *float64          `json:"max"`
	Pattern   string            `json:"pattern"`
	Enum      []string          `json:"enum"`
	Exception bool              `json:"exception"`
	Fault     bool              `json:"fault"`
	Document  bool              `json:"document"`
	Error     *struct {
		Code           string `json:"code"`
		HTTPStatusCode int    `json:"httpStatusCode"`
	} `json:"error"`

	re     *regexp.Regexp
	reErr  error
	reOnce sync.Once
}

type member struct {
	Shape        string `json:"shape"`
	Location     string `json:"location"`     // header, uri, …: not in a JSON body
	LocationName string `json:"locationName"` // the Query/XML wire name, when not the member's
}

// pattern compiles the shape's pattern, anchored: AWS validates the whole
// value against it (Java's Pattern.matches).
func (s *shape) pattern() (*regexp.Regexp, error) {
	s.reOnce.Do(func() { s.re, s.reErr = regexp.Compile(`^(?:` + goPattern(s.Pattern) + `)$`) })
	return s.re, s.reErr
}

// reJavaEscape is a Java \uXXXX escape, which Go's regexp spells \x{XXXX};
// the models write supplementary planes as \u10000-\u10FFFF.
var reJavaEscape = regexp.MustCompile(`\\u(10[0-9A-Fa-f]{4}|[0-9A-Fa-f]{4})`)

func goPattern(p string) string { return reJavaEscape.ReplaceAllString(p, `\x{$1}`) }

// commonErrors are the errors any AWS JSON API may answer with whatever
// its model declares: AWS's "Common Errors" (API Reference of every
// service, e.g. docs.aws.amazon.com/codepipeline/latest/APIReference/CommonErrors.html)
// and the JSON protocol's own (awsJson1_1 in Smithy's AWS protocol
// documentation: SerializationException, UnknownOperationException).
var commonErrors = map[string]bool{
	"AccessDeniedException": true, "IncompleteSignature": true, "InternalFailure": true,
	"InvalidAction": true, "InvalidClientTokenId": true, "InvalidParameterCombination": true,
	"InvalidParameterValue": true, "InvalidQueryParameter": true, "MalformedQueryString": true,
	"MissingAction": true, "MissingAuthenticationToken": true, "MissingParameter": true,
	"NotAuthorized": true, "OptInRequired": true, "RequestExpired": true,
	"ServiceUnavailable": true, "ThrottlingException": true, "ValidationError": true,
	// JSON protocol errors.
	"SerializationException": true, "UnknownOperationException": true,
	"MissingAuthenticationTokenException": true, "UnrecognizedClientException": true,
	"InvalidSignatureException": true, "IncompleteSignatureException": true,
	"ExpiredTokenException": true, "RequestEntityTooLargeException": true,
	// AWS's JSON front ends answer a request that breaks the model's
	// constraints with ValidationException whether or not the operation
	// declares it (CodeConnections' models declare it nowhere).
	"ValidationException": true,
}

// awsModels finds and loads models by X-Amz-Target prefix, each once.
type awsModels struct {
	dir string

	mu     sync.Mutex
	models map[string]*Model // by botocore directory; nil: none found
	errs   map[string]error
}

func newAWSModels(dir string) *awsModels {
	return &awsModels{dir: dir, models: map[string]*Model{}, errs: map[string]error{}}
}

// byTarget loads the model whose metadata.targetPrefix is prefix
// ("CodePipeline_20150709", "com.amazonaws.codeconnections.CodeConnections_20231201").
// botocore's directory for it is the request's signing name (its SigV4
// credential scope's service, "codestar-connections"), else one derived
// from the prefix; the model's date is the newest there.
func (m *awsModels) byTarget(prefix, signing string) (*Model, error) {
	var candidates []string
	if signing != "" {
		candidates = append(candidates, signing)
	}
	service, _, _ := strings.Cut(prefix, "_")
	if i := strings.LastIndexByte(service, '.'); i >= 0 { // com.amazonaws.<service>.<Name>
		parts := strings.Split(service, ".")
		if len(parts) >= 3 {
			candidates = append(candidates, strings.Join(parts[2:len(parts)-1], "-"))
		}
		service = service[i+1:]
	}
	candidates = append(candidates, strings.ToLower(service))
	if s, ok := strings.CutPrefix(strings.ToLower(service), "aws"); ok { // AWSOrganizationsV20161128
		if i := strings.IndexByte(s, 'v'); i > 0 {
			candidates = append(candidates, s[:i])
		}
	}
	var firstErr error
	for _, dir := range candidates {
		md, err := m.load(dir)
		if err == nil && !md.targetMatches(prefix) {
			err = fmt.Errorf("botocore's %s model has target prefix %q, not %q", dir, md.Metadata.TargetPrefix, prefix)
		}
		if err == nil {
			return md, nil
		}
		if firstErr == nil {
			firstErr = err
		}
	}
	return nil, firstErr
}

// targetMatches reports whether an X-Amz-Target prefix names the model's
// service: botocore sends metadata.targetPrefix
// ("com.amazonaws.codeconnections.CodeConnections_20231201"), the Smithy
// SDKs (aws-sdk-go-v2) the service shape's name, its last segment
// ("CodeConnections_20231201"); AWS answers both.
func (md *Model) targetMatches(prefix string) bool {
	tp := md.Metadata.TargetPrefix
	return prefix == tp || prefix == tp[strings.LastIndexByte(tp, '.')+1:]
}

// byDir loads botocore's model of a service directory ("sts").
func (m *awsModels) byDir(dir string) (*Model, error) { return m.load(dir) }

func (m *awsModels) load(dir string) (*Model, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if md, ok := m.models[dir]; ok {
		return md, m.errs[dir]
	}
	md, err := LoadModel(m.dir, dir)
	m.models[dir], m.errs[dir] = md, err
	return md, err
}

// LoadModel reads botocore's newest model of service from its data
// directory (service-2.json, gzipped or not).
func LoadModel(dataDir, service string) (*Model, error) {
	dates, _ := filepath.Glob(filepath.Join(dataDir, service, "*"))
	sort.Strings(dates)
	for i := len(dates) - 1; i >= 0; i-- {
		for _, name := range []string{"service-2.json", "service-2.json.gz"} {
			f, err := os.Open(filepath.Join(dates[i], name))
			if err != nil {
				continue
			}
			defer f.Close()
			var r io.Reader = f
			if strings.HasSuffix(name, ".gz") {
				gz, err := gzip.NewReader(f)
				if err != nil {
					return nil, fmt.Errorf("%s: %w", f.Name(), err)
				}
				r = gz
			}
			var md Model
			if err := json.NewDecoder(r).Decode(&md); err != nil {
				return nil, fmt.Errorf("%s: %w", f.Name(), err)
			}
			md.Version = filepath.Base(dates[i]) + " (botocore " + botocoreVersion(dataDir) + ")"
			md.dir = service
			return &md, nil
		}
	}
	return nil, fmt.Errorf("botocore has no model of %q under %s", service, dataDir)
}

func botocoreVersion(dataDir string) string {
	b, err := os.ReadFile(filepath.Join(filepath.Dir(dataDir), "__init__.py"))
	if err != nil {
		return "?"
	}
	if m := regexp.MustCompile(`__version__ = '([^']+)'`).FindSubmatch(b); m != nil {
		return string(m[1])
	}
	return "?"
}

// HasOperation reports whether the model describes op.
func (md *Model) HasOperation(op string) bool { _, ok := md.Operations[op]; return ok }

func (c *Check) checkAWS(ex *exchange) (string, string, []Violation) {
	target := ex.req.Header.Get("X-Amz-Target")
	if target == "" && isQuery(ex) {
		return c.checkQuery(ex)
	}
	prefix, op := target, ""
	if i := strings.LastIndexByte(target, '.'); i >= 0 {
		prefix, op = target[:i], target[i+1:]
	}
	signing := signingName(ex.req)
	service := signing
	if service == "" {
		service = strings.ToLower(strings.Split(prefix, "_")[0])
	}
	if service == "" {
		service = "aws"
	}
	var vs []Violation
	bad := func(part, path, problem string) {
		vs = append(vs, Violation{Service: service, Operation: op, Part: part, Path: path, Problem: problem})
	}
	refused := ex.status >= 400
	// Requests the protocol itself refuses: the emulator must refuse them
	// too, and a strict check blames the client.
	protocolProblem := func(problem string) (string, string, []Violation) {
		refuseProtocol(c.lenient, ex.status, problem, bad)
		return service, op, vs
	}
	if op == "" {
		op = "?"
		return protocolProblem(fmt.Sprintf("no operation: X-Amz-Target is %q", target))
	}
	md, err := c.aws.byTarget(prefix, signing)
	if err != nil {
		return protocolProblem(err.Error())
	}
	service = md.dir
	o, ok := md.Operations[op]
	if !ok {
		return protocolProblem("the " + md.Metadata.ServiceID + " model has no operation " + op)
	}
	if ex.req.Method != http.MethodPost || ex.req.URL.Path != "/" {
		return protocolProblem("AWS JSON " + md.Metadata.JSONVersion + " requests are POST /, not " + ex.req.Method + " " + ex.req.URL.Path)
	}
	if !ex.bodyOK {
		return protocolProblem("request body larger than the check keeps")
	}

	// The request.
	var rejects []string // problems AWS answers with an error
	if body := bytes.TrimSpace(ex.reqBody); len(body) > 0 {
		in, err := decodeJSON(body)
		switch {
		case err != nil:
			rejects = append(rejects, "body is not JSON: "+err.Error())
			if !c.lenient {
				bad("request", "", "body is not JSON: "+err.Error())
			}
		case o.Input != nil:
			v := &validator{md: md, lenient: c.lenient}
			v.value(o.Input.Shape, in, "")
			for _, p := range v.problems {
				if !p.ignored {
					rejects = append(rejects, p.path+": "+p.problem)
				}
				if !c.lenient {
					bad("request", p.path, p.problem)
				}
			}
		}
	}

	// The answer.
	part := "response " + strconv.Itoa(ex.status)
	// An endpoint answers another service's target with
	// UnknownOperationException in its own protocol version.
	if ct := ex.header.Get("Content-Type"); ct != "application/x-amz-json-"+md.Metadata.JSONVersion && !strings.Contains(ex.body.String(), "UnknownOperationException") {
		bad(part, "header Content-Type", fmt.Sprintf("%q, want application/x-amz-json-%s", ct, md.Metadata.JSONVersion))
	}
	if !refused {
		if len(rejects) > 0 {
			bad(part, "", "the emulator accepted input AWS refuses: "+strings.Join(rejects, "; "))
		}
		if ex.status != http.StatusOK {
			bad(part, "", "a successful AWS JSON answer is 200")
		}
		if !ex.complete {
			return service, op, vs
		}
		body := bytes.TrimSpace(ex.body.Bytes())
		if o.Output == nil {
			if len(body) > 0 && string(body) != "{}" {
				bad(part, "", "the operation has no output, the emulator sent "+clip(string(body)))
			}
			return service, op, vs
		}
		out, err := decodeJSON(body)
		if err != nil {
			bad(part, "", "body is not JSON: "+err.Error())
			return service, op, vs
		}
		v := &validator{md: md, output: true}
		v.value(o.Output.Shape, out, "")
		for _, p := range v.problems {
			bad(part, p.path, p.problem)
		}
		return service, op, vs
	}

	// An error.
	var eb map[string]any
	if err := json.Unmarshal(ex.body.Bytes(), &eb); err != nil {
		bad(part, "", "an AWS JSON error body is a JSON object with __type: "+err.Error())
		return service, op, vs
	}
	typ, _ := eb["__type"].(string)
	code := errorCode(typ)
	if code == "" {
		bad(part, "__type", "missing")
		return service, op, vs
	}
	if h := ex.header.Get("X-Amzn-ErrorType"); h != "" && errorCode(h) != code {
		bad(part, "header X-Amzn-ErrorType", fmt.Sprintf("%q disagrees with __type %q", h, typ))
	}
	declared := slices.ContainsFunc(o.Errors, func(e struct{ Shape string }) bool { return e.Shape == code })
	if !declared && !commonErrors[code] {
		names := make([]string, len(o.Errors))
		for i, e := range o.Errors {
			names[i] = e.Shape
		}
		bad(part, "__type", fmt.Sprintf("%s is neither declared by %s (%s) nor a common AWS error", code, op, strings.Join(names, ", ")))
		return service, op, vs
	}
	if es := md.Shapes[code]; es != nil {
		if es.Error != nil && es.Error.HTTPStatusCode != 0 && es.Error.HTTPStatusCode != ex.status {
			bad(part, "", fmt.Sprintf("%s is HTTP %d in the model", code, es.Error.HTTPStatusCode))
		}
		if es.Fault != (ex.status >= 500) {
			bad(part, "", fmt.Sprintf("%s is a %s error in the model, answered with HTTP %d", code, map[bool]string{true: "server", false: "client"}[es.Fault], ex.status))
		}
		// Every AWS JSON error carries a message; botocore's models leave
		// it out of most error shapes.
		if _, ok := es.Members["message"]; !ok {
			if m, ok := eb["message"]; ok {
				if _, isString := m.(string); !isString {
					bad(part, "message", "want a string")
				}
				delete(eb, "message")
			}
		}
		delete(eb, "__type")
		v := &validator{md: md, output: true}
		v.value(code, eb, "")
		for _, p := range v.problems {
			bad(part, p.path, p.problem)
		}
	} else if _, ok := eb["message"].(string); !ok && eb["Message"] == nil {
		bad(part, "message", "a common AWS error carries a message")
	}
	return service, op, vs
}

// errorCode is how the SDKs read __type: the part after '#', before ':'.
func errorCode(typ string) string {
	if i := strings.LastIndexByte(typ, '#'); i >= 0 {
		typ = typ[i+1:]
	}
	typ, _, _ = strings.Cut(typ, ":")
	return strings.TrimSpace(typ)
}

func decodeJSON(b []byte) (any, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	if d.More() {
		return nil, fmt.Errorf("trailing data after the JSON value")
	}
	return v, nil
}

func clip(s string) string {
	if len(s) > 120 {
		return s[:120] + "…"
	}
	return s
}

type problem struct {
	path, problem string
	ignored       bool // AWS accepts it (an unknown input member is dropped)
}

// validator walks a decoded JSON value along a model shape.
type validator struct {
	md            *Model
	output        bool
	lenient       bool
	isoTimestamps bool // the Query protocol sends ISO 8601 text
	problems      []problem
}

func (v *validator) add(path, format string, args ...any) {
	v.problems = append(v.problems, problem{path: path, problem: fmt.Sprintf(format, args...)})
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

func (v *validator) value(shapeName string, val any, path string) {
	s := v.md.Shapes[shapeName]
	if s == nil {
		v.add(path, "the model has no shape %s", shapeName)
		return
	}
	if val == nil {
		return // JSON null: the member is absent
	}
	where := path
	if where == "" {
		where = "(body)"
	}
	switch s.Type {
	case "structure":
		if s.Document {
			return
		}
		obj, ok := val.(map[string]any)
		if !ok {
			v.add(where, "want an object (%s), got %s", shapeName, kindOf(val))
			return
		}
		for _, r := range s.Required {
			if m, ok := s.Members[r]; ok && m.Location != "" {
				continue // travels outside the body
			}
			if x, ok := obj[r]; !ok || x == nil {
				v.add(join(path, r), "required member is missing")
			}
		}
		names := make([]string, 0, len(obj))
		for k := range obj {
			names = append(names, k)
		}
		sort.Strings(names)
		for _, k := range names {
			m, ok := s.Members[k]
			if !ok {
				v.problems = append(v.problems, problem{path: join(path, k), problem: "no such member in " + shapeName, ignored: !v.output})
				continue
			}
			v.value(m.Shape, obj[k], join(path, k))
		}
	case "list":
		arr, ok := val.([]any)
		if !ok {
			v.add(where, "want a list (%s), got %s", shapeName, kindOf(val))
			return
		}
		v.bounds(s, float64(len(arr)), where, "items")
		for i, x := range arr {
			v.value(s.Member.Shape, x, fmt.Sprintf("%s[%d]", path, i))
		}
	case "map":
		obj, ok := val.(map[string]any)
		if !ok {
			v.add(where, "want a map (%s), got %s", shapeName, kindOf(val))
			return
		}
		v.bounds(s, float64(len(obj)), where, "entries")
		for k, x := range obj {
			v.value(s.Key.Shape, k, join(path, "(key "+clip(k)+")"))
			v.value(s.Value.Shape, x, join(path, k))
		}
	case "string":
		str, ok := val.(string)
		if !ok {
			v.add(where, "want a string (%s), got %s", shapeName, kindOf(val))
			return
		}
		v.bounds(s, float64(utf8.RuneCountInString(str)), where, "characters")
		if len(s.Enum) > 0 && !slices.Contains(s.Enum, str) {
			v.add(where, "%q is not one of %s (%s)", clip(str), strings.Join(s.Enum, ", "), shapeName)
		}
		if s.Pattern != "" {
			re, err := s.pattern()
			if err != nil {
				v.add(where, "the model's pattern %q does not compile in Go: %v", s.Pattern, err)
			} else if !re.MatchString(str) {
				v.add(where, "does not match the pattern %s (%s)", s.Pattern, shapeName)
			}
		}
	case "integer", "long":
		n, ok := val.(json.Number)
		if !ok {
			v.add(where, "want an integer (%s), got %s", shapeName, kindOf(val))
			return
		}
		i, err := n.Int64()
		if err != nil {
			v.add(where, "want an integer (%s), got %s", shapeName, n)
			return
		}
		if s.Type == "integer" && (i > math.MaxInt32 || i < math.MinInt32) {
			v.add(where, "%d does not fit a 32-bit integer", i)
		}
		v.bounds(s, float64(i), where, "")
	case "float", "double":
		n, ok := val.(json.Number)
		if !ok {
			v.add(where, "want a number (%s), got %s", shapeName, kindOf(val))
			return
		}
		f, _ := n.Float64()
		v.bounds(s, f, where, "")
	case "boolean":
		if _, ok := val.(bool); !ok {
			v.add(where, "want a boolean (%s), got %s", shapeName, kindOf(val))
		}
	case "timestamp":
		if v.isoTimestamps {
			if !isoTimestamp(val) {
				v.add(where, "want an ISO 8601 timestamp (%s), got %v", shapeName, val)
			}
			return
		}
		// The JSON protocols send epoch seconds as a number.
		if _, ok := val.(json.Number); !ok {
			v.add(where, "want epoch seconds as a number (%s), got %s", shapeName, kindOf(val))
		}
	case "blob":
		if _, ok := val.(string); !ok {
			v.add(where, "want base64 text (%s), got %s", shapeName, kindOf(val))
		}
	default:
		v.add(where, "shape %s has type %q, which this check does not know", shapeName, s.Type)
	}
}

// bounds checks min and max: a count of unit ("items") or, when unit is
// empty, a numeric range.
func (v *validator) bounds(s *shape, n float64, where, unit string) {
	suffix := ""
	if unit != "" {
		suffix = " " + unit
	}
	if s.Min != nil && n < *s.Min {
		v.add(where, "%v%s is below the minimum %v", n, suffix, *s.Min)
	}
	if s.Max != nil && n > *s.Max {
		v.add(where, "%v%s is above the maximum %v", n, suffix, *s.Max)
	}
}

func kindOf(v any) string {
	switch v.(type) {
	case map[string]any:
		return "an object"
	case []any:
		return "a list"
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case bool:
		return "a boolean"
	}
	return fmt.Sprintf("%T", v)
}

// refuseProtocol records a request the protocol itself refuses (AWS JSON
// or Query): the client is blamed unless the check is lenient, and the
// emulator too when it did not refuse the request as AWS would.
func refuseProtocol(lenient bool, status int, problem string, bad func(part, path, problem string)) {
	if !lenient {
		bad("request", "", problem)
	}
	if status < 400 {
		bad("response "+strconv.Itoa(status), "", "the emulator accepted a request AWS refuses ("+problem+")")
	}
}
