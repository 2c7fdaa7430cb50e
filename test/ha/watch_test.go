package ha

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/rotor-ci/rotor/internal/audit"
	"github.com/rotor-ci/rotor/internal/rotation"
	"github.com/rotor-ci/rotor/internal/store"
)

// watcher follows the audit chain as the replicas write it, so the test can
// act at a moment of the protocol (kill a replica right after it checked a
// token) without any hook inside rotor.
type watcher struct {
	st   *store.Store
	mu   sync.Mutex
	recs []audit.Record
	err  error
}

func watch(ctx context.Context, st *store.Store) *watcher {
	w := &watcher{st: st}
	go func() {
		var after int64
		for ctx.Err() == nil {
			recs, _, err := st.Audit(ctx, after, 0)
			w.mu.Lock()
			if err != nil && ctx.Err() == nil {
				w.err = err
			}
			w.recs = append(w.recs, recs...)
			w.mu.Unlock()
			if len(recs) > 0 {
				after = recs[len(recs)-1].Seq
			}
			select {
			case <-ctx.Done():
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	return w
}

// waitFor returns the first record (from the start of the chain) that
// matches, waiting up to within.
func (w *watcher) waitFor(t *testing.T, what string, within time.Duration, match func(audit.Record) bool) audit.Record {
	t.Helper()
	deadline := time.Now().Add(within)
	seen := 0
	for {
		w.mu.Lock()
		recs, err := w.recs[seen:], w.err
		w.mu.Unlock()
		if err != nil {
			t.Fatalf("read the audit chain: %v", err)
		}
		for _, r := range recs {
			if match(r) {
				return r
			}
		}
		seen += len(recs)
		if time.Now().After(deadline) {
			t.Fatalf("no audit record within %s: %s", within, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// openRuns lists the runs that are unfinished now and whose last audit
// record was written by holder: the runs holder was in the middle of.
func openRuns(t *testing.T, st *store.Store, n int, holder string) []rotation.Run {
	t.Helper()
	recs, _, err := st.Audit(t.Context(), 0, 0)
	must(t, err)
	last := map[int64]string{}
	for _, r := range recs {
		if r.RunID != 0 {
			last[r.RunID] = r.Actor
		}
	}
	var out []rotation.Run
	for i := range n {
		run, err := st.OpenRun(t.Context(), credName(i))
		if err != nil {
			continue
		}
		if last[run.ID] == holder {
			out = append(out, run)
		}
	}
	return out
}

// allFinished reports whether every one of runs has ended.
func allFinished(t *testing.T, st *store.Store, runs []rotation.Run) bool {
	t.Helper()
	for _, r := range runs {
		now, err := st.Run(t.Context(), r.ID)
		must(t, err)
		if now.Status == rotation.RunRunning {
			return false
		}
	}
	return true
}
