package codepipeline

import (
	"context"
	"net/http"
	"strings"
)

// Operations that act on an execution in progress: answering a manual
// approval, and stopping.

type approvalInput struct {
	PipelineName string `json:"pipelineName"`
	StageName    string `json:"stageName"`
	ActionName   string `json:"actionName"`
	Result       *struct {
		Summary *string `json:"summary"`
		Status  string  `json:"status"`
	} `json:"result"`
	Token string `json:"token"`
}

type stopInput struct {
	PipelineName        string `json:"pipelineName"`
	PipelineExecutionID string `json:"pipelineExecutionId"`
	Abandon             bool   `json:"abandon"`
	Reason              string `json:"reason"`
}

const (
	typeInvalidApprovalToken = "InvalidApprovalTokenException"
	typeApprovalCompleted    = "ApprovalAlreadyCompletedException"
	typeStageNotFound        = "StageNotFoundException"
	typeActionNotFound       = "ActionNotFoundException"
	typeNotStoppable         = "PipelineExecutionNotStoppableException"
	typeDuplicatedStop       = "DuplicatedStopRequestException"
	statusStopping           = "Stopping"
)

var (
	ruleApprovalStatus = stringRule{required: true, enum: []string{"Approved", "Rejected"}}
	ruleApprovalToken  = stringRule{required: true, pattern: reExecutionID}
	ruleStopReason     = stringRule{max: 200}
)

// putApprovalResult answers a manual approval that an execution waits at:
// the token must be the one GetPipelineState shows for that action now.
func (s *Server) putApprovalResult(_ context.Context, in *approvalInput) (any, *apiError) {
	var v violations
	v.check(in.PipelineName, "pipelineName", ruleName)
	v.check(in.StageName, "stageName", ruleName)
	v.check(in.ActionName, "actionName", ruleName)
	if in.Result == nil {
		v.add(nil, "result", "Member must not be null")
	} else {
		if in.Result.Summary == nil {
			v.add(nil, "result.summary", "Member must not be null")
		} else {
			v.check(*in.Result.Summary, "result.summary", stringRule{max: 512})
		}
		v.check(in.Result.Status, "result.status", ruleApprovalStatus)
	}
	v.check(in.Token, "token", ruleApprovalToken)
	if err := v.err(); err != nil {
		return nil, err
	}
	p := s.lookup(in.PipelineName)
	if p == nil {
		return nil, errPipelineNotFound(s.account, in.PipelineName)
	}
	decl := &p.cur.Load().decl
	if !stageExists(decl, in.StageName) {
		return nil, newError(http.StatusBadRequest, typeStageNotFound, "Stage '%s' does not exist in pipeline '%s'", in.StageName, in.PipelineName)
	}
	a := decl.action(in.StageName, in.ActionName)
	if a == nil || !a.isManualApproval() {
		return nil, newError(http.StatusBadRequest, typeActionNotFound, "Approval action '%s' does not exist in stage '%s'", in.ActionName, in.StageName)
	}
	now := s.now()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, e := range p.executions {
		for i := range e.Stages {
			if e.Stages[i].Name != in.StageName {
				continue
			}
			ar := e.Stages[i].action(in.ActionName)
			if ar == nil || ar.Token != in.Token {
				continue
			}
			if e.Status != statusInProgress && e.Status != statusStopping {
				return nil, newError(http.StatusBadRequest, typeApprovalCompleted, "The approval action '%s' is no longer waiting", in.ActionName)
			}
			select {
			case e.approvals <- approval{stage: in.StageName, action: in.ActionName, token: in.Token, approved: in.Result.Status == "Approved", summary: *in.Result.Summary}:
			default:
				return nil, newError(http.StatusBadRequest, typeApprovalCompleted, "The approval action '%s' has already been answered", in.ActionName)
			}
			return struct {
				ApprovedAt epoch `json:"approvedAt"`
			}{epoch(now)}, nil
		}
	}
	return nil, newError(http.StatusBadRequest, typeInvalidApprovalToken, "The approval token is not valid for action '%s': it was answered already, or the execution ended", in.ActionName)
}

func stageExists(d *Declaration, name string) bool {
	for _, st := range d.Stages {
		if st.Name == name {
			return true
		}
	}
	return false
}

// stopExecution stops an execution in progress: abandon stops it at once
// (actions in progress Abandoned); otherwise it is Stopping until the
// action in progress finishes, then Stopped.
func (s *Server) stopExecution(_ context.Context, in *stopInput) (any, *apiError) {
	var v violations
	v.check(in.PipelineName, "pipelineName", ruleName)
	v.check(in.PipelineExecutionID, "pipelineExecutionId", ruleExecID)
	v.check(in.Reason, "reason", ruleStopReason)
	if err := v.err(); err != nil {
		return nil, err
	}
	p := s.lookup(in.PipelineName)
	if p == nil {
		return nil, errPipelineNotFound(s.account, in.PipelineName)
	}
	now := s.now()
	p.mu.Lock()
	defer p.mu.Unlock()
	e := p.find(in.PipelineExecutionID)
	switch {
	case e == nil:
		return nil, newError(http.StatusBadRequest, typeExecutionNotFound,
			"Pipeline execution with id '%s' does not exist in pipeline '%s'", in.PipelineExecutionID, in.PipelineName)
	case e.Status == statusStopping && !in.Abandon:
		return nil, newError(http.StatusBadRequest, typeDuplicatedStop, "Execution '%s' is already stopping; stop and abandon it to stop it now", e.ID)
	case e.Status != statusInProgress && e.Status != statusStopping:
		return nil, newError(http.StatusBadRequest, typeNotStoppable, "Execution '%s' is %s, not in progress", e.ID, e.Status)
	}
	e.StopReason = strings.TrimSpace(in.Reason)
	if in.Abandon {
		e.end(statusStopped, StoppedByStop, "Stopped by StopPipelineExecution (abandon)", now)
	} else {
		e.Status, e.Summary, e.Updated = statusStopping, "Stopping: the action in progress finishes first", now
	}
	return struct {
		ID string `json:"pipelineExecutionId"`
	}{e.ID}, nil
}
