package wiring

import (
	"context"
	"fmt"

	"github.com/rotor-ci/rotor/internal/config"
	"github.com/rotor-ci/rotor/internal/migrate"
	"github.com/rotor-ci/rotor/internal/rotation"
	"github.com/rotor-ci/rotor/internal/target"
	"github.com/rotor-ci/rotor/internal/target/codepipeline"
)

// Migration builds what rotor migrate and rotor plan need for credential
// cc: its codepipeline targets as migrate.Pipelines (by slot), and the
// migrator with a CodeConnections client for the account and region of the
// first of them.
func (e *Env) Migration(ctx context.Context, cc *config.Credential, cred rotation.Credential) (*migrate.Migrator, migrate.Credential, error) {
	mc := migrate.Credential{Name: cc.Name, Application: cc.Application, Grace: cc.Rotate.Grace.D(), Pipelines: make([]migrate.Pipelines, len(cred.Targets))}
	first := -1
	for i, t := range cred.Targets {
		p, ok := t.(migrate.Pipelines)
		if !ok {
			mc.Others = append(mc.Others, fmt.Sprintf("targets[%d] (%s)", i, t.Type()))
			continue
		}
		mc.Pipelines[i] = p
		if first < 0 {
			first = i
		}
	}
	if first < 0 {
		return nil, mc, fmt.Errorf("%s: %w: it has no codepipeline target", cc.Name, migrate.ErrNothing)
	}
	conns, err := codepipeline.NewConnections(ctx, e.opts.aws(target.AWSConfig(e.Config.AWS, cc.Targets[first])))
	if err != nil {
		return nil, mc, err
	}
	m := &migrate.Migrator{Store: e.store, Sealer: e.Sealer, Connections: conns, Log: e.Log, Holder: e.Holder}
	rotation.InstallCrashHook(&m.Hook, &m.LeaseTTL) // torture builds only
	return m, mc, nil
}
