package scan

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/rotor-ci/rotor/internal/rotation"
	"github.com/rotor-ci/rotor/internal/token"
)

// DefaultMaxFileSize is the largest file scanned unless Options say
// otherwise: tokens live in config files, scripts and templates, not in
// megabytes of data.
const DefaultMaxFileSize = 1 << 20

// Options tune a scan. The zero value scans with defaults and no store.
type Options struct {
	// MaxFileSize skips (and counts) larger files; 0 means DefaultMaxFileSize.
	MaxFileSize int64
	// Workers read and scan files in parallel; 0 means a few per CPU.
	Workers int
	// NoIgnore scans files that .gitignore excludes too (an ignored
	// pipeline.json still holds its token).
	NoIgnore bool
	// Known looks a fingerprint up in rotor's store; rotation.ErrNotFound
	// means rotor never held it. Any other error stops the scan. nil: no
	// store, every finding is KnownUnchecked. Called once per fingerprint.
	Known func(ctx context.Context, fingerprint string) (rotation.Version, error)
	// Live asks GitHub whether a token still works; nil: never asked. It is
	// called once per fingerprint, only for tokens the store knows, unless
	// LiveUnknown is set, and never for a token whose checksum fails. Its
	// error text is shown to people, so it must not contain the token.
	Live        func(ctx context.Context, tok token.Token) (alive bool, err error)
	LiveUnknown bool
	// Allow lists fingerprints that are not findings: published test
	// vectors, say, that a repository keeps on purpose. They are counted.
	Allow []string
}

// Result is what a scan found and what it looked at.
type Result struct {
	Findings []Finding `json:"findings"`
	// Problems are files that could not be read; they do not stop a scan.
	Problems []Problem `json:"problems"`
	Stats    Stats     `json:"stats"`
	// StoreChecked is whether findings were matched against rotor's store.
	StoreChecked bool `json:"store_checked"`
}

// Problem is a file or directory the scan could not read.
type Problem struct {
	Path string `json:"path"`
	Err  string `json:"error"`
}

// Stats counts what the scan looked at and what it skipped, and why.
type Stats struct {
	Files      int64         `json:"files"` // files read and scanned
	Bytes      int64         `json:"bytes"`
	Binary     int64         `json:"skipped_binary"`
	TooLarge   int64         `json:"skipped_too_large"`
	Ignored    int64         `json:"skipped_ignored"` // files and directories .gitignore excludes
	Symlinks   int64         `json:"skipped_symlinks"`
	Special    int64         `json:"skipped_special"` // FIFOs, sockets, devices
	Unreadable int64         `json:"unreadable"`
	Allowed    int64         `json:"allowed"` // findings dropped by Options.Allow
	Duration   time.Duration `json:"duration_ns"`
}

func (s *Stats) add(o Stats) {
	s.Files += o.Files
	s.Bytes += o.Bytes
	s.Binary += o.Binary
	s.TooLarge += o.TooLarge
	s.Ignored += o.Ignored
	s.Symlinks += o.Symlinks
	s.Special += o.Special
	s.Unreadable += o.Unreadable
	s.Allowed += o.Allowed
}

// ErrNoPath is returned when a path named to Scan does not exist or cannot
// be looked at; nothing is scanned then.
var ErrNoPath = errors.New("no such path")

