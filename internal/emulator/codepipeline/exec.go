package codepipeline

import (
	"cmp"
	"context"
	"net/url"
	"slices"
	"time"
)

// Statuses, as the model spells them.
const (
	statusInProgress = "InProgress"
	statusSucceeded  = "Succeeded"
	statusFailed     = "Failed"
	statusStopped    = "Stopped"
	statusSuperseded = "Superseded"
	statusCancelled  = "Cancelled" // a stage cut short by an update of the declaration
	statusAbandoned  = "Abandoned"
)

// What stopped an execution (Execution.StoppedBy).
const (
	StoppedByUpdate   = "UpdatePipeline"        // the declaration was updated while it ran
	StoppedByStop     = "StopPipelineExecution" // someone asked
	StoppedByShutdown = "shutdown"              // the emulator closed or restarted
)

// ErrGitHubAccess is the message of a GitHub source action that cannot
// download its repository, as CodePipeline words it.
const ErrGitHubAccess = "Could not access the GitHub repository"

// execution is one run of a pipeline. Its fields change under the owning
// pipeline's mu; they are exported for the state file.
type execution struct {
	ID      string     `json:"id"`
	Version int        `json:"version"`
	Trigger string     `json:"trigger"`
	Mode    string     `json:"mode"`
	Status  string     `json:"status"`
	Summary string     `json:"summary,omitempty"`
	Started time.Time  `json:"started"`
	Updated time.Time  `json:"updated"`
	Stages  []stageRun `json:"stages"`
	// StoppedBy says what ended the execution before it finished by
	// itself (StoppedBy…); StoppedVersion is the declaration version an
	// UpdatePipeline that stopped it wrote.
	StoppedBy      string    `json:"stopped_by,omitempty"`
	StoppedAt      time.Time `json:"stopped_at,omitzero"`
	StoppedVersion int       `json:"stopped_version,omitempty"`
	StopReason     string    `json:"stop_reason,omitempty"` // StopPipelineExecution's reason

	cancel    context.CancelFunc // stops the goroutine that runs it; nil once restored
	approvals chan approval      // answers of PutApprovalResult for this execution
}

type stageRun struct {
	Name    string      `json:"name"`
	Status  string      `json:"status,omitempty"` // "" until the execution reaches the stage
	Actions []actionRun `json:"actions"`
}

type actionRun struct {
	Name      string    `json:"name"`
	ID        string    `json:"id,omitempty"`
	Status    string    `json:"status,omitempty"`
	Started   time.Time `json:"started,omitzero"`
	Changed   time.Time `json:"changed,omitzero"`
	ErrCode   string    `json:"error_code,omitempty"`
	ErrMsg    string    `json:"error_message,omitempty"`
	Summary   string    `json:"summary,omitempty"`
	EntityURL string    `json:"entity_url,omitempty"`
	// Token is a manual approval's token while it waits for
	// PutApprovalResult (GetPipelineState shows it).
	Token string `json:"token,omitempty"`
	// A source action's output artifact, the commit it fetched and its
	// output variables.
	Artifact string            `json:"artifact,omitempty"`
	Revision string            `json:"revision,omitempty"`
	Outputs  map[string]string `json:"outputs,omitempty"`
}

// approval is one PutApprovalResult for a waiting manual approval.
type approval struct {
	stage, action, token string
	approved             bool
	summary              string
}

// start records a new execution of the current revision and runs it in the
// background. It returns the execution id.
func (s *Server) start(p *pipeline, trigger, requestToken string) string {
	r := p.cur.Load()
	now := s.now()
	e := &execution{ID: newUUID(), Version: r.version, Trigger: trigger, Mode: r.decl.ExecutionMode,
		Status: statusInProgress, Started: now, Updated: now, approvals: make(chan approval, 1)}
	for _, st := range r.decl.Stages {
		run := stageRun{Name: st.Name, Actions: make([]actionRun, len(st.Actions))}
		for i, a := range st.Actions {
			run.Actions[i] = actionRun{Name: a.Name}
			if src := r.source(st.Name, a.Name); src != nil {
				run.Actions[i].EntityURL = "https://github.com/" + url.PathEscape(src.owner) + "/" + url.PathEscape(src.repo) + "/tree/" + src.branch
				if len(a.OutputArtifacts) > 0 {
					run.Actions[i].Artifact = a.OutputArtifacts[0].Name
				}
			}
		}
		e.Stages = append(e.Stages, run)
	}
	p.mu.Lock()
	if requestToken != "" {
		if id, ok := p.requests[requestToken]; ok {
			p.mu.Unlock()
			return id
		}
		p.requests[requestToken] = e.ID
	}
	p.executions = append(p.executions, e)
	if n := len(p.executions) - maxExecutions; n > 0 {
		for _, gone := range p.executions[:n] {
			for tok, id := range p.requests {
				if id == gone.ID {
					delete(p.requests, tok)
				}
			}
		}
		p.executions = slices.Delete(p.executions, 0, n)
	}
	p.mu.Unlock()

	s.closeMu.RLock()
	defer s.closeMu.RUnlock()
	if s.closed {
		p.mu.Lock()
		e.end(statusStopped, StoppedByShutdown, "the emulator is shutting down", now)
		p.mu.Unlock()
		return e.ID
	}
	ctx, cancel := context.WithCancel(s.ctx)
	p.mu.Lock()
	e.cancel = cancel
	p.mu.Unlock()
	s.wg.Add(1)
	go s.run(ctx, p, e, r)
	return e.ID
}

