package scan

// A small .gitignore matcher, written here rather than imported: the two Go
// libraries served here are github.com/sabhiram/go-gitignore (no release
// since 2021, one pattern list with no notion of nested .gitignore files)
// and go-git's plumbing/format/gitignore (sound, but it brings go-git's
// module graph into go.mod for a hundred lines of matching). What git does
// that matters for a scan is small and well specified (gitignore(5)):
//
//   - blank lines and # comments; "\#" and "\!" escape; trailing spaces are
//     dropped unless escaped;
//   - "!" negates; a trailing "/" matches directories only;
//   - a pattern with a "/" at the start or in the middle is anchored to the
//     directory of its .gitignore, otherwise it matches a name at any depth;
//   - "*", "?" and "[…]" do not cross "/"; "**/" matches any number of
//     directories, a trailing "/**" everything inside;
//   - deeper .gitignore files win over shallower ones, .git/info/exclude
//     loses to all; the last matching line of a file wins;
//   - a directory that is ignored is not entered, so nothing under it can be
//     re-included (git behaves the same way).
//
// Not done: core.excludesFile (a person's global ignores say nothing about
// what a tree holds) and "[[:class:]]" brackets (such lines are dropped).

import (
	"bufio"
	"bytes"
	"os"
	"path"
	"path/filepath"
	"strings"
)

type ignoreRule struct {
	negate   bool
	dirOnly  bool
	anchored bool
	glob     string   // unanchored: matched against the base name
	segs     []string // anchored: matched against the path, segment by segment
}

// ignoreChain is the stack of ignore files in force for one directory,
// innermost first. Chains are immutable and shared by every directory below.
type ignoreChain struct {
	parent   *ignoreChain
	repoRoot string // absolute path of the work tree's top
	base     string // directory of these rules, relative to repoRoot, "/"-separated; "" at the top
	rules    []ignoreRule
}

// ignored reports whether rel (relative to the repository's top,
// "/"-separated) is ignored.
func (c *ignoreChain) ignored(rel string, isDir bool) bool {
	name := rel[strings.LastIndexByte(rel, '/')+1:]
	for ; c != nil; c = c.parent {
		sub := rel
		if c.base != "" {
			if !strings.HasPrefix(rel, c.base+"/") {
				continue
			}
			sub = rel[len(c.base)+1:]
		}
		for i := len(c.rules) - 1; i >= 0; i-- {
			if r := &c.rules[i]; r.matches(sub, name, isDir) {
				return !r.negate
			}
		}
	}
	return false
}

func (r *ignoreRule) matches(sub, name string, isDir bool) bool {
	if r.dirOnly && !isDir {
		return false
	}
	if !r.anchored {
		ok, _ := path.Match(r.glob, name)
		return ok
	}
	return matchSegs(r.segs, strings.Split(sub, "/"))
}

func matchSegs(p, s []string) bool {
	for len(p) > 0 {
		if p[0] == "**" {
			if len(p) == 1 {
				return len(s) > 0 // "dir/**": everything inside, not dir itself
			}
			for i := 0; i <= len(s); i++ {
				if matchSegs(p[1:], s[i:]) {
					return true
				}
			}
			return false
		}
		if len(s) == 0 {
			return false
		}
		if ok, _ := path.Match(p[0], s[0]); !ok {
			return false
		}
		p, s = p[1:], s[1:]
	}
	return len(s) == 0
}

// parseIgnore reads the patterns of one ignore file.
func parseIgnore(data []byte) []ignoreRule {
	var rules []ignoreRule
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		if r, ok := parseIgnoreLine(sc.Text()); ok {
			rules = append(rules, r)
		}
	}
	return rules
}

func parseIgnoreLine(line string) (ignoreRule, bool) {
	line = strings.TrimSuffix(line, "\r")
	for strings.HasSuffix(line, " ") && !strings.HasSuffix(line, `\ `) {
		line = line[:len(line)-1]
	}
	if line == "" || line[0] == '#' {
		return ignoreRule{}, false
	}
	var r ignoreRule
	switch {
	case line[0] == '!':
		r.negate, line = true, line[1:]
	case strings.HasPrefix(line, `\!`), strings.HasPrefix(line, `\#`):
		line = line[1:]
	}
	if strings.HasSuffix(line, "/") {
		r.dirOnly, line = true, strings.TrimRight(line, "/")
	}
	if line == "" || strings.Contains(line, "[:") {
		return ignoreRule{}, false // empty, or a POSIX class path.Match would misread
	}
	line = strings.ReplaceAll(line, "[!", "[^") // git's negated class, in path.Match's spelling
	if strings.Contains(line, "/") {
		r.anchored = true
		r.segs = strings.Split(strings.TrimPrefix(line, "/"), "/")
		for _, s := range r.segs {
			if _, err := path.Match(s, ""); err != nil {
				return ignoreRule{}, false
			}
		}
		return r, true
	}
	if _, err := path.Match(line, ""); err != nil {
		return ignoreRule{}, false
	}
	r.glob = line
	return r, true
}

// findRepoRoot walks up from dir looking for .git (a directory, or a file
// in worktrees and submodules). ok is false outside any work tree.
func findRepoRoot(dir string) (string, bool) {
	for {
		if _, err := os.Lstat(filepath.Join(dir, ".git")); err == nil {
			return dir, true
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", false
		}
		dir = parent
	}
}

// repoChain starts a chain at a work tree's top, with .git/info/exclude.
func repoChain(repoRoot string) *ignoreChain {
	c := &ignoreChain{repoRoot: repoRoot}
	if data, err := os.ReadFile(filepath.Join(repoRoot, ".git", "info", "exclude")); err == nil {
		c.rules = parseIgnore(data)
	}
	return c
}

// withDir adds dir's .gitignore, if it has one, to c. dir is absolute.
func (c *ignoreChain) withDir(dir string) *ignoreChain {
	data, err := os.ReadFile(filepath.Join(dir, ".gitignore"))
	if err != nil {
		return c
	}
	rules := parseIgnore(data)
	if len(rules) == 0 {
		return c
	}
	return &ignoreChain{parent: c, repoRoot: c.repoRoot, base: c.rel(dir), rules: rules}
}

// rel is abs relative to the work tree's top, "/"-separated.
func (c *ignoreChain) rel(abs string) string {
	r, err := filepath.Rel(c.repoRoot, abs)
	if err != nil || r == "." {
		return ""
	}
	return filepath.ToSlash(r)
}

// chainFor builds the chain in force inside dir (absolute): the work tree's
// exclude file and every .gitignore from its top down to dir's parent (dir's
// own is added when the walk enters it). nil outside a work tree.
func chainFor(dir string) *ignoreChain {
	top, ok := findRepoRoot(dir)
	if !ok {
		return nil
	}
	c := repoChain(top)
	rel := c.rel(dir)
	if rel == "" {
		return c
	}
	parts := strings.Split(rel, "/")
	cur := top
	for _, p := range parts[:len(parts)-1] {
		c = c.withDir(cur)
		cur = filepath.Join(cur, p)
	}
	return c.withDir(cur)
}
