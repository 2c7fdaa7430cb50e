package scan

import (
	"testing"
)

func TestIgnoreChain_Ignored(t *testing.T) {
	chain := func(files ...struct {
		base  string
		lines string
	}) *ignoreChain {
		var c *ignoreChain
		for _, f := range files {
			c = &ignoreChain{parent: c, repoRoot: "/r", base: f.base, rules: parseIgnore([]byte(f.lines))}
		}
		return c
	}
	type file = struct {
		base  string
		lines string
	}
	root := chain(file{"", "# comment\n\n*.log\n!keep.log\n/build/\ndocs/*.tmp\nsecret/**\n**/cache\n\\#hash\ntrailing   \nspace\\ \n[!a]x.txt\nfoo/**/bar\n"})
	nested := chain(file{"", "*.json\n"}, file{"sub", "!pipeline.json\nlocal\n/anchored.txt\n"})
	tests := []struct {
		name  string
		c     *ignoreChain
		path  string
		isDir bool
		want  bool
	}{
		{"glob at top", root, "a.log", false, true},
		{"glob at depth", root, "x/y/a.log", false, true},
		{"negated", root, "x/keep.log", false, false},
		{"anchored dir", root, "build", true, true},
		{"anchored dir only at top", root, "x/build", true, false},
		{"dir-only pattern skips files", root, "build", false, false},
		{"middle slash anchors", root, "docs/a.tmp", false, true},
		{"middle slash anchors (deeper)", root, "x/docs/a.tmp", false, false},
		{"star does not cross slash", root, "docs/x/a.tmp", false, false},
		{"trailing ** matches inside", root, "secret/a/b", false, true},
		{"trailing ** not the dir itself", root, "secret", true, false},
		{"leading **", root, "a/b/cache", true, true},
		{"leading ** at top", root, "cache", true, true},
		{"escaped hash", root, "#hash", false, true},
		{"trailing spaces dropped", root, "trailing", false, true},
		{"escaped trailing space kept", root, "space ", false, true},
		{"negated class", root, "bx.txt", false, true},
		{"negated class excludes", root, "ax.txt", false, false},
		{"middle ** zero dirs", root, "foo/bar", false, true},
		{"middle ** many dirs", root, "foo/a/b/bar", false, true},
		{"not matched", root, "main.go", false, false},
		{"deeper file wins", nested, "sub/pipeline.json", false, false},
		{"outer rule still applies", nested, "sub/other.json", false, true},
		{"outer rule above the deeper file", nested, "pipeline.json", false, true},
		{"nested unanchored", nested, "sub/x/local", false, true},
		{"nested anchored to its dir", nested, "sub/anchored.txt", false, true},
		{"nested anchored not deeper", nested, "sub/x/anchored.txt", false, false},
		{"nested rules only below their dir", nested, "local", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.c.ignored(tt.path, tt.isDir); got != tt.want {
				t.Errorf("ignored(%q, dir=%v) = %v, want %v", tt.path, tt.isDir, got, tt.want)
			}
		})
	}
}

func TestParseIgnoreLine_Drops(t *testing.T) {
	for _, line := range []string{"", "   ", "# c", "/", "[[:space:]]x", "a/[", "!"} {
		if r, ok := parseIgnoreLine(line); ok {
			t.Errorf("parseIgnoreLine(%q) = %+v, want dropped", line, r)
		}
	}
}
