package config

import (
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	yamlparser "github.com/goccy/go-yaml/parser"

	"github.com/rotor-ci/rotor/internal/token"
)

// parser turns one file into a Config. It walks the YAML tree against the
// Go types first, so that every unknown key and every ill-typed value is
// reported at once with its line and path (goccy's decoder stops at the
// first), then lets goccy's strict decoder fill the structs.
type parser struct {
	file    string
	src     []byte
	ast     *ast.File
	errs    Errors
	present map[string]bool     // field paths written in the file
	keyLine map[string]int      // field path → line of its key
	anchors map[string]ast.Node // &name → node, for *name and <<: *name
}

var durationType = reflect.TypeFor[Duration]()

func (p *parser) add(line int, field, format string, a ...any) {
	p.errs = append(p.errs, &Error{File: p.file, Line: line, Field: field, Msg: fmt.Sprintf(format, a...)})
}

func (p *parser) decode(data []byte, c *Config) error {
	p.present = map[string]bool{}
	p.keyLine = map[string]int{}
	p.anchors = map[string]ast.Node{}
	p.src = data
	f, err := yamlparser.ParseBytes(data, 0)
	if err != nil {
		return Errors{p.syntaxError(err)}
	}
	p.ast = f
	var body ast.Node
	for i, doc := range f.Docs {
		if doc == nil || doc.Body == nil {
			continue
		}
		if body != nil {
			p.add(lineOf(doc.Body), "", "one YAML document only (found a second one, document %d)", i+1)
			return p.errs
		}
		body = doc.Body
	}
	if body == nil {
		return nil // an empty file: every default
	}
	p.walk(body, reflect.TypeFor[Config](), "")
	if len(p.errs) > 0 {
		return p.errs.sorted()
	}
	// The parser already refuses a key given twice; what the decoder would
	// call a duplicate here is a key that overrides one merged in with <<:.
	if err := yaml.NodeToValue(body, c, yaml.Strict(), yaml.AllowDuplicateMapKey()); err != nil {
		// The walk should have caught everything the decoder refuses;
		// whatever remains is reported with the decoder's position.
		return Errors{p.syntaxError(err)}
	}
	for i := range c.Credentials {
		cp := fmt.Sprintf("credentials[%d]", i)
		c.Credentials[i].Line = p.line(cp)
		for j := range c.Credentials[i].Targets {
			c.Credentials[i].Targets[j].Line = p.line(fmt.Sprintf("%s.targets[%d]", cp, j))
		}
	}
	for i := range c.Server.Alerts {
		c.Server.Alerts[i].Line = p.line(fmt.Sprintf("server.alerts[%d]", i))
	}
	return nil
}

func (p *parser) syntaxError(err error) *Error {
	var ye yaml.Error
	if errors.As(err, &ye) {
		line := 0
		if tk := ye.GetToken(); tk != nil && tk.Position != nil {
			line = tk.Position.Line
		}
		if line == 0 {
			line = p.guessLine(ye.GetMessage())
		}
		return &Error{File: p.file, Line: line, Msg: ye.GetMessage()}
	}
	return &Error{File: p.file, Line: p.guessLine(err.Error()), Msg: err.Error()}
}

// guessLine places an error the YAML library gave without a position (an
// alias of an anchor that does not exist): on the alias it names if it can
// find it, else on the first line that holds anything, so that every error
// still names a line.
func (p *parser) guessLine(msg string) int {
	if _, name, ok := strings.Cut(msg, "alias name "); ok {
		name = strings.TrimSpace(strings.Trim(strings.TrimSpace(name), `"'`))
		if i := strings.Index(string(p.src), "*"+name); name != "" && i >= 0 {
			return 1 + strings.Count(string(p.src[:i]), "\n")
		}
	}
	for i, l := range strings.Split(string(p.src), "\n") {
		if strings.TrimSpace(l) != "" {
			return i + 1
		}
	}
	return 0
}

