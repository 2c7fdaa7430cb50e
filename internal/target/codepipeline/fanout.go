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

// reporter passes results on, one at a time, and counts them for
// Config.Progress.
type reporter struct {
	mu                  sync.Mutex
	report              func(rotation.Result)
	progress            func(rotation.Progress)
	done_, total, fails int
}

func (t *Target) newReporter(total int, report func(rotation.Result)) *reporter {
	r := &reporter{report: report, progress: t.cfg.Progress, total: total}
	if r.progress != nil {
		r.progress(rotation.Progress{Total: total})
	}
	return r
}

// done reports one binding's result.
func (r *reporter) done(res rotation.Result) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.report(res)
	r.done_++
	if res.Err != nil {
		r.fails++
	}
	if r.progress != nil {
		r.progress(rotation.Progress{Done: r.done_, Total: r.total, Failed: r.fails})
	}
}

// fanOut groups bindings by pipeline and runs fn on the pipelines with
// bounded concurrency, reporting each binding as its pipeline finishes.
func (t *Target) fanOut(ctx context.Context, bindings []rotation.Binding, report func(rotation.Result), fn perPipeline) {
	rep := t.newReporter(len(bindings), report)
	groups := map[string][]bound{}
	var order []string
	for _, b := range bindings {
		w, err := t.locate(b)
		if err != nil {
			rep.done(rotation.Result{BindingID: b.ID, Err: err})
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
			for _, r := range results(bs, same(ctx.Err(), len(bs))) {
				rep.done(r)
			}
			continue
		}
		wg.Go(func() {
			defer func() { <-sem }()
			errs := same(ctx.Err(), len(bs))
			if ctx.Err() == nil {
				errs = fn(ctx, p, bs)
			}
			for _, r := range results(bs, errs) {
				rep.done(r)
			}
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
