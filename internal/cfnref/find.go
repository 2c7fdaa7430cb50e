package cfnref

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation/types"

	"github.com/rotor-ci/rotor/internal/token"
)

// API is the part of the CloudFormation client Find uses;
// *cloudformation.Client satisfies it.
type API interface {
	DescribeStacks(context.Context, *cloudformation.DescribeStacksInput, ...func(*cloudformation.Options)) (*cloudformation.DescribeStacksOutput, error)
	GetTemplate(context.Context, *cloudformation.GetTemplateInput, ...func(*cloudformation.Options)) (*cloudformation.GetTemplateOutput, error)
	ListStackResources(context.Context, *cloudformation.ListStackResourcesInput, ...func(*cloudformation.Options)) (*cloudformation.ListStackResourcesOutput, error)
}

var _ API = (*cloudformation.Client)(nil)

// StackTag is the tag CloudFormation puts on every resource it creates,
// pipelines included: the name of the stack that owns it.
const StackTag = "aws:cloudformation:stack-name"

const pipelineType = "AWS::CodePipeline::Pipeline"

// ErrStackNotFound: the stack named by a pipeline's tag does not exist
// (deleted with the pipeline retained, or another region).
var ErrStackNotFound = errors.New("stack not found")

// Find reads stack stackName's template and says where the OAuthToken of
// action stage/action of pipeline pipelineName comes from.
//
// ok is false when the stack declares no pipeline that is pipelineName (the
// tag points at a parent stack, say); rotor plan then keeps its generic
// drift warning. A pipeline that is declared but whose stage, action or
// OAuthToken is not is ErrNotDeclared. Read-only; safe for concurrent use.
// The returned Ref never holds a token value.
func Find(ctx context.Context, cfn API, stackName, pipelineName, stage, action string) (ref Ref, ok bool, err error) {
	defer func() {
		if err != nil {
			err = fmt.Errorf("stack %s: %w", stackName, err)
		}
	}()
	stack, err := describeStack(ctx, cfn, stackName)
	if err != nil {
		return Ref{}, false, err
	}
	tmpl, err := template(ctx, cfn, stackName)
	if err != nil {
		return Ref{}, false, err
	}
	physical, err := physicalIDs(ctx, cfn, stackName)
	if err != nil {
		return Ref{}, false, err
	}
	e := env{
		Pseudo:   pseudoFromStackID(aws.ToString(stack.StackId), aws.ToString(stack.StackName)),
		Params:   paramValues(stack, tmpl),
		Physical: physical,
		SSMNames: ssmParamNames(stack, tmpl),
	}
	logical, props, ok := matchPipeline(tmpl, e, pipelineName)
	if !ok {
		return Ref{}, false, nil
	}
	value, err := oauthToken(props, e, stage, action)
	if err != nil {
		return Ref{}, true, fmt.Errorf("pipeline %s (%s): %w", pipelineName, logical, err)
	}
	ref, err = classify(value, tmpl, e)
	if err != nil {
		return Ref{}, true, fmt.Errorf("pipeline %s (%s) %s/%s OAuthToken: %w", pipelineName, logical, stage, action, err)
	}
	ref.Region, ref.Account = e.Pseudo["AWS::Region"], e.Pseudo["AWS::AccountId"]
	return ref, true, nil
}

func describeStack(ctx context.Context, cfn API, name string) (types.Stack, error) {
	out, err := cfn.DescribeStacks(ctx, &cloudformation.DescribeStacksInput{StackName: aws.String(name)})
	if err != nil {
		if isStackMissing(err) {
			return types.Stack{}, ErrStackNotFound
		}
		return types.Stack{}, fmt.Errorf("describe stack: %w", sanitize(err))
	}
	if len(out.Stacks) == 0 {
		return types.Stack{}, ErrStackNotFound
	}
	return out.Stacks[0], nil
}

