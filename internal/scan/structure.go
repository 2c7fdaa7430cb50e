package scan

import (
	"bytes"
	"errors"
	"strings"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
	yamltoken "github.com/goccy/go-yaml/token"

	"github.com/rotor-ci/rotor/internal/token"
)

// literal is an OAuthToken value found by a structural rule.
type literal struct {
	rule      Rule
	line, col int
	value     string
	kind      token.Kind
	checksum  Checksum
}

// findStructural looks for the two kinds of file the seed procedure leaves
// behind. Both are parsed with one YAML parser (JSON is YAML's flow style),
// which keeps line and column of every node and accepts CloudFormation's
// short-form tags (!Ref, !Sub) as plain tagged nodes.
func findStructural(data []byte) []literal {
	if !bytes.Contains(data, oauthTokenKey) {
		return nil
	}
	f, ok := parseYAML(data)
	if !ok {
		return nil
	}
	var out []literal
	for _, doc := range f.Docs {
		top, ok := unwrap(doc.Body).(*ast.MappingNode)
		if !ok {
			continue
		}
		// get-pipeline output has "metadata" beside "pipeline"; the
		// update-pipeline input the procedure makes from it has not. Both
		// are leftovers when they hold a real token.
		var (
			rule Rule
			root ast.Node
		)
		if p, ok := unwrap(valueOf(top, "pipeline")).(*ast.MappingNode); ok && valueOf(p, "stages") != nil {
			rule, root = RulePipelineJSON, p
		} else if valueOf(top, "Resources") != nil || valueOf(top, "AWSTemplateFormatVersion") != nil {
			rule, root = RuleCFNLiteral, top
		} else {
			continue
		}
		for _, n := range ast.Filter(ast.MappingValueType, root) {
			mv := n.(*ast.MappingValueNode)
			if keyOf(mv) != "OAuthToken" {
				continue
			}
			s, ok := scalar(mv.Value)
			if !ok {
				continue // !Ref, !Sub, {"Ref": …}: not a literal
			}
			kind, sum, ok := classifyValue(s.Value)
			if !ok {
				continue // "****", a dynamic reference, a placeholder
			}
			pos := s.GetToken().Position
			col := pos.Column
			if t := s.GetToken().Type; t == yamltoken.DoubleQuoteType || t == yamltoken.SingleQuoteType {
				col++ // point at the value, not its quote
			}
			out = append(out, literal{rule: rule, line: pos.Line, col: col, value: s.Value, kind: kind, checksum: sum})
		}
	}
	return out
}

// parseYAML never lets a parser panic on odd input take the scan down.
func parseYAML(data []byte) (f *ast.File, ok bool) {
	defer func() {
		if recover() != nil {
			f, ok = nil, false
		}
	}()
	f, err := parser.ParseBytes(data, 0)
	return f, err == nil && f != nil
}

// classifyValue says whether an OAuthToken value is a real token: one that
// parses as a GitHub token (a failed checksum is kept, as a likely false
// positive), or a pre-2021 token (40 hex digits, no prefix). Masks ("****"),
// dynamic references ({{resolve:…}}) and placeholders are none of these.
func classifyValue(v string) (token.Kind, Checksum, bool) {
	kind := token.KindOf(v)
	if kind == token.KindUnknown {
		return kind, ChecksumNone, isLegacyToken(v)
	}
	_, _, err := token.Parse(v)
	switch {
	case err == nil:
		return kind, checksumOf(kind, v), true
	case errors.Is(err, token.ErrChecksum):
		return kind, ChecksumInvalid, true
	}
	return kind, ChecksumNone, false
}

func isLegacyToken(v string) bool {
	return len(v) == 40 && strings.Trim(v, "0123456789abcdef") == ""
}

func valueOf(m *ast.MappingNode, key string) ast.Node {
	for _, mv := range m.Values {
		if keyOf(mv) == key {
			return mv.Value
		}
	}
	return nil
}

func keyOf(mv *ast.MappingValueNode) string {
	if s, ok := mv.Key.(*ast.StringNode); ok {
		return s.Value
	}
	if mv.Key == nil {
		return ""
	}
	return strings.Trim(mv.Key.String(), `"'`)
}

// unwrap looks through anchors and the explicit string tag.
func unwrap(n ast.Node) ast.Node {
	for {
		switch v := n.(type) {
		case *ast.AnchorNode:
			n = v.Value
		case *ast.TagNode:
			if v.Start == nil || v.Start.Value != "!!str" {
				return n
			}
			n = v.Value
		default:
			return n
		}
	}
}

// scalar returns a node's string value if it is a plain, quoted or block
// scalar.
func scalar(n ast.Node) (*ast.StringNode, bool) {
	switch v := unwrap(n).(type) {
	case *ast.StringNode:
		return v, true
	case *ast.LiteralNode:
		if v.Value == nil {
			return nil, false
		}
		s := *v.Value
		s.Value = strings.TrimSpace(s.Value)
		return &s, true
	}
	return nil, false
}
