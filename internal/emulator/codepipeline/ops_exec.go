package codepipeline

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"regexp"
	"slices"
)

type startInput struct {
	Name      string `json:"name"`
	Variables []struct {
		Name  string `json:"name"`
		Value string `json:"value"`
	} `json:"variables"`
	ClientRequestToken string `json:"clientRequestToken"`
	SourceRevisions    []struct {
		ActionName    string `json:"actionName"`
		RevisionType  string `json:"revisionType"`
		RevisionValue string `json:"revisionValue"`
	} `json:"sourceRevisions"`
}

// The model's constraints on StartPipelineExecution's lists (the conformance
// check found them unchecked).
var (
	ruleVarName      = stringRule{required: true, min: 1, max: 128, pattern: reVariableName}
	ruleVarValue     = stringRule{required: true, min: 1, max: 1000}
	ruleRevisionType = stringRule{required: true, enum: []string{"COMMIT_ID", "IMAGE_DIGEST", "S3_OBJECT_VERSION_ID", "S3_OBJECT_KEY"}}
	ruleRevision     = stringRule{required: true, min: 1, max: 1500}
	reVariableName   = regexp.MustCompile(`^[A-Za-z0-9@\-_]+$`)
)

type getExecutionInput struct {
	PipelineName        string `json:"pipelineName"`
	PipelineExecutionID string `json:"pipelineExecutionId"`
}

type listExecutionsInput struct {
	PipelineName string `json:"pipelineName"`
	MaxResults   *int   `json:"maxResults"`
	NextToken    string `json:"nextToken"`
	Filter       *struct {
		SucceededInStage *struct {
			StageName string `json:"stageName"`
		} `json:"succeededInStage"`
	} `json:"filter"`
}

type trigger struct {
	TriggerType   string `json:"triggerType"`
	TriggerDetail string `json:"triggerDetail,omitempty"`
}

type executionOut struct {
	PipelineName        string             `json:"pipelineName"`
	PipelineVersion     int                `json:"pipelineVersion"`
	PipelineExecutionID string             `json:"pipelineExecutionId"`
	Status              string             `json:"status"`
	StatusSummary       string             `json:"statusSummary,omitempty"`
	ArtifactRevisions   []artifactRevision `json:"artifactRevisions"`
	Trigger             trigger            `json:"trigger"`
	ExecutionMode       string             `json:"executionMode,omitempty"`
	ExecutionType       string             `json:"executionType"`
}

type executionSummary struct {
	PipelineExecutionID string           `json:"pipelineExecutionId"`
	Status              string           `json:"status"`
	StatusSummary       string           `json:"statusSummary,omitempty"`
	StartTime           epoch            `json:"startTime"`
	LastUpdateTime      epoch            `json:"lastUpdateTime"`
	SourceRevisions     []sourceRevision `json:"sourceRevisions"`
	Trigger             trigger          `json:"trigger"`
	StopTrigger         *stopTrigger     `json:"stopTrigger,omitempty"`
	ExecutionMode       string           `json:"executionMode,omitempty"`
	ExecutionType       string           `json:"executionType"`
}

// sourceRevision and artifactRevision say which commit an execution's
// source actions fetched (ListPipelineExecutions, GetPipelineExecution).
type sourceRevision struct {
	ActionName  string `json:"actionName"`
	RevisionID  string `json:"revisionId"`
	RevisionURL string `json:"revisionUrl,omitempty"`
}

type artifactRevision struct {
	Name        string `json:"name"`
	RevisionID  string `json:"revisionId"`
	RevisionURL string `json:"revisionUrl,omitempty"`
	Created     epoch  `json:"created"`
}

// revisions lists the commits an execution's source actions fetched;
// call with the pipeline's mu held.
func (e *execution) revisions() []*actionRun {
	var out []*actionRun
	for i := range e.Stages {
		for j := range e.Stages[i].Actions {
			if a := &e.Stages[i].Actions[j]; a.Revision != "" {
				out = append(out, a)
			}
		}
	}
	return out
}

func commitURL(a *actionRun) string {
	if a.Outputs["CommitUrl"] != "" {
		return a.Outputs["CommitUrl"]
	}
	if repo := a.Outputs["FullRepositoryName"]; repo != "" {
		return "https://github.com/" + repo + "/commit/" + a.Revision
	}
	return ""
}

type stopTrigger struct {
	Reason string `json:"reason,omitempty"`
}

type stageStateOut struct {
	StageName              string             `json:"stageName"`
	InboundTransitionState *transitionState   `json:"inboundTransitionState,omitempty"`
	ActionStates           []actionStateOut   `json:"actionStates"`
	LatestExecution        *stageExecutionOut `json:"latestExecution,omitempty"`
}

type transitionState struct {
	Enabled bool `json:"enabled"`
}

type stageExecutionOut struct {
	PipelineExecutionID string `json:"pipelineExecutionId"`
	Status              string `json:"status"`
	Type                string `json:"type"`
}

