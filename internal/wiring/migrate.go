package wiring

import (
	"context"
	"fmt"

	"github.com/rotor-ci/rotor/internal/config"
	"github.com/rotor-ci/rotor/internal/migrate"
	"github.com/rotor-ci/rotor/internal/rotation"
)

// Migration builds what rotor migrate and rotor plan need for credential
// cc: its codepipeline targets as migrate.Pipelines (by slot), which also
// give the CodeConnections client of each of their accounts and regions,
// and the migrator.
func (e *Env) Migration(ctx context.Context, cc *config.Credential, cred rotation.Credential) (*migrate.Migrator, migrate.Credential, error) {
	mc := migrate.Credential{Name: cc.Name, Application: cc.Application, Grace: cc.Rotate.Grace.D(), Pipelines: make([]migrate.Pipelines, len(cred.Targets))}
	found := false
	for i, t := range cred.Targets {
		p, ok := t.(migrate.Pipelines)
		if !ok {
			mc.Others = append(mc.Others, fmt.Sprintf("targets[%d] (%s)", i, t.Type()))
			continue
		}
		mc.Pipelines[i], found = p, true
	}
	if !found {
		return nil, mc, fmt.Errorf("%s: %w: it has no codepipeline target", cc.Name, migrate.ErrNothing)
	}
	m := &migrate.Migrator{Store: e.store, Sealer: e.Sealer, Log: e.Log, Holder: e.Holder}
	rotation.InstallCrashHook(&m.Hook, &m.LeaseTTL) // torture builds only
	return m, mc, nil
}