// template fetches the template as written; when it uses a transform
// (SAM, a macro) the processed one, which is what CloudFormation deployed.
func template(ctx context.Context, cfn API, name string) (map[string]any, error) {
	get := func(stage types.TemplateStage) (map[string]any, error) {
		out, err := cfn.GetTemplate(ctx, &cloudformation.GetTemplateInput{StackName: aws.String(name), TemplateStage: stage})
		if err != nil {
			if isStackMissing(err) {
				return nil, ErrStackNotFound
			}
			return nil, fmt.Errorf("get template: %w", sanitize(err))
		}
		return Decode([]byte(aws.ToString(out.TemplateBody)))
	}
	tmpl, err := get(types.TemplateStageOriginal)
	if err != nil {
		return nil, err
	}
	if _, ok := tmpl["Transform"]; ok {
		if p, err := get(types.TemplateStageProcessed); err == nil {
			if _, still := p["Transform"]; !still {
				return p, nil
			}
		}
	}
	return tmpl, nil
}

func physicalIDs(ctx context.Context, cfn API, name string) (map[string]string, error) {
	ids := map[string]string{}
	p := cloudformation.NewListStackResourcesPaginator(cfn, &cloudformation.ListStackResourcesInput{StackName: aws.String(name)})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list stack resources: %w", sanitize(err))
		}
		for _, r := range out.StackResourceSummaries {
			if l, ph := aws.ToString(r.LogicalResourceId), aws.ToString(r.PhysicalResourceId); l != "" && ph != "" {
				ids[l] = ph
			}
		}
	}
	return ids, nil
}

// paramValues are the stack's parameter values as CloudFormation used
// them; NoEcho values (shown as ****) are left out so they stay unresolved.
func paramValues(stack types.Stack, tmpl map[string]any) map[string]string {
	decl, _ := tmpl["Parameters"].(map[string]any)
	vals := map[string]string{}
	for _, p := range stack.Parameters {
		k := aws.ToString(p.ParameterKey)
		if noEcho(decl[k]) {
			continue
		}
		if p.ResolvedValue != nil {
			vals[k] = *p.ResolvedValue
		} else if p.ParameterValue != nil {
			vals[k] = *p.ParameterValue
		}
	}
	for k, d := range decl {
		m, _ := d.(map[string]any)
		if _, set := vals[k]; set || noEcho(d) || m == nil {
			continue
		}
		if t, _ := m["Type"].(string); strings.HasPrefix(t, ssmParamTypePrefix) {
			continue // its default is a parameter name, not its value
		}
		if def, ok := m["Default"]; ok {
			if s, err := (env{}).eval(def); err == nil {
				vals[k] = s
			}
		}
	}
	return vals
}

// ssmParamNames are the values given for parameters of an SSM parameter
// type: the names of SSM parameters (their ResolvedValue is what the
// parameter holds, which may be the token itself).
func ssmParamNames(stack types.Stack, tmpl map[string]any) map[string]string {
	decl, _ := tmpl["Parameters"].(map[string]any)
	names := map[string]string{}
	for _, p := range stack.Parameters {
		k := aws.ToString(p.ParameterKey)
		m, _ := decl[k].(map[string]any)
		if t, _ := m["Type"].(string); strings.HasPrefix(t, ssmParamTypePrefix) {
			names[k] = aws.ToString(p.ParameterValue)
		}
	}
	for k, d := range decl {
		m, _ := d.(map[string]any)
		t, _ := m["Type"].(string)
		if _, set := names[k]; set || !strings.HasPrefix(t, ssmParamTypePrefix) {
			continue
		}
		if def, ok := m["Default"].(string); ok {
			names[k] = def
		}
	}
	return names
}

func noEcho(decl any) bool {
	m, _ := decl.(map[string]any)
	switch v := m["NoEcho"].(type) {
	case bool:
		return v
	case string:
		return strings.EqualFold(v, "true")
	}
	return false
}

// matchPipeline finds the pipeline resource that is pipelineName: by
// physical id, else by its Name property, else the stack's only pipeline
// when neither is known (moto lists no physical ids for pipelines).
func matchPipeline(tmpl map[string]any, e env, pipelineName string) (string, map[string]any, bool) {
	resources, _ := tmpl["Resources"].(map[string]any)
	logicals := make([]string, 0, len(resources))
	for l, r := range resources {
		if m, _ := r.(map[string]any); m != nil && m["Type"] == pipelineType {
			logicals = append(logicals, l)
		}
	}
	sort.Strings(logicals)
	props := func(l string) map[string]any {
		p, _ := resources[l].(map[string]any)["Properties"].(map[string]any)
		return p
	}
	var byName, unknown []string
	for _, l := range logicals {
		if ph, ok := e.Physical[l]; ok {
			if ph == pipelineName {
				return l, props(l), true
			}
			continue
		}
		name, has := props(l)["Name"]
		if !has {
			unknown = append(unknown, l)
			continue
		}
		s, err := e.eval(name)
		switch {
		case err != nil:
			unknown = append(unknown, l)
		case s == pipelineName:
			byName = append(byName, l)
		}
	}
	switch {
	case len(byName) == 1:
		return byName[0], props(byName[0]), true
	case len(byName) == 0 && len(logicals) == 1 && len(unknown) == 1:
		return unknown[0], props(unknown[0]), true
	}
	return "", nil, false
}