type actionStateOut struct {
	ActionName      string              `json:"actionName"`
	CurrentRevision *actionRevisionOut  `json:"currentRevision,omitempty"`
	LatestExecution *actionExecutionOut `json:"latestExecution,omitempty"`
	EntityURL       string              `json:"entityUrl,omitempty"`
}

type actionRevisionOut struct {
	RevisionID       string `json:"revisionId"`
	RevisionChangeID string `json:"revisionChangeId"`
	Created          epoch  `json:"created"`
}

type actionExecutionOut struct {
	ActionExecutionID string        `json:"actionExecutionId"`
	Status            string        `json:"status"`
	Summary           string        `json:"summary,omitempty"`
	LastStatusChange  epoch         `json:"lastStatusChange"`
	Token             string        `json:"token,omitempty"` // a manual approval waiting for PutApprovalResult
	ErrorDetails      *errorDetails `json:"errorDetails,omitempty"`
}

type errorDetails struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Trigger names the emulator records on executions and fetches.
const (
	TriggerExecution = "execution" // a fetch made by an execution
	TriggerPoll      = "poll"      // a fetch made by polling
)

func (s *Server) startExecution(_ context.Context, in *startInput) (any, *apiError) {
	var v violations
	v.check(in.Name, "name", ruleName)
	v.check(in.ClientRequestToken, "clientRequestToken", ruleRequestTok)
	if in.Variables != nil && (len(in.Variables) < 1 || len(in.Variables) > 50) {
		v.addHidden("variables", "Member must have length between 1 and 50")
	}
	for i, x := range in.Variables {
		v.check(x.Name, fmt.Sprintf("variables.%d.member.name", i+1), ruleVarName)
		v.check(x.Value, fmt.Sprintf("variables.%d.member.value", i+1), ruleVarValue)
	}
	if len(in.SourceRevisions) > 50 {
		v.addHidden("sourceRevisions", "Member must have length less than or equal to 50")
	}
	for i, x := range in.SourceRevisions {
		at := fmt.Sprintf("sourceRevisions.%d.member.", i+1)
		v.check(x.ActionName, at+"actionName", ruleName)
		v.check(x.RevisionType, at+"revisionType", ruleRevisionType)
		v.check(x.RevisionValue, at+"revisionValue", ruleRevision)
	}
	if err := v.err(); err != nil {
		return nil, err
	}
	p := s.lookup(in.Name)
	if p == nil {
		return nil, errPipelineNotFound(s.account, in.Name)
	}
	id := s.start(p, "StartPipelineExecution", in.ClientRequestToken)
	return struct {
		ID string `json:"pipelineExecutionId"`
	}{id}, nil
}

