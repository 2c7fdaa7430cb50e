package codepipeline

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"slices"
)

type startInput struct {
	Name               string          `json:"name"`
	Variables          json.RawMessage `json:"variables"`
	ClientRequestToken string          `json:"clientRequestToken"`
	SourceRevisions    json.RawMessage `json:"sourceRevisions"`
}

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
	PipelineName        string   `json:"pipelineName"`
	PipelineVersion     int      `json:"pipelineVersion"`
	PipelineExecutionID string   `json:"pipelineExecutionId"`
	Status              string   `json:"status"`
	StatusSummary       string   `json:"statusSummary,omitempty"`
	ArtifactRevisions   []string `json:"artifactRevisions"`
	Trigger             trigger  `json:"trigger"`
	ExecutionMode       string   `json:"executionMode,omitempty"`
	ExecutionType       string   `json:"executionType"`
}

type executionSummary struct {
	PipelineExecutionID string   `json:"pipelineExecutionId"`
	Status              string   `json:"status"`
	StatusSummary       string   `json:"statusSummary,omitempty"`
	StartTime           epoch    `json:"startTime"`
	LastUpdateTime      epoch    `json:"lastUpdateTime"`
	SourceRevisions     []string `json:"sourceRevisions"`
	Trigger             trigger  `json:"trigger"`
	ExecutionMode       string   `json:"executionMode,omitempty"`
	ExecutionType       string   `json:"executionType"`
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
	LatestExecution *actionExecutionOut `json:"latestExecution,omitempty"`
	EntityURL       string              `json:"entityUrl,omitempty"`
}

type actionExecutionOut struct {
	ActionExecutionID string        `json:"actionExecutionId"`
	Status            string        `json:"status"`
	LastStatusChange  epoch         `json:"lastStatusChange"`
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
	v.checkRaw(in.Variables, "variables", '[')
	v.checkRaw(in.SourceRevisions, "sourceRevisions", '[')
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
	e := p.find(in.PipelineExecutionID)
	if e == nil {
		return nil, newError(http.StatusBadRequest, typeExecutionNotFound,
			"Pipeline execution with id '%s' does not exist in pipeline '%s'", in.PipelineExecutionID, in.PipelineName)
	}
	return struct {
		PipelineExecution executionOut `json:"pipelineExecution"`
	}{executionOut{
		PipelineName: p.name, PipelineVersion: e.Version, PipelineExecutionID: e.ID,
		Status: e.Status, StatusSummary: e.Summary, ArtifactRevisions: []string{},
		Trigger: trigger{TriggerType: e.Trigger}, ExecutionMode: e.Mode, ExecutionType: "STANDARD",
	}}, nil
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
		out.Summaries = append(out.Summaries, executionSummary{
			PipelineExecutionID: e.ID, Status: e.Status, StatusSummary: e.Summary,
			StartTime: epoch(e.Started), LastUpdateTime: epoch(e.Updated), SourceRevisions: []string{},
			Trigger: trigger{TriggerType: e.Trigger}, ExecutionMode: e.Mode, ExecutionType: "STANDARD",
		})
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
					if ar.Status != "" {
						as.LatestExecution = &actionExecutionOut{ActionExecutionID: ar.ID, Status: ar.Status, LastStatusChange: epoch(ar.Changed)}
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
