package codepipeline

import (
	"cmp"
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
	statusAbandoned  = "Abandoned"
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
	Changed   time.Time `json:"changed,omitzero"`
	ErrCode   string    `json:"error_code,omitempty"`
	ErrMsg    string    `json:"error_message,omitempty"`
	EntityURL string    `json:"entity_url,omitempty"`
}

// start records a new execution of the current revision and runs it in the
// background. It returns the execution id.
func (s *Server) start(p *pipeline, trigger, requestToken string) string {
	r := p.cur.Load()
	now := s.now()
	e := &execution{ID: newUUID(), Version: r.version, Trigger: trigger, Mode: r.decl.ExecutionMode,
		Status: statusInProgress, Started: now, Updated: now}
	for _, st := range r.decl.Stages {
		run := stageRun{Name: st.Name, Actions: make([]actionRun, len(st.Actions))}
		for i, a := range st.Actions {
			run.Actions[i] = actionRun{Name: a.Name}
			if a.isGitHubV1() {
				c := a.Configuration
				run.Actions[i].EntityURL = "https://github.com/" + url.PathEscape(c[propOwner]) + "/" + url.PathEscape(c[propRepo]) + "/tree/" + c[propBranch]
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
		e.Status, e.Summary = statusStopped, "the emulator is shutting down"
		p.mu.Unlock()
		return e.ID
	}
	s.wg.Add(1)
	go s.run(p, e, r)
	return e.ID
}

// run executes stage after stage. Actions of a stage run in runOrder; a
// GitHub source action downloads the repository, every other action succeeds
// after ActionDelay.
func (s *Server) run(p *pipeline, e *execution, r *revision) {
	defer s.wg.Done()
	ctx := s.ctx
	for i, st := range r.decl.Stages {
		s.setStage(p, e, i, statusInProgress)
		order := make([]int, len(st.Actions))
		for j := range order {
			order[j] = j
		}
		slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(*st.Actions[a].RunOrder, *st.Actions[b].RunOrder) })
		for _, j := range order {
			a := &st.Actions[j]
			s.setAction(p, e, i, j, statusInProgress, "")
			ok := true
			if src := r.source(st.Name, a.Name); src != nil {
				select {
				case s.sem <- struct{}{}:
				case <-ctx.Done():
					s.stop(p, e)
					return
				}
				f := s.fetch(ctx, p.name, src, TriggerExecution)
				<-s.sem
				ok = f.OK
			} else {
				t := time.NewTimer(s.actionDelay)
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
			if !ok {
				s.setAction(p, e, i, j, statusFailed, ErrGitHubAccess)
				s.setStage(p, e, i, statusFailed)
				s.finish(p, e, statusFailed)
				return
			}
			s.setAction(p, e, i, j, statusSucceeded, "")
		}
		s.setStage(p, e, i, statusSucceeded)
	}
	s.finish(p, e, statusSucceeded)
}

func (r *revision) source(stage, action string) *source {
	for _, src := range r.sources {
		if src.stage == stage && src.action == action {
			return src
		}
	}
	return nil
}

func (s *Server) setStage(p *pipeline, e *execution, i int, status string) {
	now := s.now()
	p.mu.Lock()
	defer p.mu.Unlock()
	e.Stages[i].Status = status
	e.Updated = now
}

func (s *Server) setAction(p *pipeline, e *execution, i, j int, status, errMsg string) {
	now := s.now()
	p.mu.Lock()
	defer p.mu.Unlock()
	a := &e.Stages[i].Actions[j]
	if a.ID == "" {
		a.ID = newUUID()
	}
	a.Status, a.Changed = status, now
	if errMsg != "" {
		a.ErrCode, a.ErrMsg = "JobFailed", errMsg
	}
	e.Updated = now
}

func (s *Server) finish(p *pipeline, e *execution, status string) {
	now := s.now()
	p.mu.Lock()
	defer p.mu.Unlock()
	e.Status, e.Updated = status, now
}

// stop marks an execution cut short by Close.
func (s *Server) stop(p *pipeline, e *execution) {
	p.mu.Lock()
	defer p.mu.Unlock()
	e.Status, e.Summary = statusStopped, "the emulator shut down"
	for i := range e.Stages {
		for j := range e.Stages[i].Actions {
			if a := &e.Stages[i].Actions[j]; a.Status == statusInProgress {
				a.Status = statusAbandoned
			}
		}
		if e.Stages[i].Status == statusInProgress {
			e.Stages[i].Status = statusStopped
		}
	}
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