func (s *Server) getExecution(_ context.Context, in *getExecutionInput) (any, *apiError) {
	var v violations
	v.check(in.PipelineName, "pipelineName", ruleName)
	v.check(in.PipelineExecutionID, "pipelineExecutionId", ruleExecID)
	if err := v.err(); err != nil {
		return nil, err
	}
	p := s.lookup(in.PipelineName)
	if p == nil {
		return nil, errPipelineNotFound(s.account, in.PipelineName)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stateRead = s.now()
	e := p.find(in.PipelineExecutionID)
	if e == nil {
		return nil, newError(http.StatusBadRequest, typeExecutionNotFound,
			"Pipeline execution with id '%s' does not exist in pipeline '%s'", in.PipelineExecutionID, in.PipelineName)
	}
	out := executionOut{
		PipelineName: p.name, PipelineVersion: e.Version, PipelineExecutionID: e.ID,
		Status: e.Status, StatusSummary: e.Summary, ArtifactRevisions: []artifactRevision{},
		Trigger: trigger{TriggerType: e.Trigger}, ExecutionMode: e.Mode, ExecutionType: "STANDARD",
	}
	for _, a := range e.revisions() {
		out.ArtifactRevisions = append(out.ArtifactRevisions, artifactRevision{Name: a.Artifact, RevisionID: a.Revision, RevisionURL: commitURL(a), Created: epoch(a.Changed)})
	}
	return struct {
		PipelineExecution executionOut `json:"pipelineExecution"`
	}{out}, nil
}

func (s *Server) listExecutions(_ context.Context, in *listExecutionsInput) (any, *apiError) {
	var v violations
	v.check(in.PipelineName, "pipelineName", ruleName)
	v.check(in.NextToken, "nextToken", ruleNextToken)
	v.checkRange(in.MaxResults, "maxResults", 1, 100)
	if err := v.err(); err != nil {
		return nil, err
	}
	p := s.lookup(in.PipelineName)
	if p == nil {
		return nil, errPipelineNotFound(s.account, in.PipelineName)
	}
	limit := 100
	if in.MaxResults != nil {
		limit = *in.MaxResults
	}
	stage := ""
	if f := in.Filter; f != nil && f.SucceededInStage != nil {
		stage = f.SucceededInStage.StageName
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stateRead = s.now()
	newest := slices.Clone(p.executions)
	slices.Reverse(newest)
	if stage != "" {
		newest = slices.DeleteFunc(newest, func(e *execution) bool { return !e.succeededIn(stage) })
	}
	start := 0
	if in.NextToken != "" {
		b, err := base64.RawURLEncoding.DecodeString(in.NextToken)
		i := slices.IndexFunc(newest, func(e *execution) bool { return e.ID == string(b) })
		if err != nil || i < 0 {
			return nil, newError(http.StatusBadRequest, typeInvalidNextToken, "The next token is not valid: use the nextToken of the previous ListPipelineExecutions response")
		}
		start = i + 1
	}
	end := min(start+limit, len(newest))
	out := struct {
		Summaries []executionSummary `json:"pipelineExecutionSummaries"`
		NextToken string             `json:"nextToken,omitempty"`
	}{Summaries: make([]executionSummary, 0, end-start)}
	for _, e := range newest[start:end] {
		sum := executionSummary{
			PipelineExecutionID: e.ID, Status: e.Status, StatusSummary: e.Summary,
			StartTime: epoch(e.Started), LastUpdateTime: epoch(e.Updated), SourceRevisions: []sourceRevision{},
			Trigger: trigger{TriggerType: e.Trigger}, ExecutionMode: e.Mode, ExecutionType: "STANDARD",
		}
		for _, a := range e.revisions() {
			sum.SourceRevisions = append(sum.SourceRevisions, sourceRevision{ActionName: a.Name, RevisionID: a.Revision, RevisionURL: commitURL(a)})
		}
		if e.StoppedBy == StoppedByStop {
			sum.StopTrigger = &stopTrigger{Reason: e.StopReason}
		}
		out.Summaries = append(out.Summaries, sum)
	}
	if end < len(newest) && end > start {
		out.NextToken = base64.RawURLEncoding.EncodeToString([]byte(newest[end-1].ID))
	}
	return out, nil
}

func (e *execution) succeededIn(stage string) bool {
	for _, st := range e.Stages {
		if st.Name == stage {
			return st.Status == statusSucceeded
		}
	}
	return false
}

// getPipelineState reports, for each stage of the current declaration, the
// newest execution that reached it.
func (s *Server) getPipelineState(_ context.Context, in *nameInput) (any, *apiError) {
	var v violations
	v.check(in.Name, "name", ruleName)
	if err := v.err(); err != nil {
		return nil, err
	}
	p := s.lookup(in.Name)
	if p == nil {
		return nil, errPipelineNotFound(s.account, in.Name)
	}
	r := p.cur.Load()
	states := make([]stageStateOut, len(r.decl.Stages))
	p.mu.Lock()
	p.stateRead = s.now()
	for i, st := range r.decl.Stages {
		out := &states[i]
		out.StageName = st.Name
		if i > 0 {
			out.InboundTransitionState = &transitionState{Enabled: true}
		}
		e, run := p.latestIn(st.Name)
		if run != nil {
			out.LatestExecution = &stageExecutionOut{PipelineExecutionID: e.ID, Status: run.Status, Type: "STANDARD"}
		}
		out.ActionStates = make([]actionStateOut, len(st.Actions))
		for j, a := range st.Actions {
			as := actionStateOut{ActionName: a.Name}
			if run != nil {
				if ar := run.action(a.Name); ar != nil {
					as.EntityURL = ar.EntityURL
					if ar.Revision != "" {
						as.CurrentRevision = &actionRevisionOut{RevisionID: ar.Revision, RevisionChangeID: ar.Revision, Created: epoch(ar.Changed)}
					}
					if ar.Status != "" {
						as.LatestExecution = &actionExecutionOut{ActionExecutionID: ar.ID, Status: ar.Status, Summary: ar.Summary, LastStatusChange: epoch(ar.Changed), Token: ar.Token}
						if ar.ErrMsg != "" {
							as.LatestExecution.ErrorDetails = &errorDetails{Code: ar.ErrCode, Message: ar.ErrMsg}
						}
					}
				}
			}
			out.ActionStates[j] = as
		}
	}
	p.mu.Unlock()
	return struct {
		PipelineName    string          `json:"pipelineName"`
		PipelineVersion int             `json:"pipelineVersion"`
		StageStates     []stageStateOut `json:"stageStates"`
		Created         epoch           `json:"created"`
		Updated         epoch           `json:"updated"`
	}{p.name, r.version, states, epoch(p.created), epoch(r.updated)}, nil
}

// latestIn returns the newest execution that reached a stage; call with
// p.mu held.
func (p *pipeline) latestIn(stage string) (*execution, *stageRun) {
	for i := len(p.executions) - 1; i >= 0; i-- {
		e := p.executions[i]
		for k := range e.Stages {
			if st := &e.Stages[k]; st.Name == stage && st.Status != "" {
				return e, st
			}
		}
	}
	return nil, nil
}

func (st *stageRun) action(name string) *actionRun {
	for i := range st.Actions {
		if st.Actions[i].Name == name {
			return &st.Actions[i]
		}
	}
	return nil
}
