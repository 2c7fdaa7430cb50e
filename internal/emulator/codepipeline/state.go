package codepipeline

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
)

// stateFormat is the version of the Snapshot format.
const stateFormat = 1

type state struct {
	Format    int             `json:"format"`
	Account   string          `json:"account"`
	Region    string          `json:"region"`
	Pipelines []pipelineState `json:"pipelines"`
	// Regions are the other accounts and regions, each a state of its own.
	Regions []json.RawMessage `json:"regions,omitempty"`
	// Webhooks hold their secret tokens, like the declarations.
	Webhooks []*webhook `json:"webhooks,omitempty"`
}

type pipelineState struct {
	// Declaration holds the real secrets: the state file is as sensitive as
	// the service it stands in for, and is written 0600.
	Declaration json.RawMessage   `json:"declaration"`
	Created     time.Time         `json:"created"`
	Updated     time.Time         `json:"updated"`
	History     []historic        `json:"history,omitempty"`
	Tags        []Tag             `json:"tags,omitempty"`
	Executions  []*execution      `json:"executions,omitempty"`
	Requests    map[string]string `json:"client_request_tokens,omitempty"`
}

// Snapshot returns the emulator's state (pipelines with their secrets,
// versions, history, tags and executions) as JSON. The fetch record is not
// part of it.
func (s *Server) Snapshot() ([]byte, error) {
	st := state{Format: stateFormat, Account: s.account, Region: s.region}
	for _, p := range s.all() {
		r := p.cur.Load()
		decl, err := json.Marshal(&r.decl)
		if err != nil {
			return nil, fmt.Errorf("snapshot pipeline %s: %w", p.name, err)
		}
		ps := pipelineState{Declaration: decl, Created: p.created, Updated: r.updated}
		p.mu.Lock()
		ps.History = slices.Clone(p.history)
		ps.Tags = slices.Clone(p.tags)
		for _, e := range p.executions {
			c := *e
			c.Stages = make([]stageRun, len(e.Stages))
			for i, st := range e.Stages {
				c.Stages[i] = st
				c.Stages[i].Actions = slices.Clone(st.Actions)
			}
			ps.Executions = append(ps.Executions, &c)
		}
		if len(p.requests) > 0 {
			ps.Requests = make(map[string]string, len(p.requests))
			for k, v := range p.requests {
				ps.Requests[k] = v
			}
		}
		p.mu.Unlock()
		st.Pipelines = append(st.Pipelines, ps)
	}
	s.webhooks.mu.Lock()
	for _, w := range s.webhooks.hooks {
		c := *w
		st.Webhooks = append(st.Webhooks, &c)
	}
	s.webhooks.mu.Unlock()
	slices.SortFunc(st.Webhooks, func(a, b *webhook) int { return strings.Compare(a.Definition.Name, b.Definition.Name) })
	if s.parent == nil {
		rs, err := s.regionStates()
		if err != nil {
			return nil, err
		}
		st.Regions = rs
	}
	return json.Marshal(&st)
}

// Restore replaces every pipeline with those of a Snapshot. Executions that
// were running when the snapshot was taken are marked Stopped: nothing runs
// them any more.
func (s *Server) Restore(b []byte) error {
	var st state
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&st); err != nil {
		return fmt.Errorf("codepipeline state: %w", err)
	}
	if st.Format != stateFormat {
		return fmt.Errorf("codepipeline state: format %d, want %d", st.Format, stateFormat)
	}
	for i, raw := range st.Regions {
		var head struct{ Account, Region string }
		if err := json.Unmarshal(raw, &head); err != nil {
			return fmt.Errorf("codepipeline state: regions[%d]: %w", i, err)
		}
		if s.parent != nil || !s.regions.multi {
			return fmt.Errorf("codepipeline state: regions[%d]: account %s region %s, but this emulator serves one account and region", i, head.Account, head.Region)
		}
		srv, err := s.place(Place{head.Account, head.Region}, nil)
		if err != nil {
			return fmt.Errorf("codepipeline state: regions[%d]: %w", i, err)
		}
		if err := srv.Restore(raw); err != nil {
			return fmt.Errorf("codepipeline state: account %s region %s: %w", head.Account, head.Region, err)
		}
	}
	pipelines := make(map[string]*pipeline, len(st.Pipelines))
	names := make([]string, 0, len(st.Pipelines))
	for i, ps := range st.Pipelines {
		var d Declaration
		if err := json.Unmarshal(ps.Declaration, &d); err != nil {
			return fmt.Errorf("codepipeline state: pipelines[%d]: %w", i, err)
		}
		d.normalise()
		if err := validateDeclaration(&d); err != nil {
			return fmt.Errorf("codepipeline state: pipelines[%d] %s: %s", i, d.Name, err.Message)
		}
		version := 1
		if d.Version != nil {
			version = *d.Version
		}
		r, err := newRevision(d, version, ps.Updated)
		if err != nil {
			return fmt.Errorf("codepipeline state: %w", err)
		}
		if _, dup := pipelines[d.Name]; dup {
			return fmt.Errorf("codepipeline state: pipeline %s appears twice", d.Name)
		}
		p := &pipeline{name: d.Name, arn: s.arn(d.Name), created: ps.Created, history: ps.History,
			tags: ps.Tags, executions: ps.Executions, requests: ps.Requests}
		if p.requests == nil {
			p.requests = map[string]string{}
		}
		for _, e := range p.executions {
			if e.Status == statusInProgress || e.Status == statusStopping {
				e.end(statusStopped, StoppedByShutdown, "the emulator restarted while this execution ran", e.Updated)
			}
		}
		p.cur.Store(r)
		pipelines[d.Name] = p
		names = append(names, d.Name)
	}
	slices.Sort(names)
	hooks := map[string]*webhook{}
	for _, w := range st.Webhooks {
		hooks[w.Definition.Name] = w
	}
	s.webhooks.mu.Lock()
	s.webhooks.hooks = hooks
	s.webhooks.mu.Unlock()
	s.mu.Lock()
	old := s.pipelines
	s.pipelines, s.names = pipelines, names
	s.mu.Unlock()
	for _, p := range old {
		p.mu.Lock()
		p.deleted = true
		p.mu.Unlock()
	}
	return nil
}