func oauthToken(props map[string]any, e env, stage, action string) (any, error) {
	stages, _ := props["Stages"].([]any)
	for _, s := range stages {
		sm, _ := s.(map[string]any)
		if n, err := e.eval(sm["Name"]); err != nil || n != stage {
			continue
		}
		actions, _ := sm["Actions"].([]any)
		for _, a := range actions {
			am, _ := a.(map[string]any)
			if n, err := e.eval(am["Name"]); err != nil || n != action {
				continue
			}
			conf, _ := am["Configuration"].(map[string]any)
			v, ok := conf["OAuthToken"]
			if !ok {
				return nil, fmt.Errorf("action %s/%s sets no OAuthToken: %w", stage, action, ErrNotDeclared)
			}
			return v, nil
		}
		return nil, fmt.Errorf("action %s/%s: %w", stage, action, ErrNotDeclared)
	}
	return nil, fmt.Errorf("stage %s: %w", stage, ErrNotDeclared)
}

const ssmParamTypePrefix = "AWS::SSM::Parameter::Value<"

// classify says what an OAuthToken value is. It never returns the value.
func classify(v any, tmpl map[string]any, e env) (Ref, error) {
	if m, ok := v.(map[string]any); ok && len(m) == 1 {
		if name, ok := m["Ref"].(string); ok {
			decl, _ := tmpl["Parameters"].(map[string]any)
			if p, ok := decl[name].(map[string]any); ok {
				return stackParameter(name, p, e), nil
			}
		}
	}
	if containsReference(v) {
		s, err := e.eval(v)
		if err != nil {
			return Ref{}, err
		}
		return Parse(s)
	}
	s, err := e.eval(v)
	if err != nil {
		return Ref{}, err
	}
	fp := token.Fingerprint(s)
	return Ref{
		Kind: KindLiteral, Literal: true, LiteralFingerprint: fp,
		Warnings: []string{fmt.Sprintf("the template holds the token itself (%s): rotating the pipeline makes the stack drift, and the next stack update puts that token back; keep the token in Secrets Manager and set OAuthToken to {{resolve:secretsmanager:NAME:SecretString:KEY}}", fp)},
	}, nil
}

func stackParameter(name string, decl map[string]any, e env) Ref {
	if t, _ := decl["Type"].(string); strings.HasPrefix(t, ssmParamTypePrefix) {
		param := e.SSMNames[name]
		return Ref{
			Kind: KindSSM, Param: param, StackParameter: name,
			Warnings: []string{fmt.Sprintf("OAuthToken comes from stack parameter %s of type %s, which reads SSM parameter %s as a plain String: a token must be a SecureString, which this parameter type cannot read; use {{resolve:ssm-secure:NAME}} or {{resolve:secretsmanager:…}}", name, t, param)},
		}
	}
	r := Ref{
		Kind: KindStackParameter, StackParameter: name, NoEcho: noEcho(decl),
		Warnings: []string{fmt.Sprintf("OAuthToken comes from stack parameter %s: the stack holds the token itself, so rotating the pipeline makes the stack drift and the next stack update that keeps the previous parameter value puts the old token back; keep the token in Secrets Manager and set OAuthToken to {{resolve:secretsmanager:NAME:SecretString:KEY}}", name)},
	}
	if !r.NoEcho {
		r.Warnings = append(r.Warnings, fmt.Sprintf("stack parameter %s is not NoEcho: CloudFormation shows the token in the console and in DescribeStacks", name))
	}
	return r
}

func containsReference(v any) bool {
	switch v := v.(type) {
	case string:
		return HasReference(v)
	case []any:
		for _, e := range v {
			if containsReference(e) {
				return true
			}
		}
	case map[string]any:
		for _, e := range v {
			if containsReference(e) {
				return true
			}
		}
	}
	return false
}
