package codepipeline

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	token "github.com/rotor-ci/rotor/internal/emulator/ghtoken" // the emulators' own token code, not rotor's
)

// How much history a pipeline keeps. AWS keeps more; bounded here so that a
// long soak with thousands of pipelines does not grow without end.
const (
	maxHistory    = 50  // older versions GetPipeline can still return
	maxExecutions = 100 // executions ListPipelineExecutions can still return
)

// revision is one version of a pipeline. It is immutable once built, so
// readers take it without a lock.
type revision struct {
	decl    Declaration // with the real secrets
	version int
	masked  []byte // the declaration as Get returns it: secrets read "****"
	sources []*source
	updated time.Time
}

// source is one GitHub source action of a revision: version 1 (a token)
// or version 2 (a CodeConnections connection).
type source struct {
	stage, action       string
	owner, repo, branch string
	token               token.Token // version 1
	connection          string      // version 2: the connection ARN
	roleArn             string      // the action's own role, if any
	poll                bool
	busy                atomic.Bool // a polled fetch is in flight
}

// v2 reports whether the source reads through a connection.
func (src *source) v2() bool { return src.connection != "" }

// pipeline is one stored pipeline. cur is read without locks; mu guards the
// rest and serialises updates.
type pipeline struct {
	name    string
	arn     string
	created time.Time
	cur     atomic.Pointer[revision]

	mu         sync.Mutex
	deleted    bool
	history    []historic // older versions, oldest first
	tags       []Tag
	executions []*execution // oldest first
	requests   map[string]string
	stateRead  time.Time // when its executions were last read (for Update.StateRead)
}

type historic struct {
	Version int             `json:"version"`
	Masked  json.RawMessage `json:"pipeline"`
}

// newRevision freezes a validated, normalised declaration as a version.
func newRevision(d Declaration, version int, updated time.Time) (*revision, error) {
	d.Version = &version
	masked := d.masked()
	b, err := json.Marshal(&masked)
	if err != nil {
		return nil, fmt.Errorf("encode pipeline %s: %w", d.Name, err)
	}
	r := &revision{decl: d, version: version, masked: b, updated: updated}
	for _, s := range d.Stages {
		for i := range s.Actions {
			a := &s.Actions[i]
			c := a.Configuration
			switch {
			case a.isGitHubV1():
				r.sources = append(r.sources, &source{
					stage: s.Name, action: a.Name, roleArn: a.RoleArn,
					owner: c[propOwner], repo: c[propRepo], branch: c[propBranch],
					token: token.New(c[propToken]),
					poll:  c[propPoll] != "false",
				})
			case a.isConnectionSource():
				owner, repo, _ := strings.Cut(c[propFullRepoID], "/")
				// Version 2 never polls: DetectChanges starts executions
				// from the connection's events.
				r.sources = append(r.sources, &source{stage: s.Name, action: a.Name, roleArn: a.RoleArn,
					owner: owner, repo: repo, branch: c[propBranchName], connection: c[propConnectionArn]})
			}
		}
	}
	return r, nil
}

// lookup returns a live pipeline or nil.
func (s *Server) lookup(name string) *pipeline {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.pipelines[name]
}

// insert adds a pipeline unless the name is taken or the quota is reached.
func (s *Server) insert(p *pipeline) *apiError {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.pipelines[p.name]; ok {
		return newError(400, typeNameInUse, "A pipeline with the name '%s' already exists in account '%s'", p.name, s.account)
	}
	if len(s.pipelines) >= s.maxPipelines {
		return newError(400, typeLimitExceeded, "Account '%s' already has %d pipelines in region '%s', the most allowed", s.account, len(s.pipelines), s.region)
	}
	s.pipelines[p.name] = p
	i, _ := slices.BinarySearch(s.names, p.name)
	s.names = slices.Insert(s.names, i, p.name)
	return nil
}

// remove deletes a pipeline; a missing one is not an error, as in AWS.
func (s *Server) remove(name string) {
	s.mu.Lock()
	p := s.pipelines[name]
	if p != nil {
		delete(s.pipelines, name)
		if i, ok := slices.BinarySearch(s.names, name); ok {
			s.names = slices.Delete(s.names, i, i+1)
		}
	}
	s.mu.Unlock()
	if p != nil {
		p.mu.Lock()
		p.deleted = true
		p.mu.Unlock()
	}
}

// all returns the live pipelines in name order.
func (s *Server) all() []*pipeline {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]*pipeline, len(s.names))
	for i, n := range s.names {
		out[i] = s.pipelines[n]
	}
	return out
}

func (s *Server) newPipeline(d Declaration, now time.Time) (*pipeline, error) {
	r, err := newRevision(d, 1, now)
	if err != nil {
		return nil, err
	}
	p := &pipeline{name: d.Name, arn: s.arn(d.Name), created: now, requests: map[string]string{}}
	p.cur.Store(r)
	return p, nil
}

func (s *Server) arn(name string) string {
	return fmt.Sprintf("arn:aws:codepipeline:%s:%s:%s", s.region, s.account, name)
}

// update replaces the declaration, bumps the version by one and stops the
// executions in progress. A GitHub action sent back exactly as GetPipeline
// shows it, "****" included, keeps the token it holds: the user guide says
// values shown as "****" "are left unchanged unless you edit that portion of
// the pipeline" ("Edit a pipeline (AWS CLI)"); the portion here is the
// action. Any other "****" is stored as sent.
func (p *pipeline) update(d Declaration, now time.Time) (*revision, Update, bool, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.deleted {
		return nil, Update{}, false, nil
	}
	old := p.cur.Load()
	keepMaskedTokens(&d, &old.decl)
	r, err := newRevision(d, old.version+1, now)
	if err != nil {
		return nil, Update{}, true, err
	}
	p.history = append(p.history, historic{Version: old.version, Masked: old.masked})
	if len(p.history) > maxHistory {
		p.history = slices.Delete(p.history, 0, len(p.history)-maxHistory)
	}
	p.cur.Store(r)
	u := Update{Time: now, Pipeline: p.name, Version: r.version, StateRead: p.stateRead}
	u.Stopped = p.stopForUpdate(r.version, now)
	return r, u, true, nil
}

// keepMaskedTokens gives each GitHub action of d whose declaration is, token
// masked, exactly that of the same action in old (same stage, same name)
// the token old holds.
func keepMaskedTokens(d, old *Declaration) {
	for i := range d.Stages {
		st := &d.Stages[i]
		for j := range st.Actions {
			a := &st.Actions[j]
			if !a.isGitHubV1() || a.Configuration[propToken] != maskedSecret {
				continue
			}
			prev := old.action(st.Name, a.Name)
			if prev == nil || !prev.isGitHubV1() || !sameAction(prev.withMaskedToken(), *a) {
				continue
			}
			cfg := maps.Clone(a.Configuration)
			cfg[propToken] = prev.Configuration[propToken]
			a.Configuration = cfg
		}
	}
}

// version returns the masked declaration of one version, current or past.
func (p *pipeline) version(v int) ([]byte, bool) {
	if r := p.cur.Load(); r.version == v {
		return r.masked, true
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if r := p.cur.Load(); r.version == v { // updated since the first look
		return r.masked, true
	}
	for _, h := range p.history {
		if h.Version == v {
			return h.Masked, true
		}
	}
	return nil, false
}
