package scan

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"unicode/utf8"

	"github.com/rotor-ci/rotor/internal/token"
)

// job is one directory to list or one file to scan.
type job struct {
	abs     string // absolute path, for the system
	display string // the path as the person named it, for findings
	dir     bool
	ign     *ignoreChain // dir: the ignore rules in force above it
}

// walker runs jobs on a fixed pool of workers. Directories and files are
// jobs alike, taken from one LIFO stack: listing a directory pushes its
// entries, so the walk itself is parallel and the stack stays shallow
// (depth-first). pending counts jobs queued or running; the walk is over
// when it reaches zero.
type walker struct {
	s       *scanner
	mu      sync.Mutex
	cond    *sync.Cond
	stack   []job
	pending int
}

// workerState is one worker's private tally, merged when the walk ends.
type workerState struct {
	findings []Finding
	problems []Problem
	stats    Stats
	buf      []byte // reused from file to file
}

func newWalker(s *scanner) *walker {
	w := &walker{s: s}
	w.cond = sync.NewCond(&w.mu)
	return w
}

func (w *walker) run(ctx context.Context, workers int, roots []job) []*workerState {
	w.push(roots)
	states := make([]*workerState, workers)
	var wg sync.WaitGroup
	for i := range states {
		st := &workerState{}
		states[i] = st
		wg.Go(func() { w.work(ctx, st) })
	}
	wg.Wait()
	return states
}

func (w *walker) push(jobs []job) {
	if len(jobs) == 0 {
		return
	}
	w.mu.Lock()
	w.stack = append(w.stack, jobs...)
	w.pending += len(jobs)
	w.mu.Unlock()
	if len(jobs) == 1 {
		w.cond.Signal()
	} else {
		w.cond.Broadcast()
	}
}

func (w *walker) work(ctx context.Context, st *workerState) {
	for {
		w.mu.Lock()
		for len(w.stack) == 0 && w.pending > 0 {
			w.cond.Wait()
		}
		if len(w.stack) == 0 {
			w.mu.Unlock()
			return
		}
		j := w.stack[len(w.stack)-1]
		w.stack = w.stack[:len(w.stack)-1]
		w.mu.Unlock()

		if ctx.Err() == nil { // once cancelled, drain without working
			if j.dir {
				w.push(w.s.listDir(j, st))
			} else {
				w.s.scanFile(ctx, j, st)
			}
		}

		w.mu.Lock()
		w.pending--
		done := w.pending == 0
		w.mu.Unlock()
		if done {
			w.cond.Broadcast()
		}
	}
}

// listDir returns the jobs for a directory's entries. Symbolic links are
// never followed (so no loop and no escape from the tree: a link to
// something inside the tree is scanned where it really is), .git is
// skipped, and inside a work tree .gitignore decides.
func (s *scanner) listDir(j job, st *workerState) []job {
	entries, err := os.ReadDir(j.abs)
	if err != nil {
		st.problem(j.display, err)
		if len(entries) == 0 {
			return nil
		}
	}
	ign := j.ign
	if !s.opts.NoIgnore {
		if hasEntry(entries, ".git") && (ign == nil || ign.repoRoot != j.abs) {
			ign = repoChain(j.abs) // the top of a work tree, or one nested in ours
		}
		if ign != nil && hasEntry(entries, ".gitignore") {
			ign = ign.withDir(j.abs)
		}
	}
	var rel string
	if ign != nil {
		rel = ign.rel(j.abs)
	}
	jobs := make([]job, 0, len(entries))
	for _, e := range entries {
		name := e.Name()
		if name == ".git" {
			continue // git's own store: packed objects, not files left behind
		}
		t := e.Type()
		switch {
		case t&fs.ModeSymlink != 0:
			st.stats.Symlinks++
			continue
		case !t.IsDir() && !t.IsRegular():
			st.stats.Special++
			continue
		}
		if ign != nil {
			p := name
			if rel != "" {
				p = rel + "/" + name
			}
			if ign.ignored(p, t.IsDir()) {
				st.stats.Ignored++
				continue
			}
		}
		jobs = append(jobs, job{
			abs:     filepath.Join(j.abs, name),
			display: filepath.Join(j.display, name),
			dir:     t.IsDir(),
			ign:     ign,
		})
	}
	return jobs
}

func hasEntry(entries []os.DirEntry, name string) bool {
	for _, e := range entries {
		if e.Name() == name {
			return true
		}
	}
	return false
}

// readStatus says why readRegular returned no data without an error.
type readStatus int

const (
	readOK       readStatus = iota
	readSymlink             // the name is a symbolic link now
	readSpecial             // not a regular file (any more)
	readTooLarge            // over Options.MaxFileSize
)

// readFile is a variable so that a test can make a file unreadable even
// for root.
var readFile = readRegular

func (s *scanner) scanFile(ctx context.Context, j job, st *workerState) {
	data, status, err := readFile(j.abs, s.opts.MaxFileSize, st.buf)
	if cap(data) > cap(st.buf) {
		st.buf = data[:0] // keep the larger buffer for the next file
	}
	switch {
	case err != nil:
		st.problem(j.display, err)
		return
	case status == readSymlink:
		st.stats.Symlinks++
		return
	case status == readSpecial:
		st.stats.Special++
		return
	case status == readTooLarge:
		st.stats.TooLarge++
		return
	case isBinary(data):
		st.stats.Binary++
		return
	}
	st.stats.Files++
	st.stats.Bytes += int64(len(data))
	s.scanData(ctx, j.display, data, st)
}

// scanData finds everything in one file's bytes. Token values exist here as
// strings for the duration of this call only.
func (s *scanner) scanData(ctx context.Context, path string, data []byte, st *workerState) {
	matches := findTokens(data)
	lits := findStructural(data)
	if len(matches) == 0 && len(lits) == 0 {
		return
	}
	type at struct {
		line int
		fp   string
	}
	// A token that a structural rule already reports (the OAuthToken of a
	// pipeline.json) is one finding, not two.
	covered := map[at]bool{}
	for _, l := range lits {
		f := Finding{
			Path: path, Line: l.line, Column: l.col, Rule: l.rule, Kind: l.kind,
			Redacted: redact(l.kind, l.value), Fingerprint: token.Fingerprint(l.value), Checksum: l.checksum,
		}
		covered[at{f.Line, f.Fingerprint}] = true
		if s.allow[f.Fingerprint] {
			st.stats.Allowed++
			continue
		}
		s.resolve(ctx, &f, l.value)
		st.findings = append(st.findings, f)
	}
	line, lineStart, pos := 1, 0, 0
	for _, m := range matches {
		for {
			k := bytes.IndexByte(data[pos:m.start], '\n')
			if k < 0 {
				break
			}
			line++
			pos += k + 1
			lineStart = pos
		}
		value := string(data[m.start:m.end])
		f := Finding{
			Path: path, Line: line, Column: utf8.RuneCount(data[lineStart:m.start]) + 1, Rule: RuleToken, Kind: m.kind,
			Redacted: redact(m.kind, value), Fingerprint: token.Fingerprint(value), Checksum: m.checksum,
		}
		if covered[at{f.Line, f.Fingerprint}] {
			continue
		}
		if s.allow[f.Fingerprint] {
			st.stats.Allowed++
			continue
		}
		s.resolve(ctx, &f, value)
		st.findings = append(st.findings, f)
	}
}

// problem records an unreadable file or directory. The reason is the
// system's short one ("permission denied"): the path is already there.
func (st *workerState) problem(path string, err error) {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	st.stats.Unreadable++
	st.problems = append(st.problems, Problem{Path: path, Err: err.Error()})
}
