package cfnref

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// env is what intrinsic functions resolve against: the stack's pseudo
// parameters, parameter values and physical resource ids.
type env struct {
	Pseudo   map[string]string // "AWS::Region" → "us-east-1", …
	Params   map[string]string // parameter name → value (NoEcho ones absent)
	Physical map[string]string // logical id → physical id
	// SSMNames: for parameters of type AWS::SSM::Parameter::Value<…>, the
	// SSM parameter's name (Params holds what it resolved to).
	SSMNames map[string]string
}

// pseudoFromStackID fills the pseudo parameters CloudFormation knows from
// a stack ARN: arn:PARTITION:cloudformation:REGION:ACCOUNT:stack/NAME/ID.
func pseudoFromStackID(stackID, stackName string) map[string]string {
	p := map[string]string{"AWS::StackName": stackName, "AWS::NoValue": ""}
	parts := strings.SplitN(stackID, ":", 6)
	if len(parts) == 6 && parts[0] == "arn" {
		p["AWS::Partition"] = parts[1]
		p["AWS::Region"] = parts[3]
		p["AWS::AccountId"] = parts[4]
		p["AWS::StackId"] = stackID
		switch {
		case strings.HasPrefix(parts[3], "cn-"):
			p["AWS::URLSuffix"] = "amazonaws.com.cn"
		default:
			p["AWS::URLSuffix"] = "amazonaws.com"
		}
	}
	return p
}

// eval turns a template value built from literals, Ref, Fn::Sub and
// Fn::Join into a string. Anything else is ErrUnsupported; a name with no
// known value is ErrUnresolved.
func (e env) eval(v any) (string, error) {
	switch v := v.(type) {
	case string:
		return v, nil
	case bool:
		return strconv.FormatBool(v), nil
	case int, int64, uint64, float64:
		return fmt.Sprint(v), nil
	case map[string]any:
		if len(v) != 1 {
			return "", fmt.Errorf("%w: a mapping where a string belongs", ErrUnsupported)
		}
		for fn, arg := range v {
			switch fn {
			case "Ref":
				name, ok := arg.(string)
				if !ok {
					return "", fmt.Errorf("%w: Ref takes a name", ErrUnsupported)
				}
				return e.ref(name)
			case "Fn::Sub":
				return e.sub(arg)
			case "Fn::Join":
				return e.join(arg)
			}
			return "", fmt.Errorf("%w: %s", ErrUnsupported, safeName(fn))
		}
	}
	return "", fmt.Errorf("%w: a %T where a string belongs", ErrUnsupported, v)
}

func (e env) ref(name string) (string, error) {
	if v, ok := e.Pseudo[name]; ok {
		return v, nil
	}
	if v, ok := e.Params[name]; ok {
		return v, nil
	}
	if v, ok := e.Physical[name]; ok {
		return v, nil
	}
	return "", fmt.Errorf("%w: Ref %s", ErrUnresolved, safeName(name))
}

func (e env) join(arg any) (string, error) {
	l, ok := arg.([]any)
	if !ok || len(l) != 2 {
		return "", fmt.Errorf("%w: Fn::Join takes [delimiter, [values]]", ErrUnsupported)
	}
	delim, ok := l[0].(string)
	if !ok {
		return "", fmt.Errorf("%w: Fn::Join delimiter is not a string", ErrUnsupported)
	}
	parts, ok := l[1].([]any)
	if !ok {
		return "", fmt.Errorf("%w: Fn::Join values are not a list", ErrUnsupported)
	}
	out := make([]string, 0, len(parts))
	for _, p := range parts {
		s, err := e.eval(p)
		if err != nil {
			return "", fmt.Errorf("Fn::Join: %w", err)
		}
		out = append(out, s)
	}
	return strings.Join(out, delim), nil
}

func (e env) sub(arg any) (string, error) {
	var (
		tmpl string
		vars = map[string]string{}
	)
	switch a := arg.(type) {
	case string:
		tmpl = a
	case []any:
		if len(a) != 2 {
			return "", fmt.Errorf("%w: Fn::Sub takes a string or [string, {variables}]", ErrUnsupported)
		}
		s, ok := a[0].(string)
		m, mok := a[1].(map[string]any)
		if !ok || !mok {
			return "", fmt.Errorf("%w: Fn::Sub takes a string or [string, {variables}]", ErrUnsupported)
		}
		tmpl = s
		// Sorted so that the first failure reported is stable.
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			v, err := e.eval(m[k])
			if err != nil {
				return "", fmt.Errorf("Fn::Sub variable %s: %w", safeName(k), err)
			}
			vars[k] = v
		}
	default:
		return "", fmt.Errorf("%w: Fn::Sub takes a string or [string, {variables}]", ErrUnsupported)
	}
	var b strings.Builder
	for {
		i := strings.Index(tmpl, "${")
		if i < 0 {
			b.WriteString(tmpl)
			return b.String(), nil
		}
		b.WriteString(tmpl[:i])
		j := strings.Index(tmpl[i:], "}")
		if j < 0 {
			return "", fmt.Errorf("%w: Fn::Sub has an unclosed ${", ErrUnsupported)
		}
		name := tmpl[i+2 : i+j]
		tmpl = tmpl[i+j+1:]
		if strings.HasPrefix(name, "!") {
			// ${!Literal} writes ${Literal}.
			b.WriteString("${" + name[1:] + "}")
			continue
		}
		if v, ok := vars[name]; ok {
			b.WriteString(v)
			continue
		}
		if strings.Contains(name, ".") {
			return "", fmt.Errorf("%w: Fn::Sub ${%s} (an attribute)", ErrUnresolved, safeName(name))
		}
		v, err := e.ref(name)
		if err != nil {
			return "", fmt.Errorf("Fn::Sub: %w", err)
		}
		b.WriteString(v)
	}
}
