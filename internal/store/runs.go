package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/rotor-ci/rotor/internal/rotation"
)

const runCols = `id, credential, triggered_by, step, status, new_seq, prev_seq, reason, error, failing,
	started_at, updated_at, finished_at`

// CreateRun inserts r with a new ID and returns it as stored. A missing
// credential record is created. StartedAt and UpdatedAt default to now,
// Status to running and Step to started.
func (t *tx) CreateRun(r rotation.Run) (rotation.Run, error) {
	if err := t.lockCredential(r.Credential); err != nil {
		return r, fmt.Errorf("create run of %s: %w", r.Credential, err)
	}
	now := t.s.now()
	if r.StartedAt.IsZero() {
		r.StartedAt = now
	}
	if r.UpdatedAt.IsZero() {
		r.UpdatedAt = now
	}
	if r.Status == "" {
		r.Status = rotation.RunRunning
	}
	if r.Step == "" {
		r.Step = rotation.StepStarted
	}
	err := t.queryRow(`INSERT INTO runs (credential, triggered_by, step, status, new_seq, prev_seq, reason, error, failing,
		started_at, updated_at, finished_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		r.Credential, r.Trigger, string(r.Step), string(r.Status), r.NewSeq, r.PrevSeq, r.Reason, r.Error, r.Failing,
		micros(r.StartedAt), micros(r.UpdatedAt), micros(r.FinishedAt)).Scan(&r.ID)
	if err != nil {
		return r, fmt.Errorf("create run of %s: %w", r.Credential, err)
	}
	return normRun(r), nil
}

// insertRun writes r with the ID it carries (Migrate).
func (t *tx) insertRun(r rotation.Run) error {
	_, err := t.exec(`INSERT INTO runs (`+runCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		r.ID, r.Credential, r.Trigger, string(r.Step), string(r.Status), r.NewSeq, r.PrevSeq, r.Reason, r.Error, r.Failing,
		micros(r.StartedAt), micros(r.UpdatedAt), micros(r.FinishedAt))
	return err
}

// UpdateRun writes Step, Status, NewSeq, PrevSeq, Reason, Error, Failing,
// UpdatedAt (now if zero) and FinishedAt. Credential, Trigger and StartedAt
// never change.
func (t *tx) UpdateRun(r rotation.Run) error {
	if r.UpdatedAt.IsZero() {
		r.UpdatedAt = t.s.now()
	}
	res, err := t.exec(`UPDATE runs SET step = ?, status = ?, new_seq = ?, prev_seq = ?, reason = ?, error = ?, failing = ?,
		updated_at = ?, finished_at = ? WHERE id = ?`,
		string(r.Step), string(r.Status), r.NewSeq, r.PrevSeq, r.Reason, r.Error, r.Failing,
		micros(r.UpdatedAt), micros(r.FinishedAt), r.ID)
	if err == nil {
		err = affected(res)
	}
	if err != nil {
		return fmt.Errorf("update run %d: %w", r.ID, err)
	}
	return nil
}

// PutBindings upserts the states by binding ID. A binding keeps the place
// it was first put at; ErrNotFound if the run does not exist.
func (t *tx) PutBindings(runID int64, states []rotation.BindingState) error {
	var one int
	if err := t.queryRow(`SELECT 1 FROM runs WHERE id = ?`, runID).Scan(&one); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			err = rotation.ErrNotFound
		}
		return fmt.Errorf("put bindings of run %d: %w", runID, err)
	}
	if len(states) == 0 {
		return nil
	}
	// Prepared once: a run can have thousands of bindings.
	stmt, err := t.tx.PrepareContext(t.ctx, t.s.d.q(`INSERT INTO run_bindings (run_id, binding_id, binding, status, error, updated_at, detail)
		VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (run_id, binding_id) DO UPDATE SET binding = excluded.binding, status = excluded.status,
			error = excluded.error, updated_at = excluded.updated_at, detail = excluded.detail`))
	if err != nil {
		return fmt.Errorf("put bindings of run %d: %w", runID, err)
	}
	defer stmt.Close()
	now := t.s.now()
	for _, st := range states {
		if st.Binding.ID == "" {
			return fmt.Errorf("put bindings of run %d: a binding has no ID", runID)
		}
		b, err := json.Marshal(st.Binding)
		if err != nil {
			return fmt.Errorf("put binding %s of run %d: %w", st.Binding.ID, runID, err)
		}
		if st.UpdatedAt.IsZero() {
			st.UpdatedAt = now
		}
		d, err := encodeDetail(st)
		if err != nil {
			return fmt.Errorf("put binding %s of run %d: %w", st.Binding.ID, runID, err)
		}
		if _, err := stmt.ExecContext(t.ctx, runID, st.Binding.ID, string(b), string(st.Status), st.Error, micros(st.UpdatedAt), d); err != nil {
			return fmt.Errorf("put binding %s of run %d: %w", st.Binding.ID, runID, err)
		}
	}
	return nil
}

func (s *Store) Run(ctx context.Context, id int64) (rotation.Run, error) {
	r, err := scanRun(s.db.QueryRowContext(ctx, s.d.q(`SELECT `+runCols+` FROM runs WHERE id = ?`), id))
	if errors.Is(err, sql.ErrNoRows) {
		return r, fmt.Errorf("run %d: %w", id, rotation.ErrNotFound)
	}
	if err != nil {
		return r, fmt.Errorf("run %d: %w", id, err)
	}
	return r, nil
}

func (s *Store) Runs(ctx context.Context, credential string, limit int) ([]rotation.Run, error) {
	q := `SELECT ` + runCols + ` FROM runs WHERE credential = ? ORDER BY id DESC`
	if limit > 0 {
		q += ` LIMIT ` + strconv.Itoa(limit)
	}
	rows, err := s.db.QueryContext(ctx, s.d.q(q), credential)
	if err != nil {
		return nil, fmt.Errorf("runs of %s: %w", credential, err)
	}
	defer rows.Close()
	var out []rotation.Run
	for rows.Next() {
		r, err := scanRun(rows)
		if err != nil {
			return nil, fmt.Errorf("runs of %s: %w", credential, err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("runs of %s: %w", credential, err)
	}
	return out, nil
}

// OpenRun returns the newest run of credential whose status is running.
func (s *Store) OpenRun(ctx context.Context, credential string) (rotation.Run, error) {
	r, err := scanRun(s.db.QueryRowContext(ctx, s.d.q(`SELECT `+runCols+` FROM runs
		WHERE credential = ? AND status = ? ORDER BY id DESC LIMIT 1`), credential, string(rotation.RunRunning)))
	if errors.Is(err, sql.ErrNoRows) {
		return r, fmt.Errorf("open run of %s: %w", credential, rotation.ErrNotFound)
	}
	if err != nil {
		return r, fmt.Errorf("open run of %s: %w", credential, err)
	}
	return r, nil
}

// Bindings of a run in the order they were first put; none for an
// unknown run.
func (s *Store) Bindings(ctx context.Context, runID int64) ([]rotation.BindingState, error) {
	rows, err := s.db.QueryContext(ctx, s.d.q(`SELECT binding, status, error, updated_at, detail FROM run_bindings
		WHERE run_id = ? ORDER BY id`), runID)
	if err != nil {
		return nil, fmt.Errorf("bindings of run %d: %w", runID, err)
	}
	defer rows.Close()
	var out []rotation.BindingState
	for rows.Next() {
		var st rotation.BindingState
		var b, status, detail string
		if err := rows.Scan(&b, &status, &st.Error, scanTime(&st.UpdatedAt), &detail); err != nil {
			return nil, fmt.Errorf("bindings of run %d: %w", runID, err)
		}
		if err := json.Unmarshal([]byte(b), &st.Binding); err != nil {
			return nil, fmt.Errorf("bindings of run %d: %w", runID, err)
		}
		if err := decodeDetail(detail, &st); err != nil {
			return nil, fmt.Errorf("bindings of run %d: binding %s: %w", runID, st.Binding.ID, err)
		}
		st.Status = rotation.BindingStatus(status)
		out = append(out, st)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("bindings of run %d: %w", runID, err)
	}
	return out, nil
}

func scanRun(r scanner) (rotation.Run, error) {
	var run rotation.Run
	var step, status string
	err := r.Scan(&run.ID, &run.Credential, &run.Trigger, &step, &status, &run.NewSeq, &run.PrevSeq, &run.Reason, &run.Error,
		&run.Failing, scanTime(&run.StartedAt), scanTime(&run.UpdatedAt), scanTime(&run.FinishedAt))
	run.Step, run.Status = rotation.Step(step), rotation.RunStatus(status)
	return run, err
}

func normRun(r rotation.Run) rotation.Run {
	r.StartedAt, r.UpdatedAt, r.FinishedAt = norm(r.StartedAt), norm(r.UpdatedAt), norm(r.FinishedAt)
	return r
}

// bindingDetail is a binding state's detail column.
type bindingDetail struct {
	Note        string   `json:"note,omitempty"`
	Interrupted []string `json:"interrupted,omitempty"`
}

func encodeDetail(st rotation.BindingState) (string, error) {
	if st.Note == "" && len(st.Interrupted) == 0 {
		return "", nil
	}
	b, err := json.Marshal(bindingDetail{Note: st.Note, Interrupted: st.Interrupted})
	return string(b), err
}

func decodeDetail(s string, st *rotation.BindingState) error {
	if s == "" {
		return nil
	}
	var d bindingDetail
	if err := json.Unmarshal([]byte(s), &d); err != nil {
		return fmt.Errorf("detail: %w", err)
	}
	st.Note, st.Interrupted = d.Note, d.Interrupted
	return nil
}