// run executes stage after stage. Actions of a stage run in runOrder: a
// GitHub source action downloads the repository, a manual approval waits
// for PutApprovalResult, every other action succeeds after the stage's run
// time (the world's run_times) or ActionDelay. It returns as soon as ctx
// ends: the execution was stopped (UpdatePipeline, StopPipelineExecution)
// or the emulator closes.
func (s *Server) run(ctx context.Context, p *pipeline, e *execution, r *revision) {
	defer s.wg.Done()
	for i, st := range r.decl.Stages {
		if !s.setStage(p, e, i, statusInProgress) {
			return
		}
		order := make([]int, len(st.Actions))
		for j := range order {
			order[j] = j
		}
		slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(*st.Actions[a].RunOrder, *st.Actions[b].RunOrder) })
		for _, j := range order {
			a := &st.Actions[j]
			if !s.setAction(p, e, i, j, statusInProgress, "", "") {
				return
			}
			status, msg := statusSucceeded, ""
			switch src := r.source(st.Name, a.Name); {
			case src != nil:
				select {
				case s.sem <- struct{}{}:
				case <-ctx.Done():
					s.stop(p, e)
					return
				}
				f := s.fetch(ctx, p.name, src, TriggerExecution, r.decl.RoleArn)
				<-s.sem
				if !f.OK {
					status, msg = statusFailed, f.message
				} else {
					s.setRevision(p, e, i, j, f.Revision, outputVariables(src, f.Revision, f.committed))
				}
			case a.isManualApproval():
				var ok bool
				if status, msg, ok = s.awaitApproval(ctx, p, e, i, j); !ok {
					s.stop(p, e)
					return
				}
			default:
				t := time.NewTimer(s.runTime(p.name, st.Name))
				select {
				case <-t.C:
				case <-ctx.Done():
					t.Stop()
				}
			}
			if ctx.Err() != nil {
				s.stop(p, e)
				return
			}
			if status == statusFailed {
				s.setAction(p, e, i, j, statusFailed, msg, "")
				s.setStage(p, e, i, statusFailed)
				s.finish(p, e, statusFailed)
				return
			}
			if !s.setAction(p, e, i, j, statusSucceeded, "", msg) {
				return
			}
		}
		if !s.setStage(p, e, i, statusSucceeded) {
			return
		}
	}
	s.finish(p, e, statusSucceeded)
}

// awaitApproval holds a manual approval InProgress, with a fresh token in
// GetPipelineState, until PutApprovalResult answers it (Approved: the action
// succeeds; Rejected: it fails, and so do the stage and the execution). ok
// is false when ctx ended first.
func (s *Server) awaitApproval(ctx context.Context, p *pipeline, e *execution, i, j int) (status, summary string, ok bool) {
	tok := newUUID()
	p.mu.Lock()
	e.Stages[i].Actions[j].Token = tok
	p.mu.Unlock()
	for {
		select {
		case <-ctx.Done():
			return "", "", false
		case a := <-e.approvals:
			if a.token != tok {
				continue // PutApprovalResult checked it; a stale one cannot get here
			}
			p.mu.Lock()
			e.Stages[i].Actions[j].Token = ""
			p.mu.Unlock()
			if a.approved {
				return statusSucceeded, a.summary, true
			}
			return statusFailed, "Rejected: " + a.summary, true
		}
	}
}

func (r *revision) source(stage, action string) *source {
	for _, src := range r.sources {
		if src.stage == stage && src.action == action {
			return src
		}
	}
	return nil
}

// setStage, setAction and finish change a running execution and report
// whether it is still running: one that was stopped meanwhile keeps the
// statuses the stop gave it.
func (s *Server) setStage(p *pipeline, e *execution, i int, status string) bool {
	now := s.now()
	p.mu.Lock()
	defer p.mu.Unlock()
	if e.stopped(now) {
		return false
	}
	e.Stages[i].Status = status
	e.Updated = now
	return true
}

func (s *Server) setAction(p *pipeline, e *execution, i, j int, status, errMsg, summary string) bool {
	now := s.now()
	p.mu.Lock()
	defer p.mu.Unlock()
	stopping := e.Status == statusStopping
	if e.Status != statusInProgress && !(stopping && status != statusInProgress) {
		e.stopped(now)
		return false
	}
	a := &e.Stages[i].Actions[j]
	if a.ID == "" {
		a.ID, a.Started = newUUID(), now
	}
	a.Status, a.Changed = status, now
	if errMsg != "" {
		a.ErrCode, a.ErrMsg = "JobFailed", errMsg
	}
	if summary != "" {
		a.Summary = summary
	}
	e.Updated = now
	// A stop without abandon lets the action in progress finish, then
	// stops.
	return !e.stopped(now)
}

