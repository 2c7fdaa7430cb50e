package codepipeline

import (
	"bytes"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Patterns from the model. AWS matches them against the whole value.
var (
	reName         = regexp.MustCompile(`^[A-Za-z0-9.@\-_]+$`)
	reRoleArn      = regexp.MustCompile(`^arn:aws(-[\w]+)*:iam::[0-9]{12}:role/.*$`)
	reLocation     = regexp.MustCompile(`^[a-zA-Z0-9\-\.]+$`)
	reProvider     = regexp.MustCompile(`^[0-9A-Za-z_-]+$`)
	reArtifactName = regexp.MustCompile(`^[a-zA-Z0-9_\-]+$`)
	reNamespace    = regexp.MustCompile(`^[A-Za-z0-9@\-_]+$`)
	rePipelineArn  = regexp.MustCompile(`^arn:aws(-[\w]+)*:codepipeline:.+:[0-9]{12}:.+$`)
	reExecutionID  = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
	reRequestToken = regexp.MustCompile(`^[a-zA-Z0-9-]+$`)
)

// Quotas (https://docs.aws.amazon.com/codepipeline/latest/userguide/limits.html).
const (
	maxStages          = 50
	maxActionsPerStage = 50
	maxTags            = 50
)

// stringRule is one string member's constraints in the model.
type stringRule struct {
	required bool
	min, max int            // 0 = unconstrained
	pattern  *regexp.Regexp // nil = any
	enum     []string
}

var (
	ruleName       = stringRule{required: true, min: 1, max: 100, pattern: reName}
	ruleRoleArn    = stringRule{required: true, max: 1024, pattern: reRoleArn}
	ruleRegion     = stringRule{min: 4, max: 30}
	ruleProvider   = stringRule{required: true, min: 1, max: 35, pattern: reProvider}
	ruleVersion    = stringRule{required: true, min: 1, max: 9, pattern: reProvider}
	ruleArtifact   = stringRule{required: true, min: 1, max: 100, pattern: reArtifactName}
	ruleCategory   = stringRule{required: true, enum: []string{"Source", "Build", "Deploy", "Test", "Invoke", "Approval", "Compute"}}
	ruleOwner      = stringRule{required: true, enum: []string{"AWS", "ThirdParty", "Custom"}}
	ruleStoreType  = stringRule{required: true, enum: []string{"S3"}}
	ruleLocation   = stringRule{required: true, min: 3, max: 63, pattern: reLocation}
	ruleKeyID      = stringRule{required: true, min: 1, max: 400}
	ruleKeyType    = stringRule{required: true, enum: []string{"KMS"}}
	ruleExecMode   = stringRule{enum: []string{"QUEUED", "SUPERSEDED", "PARALLEL"}}
	rulePipeType   = stringRule{enum: []string{"V1", "V2"}}
	ruleNamespace  = stringRule{min: 1, max: 100, pattern: reNamespace}
	ruleTagKey     = stringRule{required: true, min: 1, max: 128}
	ruleTagValue   = stringRule{max: 256}
	ruleNextToken  = stringRule{min: 1, max: 2048}
	ruleArn        = stringRule{required: true, pattern: rePipelineArn}
	ruleExecID     = stringRule{required: true, pattern: reExecutionID}
	ruleRequestTok = stringRule{min: 1, max: 128, pattern: reRequestToken}
)

// check records v's violations of r at path. An empty optional value is
// absent; an empty required value is null (clients omit empty strings).
func (v *violations) check(value, at string, r stringRule) {
	if value == "" {
		if r.required {
			v.add(nil, at, "Member must not be null")
		}
		return
	}
	n := utf8.RuneCountInString(value)
	if r.max > 0 && n > r.max {
		v.add(&value, at, "Member must have length less than or equal to "+strconv.Itoa(r.max))
	}
	if n < r.min {
		v.add(&value, at, "Member must have length greater than or equal to "+strconv.Itoa(r.min))
	}
	if r.pattern != nil && !r.pattern.MatchString(value) {
		v.add(&value, at, "Member must satisfy regular expression pattern: "+trimAnchors(r.pattern.String()))
	}
	if r.enum != nil && !slices.Contains(r.enum, value) {
		v.add(&value, at, fmt.Sprintf("Member must satisfy enum value set: [%s]", joinComma(r.enum)))
	}
}

func (v *violations) checkRange(n *int, at string, min, max int) {
	if n == nil {
		return
	}
	s := strconv.Itoa(*n)
	if *n < min {
		v.add(&s, at, "Member must have value greater than or equal to "+strconv.Itoa(min))
	}
	if max > 0 && *n > max {
		v.add(&s, at, "Member must have value less than or equal to "+strconv.Itoa(max))
	}
}

// checkRaw accepts only the JSON kind ('[' or '{') the model gives a member
// the emulator keeps uninterpreted.
func (v *violations) checkRaw(raw []byte, at string, kind byte) {
	if raw == nil {
		return
	}
	if b := bytes.TrimSpace(raw); len(b) == 0 || b[0] != kind {
		want := "a list"
		if kind == '{' {
			want = "a structure"
		}
		v.addHidden(at, "Member must be "+want)
	}
}

func trimAnchors(p string) string { return p[1 : len(p)-1] }

func joinComma(s []string) string {
	var b bytes.Buffer
	for i, x := range s {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(x)
	}
	return b.String()
}

// validateDeclaration checks a declaration as CreatePipeline and
// UpdatePipeline do: the model's constraints first (one ValidationException
// listing them all), then the structure rules, one error at a time.
func validateDeclaration(d *Declaration) *apiError {
	if err := modelViolations(d).err(); err != nil {
		return err
	}
	return validateStructure(d)
}

func modelViolations(d *Declaration) violations {
	var v violations
	v.check(d.Name, "pipeline.name", ruleName)
	v.check(d.RoleArn, "pipeline.roleArn", ruleRoleArn)
	if s := d.ArtifactStore; s != nil {
		checkStore(&v, s, "pipeline.artifactStore")
	}
	for _, region := range sortedKeys(d.ArtifactStores) {
		s := d.ArtifactStores[region]
		v.check(region, "pipeline.artifactStores", ruleRegion)
		checkStore(&v, &s, "pipeline.artifactStores."+region+".member")
	}
	if d.Stages == nil {
		v.add(nil, "pipeline.stages", "Member must not be null")
	}
	v.checkRange(d.Version, "pipeline.version", 1, 0)
	v.check(d.ExecutionMode, "pipeline.executionMode", ruleExecMode)
	v.check(d.PipelineType, "pipeline.pipelineType", rulePipeType)
	v.checkRaw(d.Variables, "pipeline.variables", '[')
	v.checkRaw(d.Triggers, "pipeline.triggers", '[')
	for i := range d.Stages {
		s := &d.Stages[i]
		at := fmt.Sprintf("pipeline.stages.%d.member", i+1)
		v.check(s.Name, at+".name", ruleName)
		if s.Actions == nil {
			v.add(nil, at+".actions", "Member must not be null")
		}
		v.checkRaw(s.Blockers, at+".blockers", '[')
		v.checkRaw(s.OnFailure, at+".onFailure", '{')
		v.checkRaw(s.OnSuccess, at+".onSuccess", '{')
		v.checkRaw(s.BeforeEntry, at+".beforeEntry", '{')
		for j := range s.Actions {
			checkAction(&v, &s.Actions[j], fmt.Sprintf("%s.actions.%d.member", at, j+1))
		}
	}
	return v
}

func checkStore(v *violations, s *ArtifactStore, at string) {
	v.check(s.Type, at+".type", ruleStoreType)
	v.check(s.Location, at+".location", ruleLocation)
	if k := s.EncryptionKey; k != nil {
		v.check(k.ID, at+".encryptionKey.id", ruleKeyID)
		v.check(k.Type, at+".encryptionKey.type", ruleKeyType)
	}
}

func checkAction(v *violations, a *Action, at string) {
	v.check(a.Name, at+".name", ruleName)
	t := a.ActionTypeID
	v.check(t.Category, at+".actionTypeId.category", ruleCategory)
	v.check(t.Owner, at+".actionTypeId.owner", ruleOwner)
	v.check(t.Provider, at+".actionTypeId.provider", ruleProvider)
	v.check(t.Version, at+".actionTypeId.version", ruleVersion)
	v.checkRange(a.RunOrder, at+".runOrder", 1, 999)
	v.checkRange(a.TimeoutInMinutes, at+".timeoutInMinutes", 5, 86400)
	for _, k := range sortedKeys(a.Configuration) {
		if n := utf8.RuneCountInString(k); n < 1 || n > 50 {
			v.addHidden(at+".configuration", "Map keys must satisfy constraint: [Member must have length less than or equal to 50, Member must have length greater than or equal to 1]")
		}
		if n := utf8.RuneCountInString(a.Configuration[k]); n < 1 || n > 1000 {
			v.addHidden(at+".configuration", "Map value must satisfy constraint: [Member must have length less than or equal to 1000, Member must have length greater than or equal to 1]")
		}
	}
	for n, art := range a.OutputArtifacts {
		v.check(art.Name, fmt.Sprintf("%s.outputArtifacts.%d.member.name", at, n+1), ruleArtifact)
	}
	for n, art := range a.InputArtifacts {
		v.check(art.Name, fmt.Sprintf("%s.inputArtifacts.%d.member.name", at, n+1), ruleArtifact)
	}
	v.check(a.RoleArn, at+".roleArn", stringRule{max: 1024, pattern: reRoleArn})
	v.check(a.Region, at+".region", ruleRegion)
	v.check(a.Namespace, at+".namespace", ruleNamespace)
	v.checkRaw(a.Commands, at+".commands", '[')
	v.checkRaw(a.OutputVariables, at+".outputVariables", '[')
	v.checkRaw(a.EnvironmentVariables, at+".environmentVariables", '[')
}

// validateStructure applies the pipeline structure rules of the CodePipeline
// user guide ("Pipeline structure reference") after the model's constraints.
func validateStructure(d *Declaration) *apiError {
	switch {
	case d.ArtifactStore == nil && len(d.ArtifactStores) == 0:
		return structureError("Pipeline '%s' has no artifact store: set artifactStore (or artifactStores for a cross-region pipeline)", d.Name)
	case d.ArtifactStore != nil && len(d.ArtifactStores) > 0:
		return structureError("Pipeline '%s' sets both artifactStore and artifactStores: use one of them", d.Name)
	case len(d.Stages) < 2:
		return structureError("Pipeline has only %d stage(s). There should be a minimum of 2 stages in a pipeline", len(d.Stages))
	case len(d.Stages) > maxStages:
		return structureError("Pipeline has %d stages. A pipeline can have at most %d stages", len(d.Stages), maxStages)
	}
	stageNames := map[string]bool{}
	for i := range d.Stages {
		s := &d.Stages[i]
		if stageNames[s.Name] {
			return stageError("Stage name '%s' is used by more than one stage; stage names must be unique within a pipeline", s.Name)
		}
		stageNames[s.Name] = true
		switch {
		case len(s.Actions) == 0:
			return stageError("Stage '%s' has no actions; a stage must contain at least one action", s.Name)
		case len(s.Actions) > maxActionsPerStage:
			return stageError("Stage '%s' has %d actions; a stage can have at most %d", s.Name, len(s.Actions), maxActionsPerStage)
		}
		actionNames := map[string]bool{}
		for j := range s.Actions {
			a := &s.Actions[j]
			if actionNames[a.Name] {
				return actionError("Action name '%s' is used by more than one action in stage '%s'; action names must be unique within a stage", a.Name, s.Name)
			}
			actionNames[a.Name] = true
			isSource := a.ActionTypeID.Category == "Source"
			if i == 0 && !isSource {
				return structureError("Pipeline should start with a stage that only contains source actions: action '%s' in the first stage '%s' is a %s action", a.Name, s.Name, a.ActionTypeID.Category)
			}
			if i > 0 && isSource {
				return structureError("Source actions may appear only in the first stage: action '%s' is in stage '%s'", a.Name, s.Name)
			}
			var err *apiError
			switch {
			case a.isGitHubV1():
				err = validateGitHubV1(a)
			case a.isConnectionSource():
				err = validateConnectionSource(a)
			case a.isManualApproval():
				err = validateManualApproval(a)
			}
			if err != nil {
				return err
			}
		}
	}
	return validateArtifacts(d)
}

// validateGitHubV1 checks the GitHub (version 1) source action's
// configuration and artifacts against its action type.
func validateGitHubV1(a *Action) *apiError {
	for _, p := range githubV1Properties {
		if _, ok := a.Configuration[p.name]; p.required && !ok {
			return actionError("Action configuration for action '%s' is missing required configuration '%s'", a.Name, p.name)
		}
	}
	for _, k := range sortedKeys(a.Configuration) {
		if !slices.ContainsFunc(githubV1Properties, func(p property) bool { return p.name == k }) {
			return actionError("Action configuration for action '%s' contains unknown configuration '%s'", a.Name, clip(k))
		}
	}
	if v, ok := a.Configuration[propPoll]; ok && v != "true" && v != "false" {
		return actionError("Action configuration for action '%s' has an invalid value for configuration '%s': use true or false", a.Name, propPoll)
	}
	if n := len(a.InputArtifacts); n != 0 {
		return actionError("Action '%s' declares %d input artifacts; a GitHub source action takes none", a.Name, n)
	}
	if n := len(a.OutputArtifacts); n != 1 {
		return actionError("Action '%s' declares %d output artifacts; a GitHub source action must declare exactly 1", a.Name, n)
	}
	return nil
}

// manualApprovalProperties are the configuration properties of the manual
// approval action (AWS/Manual/1), all optional.
var manualApprovalProperties = []string{"NotificationArn", "CustomData", "ExternalEntityLink"}

// validateManualApproval checks the manual approval action's configuration
// and artifacts (it takes and produces none).
func validateManualApproval(a *Action) *apiError {
	for _, k := range sortedKeys(a.Configuration) {
		if !slices.Contains(manualApprovalProperties, k) {
			return actionError("Action configuration for action '%s' contains unknown configuration '%s'", a.Name, clip(k))
		}
	}
	if n := len(a.InputArtifacts) + len(a.OutputArtifacts); n != 0 {
		return actionError("Action '%s' declares %d artifacts; a manual approval action takes and produces none", a.Name, n)
	}
	return nil
}

// validateArtifacts checks that output artifact names are unique and that
// every input artifact is the output of an action that runs before it: in an
// earlier stage, or earlier in the same stage (lower runOrder).
func validateArtifacts(d *Declaration) *apiError {
	produced := map[string]string{} // artifact → action that outputs it
	for i := range d.Stages {
		s := &d.Stages[i]
		for j := range s.Actions {
			a := &s.Actions[j]
			for _, out := range a.OutputArtifacts {
				if prev, ok := produced[out.Name]; ok {
					return structureError("Output Artifact Bundle name '%s' is declared by both action '%s' and action '%s'; output artifact names must be unique within a pipeline", out.Name, prev, a.Name)
				}
				produced[out.Name] = a.Name
			}
		}
		for j := range s.Actions {
			a := &s.Actions[j]
			for _, in := range a.InputArtifacts {
				if !precedes(d, i, *a.RunOrder, in.Name) {
					return structureError("Input Artifact Bundle '%s' in action '%s' is not declared as an output artifact in any of the preceding actions", in.Name, a.Name)
				}
			}
		}
	}
	return nil
}

// precedes reports whether an artifact is output by an action in a stage
// before stage i, or in stage i with a runOrder below runOrder.
func precedes(d *Declaration, stage, runOrder int, artifact string) bool {
	for i := 0; i <= stage; i++ {
		for _, a := range d.Stages[i].Actions {
			if i == stage && *a.RunOrder >= runOrder {
				continue
			}
			for _, out := range a.OutputArtifacts {
				if out.Name == artifact {
					return true
				}
			}
		}
	}
	return false
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// validateTags checks tags as CreatePipeline and TagResource do.
func validateTags(tags []Tag, at string) *apiError {
	var v violations
	for i, t := range tags {
		v.check(t.Key, fmt.Sprintf("%s.%d.member.key", at, i+1), ruleTagKey)
		v.check(t.Value, fmt.Sprintf("%s.%d.member.value", at, i+1), ruleTagValue)
	}
	if err := v.err(); err != nil {
		return err
	}
	for _, t := range tags {
		if strings.HasPrefix(t.Key, "aws:") {
			return errSystemTags
		}
	}
	return nil
}

var errSystemTags = newError(http.StatusBadRequest, typeInvalidTags, "Not allowed to modify system tags. System tags start with 'aws:'. msg=[Caller is an end user and not allowed to mutate system tags]")
