package rotation

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/rotor-ci/rotor/internal/audit"
	"github.com/rotor-ci/rotor/internal/token"
)

// What the engine tells: the audit chain (I7), progress events for the
// CLI and the server, and the hook the torture harness crashes at.

func (e *Engine) hook(step string) {
	if e.Hook != nil {
		e.Hook(step)
	}
}

func (e *Engine) observe(run Run, step string, ok bool, msg string) {
	if e.Observe != nil {
		e.Observe(Event{Credential: run.Credential, RunID: run.ID, Step: step, OK: ok, Message: msg})
	}
}

// Record appends an event to the audit chain outside any run: rotor
// serve's watcher (a binding found broken, drift). The engine is the
// store's only writer.
func (e *Engine) Record(ctx context.Context, credential, event string, detail map[string]any) error {
	return e.audit(ctx, nil, Run{Credential: credential}, event, detail)
}

// AuditRecord is the audit record of one step of run by actor at at;
// detail is stored as JSON with anything token-shaped redacted (details
// may quote an error's text).
func AuditRecord(at time.Time, actor string, run Run, event string, detail map[string]any) (audit.Record, error) {
	var d string
	if len(detail) > 0 {
		b, err := json.Marshal(detail)
		if err != nil {
			return audit.Record{}, fmt.Errorf("audit detail: %w", err)
		}
		d = token.RedactText(string(b))
	}
	return audit.Record{Time: at, Credential: run.Credential, RunID: run.ID, Event: event, Actor: actor, Detail: d}, nil
}

// audit appends one record, in tx if given or in a transaction of its own.
func (e *Engine) audit(ctx context.Context, tx Tx, run Run, event string, detail map[string]any) error {
	rec, err := AuditRecord(e.now(), e.holder(), run, event, detail)
	if err != nil {
		return err
	}
	if tx != nil {
		_, err := tx.AppendAudit(rec)
		return err
	}
	return e.tx(ctx, func(tx Tx) error { _, err := tx.AppendAudit(rec); return err })
}