// setRevision records the commit a source action fetched and its output
// variables.
func (s *Server) setRevision(p *pipeline, e *execution, i, j int, rev string, outputs map[string]string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	a := &e.Stages[i].Actions[j]
	a.Revision, a.Outputs = rev, outputs
}

// outputVariables are a source action's output variables (CodePipeline
// user guide, "Variables reference"): version 1 (GitHub) has CommitId,
// BranchName, RepositoryName, CommitUrl, AuthorDate and CommitterDate;
// version 2 (CodeStarSourceConnection) has CommitId, BranchName,
// FullRepositoryName, ConnectionArn and AuthorDate, and none of
// CommitUrl, RepositoryName or CommitterDate. The dates are the archive's
// commit time (git archive stamps its entries with it; the GitHub
// emulator's commits have one time for author and committer), ISO 8601.
// CommitMessage is left out of both: the GitHub emulator has no commit
// messages to take it from.
func outputVariables(src *source, rev string, committed time.Time) map[string]string {
	out := map[string]string{"BranchName": src.branch}
	if rev != "" {
		out["CommitId"] = rev
	}
	if !committed.IsZero() {
		out["AuthorDate"] = committed.Format(time.RFC3339)
	}
	if src.v2() {
		out["FullRepositoryName"] = src.owner + "/" + src.repo
		out["ConnectionArn"] = src.connection
		return out
	}
	out["RepositoryName"] = src.repo
	if rev != "" {
		out["CommitUrl"] = "https://github.com/" + src.owner + "/" + src.repo + "/commit/" + rev
	}
	if !committed.IsZero() {
		out["CommitterDate"] = committed.Format(time.RFC3339)
	}
	return out
}

func (s *Server) finish(p *pipeline, e *execution, status string) {
	now := s.now()
	p.mu.Lock()
	defer p.mu.Unlock()
	if e.stopped(now) {
		return
	}
	e.Status, e.Updated = status, now
}

// stopped reports whether the execution no longer runs, ending one that was
// Stopping (StopPipelineExecution without abandon) now that its action in
// progress is done. Call with the pipeline's mu held.
func (e *execution) stopped(now time.Time) bool {
	switch e.Status {
	case statusInProgress:
		return false
	case statusStopping:
		e.end(statusStopped, StoppedByStop, "Stopped by StopPipelineExecution", now)
	}
	return true
}

// stop marks an execution cut short by Close, unless something else stopped
// it first.
func (s *Server) stop(p *pipeline, e *execution) {
	now := s.now()
	p.mu.Lock()
	defer p.mu.Unlock()
	if e.Status != statusInProgress && e.Status != statusStopping {
		return
	}
	e.end(statusStopped, StoppedByShutdown, "the emulator shut down", now)
}

// end stops a running execution: status is its final status; stages in
// progress end stageStatus, actions in progress Abandoned. Call with the
// pipeline's mu held.
func (e *execution) end(status, by, summary string, now time.Time) {
	stageStatus := statusStopped
	if by == StoppedByUpdate {
		// The model: "A status of cancelled means that the pipeline's
		// definition was updated before the stage execution could be
		// completed."
		stageStatus = statusCancelled
	}
	e.Status, e.Summary, e.Updated = status, summary, now
	e.StoppedBy, e.StoppedAt = by, now
	for i := range e.Stages {
		for j := range e.Stages[i].Actions {
			if a := &e.Stages[i].Actions[j]; a.Status == statusInProgress {
				a.Status, a.Changed, a.Token = statusAbandoned, now, ""
			}
		}
		if e.Stages[i].Status == statusInProgress {
			e.Stages[i].Status = stageStatus
		}
	}
	if e.cancel != nil {
		e.cancel()
	}
}

// stopForUpdate ends every execution in progress because the declaration
// became version: "The update-pipeline command stops the pipeline. If a
// revision is being run through the pipeline when you run the
// update-pipeline command, that run will be stopped." (CodePipeline user
// guide, "Edit a pipeline (AWS CLI)"). In SUPERSEDED mode the run ends
// Superseded, otherwise Stopped. Call with p.mu held; it returns what it
// stopped.
func (p *pipeline) stopForUpdate(version int, now time.Time) []StoppedExecution {
	var out []StoppedExecution
	for _, e := range p.executions {
		if e.Status != statusInProgress && e.Status != statusStopping {
			continue
		}
		status := statusStopped
		if e.Mode == "SUPERSEDED" {
			status = statusSuperseded
		}
		e.end(status, StoppedByUpdate, "the pipeline was updated while this execution ran (UpdatePipeline)", now)
		e.StoppedVersion = version
		out = append(out, StoppedExecution{ID: e.ID, Started: e.Started, Status: status})
	}
	return out
}

// find returns an execution by id; call with p.mu held.
func (p *pipeline) find(id string) *execution {
	for _, e := range p.executions {
		if e.ID == id {
			return e
		}
	}
	return nil
}
