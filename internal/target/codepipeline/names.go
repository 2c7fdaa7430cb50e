package codepipeline

import "sort"

// CachedPipelineNames lists the pipelines this target's inventory file
// remembers from earlier discoveries, read from disk alone (no AWS call):
// what shell completion offers for a pipeline name.
func (t *Target) CachedPipelineNames() []string {
	t.inv.mu.Lock()
	defer t.inv.mu.Unlock()
	t.inv.load()
	names := make([]string, 0, len(t.inv.entries))
	for name := range t.inv.entries {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}
