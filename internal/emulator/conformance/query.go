package conformance

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"

	"sort"
	"strconv"
	"strings"
	"time"
)

// The AWS Query protocol (STS, IAM, …): a form-encoded request
// (Action=AssumeRole&Version=2011-06-15&RoleArn=…, lists as
// Name.member.N), an XML answer <OpResponse><OpResult>…</OpResult>
// <ResponseMetadata/></OpResponse>, errors as <ErrorResponse><Error>
// <Type/><Code/><Message/></Error><RequestId/></ErrorResponse> (Smithy's
// awsQuery protocol documentation). botocore's models describe it with the
// same shapes as the JSON protocols, plus the output's resultWrapper.

// queryCommonErrors are the errors any Query API may answer with beyond
// its model: AWS's Common Errors, in the Query protocol's codes.
var queryCommonErrors = map[string]bool{
	"AccessDenied": true, "IncompleteSignature": true, "InternalFailure": true, "InvalidAction": true,
	"InvalidClientTokenId": true, "InvalidParameterCombination": true, "InvalidParameterValue": true,
	"InvalidQueryParameter": true, "MalformedQueryString": true, "MissingAction": true,
	"MissingAuthenticationToken": true, "MissingParameter": true, "NotAuthorized": true, "OptInRequired": true,
	"RequestExpired": true, "ServiceUnavailable": true, "Throttling": true, "ValidationError": true,
	"SignatureDoesNotMatch": true, "ExpiredToken": true,
}

// signingName is the service of a request's SigV4 credential scope
// ("Credential=AKID/DATE/REGION/SERVICE/aws4_request"), "" when absent.
func signingName(r *http.Request) string {
	h := r.Header.Get("Authorization")
	i := strings.Index(h, "Credential=")
	if i < 0 {
		return ""
	}
	scope := h[i+len("Credential="):]
	if j := strings.IndexAny(scope, ", "); j >= 0 {
		scope = scope[:j]
	}
	parts := strings.Split(scope, "/")
	if len(parts) != 5 {
		return ""
	}
	return parts[3]
}

// isQuery reports whether a request without X-Amz-Target is a Query
// protocol request: a form body (or query string) with an Action.
func isQuery(ex *exchange) bool {
	ct, _, _ := mime.ParseMediaType(ex.req.Header.Get("Content-Type"))
	if ct == "application/x-www-form-urlencoded" {
		return true
	}
	return ex.req.URL.Query().Get("Action") != ""
}

func queryForm(ex *exchange) (url.Values, error) {
	form := url.Values{}
	for k, v := range ex.req.URL.Query() {
		form[k] = append(form[k], v...)
	}
	body, err := url.ParseQuery(string(ex.reqBody))
	if err != nil {
		return form, err
	}
	for k, v := range body {
		form[k] = append(form[k], v...)
	}
	return form, nil
}

