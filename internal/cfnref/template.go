package cfnref

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"

	"github.com/rotor-ci/rotor/internal/token"
)

// Decode reads a CloudFormation template, JSON or YAML, into plain Go values
// (map[string]any, []any, string, float64/int/uint64, bool, nil). YAML
// short-form intrinsics become their long form (!Sub x → {"Fn::Sub": x},
// !Ref x → {"Ref": x}, !GetAtt a.b → {"Fn::GetAtt": [a, b]}), as
// CloudFormation itself reads them.
func Decode(body []byte) (map[string]any, error) {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return nil, fmt.Errorf("%w: empty", ErrTemplate)
	}
	var v any
	if trimmed[0] == '{' {
		dec := json.NewDecoder(bytes.NewReader(trimmed))
		if err := dec.Decode(&v); err != nil {
			// Not every '{' opens JSON: a YAML flow mapping does too.
			yv, yerr := decodeYAML(trimmed)
			if yerr != nil {
				return nil, fmt.Errorf("%w: json: %s", ErrTemplate, jsonErrText(err))
			}
			v = yv
		}
	} else {
		yv, err := decodeYAML(trimmed)
		if err != nil {
			return nil, err
		}
		v = yv
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%w: top level is not a mapping", ErrTemplate)
	}
	return m, nil
}

// jsonErrText keeps the position of a JSON syntax error but drops the
// offending text, which may be a token.
func jsonErrText(err error) string {
	if se, ok := err.(*json.SyntaxError); ok {
		return fmt.Sprintf("syntax error at byte %d", se.Offset)
	}
	return "not a JSON object"
}

func decodeYAML(body []byte) (any, error) {
	f, err := parser.ParseBytes(body, 0)
	if err != nil {
		// goccy's messages quote the source line; keep only where it is.
		return nil, fmt.Errorf("%w: yaml: %s", ErrTemplate, yamlErrPos(err))
	}
	if len(f.Docs) != 1 || f.Docs[0] == nil || f.Docs[0].Body == nil {
		return nil, fmt.Errorf("%w: yaml: want one document", ErrTemplate)
	}
	d := &yamlDecoder{anchors: map[string]any{}}
	return d.node(f.Docs[0].Body)
}

func yamlErrPos(err error) string {
	msg := err.Error()
	// "[3:5] message\n   3 | source…": keep "[3:5]" only.
	if i := strings.Index(msg, "]"); strings.HasPrefix(msg, "[") && i > 0 {
		return "syntax error at " + msg[:i+1]
	}
	return "syntax error"
}

type yamlDecoder struct {
	anchors map[string]any
}

// shortForms maps YAML short-form tags to CloudFormation's long form.
var shortForms = map[string]string{
	"!Ref":          "Ref",
	"!Condition":    "Condition",
	"!Sub":          "Fn::Sub",
	"!Join":         "Fn::Join",
	"!GetAtt":       "Fn::GetAtt",
	"!Select":       "Fn::Select",
	"!Split":        "Fn::Split",
	"!If":           "Fn::If",
	"!Equals":       "Fn::Equals",
	"!And":          "Fn::And",
	"!Or":           "Fn::Or",
	"!Not":          "Fn::Not",
	"!FindInMap":    "Fn::FindInMap",
	"!ImportValue":  "Fn::ImportValue",
	"!Base64":       "Fn::Base64",
	"!Cidr":         "Fn::Cidr",
	"!GetAZs":       "Fn::GetAZs",
	"!Transform":    "Fn::Transform",
	"!Length":       "Fn::Length",
	"!ToJsonString": "Fn::ToJsonString",
	"!ForEach":      "Fn::ForEach",
}

func (d *yamlDecoder) node(n ast.Node) (any, error) {
	switch n := n.(type) {
	case nil:
		return nil, nil
	case *ast.NullNode:
		return nil, nil
	case *ast.StringNode:
		return n.Value, nil
	case *ast.LiteralNode:
		return n.Value.Value, nil
	case *ast.IntegerNode, *ast.FloatNode, *ast.BoolNode, *ast.InfinityNode, *ast.NanNode:
		return n.(ast.ScalarNode).GetValue(), nil
	case *ast.MappingNode:
		m := make(map[string]any, len(n.Values))
		for _, mv := range n.Values {
			if err := d.pair(m, mv); err != nil {
				return nil, err
			}
		}
		return m, nil
	case *ast.MappingValueNode:
		m := map[string]any{}
		if err := d.pair(m, n); err != nil {
			return nil, err
		}
		return m, nil
	case *ast.SequenceNode:
		s := make([]any, 0, len(n.Values))
		for _, e := range n.Values {
			v, err := d.node(e)
			if err != nil {
				return nil, err
			}
			s = append(s, v)
		}
		return s, nil
	case *ast.AnchorNode:
		v, err := d.node(n.Value)
		if err != nil {
			return nil, err
		}
		d.anchors[n.Name.String()] = v
		return v, nil
	case *ast.AliasNode:
		v, ok := d.anchors[n.Value.String()]
		if !ok {
			return nil, fmt.Errorf("%w: yaml: alias before its anchor at line %d", ErrTemplate, n.GetToken().Position.Line)
		}
		return v, nil
	case *ast.TagNode:
		return d.tag(n)
	case *ast.CommentNode, *ast.CommentGroupNode:
		return nil, nil
	}
	return nil, fmt.Errorf("%w: yaml: unexpected %s at line %d", ErrTemplate, n.Type(), n.GetToken().Position.Line)
}

func (d *yamlDecoder) pair(m map[string]any, mv *ast.MappingValueNode) error {
	k, err := d.node(mv.Key)
	if err != nil {
		return err
	}
	v, err := d.node(mv.Value)
	if err != nil {
		return err
	}
	m[fmt.Sprint(k)] = v
	return nil
}

func (d *yamlDecoder) tag(n *ast.TagNode) (any, error) {
	name := n.Start.Value
	v, err := d.node(n.Value)
	if err != nil {
		return nil, err
	}
	long, ok := shortForms[name]
	if !ok {
		// Standard tags (!!str …) and ones CloudFormation does not know:
		// the value as written.
		return v, nil
	}
	if long == "Fn::GetAtt" {
		// !GetAtt Resource.Attribute is a string; the long form a list.
		if s, ok := v.(string); ok {
			res, attr, _ := strings.Cut(s, ".")
			v = []any{res, attr}
		}
	}
	return map[string]any{long: v}, nil
}

// safeName returns s for an error message, unless it could be a secret.
func safeName(s string) string {
	if len(s) > 128 || token.KindOf(s) != token.KindUnknown {
		return "[redacted]"
	}
	return s
}