// Scan walks paths (files or directories) and reports what it finds. It
// fails only when a named path is missing, when ctx ends, or when
// Options.Known fails; unreadable files become Problems.
func Scan(ctx context.Context, paths []string, opts Options) (Result, error) {
	start := time.Now()
	if opts.MaxFileSize <= 0 {
		opts.MaxFileSize = DefaultMaxFileSize
	}
	if opts.Workers <= 0 {
		// Small files make this syscall-bound: more workers than CPUs keep
		// the CPUs busy while others wait in open and read.
		opts.Workers = 4 * runtime.GOMAXPROCS(0)
	}
	roots, err := rootJobs(paths, opts.NoIgnore)
	if err != nil {
		return Result{}, err
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	s := &scanner{opts: opts, cancel: cancel, known: map[string]*lookup{}, live: map[string]*lookup{}, allow: map[string]bool{}}
	for _, fp := range opts.Allow {
		s.allow[fp] = true
	}
	w := newWalker(s)
	workers := w.run(ctx, opts.Workers, roots)

	res := Result{StoreChecked: opts.Known != nil}
	for _, st := range workers {
		res.Findings = append(res.Findings, st.findings...)
		res.Problems = append(res.Problems, st.problems...)
		res.Stats.add(st.stats)
	}
	if err := context.Cause(ctx); err != nil {
		return Result{}, err
	}
	slices.SortFunc(res.Findings, func(a, b Finding) int {
		if c := strings.Compare(a.Path, b.Path); c != 0 {
			return c
		}
		if a.Line != b.Line {
			return a.Line - b.Line
		}
		if a.Column != b.Column {
			return a.Column - b.Column
		}
		return strings.Compare(string(a.Rule), string(b.Rule))
	})
	slices.SortFunc(res.Problems, func(a, b Problem) int { return strings.Compare(a.Path, b.Path) })
	if res.Findings == nil {
		res.Findings = []Finding{}
	}
	if res.Problems == nil {
		res.Problems = []Problem{}
	}
	res.Stats.Duration = time.Since(start)
	return res, nil
}

// rootJobs turns the named paths into the walk's first jobs. A symbolic
// link named here is followed: the person asked for it.
func rootJobs(paths []string, noIgnore bool) ([]job, error) {
	var jobs []job
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("scan %s: %w", p, ErrNoPath)
		}
		abs, err := filepath.Abs(p)
		if err != nil {
			return nil, fmt.Errorf("scan %s: %w", p, ErrNoPath)
		}
		if real, err := filepath.EvalSymlinks(abs); err == nil {
			abs = real
		}
		j := job{abs: abs, display: filepath.Clean(p), dir: fi.IsDir()}
		if j.dir {
			if !noIgnore {
				j.ign = chainFor(abs)
			}
		}
		jobs = append(jobs, j)
	}
	return jobs, nil
}

// lookup memoises one store or GitHub answer per fingerprint, so a token
// copied into a thousand files costs one query.
type lookup struct {
	once    sync.Once
	version rotation.Version
	found   bool
	alive   bool
	err     error
}

type scanner struct {
	opts   Options
	cancel context.CancelCauseFunc

	allow map[string]bool // read-only once the walk starts

	mu    sync.Mutex
	known map[string]*lookup
	live  map[string]*lookup
}

func (s *scanner) entry(m map[string]*lookup, fp string) *lookup {
	s.mu.Lock()
	defer s.mu.Unlock()
	l, ok := m[fp]
	if !ok {
		l = &lookup{}
		m[fp] = l
	}
	return l
}

// resolve fills what rotor knows and, if asked, whether GitHub accepts the
// token. value is dropped by the caller when its file is done.
func (s *scanner) resolve(ctx context.Context, f *Finding, value string) {
	f.Known = KnownUnchecked
	if s.opts.Known != nil {
		l := s.entry(s.known, f.Fingerprint)
		l.once.Do(func() {
			l.version, l.err = s.opts.Known(ctx, f.Fingerprint)
			l.found = l.err == nil
			if errors.Is(l.err, rotation.ErrNotFound) {
				l.err = nil
			}
		})
		if l.err != nil {
			s.cancel(fmt.Errorf("look up %s in the store: %w", f.Fingerprint, l.err))
			return
		}
		f.Known = KnownUnknown
		if l.found {
			f.Known = knownOf(l.version.State)
			f.Credential, f.Version = l.version.Credential, l.version.Seq
		}
	}
	if s.opts.Live != nil && f.Checksum != ChecksumInvalid &&
		(s.opts.LiveUnknown || (f.Known != KnownUnknown && f.Known != KnownUnchecked)) {
		l := s.entry(s.live, f.Fingerprint)
		l.once.Do(func() { l.alive, l.err = s.opts.Live(ctx, token.New(value)) })
		if l.err != nil {
			f.LiveError = l.err.Error()
		} else {
			alive := l.alive
			f.Live = &alive
		}
	}
	f.Advice = advice(*f)
}

func knownOf(s rotation.VersionState) Known {
	switch s {
	case rotation.VersionCurrent:
		return KnownCurrent
	case rotation.VersionPending:
		return KnownPending
	case rotation.VersionPrevious:
		return KnownPrevious
	case rotation.VersionRetired:
		return KnownRetired
	case rotation.VersionRejected:
		return KnownRejected
	}
	return KnownUnknown
}