func (c *Check) checkQuery(ex *exchange) (string, string, []Violation) {
	service := signingName(ex.req)
	if service == "" {
		service = "sts" // the one Query API the emulators serve
	}
	form, ferr := queryForm(ex)
	op := form.Get("Action")
	var vs []Violation
	bad := func(part, path, problem string) {
		vs = append(vs, Violation{Service: service, Operation: op, Part: part, Path: path, Problem: problem})
	}
	refused := ex.status >= 400
	protocolProblem := func(problem string) (string, string, []Violation) {
		refuseProtocol(c.lenient, ex.status, problem, bad)
		return service, op, vs
	}
	if op == "" {
		op = "?"
		return protocolProblem("a Query request names its Action")
	}
	md, err := c.aws.byDir(service)
	if err != nil {
		return protocolProblem(err.Error())
	}
	if md.Metadata.Protocol != "query" {
		return protocolProblem("the " + md.Metadata.ServiceID + " model's protocol is " + md.Metadata.Protocol + ", not query")
	}
	o, ok := md.Operations[op]
	if !ok {
		return protocolProblem("the " + md.Metadata.ServiceID + " model has no operation " + op)
	}
	if v := form.Get("Version"); v != md.Metadata.APIVersion {
		return protocolProblem(fmt.Sprintf("Version %q, want the model's %s", v, md.Metadata.APIVersion))
	}
	if ferr != nil || !ex.bodyOK {
		return protocolProblem("the body is not a form")
	}

	// The request: the form, read along the input shape.
	var rejects []string
	if o.Input != nil {
		delete(form, "Action")
		delete(form, "Version")
		for k := range form {
			if strings.HasPrefix(k, "X-Amz-") { // presigned requests' signature
				delete(form, k)
			}
		}
		v := &validator{md: md, lenient: c.lenient, isoTimestamps: true}
		in, leftover := queryValue(md, o.Input.Shape, "", form)
		v.value(o.Input.Shape, in, "")
		for _, k := range leftover {
			v.problems = append(v.problems, problem{path: k, problem: "no such member in " + o.Input.Shape, ignored: true})
		}
		for _, p := range v.problems {
			if !p.ignored {
				rejects = append(rejects, p.path+": "+p.problem)
			}
			if !c.lenient {
				bad("request", p.path, p.problem)
			}
		}
	}

	part := "response " + strconv.Itoa(ex.status)
	if ct, _, _ := mime.ParseMediaType(ex.header.Get("Content-Type")); ct != "text/xml" && ct != "application/xml" {
		bad(part, "header Content-Type", fmt.Sprintf("%q, want text/xml", ex.header.Get("Content-Type")))
	}
	if !ex.complete {
		return service, op, vs
	}
	root, err := parseXML(ex.body.Bytes())
	if err != nil {
		bad(part, "", "the body is not XML: "+err.Error())
		return service, op, vs
	}
	if !refused {
		if len(rejects) > 0 {
			bad(part, "", "the emulator accepted input AWS refuses: "+strings.Join(rejects, "; "))
		}
		if ex.status != http.StatusOK {
			bad(part, "", "a successful Query answer is 200")
		}
		if root.name != op+"Response" {
			bad(part, "", fmt.Sprintf("root element <%s>, want <%sResponse>", root.name, op))
			return service, op, vs
		}
		var result *xmlNode
		for _, ch := range root.children {
			switch {
			case ch.name == "ResponseMetadata":
			case o.Output != nil && ch.name == o.Output.ResultWrapper:
				result = ch
			default:
				bad(part, ch.name, "an element the protocol does not put in <"+root.name+">")
			}
		}
		if o.Output == nil {
			return service, op, vs
		}
		if result == nil {
			bad(part, "", "no <"+o.Output.ResultWrapper+"> element")
			return service, op, vs
		}
		v := &validator{md: md, output: true, isoTimestamps: true}
		v.value(o.Output.Shape, xmlValue(md, o.Output.Shape, result), "")
		for _, p := range v.problems {
			bad(part, p.path, p.problem)
		}
		return service, op, vs
	}

	// An error.
	if root.name != "ErrorResponse" {
		bad(part, "", fmt.Sprintf("root element <%s>, want <ErrorResponse>", root.name))
		return service, op, vs
	}
	errEl := root.child("Error")
	if errEl == nil {
		bad(part, "", "no <Error> element")
		return service, op, vs
	}
	code := errEl.text("Code")
	if code == "" {
		bad(part, "Error.Code", "missing")
		return service, op, vs
	}
	if typ := errEl.text("Type"); typ != "Sender" && typ != "Receiver" {
		bad(part, "Error.Type", fmt.Sprintf("%q, want Sender or Receiver", typ))
	}
	if errEl.child("Message") == nil {
		bad(part, "Error.Message", "missing")
	}
	var declared *shape
	var names []string
	for _, e := range o.Errors {
		es := md.Shapes[e.Shape]
		c := e.Shape
		if es != nil && es.Error != nil && es.Error.Code != "" {
			c = es.Error.Code
		}
		names = append(names, c)
		if c == code {
			declared = es
		}
	}
	switch {
	case declared != nil:
		if declared.Error != nil && declared.Error.HTTPStatusCode != 0 && declared.Error.HTTPStatusCode != ex.status {
			bad(part, "", fmt.Sprintf("%s is HTTP %d in the model", code, declared.Error.HTTPStatusCode))
		}
	case !queryCommonErrors[code]:
		bad(part, "Error.Code", fmt.Sprintf("%s is neither declared by %s (%s) nor a common AWS error", code, op, strings.Join(names, ", ")))
	}
	return service, op, vs
}

// queryValue reads the form keys under prefix along a shape into the
// value the validator walks (as decodeJSON would have made it), and
// returns the keys under prefix no member accounts for.
func queryValue(md *Model, shapeName, prefix string, form url.Values) (any, []string) {
	s := md.Shapes[shapeName]
	if s == nil {
		return nil, nil
	}
	used := map[string]bool{}
	v := readQuery(md, s, prefix, form, used)
	var leftover []string
	for k := range form {
		if !used[k] && (prefix == "" || strings.HasPrefix(k, prefix+".")) {
			leftover = append(leftover, k)
		}
	}
	sort.Strings(leftover)
	return v, leftover
}