// line finds where path (credentials[0].rotate.every) is in the file: the
// line of its key where it has one (a block mapping's value starts a line
// below its key), else of its value. For a field that is missing it falls
// back to its nearest parent that exists.
func (p *parser) line(path string) int {
	if p.ast == nil {
		return 0
	}
	for path != "" {
		if l, ok := p.keyLine[path]; ok {
			return l
		}
		if yp, err := yaml.PathString("$." + path); err == nil {
			if n, err := yp.FilterFile(p.ast); err == nil && n != nil {
				return lineOf(n)
			}
		}
		path = parent(path)
	}
	for _, doc := range p.ast.Docs {
		if doc != nil && doc.Body != nil {
			return lineOf(doc.Body)
		}
	}
	return 0
}

func parent(path string) string {
	i := strings.LastIndexAny(path, ".[")
	if i < 0 {
		return ""
	}
	return path[:i]
}

func lineOf(n ast.Node) int {
	if n == nil {
		return 0
	}
	if tk := n.GetToken(); tk != nil && tk.Position != nil {
		return tk.Position.Line
	}
	return 0
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// deref follows anchors, tags and aliases to the node that holds the value.
func (p *parser) deref(n ast.Node) ast.Node {
	for i := 0; n != nil && i < 32; i++ {
		switch v := n.(type) {
		case *ast.AnchorNode:
			if v.Name != nil {
				p.anchors[v.Name.GetToken().Value] = v.Value
			}
			n = v.Value
		case *ast.TagNode:
			n = v.Value
		case *ast.AliasNode:
			if v.Value == nil {
				return nil
			}
			target, ok := p.anchors[v.Value.GetToken().Value]
			if !ok {
				return nil // goccy reports the unknown alias when decoding
			}
			n = target
		default:
			return n
		}
	}
	return n
}

func (p *parser) walk(n ast.Node, t reflect.Type, path string) {
	n = p.deref(n)
	if n == nil || n.Type() == ast.NullType {
		return
	}
	if path != "" {
		p.present[path] = true
	}
	if t == durationType {
		p.scalar(n, t, path)
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		p.mapping(n, path, func(key string, kn ast.Node) (reflect.Type, bool) {
			f, ok := fieldByTag(t, key)
			if !ok {
				p.add(lineOf(kn), join(path, key), "unknown field%s", suggest(key, tagsOf(t)))
				return nil, false
			}
			return f.Type, true
		})
	case reflect.Map:
		p.mapping(n, path, func(string, ast.Node) (reflect.Type, bool) { return t.Elem(), true })
	case reflect.Slice:
		seq, ok := n.(*ast.SequenceNode)
		if !ok {
			p.add(lineOf(n), path, "want a list, like [a, b]")
			return
		}
		for i, v := range seq.Values {
			p.walk(v, t.Elem(), fmt.Sprintf("%s[%d]", path, i))
		}
	default:
		p.scalar(n, t, path)
	}
}

// mapping checks the keys of a mapping node and walks their values; field
// says which type a key's value has, or false for an unknown key.
func (p *parser) mapping(n ast.Node, path string, field func(key string, kn ast.Node) (reflect.Type, bool)) {
	var values []*ast.MappingValueNode
	switch m := n.(type) {
	case *ast.MappingNode:
		values = m.Values
	case *ast.MappingValueNode:
		values = []*ast.MappingValueNode{m}
	default:
		p.add(lineOf(n), path, "want a mapping of key: value")
		return
	}
	seen := map[string]bool{}
	var merged []*ast.MappingValueNode
	for _, mv := range values {
		if mv.Key != nil && mv.Key.IsMergeKey() {
			merged = append(merged, p.mergeSources(mv)...)
			continue
		}
		key := keyString(mv.Key)
		if seen[key] {
			p.add(lineOf(mv.Key), join(path, key), "given twice")
			continue
		}
		seen[key] = true
		p.keyLine[join(path, key)] = lineOf(mv.Key)
		if t, ok := field(key, mv.Key); ok {
			p.walk(mv.Value, t, join(path, key))
		}
	}
	// Keys merged in with <<: count only where the mapping does not set them.
	for _, mv := range merged {
		key := keyString(mv.Key)
		if seen[key] {
			continue
		}
		seen[key] = true
		if t, ok := field(key, mv.Key); ok {
			p.walk(mv.Value, t, join(path, key))
		}
	}
}

func (p *parser) mergeSources(mv *ast.MappingValueNode) []*ast.MappingValueNode {
	var out []*ast.MappingValueNode
	add := func(n ast.Node) {
		switch m := p.deref(n).(type) {
		case *ast.MappingNode:
			out = append(out, m.Values...)
		case *ast.MappingValueNode:
			out = append(out, m)
		}
	}
	if seq, ok := p.deref(mv.Value).(*ast.SequenceNode); ok {
		for _, v := range seq.Values {
			add(v)
		}
	} else {
		add(mv.Value)
	}
	return out
}

func keyString(k ast.MapKeyNode) string {
	if k == nil {
		return ""
	}
	if s, ok := k.(ast.ScalarNode); ok {
		if v := s.GetValue(); v != nil {
			return fmt.Sprint(v)
		}
	}
	if tk := k.GetToken(); tk != nil {
		return tk.Value
	}
	return k.String()
}

// scalar checks one leaf value: never a token, and of the right type.
func (p *parser) scalar(n ast.Node, t reflect.Type, path string) {
	switch n.(type) {
	case *ast.MappingNode, *ast.MappingValueNode:
		p.add(lineOf(n), path, "want %s, not a mapping", describe(t))
		return
	case *ast.SequenceNode:
		p.add(lineOf(n), path, "want %s, not a list", describe(t))
		return
	}
	raw := scalarText(n)
	if k := token.KindOf(strings.TrimSpace(raw)); k != token.KindUnknown {
		p.add(lineOf(n), path, "looks like a %s: put tokens in the store, not the config", k.Describe())
		return
	}
	if t == durationType {
		if _, err := ParseDuration(raw); err != nil {
			p.add(lineOf(n), path, "%s: %v", quote(raw), err)
		}
		return
	}
	ptr := reflect.New(t)
	if err := yaml.NodeToValue(n, ptr.Interface()); err != nil {
		p.add(lineOf(n), path, "%s: want %s", quote(raw), describe(t))
		return
	}
	if t.Kind() == reflect.String {
		if _, isStr := n.(*ast.StringNode); !isStr {
			if _, isLit := n.(*ast.LiteralNode); !isLit {
				// name: 123 or verify: true decode into strings silently;
				// a person who wrote them meant something else.
				if _, ok := n.(*ast.NullNode); !ok {
					p.add(lineOf(n), path, "%s: want a string (quote it if you mean the text)", quote(raw))
				}
			}
		}
	}
}

func scalarText(n ast.Node) string {
	switch v := n.(type) {
	case *ast.StringNode:
		return v.Value
	case *ast.LiteralNode:
		if v.Value != nil {
			return v.Value.Value
		}
	}
	if s, ok := n.(ast.ScalarNode); ok {
		if v := s.GetValue(); v != nil {
			return fmt.Sprint(v)
		}
	}
	if tk := n.GetToken(); tk != nil {
		return tk.Value
	}
	return ""
}

func describe(t reflect.Type) string {
	if t == durationType {
		return "a duration like 30d or 12h"
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "a whole number"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number, 0 or more"
	case reflect.Slice:
		return "a list"
	case reflect.Map, reflect.Struct:
		return "a mapping of key: value"
	}
	return t.String()
}

func yamlName(f reflect.StructField) string {
	tag := f.Tag.Get("yaml")
	name, _, _ := strings.Cut(tag, ",")
	return name
}

func fieldByTag(t reflect.Type, key string) (reflect.StructField, bool) {
	for i := range t.NumField() {
		f := t.Field(i)
		if name := yamlName(f); f.IsExported() && name != "" && name != "-" && name == key {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

func tagsOf(t reflect.Type) []string {
	var out []string
	for i := range t.NumField() {
		f := t.Field(i)
		if name := yamlName(f); f.IsExported() && name != "" && name != "-" {
			out = append(out, name)
		}
	}
	return out
}

// suggest names the closest known key, or lists them all when none is close.
func suggest(key string, known []string) string {
	best, bestD := "", 3
	for _, k := range known {
		if d := distance(strings.ToLower(key), k); d < bestD {
			best, bestD = k, d
		}
	}
	if best != "" {
		return fmt.Sprintf(" (did you mean %s?)", strconv.Quote(best))
	}
	sorted := append([]string(nil), known...)
	sort.Strings(sorted)
	return "; known fields here: " + strings.Join(sorted, ", ")
}

// distance is the Levenshtein edit distance.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
