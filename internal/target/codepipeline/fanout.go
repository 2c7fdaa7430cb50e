package codepipeline

import (
	"context"
	"errors"
	"sync"

	"github.com/rotor-ci/rotor/internal/rotation"
)

// bound is a binding located in its pipeline.
type bound struct {
	b rotation.Binding
	w where
}

// perPipeline handles all bindings of one pipeline and returns one error
// per binding (in the order given).
type perPipeline func(ctx context.Context, pipeline string, bs []bound) []error

// fanOut groups bindings by pipeline and runs fn on the pipelines with
// bounded concurrency, reporting each binding as its pipeline finishes and
// progress after each pipeline.
func (t *Target) fanOut(ctx context.Context, bindings []rotation.Binding, report func(rotation.Result), fn perPipeline) {
	var (
		mu           sync.Mutex
		done, failed int
	)
	progress := func(results []rotation.Result) {
		mu.Lock()
		defer mu.Unlock()
		for _, r := range results {
			report(r)
			done++
			if r.Err != nil {
				failed++
			}
		}
		if t.cfg.Progress != nil {
			t.cfg.Progress(done, len(bindings), failed)
		}
	}
	if t.cfg.Progress != nil {
		t.cfg.Progress(0, len(bindings), 0)
	}

	groups := map[string][]bound{}
	var order []string
	for _, b := range bindings {
		w, err := t.locate(b)
		if err != nil {
			progress([]rotation.Result{{BindingID: b.ID, Err: err}})
			continue
		}
		if _, ok := groups[w.pipeline]; !ok {
			order = append(order, w.pipeline)
		}
		groups[w.pipeline] = append(groups[w.pipeline], bound{b, w})
	}

	sem := make(chan struct{}, t.cfg.Concurrency)
	var wg sync.WaitGroup
	for _, p := range order {
		bs := groups[p]
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			progress(results(bs, same(ctx.Err(), len(bs))))
			continue
		}
		wg.Go(func() {
			defer func() { <-sem }()
			errs := same(ctx.Err(), len(bs))
			if ctx.Err() == nil {
				errs = fn(ctx, p, bs)
			}
			progress(results(bs, errs))
		})
	}
	wg.Wait()
}

func results(bs []bound, errs []error) []rotation.Result {
	out := make([]rotation.Result, len(bs))
	for i, x := range bs {
		var u *unchangedError
		out[i] = rotation.Result{BindingID: x.b.ID, Err: errs[i], Unchanged: errors.As(errs[i], &u)}
	}
	return out
}

// same is n copies of err.
func same(err error, n int) []error {
	out := make([]error, n)
	for i := range out {
		out[i] = err
	}
	return out
}

// forEach runs fn on every item with at most n at once and waits.
func forEach[T any](ctx context.Context, n int, items []T, fn func(context.Context, T)) {
	sem := make(chan struct{}, n)
	var wg sync.WaitGroup
	for _, it := range items {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			wg.Wait()
			return
		}
		wg.Go(func() {
			defer func() { <-sem }()
			fn(ctx, it)
		})
	}
	wg.Wait()
}
