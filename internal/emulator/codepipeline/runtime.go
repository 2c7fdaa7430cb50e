package codepipeline

import (
	"fmt"
	"path"
	"sync"
	"time"

	"github.com/rotor-ci/rotor/internal/emulator/fault"
)

// RunTime gives the stages a world names a run time: while an execution is
// in such a stage, each of its actions that does work (not a GitHub source,
// not a manual approval) takes RunTime instead of the emulator's short
// ActionDelay. It is how a world has deployments that take minutes, so
// that an UpdatePipeline can meet an execution in progress.
type RunTime struct {
	Pipeline string         `yaml:"pipeline" json:"pipeline"` // a name, or a glob (path.Match: deploy-*)
	Stage    string         `yaml:"stage" json:"stage"`       // a stage name, or a glob
	RunTime  fault.Duration `yaml:"run_time" json:"run_time"`
}

// runTimes resolves the run time of a pipeline's stage: an override set by
// SetRunTime first, then the first world entry that matches.
type runTimes struct {
	world []RunTime

	mu        sync.RWMutex
	overrides map[string]time.Duration // pipeline + "/" + stage
}

func validateRunTimes(rts []RunTime) error {
	for i, rt := range rts {
		for _, pat := range []string{rt.Pipeline, rt.Stage} {
			if pat == "" {
				return fmt.Errorf("run_times[%d]: pipeline and stage are required (a name or a glob such as deploy-*)", i)
			}
			if _, err := path.Match(pat, ""); err != nil {
				return fmt.Errorf("run_times[%d]: %q: %w", i, pat, err)
			}
		}
		if rt.RunTime.Duration <= 0 {
			return fmt.Errorf("run_times[%d]: run_time %v: must be positive", i, rt.RunTime)
		}
	}
	return nil
}

func (r *runTimes) lookup(pipeline, stage string) (time.Duration, bool) {
	r.mu.RLock()
	d, ok := r.overrides[pipeline+"/"+stage]
	r.mu.RUnlock()
	if ok {
		return d, true
	}
	for _, rt := range r.world {
		pm, _ := path.Match(rt.Pipeline, pipeline)
		sm, _ := path.Match(rt.Stage, stage)
		if pm && sm {
			return rt.RunTime.Duration, true
		}
	}
	return 0, false
}

// runTime is how long an action that does work takes in a stage.
func (s *Server) runTime(pipeline, stage string) time.Duration {
	if d, ok := s.runTimes.lookup(pipeline, stage); ok {
		return d
	}
	return s.actionDelay
}

// SetRunTime gives one stage of one pipeline a run time (0 removes it),
// over the world's run_times. Executions that already entered the stage
// keep the time they started with.
func (s *Server) SetRunTime(pipeline, stage string, d time.Duration) {
	s.runTimes.mu.Lock()
	defer s.runTimes.mu.Unlock()
	if d <= 0 {
		delete(s.runTimes.overrides, pipeline+"/"+stage)
		return
	}
	if s.runTimes.overrides == nil {
		s.runTimes.overrides = map[string]time.Duration{}
	}
	s.runTimes.overrides[pipeline+"/"+stage] = d
}
