package rotation

import "context"

// Sources and targets that make several irreversible calls within one
// engine step (a refresh grant: send, answer, record) report each with
// Step, so that the engine's Hook sees them as it sees its own persisted
// steps: the torture harness crashes the process right after any of them.

type stepHookKey struct{}

func withStepHook(ctx context.Context, hook func(string)) context.Context {
	if hook == nil {
		return ctx
	}
	return context.WithValue(ctx, stepHookKey{}, hook)
}

// ReportStep tells the engine's Hook that a source or target finished step (a
// name like "refresh.answered"). Outside a run it does nothing.
func ReportStep(ctx context.Context, step string) {
	if h, ok := ctx.Value(stepHookKey{}).(func(string)); ok {
		h(step)
	}
}
