package store_test

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/rotor-ci/rotor/internal/store"
)

// TestPipelineInventory: the codepipeline inventory is kept per place,
// upserted and deleted in one call, and found again by another process
// (a second Open of the same database).
func TestPipelineInventory(t *testing.T) {
	eachBackend(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		s := openOpts(t, dsn, store.Options{})
		if got, err := s.PipelineInventory(ctx, "a"); err != nil || len(got) != 0 {
			t.Fatalf("empty store: %v, %v", got, err)
		}
		put := map[string][]byte{"p1": []byte(`{"v":1}`), "p2": []byte(`{"v":2}`)}
		if err := s.PutPipelineInventory(ctx, "a", put, nil); err != nil {
			t.Fatal(err)
		}
		if err := s.PutPipelineInventory(ctx, "b", map[string][]byte{"p1": []byte(`{"other":true}`)}, nil); err != nil {
			t.Fatal(err)
		}
		if err := s.PutPipelineInventory(ctx, "a", map[string][]byte{"p2": []byte(`{"v":3}`), "p3": []byte(`{}`)}, []string{"p1", "gone"}); err != nil {
			t.Fatal(err)
		}
		other := openOpts(t, dsn, store.Options{}) // another process on the same database
		got, err := other.PipelineInventory(ctx, "a")
		if err != nil {
			t.Fatal(err)
		}
		want := map[string][]byte{"p2": []byte(`{"v":3}`), "p3": []byte(`{}`)}
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("place a (-want +got):\n%s", d)
		}
		if got, _ := other.PipelineInventory(ctx, "b"); len(got) != 1 || string(got["p1"]) != `{"other":true}` {
			t.Errorf("place b: %q, want its own p1 untouched", got)
		}
	})
}
