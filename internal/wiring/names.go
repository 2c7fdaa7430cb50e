package wiring

import (
	"context"
	"slices"

	"github.com/rotor-ci/rotor/internal/awsx"
	"github.com/rotor-ci/rotor/internal/config"
	"github.com/rotor-ci/rotor/internal/target"
)

// PipelineNames lists the pipeline names a shell may complete: those the
// config names and those the codepipeline targets' inventory (in the
// store) remembers from earlier discoveries. It only reads: no AWS call,
// so that completion is fast and works offline.
func (e *Env) PipelineNames(ctx context.Context) []string {
	cfg := e.Config
	deps := target.Deps{AWS: func(t config.Target) awsx.Config { return e.opts.aws(target.AWSConfig(cfg.AWS, t)) }, Dir: cfg.Dir(), Inventory: e.store}
	var names []string
	for _, cc := range cfg.Credentials {
		for _, tc := range cc.Targets {
			if tc.Type != config.TargetCodePipeline {
				continue
			}
			names = append(names, tc.Pipelines...)
			t, err := target.New(ctx, tc, deps)
			if err != nil {
				continue // completion offers what it can
			}
			if c, ok := t.(interface{ CachedPipelineNames() []string }); ok {
				names = append(names, c.CachedPipelineNames()...)
			}
		}
	}
	slices.Sort(names)
	return slices.Compact(names)
}
