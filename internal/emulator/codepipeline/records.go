package codepipeline

import (
	"slices"
	"sync"
	"time"
)

// Update is one UpdatePipeline the emulator applied, with what it stopped
// and how long before it the pipeline's executions were last read. It is
// the record from which a test tells whether a writer checked that the
// pipeline was idle, and how long its check→update window was.
type Update struct {
	Time     time.Time `json:"time"`
	Pipeline string    `json:"pipeline"`
	Version  int       `json:"version"` // the version the update wrote
	// StateRead is when the pipeline's executions were last read before
	// this update (ListPipelineExecutions, GetPipelineState or
	// GetPipelineExecution); zero when they never were.
	StateRead time.Time `json:"state_read,omitzero"`
	// Stopped are the executions this update ended (see stopForUpdate).
	Stopped []StoppedExecution `json:"stopped,omitempty"`
}

// Window is the time between the last read of the pipeline's executions
// and the update, or -1 when they were never read.
func (u Update) Window() time.Duration {
	if u.StateRead.IsZero() {
		return -1
	}
	return u.Time.Sub(u.StateRead)
}

// StoppedExecution is one execution an update ended.
type StoppedExecution struct {
	ID      string    `json:"id"`
	Started time.Time `json:"started"`
	Status  string    `json:"status"` // Stopped or Superseded
}

// updateLog is the record of updates, bounded like the fetch record.
type updateLog struct {
	mu      sync.Mutex
	max     int
	entries []Update
	dropped int64
}

func (l *updateLog) add(u Update) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.max <= 0 {
		l.max = 100_000
	}
	if len(l.entries) >= l.max {
		n := max(l.max/10, 1)
		l.entries = append(l.entries[:0], l.entries[n:]...)
		l.dropped += int64(n)
	}
	l.entries = append(l.entries, u)
}

// Updates returns the record of UpdatePipeline calls applied, oldest first.
func (s *Server) Updates() []Update {
	s.updates.mu.Lock()
	defer s.updates.mu.Unlock()
	out := slices.Clone(s.updates.entries)
	for i := range out {
		out[i].Stopped = slices.Clone(out[i].Stopped)
	}
	return out
}

// ResetUpdates empties the update record.
func (s *Server) ResetUpdates() {
	s.updates.mu.Lock()
	defer s.updates.mu.Unlock()
	s.updates.entries, s.updates.dropped = nil, 0
}

// Execution is one execution as the emulator records it: what a test needs
// to tell a deployment that finished from one that something stopped.
type Execution struct {
	Pipeline  string    `json:"pipeline"`
	ID        string    `json:"id"`
	Trigger   string    `json:"trigger"`
	Mode      string    `json:"mode"`
	Status    string    `json:"status"`
	Started   time.Time `json:"started"`
	Updated   time.Time `json:"updated"`
	StoppedBy string    `json:"stopped_by,omitempty"` // StoppedByUpdate, StoppedByStop, StoppedByShutdown
	StoppedAt time.Time `json:"stopped_at,omitzero"`
	// StoppedVersion is the version the stopping UpdatePipeline wrote.
	StoppedVersion int `json:"stopped_version,omitempty"`
	// Revisions are the commits its source actions fetched, by action:
	// how a test proves that a migrated pipeline built the same commit.
	Revisions map[string]string `json:"revisions,omitempty"`
}

// Executions lists the executions each pipeline still keeps (the last 100
// of each), pipelines in name order, oldest execution first.
func (s *Server) Executions() []Execution {
	var out []Execution
	for _, p := range s.all() {
		p.mu.Lock()
		for _, e := range p.executions {
			x := Execution{Pipeline: p.name, ID: e.ID, Trigger: e.Trigger, Mode: e.Mode, Status: e.Status,
				Started: e.Started, Updated: e.Updated, StoppedBy: e.StoppedBy, StoppedAt: e.StoppedAt, StoppedVersion: e.StoppedVersion}
			for _, a := range e.revisions() {
				if x.Revisions == nil {
					x.Revisions = map[string]string{}
				}
				x.Revisions[a.Name] = a.Revision
			}
			out = append(out, x)
		}
		p.mu.Unlock()
	}
	return out
}

// Busy reports whether a pipeline has an execution in progress.
func (s *Server) Busy(pipeline string) bool {
	p := s.lookup(pipeline)
	if p == nil {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.ContainsFunc(p.executions, func(e *execution) bool { return e.Status == statusInProgress || e.Status == statusStopping })
}

// PendingApproval is a manual approval an execution waits at.
type PendingApproval struct {
	Pipeline, Stage, Action string
	Execution               string
	Token                   string // for PutApprovalResult
	Since                   time.Time
}

// PendingApprovals lists the manual approvals executions wait at now. It
// is for test drivers that play the person who approves (reading them
// through GetPipelineState would count as a read of the pipeline's
// executions in the update record).
func (s *Server) PendingApprovals() []PendingApproval {
	var out []PendingApproval
	for _, p := range s.all() {
		p.mu.Lock()
		for _, e := range p.executions {
			if e.Status != statusInProgress && e.Status != statusStopping {
				continue
			}
			for _, st := range e.Stages {
				for _, a := range st.Actions {
					if a.Token != "" {
						out = append(out, PendingApproval{Pipeline: p.name, Stage: st.Name, Action: a.Name, Execution: e.ID, Token: a.Token, Since: a.Changed})
					}
				}
			}
		}
		p.mu.Unlock()
	}
	return out
}
