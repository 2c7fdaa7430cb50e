package store

import (
	"context"
	"fmt"
)

// PipelineInventory returns what the codepipeline target remembered of each
// pipeline of one place (see migration 0003), by pipeline name.
func (s *Store) PipelineInventory(ctx context.Context, place string) (map[string][]byte, error) {
	out := map[string][]byte{}
	err := s.retry(ctx, func() error {
		clear(out)
		rows, err := s.db.QueryContext(ctx, s.d.q(`SELECT pipeline, facts FROM pipeline_inventory WHERE place = ?`), place)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var name, facts string
			if err := rows.Scan(&name, &facts); err != nil {
				return err
			}
			out[name] = []byte(facts)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("pipeline inventory of %s: %w", place, err)
	}
	return out, nil
}

// PutPipelineInventory upserts put and deletes remove in one place, in one
// transaction. Replicas writing the same pipeline race harmlessly: each
// writes facts drawn from a version it read, and a reader checks the
// version before it trusts them.
func (s *Store) PutPipelineInventory(ctx context.Context, place string, put map[string][]byte, remove []string) error {
	if len(put) == 0 && len(remove) == 0 {
		return nil
	}
	now := s.now().UnixMicro()
	err := s.retry(ctx, func() error {
		tx, err := s.db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		defer tx.Rollback()
		if len(put) > 0 {
			up, err := tx.PrepareContext(ctx, s.d.q(`INSERT INTO pipeline_inventory (place, pipeline, facts, updated_at) VALUES (?, ?, ?, ?)
				ON CONFLICT (place, pipeline) DO UPDATE SET facts = excluded.facts, updated_at = excluded.updated_at`))
			if err != nil {
				return err
			}
			defer up.Close()
			for name, facts := range put {
				if _, err := up.ExecContext(ctx, place, name, string(facts), now); err != nil {
					return err
				}
			}
		}
		if len(remove) > 0 {
			del, err := tx.PrepareContext(ctx, s.d.q(`DELETE FROM pipeline_inventory WHERE place = ? AND pipeline = ?`))
			if err != nil {
				return err
			}
			defer del.Close()
			for _, name := range remove {
				if _, err := del.ExecContext(ctx, place, name); err != nil {
					return err
				}
			}
		}
		return tx.Commit()
	})
	if err != nil {
		return fmt.Errorf("save pipeline inventory of %s: %w", place, err)
	}
	return nil
}