func readQuery(md *Model, s *shape, key string, form url.Values, used map[string]bool) any {
	join := func(name string) string {
		if key == "" {
			return name
		}
		return key + "." + name
	}
	switch s.Type {
	case "structure":
		obj := map[string]any{}
		for name, m := range s.Members {
			ms := md.Shapes[m.Shape]
			if ms == nil {
				continue
			}
			wire := name
			if m.LocationName != "" {
				wire = m.LocationName
			}
			if x := readQuery(md, ms, join(wire), form, used); x != nil {
				obj[name] = x
			}
		}
		if key != "" && len(obj) == 0 {
			return nil
		}
		return obj
	case "list":
		if _, ok := form[key]; ok && form.Get(key) == "" { // an empty list is sent as "Name="
			used[key] = true
			return []any{}
		}
		ms := md.Shapes[s.Member.Shape]
		var out []any
		for i := 1; ; i++ {
			x := readQuery(md, ms, fmt.Sprintf("%s.member.%d", key, i), form, used)
			if x == nil {
				break
			}
			out = append(out, x)
		}
		if out == nil {
			return nil
		}
		return out
	case "map":
		obj := map[string]any{}
		for i := 1; ; i++ {
			k := fmt.Sprintf("%s.entry.%d.key", key, i)
			if _, ok := form[k]; !ok {
				break
			}
			used[k] = true
			x := readQuery(md, md.Shapes[s.Value.Shape], fmt.Sprintf("%s.entry.%d.value", key, i), form, used)
			obj[form.Get(k)] = x
		}
		if len(obj) == 0 {
			return nil
		}
		return obj
	}
	vals, ok := form[key]
	if !ok {
		return nil
	}
	used[key] = true
	return scalar(s.Type, vals[0])
}

// scalar turns a wire string into what decodeJSON gives for the type, or
// leaves it a string (which the validator then refuses) when it is not one.
func scalar(typ, v string) any {
	switch typ {
	case "integer", "long", "float", "double":
		if _, err := strconv.ParseFloat(v, 64); err == nil {
			return json.Number(v)
		}
	case "boolean":
		if b, err := strconv.ParseBool(v); err == nil {
			return b
		}
	}
	return v
}

// xmlNode is a parsed XML element.
type xmlNode struct {
	name     string
	content  string
	children []*xmlNode
}

func (n *xmlNode) child(name string) *xmlNode {
	for _, c := range n.children {
		if c.name == name {
			return c
		}
	}
	return nil
}

func (n *xmlNode) text(name string) string {
	if c := n.child(name); c != nil {
		return strings.TrimSpace(c.content)
	}
	return ""
}

func parseXML(b []byte) (*xmlNode, error) {
	d := xml.NewDecoder(bytes.NewReader(b))
	var stack []*xmlNode
	var root *xmlNode
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			n := &xmlNode{name: t.Name.Local}
			if len(stack) > 0 {
				p := stack[len(stack)-1]
				p.children = append(p.children, n)
			} else if root != nil {
				return nil, fmt.Errorf("more than one root element")
			} else {
				root = n
			}
			stack = append(stack, n)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if len(stack) > 0 {
				stack[len(stack)-1].content += string(t)
			}
		}
	}
	if root == nil {
		return nil, fmt.Errorf("no element")
	}
	return root, nil
}

// xmlValue reads an element along a shape into the value the validator
// walks; an element no member names is kept under its own name, so that
// the validator reports it.
func xmlValue(md *Model, shapeName string, n *xmlNode) any {
	s := md.Shapes[shapeName]
	if s == nil {
		return strings.TrimSpace(n.content)
	}
	switch s.Type {
	case "structure":
		obj := map[string]any{}
		for _, ch := range n.children {
			name, m := ch.name, member{}
			for mn, mm := range s.Members {
				wire := mn
				if mm.LocationName != "" {
					wire = mm.LocationName
				}
				if wire == ch.name {
					name, m = mn, mm
					break
				}
			}
			if m.Shape == "" {
				obj[name] = strings.TrimSpace(ch.content)
				continue
			}
			obj[name] = xmlValue(md, m.Shape, ch)
		}
		return obj
	case "list":
		out := []any{}
		for _, ch := range n.children {
			out = append(out, xmlValue(md, s.Member.Shape, ch))
		}
		return out
	}
	return scalar(s.Type, strings.TrimSpace(n.content))
}

// isoTimestamp accepts the Query protocol's timestamps (ISO 8601).
func isoTimestamp(v any) bool {
	s, ok := v.(string)
	if !ok {
		return false
	}
	for _, layout := range []string{time.RFC3339, time.RFC3339Nano, "2006-01-02T15:04:05Z"} {
		if _, err := time.Parse(layout, s); err == nil {
			return true
		}
	}
	return false
}
