package codepipeline

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
)

type listActionExecutionsInput struct {
	PipelineName string `json:"pipelineName"`
	Filter       *struct {
		PipelineExecutionID string `json:"pipelineExecutionId"`
	} `json:"filter"`
	MaxResults *int   `json:"maxResults"`
	NextToken  string `json:"nextToken"`
}

type actionExecutionDetail struct {
	PipelineExecutionID string                `json:"pipelineExecutionId"`
	ActionExecutionID   string                `json:"actionExecutionId"`
	PipelineVersion     int                   `json:"pipelineVersion"`
	StageName           string                `json:"stageName"`
	ActionName          string                `json:"actionName"`
	StartTime           epoch                 `json:"startTime"`
	LastUpdateTime      epoch                 `json:"lastUpdateTime"`
	Status              string                `json:"status"`
	Input               *actionExecutionInput `json:"input,omitempty"`
	Output              actionExecutionOutput `json:"output"`
}

type actionExecutionInput struct {
	ActionTypeID   ActionTypeID      `json:"actionTypeId"`
	Configuration  map[string]string `json:"configuration,omitempty"`
	RoleArn        string            `json:"roleArn,omitempty"`
	Namespace      string            `json:"namespace,omitempty"`
	InputArtifacts []artifactDetail  `json:"inputArtifacts"`
}

type artifactDetail struct {
	Name string `json:"name"`
}

type actionExecutionOutput struct {
	OutputArtifacts []artifactDetail  `json:"outputArtifacts"`
	ExecutionResult *executionResult  `json:"executionResult,omitempty"`
	OutputVariables map[string]string `json:"outputVariables,omitempty"`
}

type executionResult struct {
	ExternalExecutionID      string        `json:"externalExecutionId,omitempty"`
	ExternalExecutionSummary string        `json:"externalExecutionSummary,omitempty"`
	ExternalExecutionURL     string        `json:"externalExecutionUrl,omitempty"`
	ErrorDetails             *errorDetails `json:"errorDetails,omitempty"`
}

// listActionExecutions lists the actions of the pipeline's executions,
// newest execution first, with each source action's output variables and
// the commit it fetched (externalExecutionId), as ListActionExecutions
// shows them. The declaration an action ran with is read from the
// version's history (secrets masked); versions gone from it show no input.
func (s *Server) listActionExecutions(_ context.Context, in *listActionExecutionsInput) (any, *apiError) {
	var v violations
	v.check(in.PipelineName, "pipelineName", ruleName)
	v.check(in.NextToken, "nextToken", ruleNextToken)
	v.checkRange(in.MaxResults, "maxResults", 1, 100)
	if in.Filter != nil {
		v.check(in.Filter.PipelineExecutionID, "filter.pipelineExecutionId", stringRule{pattern: reExecutionID})
	}
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
	start := 0
	if in.NextToken != "" {
		b, err := base64.RawURLEncoding.DecodeString(in.NextToken)
		n, aerr := strconv.Atoi(string(b))
		if err != nil || aerr != nil || n < 0 {
			return nil, newError(http.StatusBadRequest, typeInvalidNextToken, "The next token is not valid: use the nextToken of the previous ListActionExecutions response")
		}
		start = n
	}
	p.mu.Lock()
	p.stateRead = s.now()
	executions := slices.Clone(p.executions)
	slices.Reverse(executions)
	if f := in.Filter; f != nil && f.PipelineExecutionID != "" {
		executions = slices.DeleteFunc(executions, func(e *execution) bool { return e.ID != f.PipelineExecutionID })
		if len(executions) == 0 {
			p.mu.Unlock()
			return nil, newError(http.StatusBadRequest, typeExecutionNotFound, "Pipeline execution with id '%s' does not exist in pipeline '%s'", f.PipelineExecutionID, in.PipelineName)
		}
	}
	var all []actionExecutionDetail
	decls := map[int]*Declaration{}
	for _, e := range executions {
		d, ok := decls[e.Version]
		if !ok {
			if raw, found := p.version(e.Version); found {
				d = new(Declaration)
				if json.Unmarshal(raw, d) != nil {
					d = nil
				}
			}
			decls[e.Version] = d
		}
		for _, st := range e.Stages {
			for _, a := range st.Actions {
				if a.Status == "" {
					continue
				}
				all = append(all, actionDetail(e, st.Name, &a, d))
			}
		}
	}
	p.mu.Unlock()
	end := min(start+limit, len(all))
	start = min(start, end)
	out := struct {
		Details   []actionExecutionDetail `json:"actionExecutionDetails"`
		NextToken string                  `json:"nextToken,omitempty"`
	}{Details: append([]actionExecutionDetail{}, all[start:end]...)}
	if end < len(all) {
		out.NextToken = base64.RawURLEncoding.EncodeToString([]byte(strconv.Itoa(end)))
	}
	return out, nil
}

func actionDetail(e *execution, stage string, a *actionRun, d *Declaration) actionExecutionDetail {
	out := actionExecutionDetail{PipelineExecutionID: e.ID, ActionExecutionID: a.ID, PipelineVersion: e.Version,
		StageName: stage, ActionName: a.Name, StartTime: epoch(a.Started), LastUpdateTime: epoch(a.Changed), Status: a.Status,
		Output: actionExecutionOutput{OutputArtifacts: []artifactDetail{}, OutputVariables: a.Outputs}}
	if a.Revision != "" || a.Summary != "" || a.ErrMsg != "" {
		out.Output.ExecutionResult = &executionResult{ExternalExecutionID: a.Revision, ExternalExecutionSummary: a.Summary}
		if a.ErrMsg != "" {
			out.Output.ExecutionResult.ErrorDetails = &errorDetails{Code: a.ErrCode, Message: a.ErrMsg}
		}
	}
	if d == nil {
		return out
	}
	if decl := d.action(stage, a.Name); decl != nil {
		in := &actionExecutionInput{ActionTypeID: decl.ActionTypeID, Configuration: decl.Configuration, RoleArn: decl.RoleArn,
			Namespace: decl.Namespace, InputArtifacts: []artifactDetail{}}
		for _, art := range decl.InputArtifacts {
			in.InputArtifacts = append(in.InputArtifacts, artifactDetail{Name: art.Name})
		}
		for _, art := range decl.OutputArtifacts {
			out.Output.OutputArtifacts = append(out.Output.OutputArtifacts, artifactDetail{Name: art.Name})
		}
		out.Input = in
	}
	return out
}
