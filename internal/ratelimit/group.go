package ratelimit

import (
	"maps"
	"sync"
)

// Group holds one Limiter per operation name, created on first use with the
// group's options. The zero Group is not usable; call NewGroup.
type Group struct {
	o  Options
	mu sync.Mutex
	m  map[string]*Limiter
}

// NewGroup returns a group whose limiters start from o.
func NewGroup(o Options) *Group { return &Group{o: o, m: map[string]*Limiter{}} }

// For returns the limiter of an operation ("GetPipeline").
func (g *Group) For(op string) *Limiter {
	g.mu.Lock()
	defer g.mu.Unlock()
	l := g.m[op]
	if l == nil {
		l = New(g.o)
		g.m[op] = l
	}
	return l
}

// Stats returns each operation's counts and rate.
func (g *Group) Stats() map[string]Stats {
	g.mu.Lock()
	ls := maps.Clone(g.m)
	g.mu.Unlock()
	out := make(map[string]Stats, len(ls))
	for op, l := range ls {
		out[op] = l.Stats()
	}
	return out
}
