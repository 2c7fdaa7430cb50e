package scan

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/rotor-ci/rotor/internal/rotation"
	"github.com/rotor-ci/rotor/internal/token"
)

func TestScan_EveryKind(t *testing.T) {
	ghp, gho, ghu, ghr, ghs := gen(token.KindClassicPAT), gen(token.KindOAuth), gen(token.KindAppUser), gen(token.KindAppRefresh), gen(token.KindInstallation)
	pat, jwt, bad := gen(token.KindFineGrained), stateless(), badChecksum(token.KindAppUser)
	dir := writeTree(t, t.TempDir(), map[string]string{
		"deploy.sh":         "#!/bin/sh\nexport GITHUB_TOKEN=" + ghp + "\naws codepipeline update-pipeline --cli-input-json file://pipeline.json\n",
		"conf/app.env":      "OAUTH=" + gho + "\nUSER=" + ghu + "\nREFRESH=" + ghr + "\n",
		"conf/ci.yaml":      "token: " + ghs + "\nfine: '" + pat + "'\n",
		"notes/jwt.md":      "# ünïcode\nthe ☃ token " + jwt + ".\n",
		"testdata/fake.txt": bad + "\n",
		"clean.go":          "package clean // nothing here: gh, ghp, github_pat\n",
	})
	res := scanDir(t, dir, Options{})
	want := []brief{
		{"conf/app.env", 1, RuleToken, token.KindOAuth, ChecksumValid, KnownUnchecked},
		{"conf/app.env", 2, RuleToken, token.KindAppUser, ChecksumValid, KnownUnchecked},
		{"conf/app.env", 3, RuleToken, token.KindAppRefresh, ChecksumValid, KnownUnchecked},
		{"conf/ci.yaml", 1, RuleToken, token.KindInstallation, ChecksumNone, KnownUnchecked},
		{"conf/ci.yaml", 2, RuleToken, token.KindFineGrained, ChecksumNone, KnownUnchecked},
		{"deploy.sh", 2, RuleToken, token.KindClassicPAT, ChecksumValid, KnownUnchecked},
		{"notes/jwt.md", 2, RuleToken, token.KindInstallation, ChecksumNone, KnownUnchecked},
		{"testdata/fake.txt", 1, RuleToken, token.KindAppUser, ChecksumInvalid, KnownUnchecked},
	}
	if diff := cmp.Diff(want, briefs(res.Findings)); diff != "" {
		t.Fatalf("findings (-want +got):\n%s", diff)
	}
	t.Run("columns count code points", func(t *testing.T) {
		for _, f := range res.Findings {
			if f.Path == "notes/jwt.md" && f.Column != len([]rune("the ☃ token "))+1 {
				t.Errorf("column = %d", f.Column)
			}
			if f.Path == "deploy.sh" && f.Column != len("export GITHUB_TOKEN=")+1 {
				t.Errorf("column = %d", f.Column)
			}
		}
	})
	t.Run("redacted and fingerprinted", func(t *testing.T) {
		f := res.Findings[5]
		if f.Redacted != "ghp_…"+ghp[36:] || f.Fingerprint != token.Fingerprint(ghp) {
			t.Errorf("redacted %q fingerprint %q", f.Redacted, f.Fingerprint)
		}
	})
	t.Run("bad checksum is a likely false positive", func(t *testing.T) {
		f := res.Findings[7]
		if !f.LikelyFalsePositive() || !strings.Contains(f.Advice, "false positive") {
			t.Errorf("finding %+v", f)
		}
	})
	if res.Stats.Files != 6 {
		t.Errorf("files scanned = %d, want 6", res.Stats.Files)
	}
}

func TestScan_Skips(t *testing.T) {
	tok := gen(token.KindClassicPAT)
	outside := writeTree(t, t.TempDir(), map[string]string{"secret.txt": tok})
	dir := writeTree(t, t.TempDir(), map[string]string{
		"ok.txt":          tok + "\n",
		"image.png":       "\x89PNG\x00\x00" + tok,
		"huge.log":        strings.Repeat("x", 2048) + tok,
		"sub/deep/ok.txt": "nothing",
	})
	mustSymlink(t, dir, filepath.Join(dir, "sub", "deep", "loop"))                      // a loop back to the top
	mustSymlink(t, outside, filepath.Join(dir, "out"))                                  // a directory out of the tree
	mustSymlink(t, filepath.Join(outside, "secret.txt"), filepath.Join(dir, "out.txt")) // a file out of the tree
	if err := syscall.Mkfifo(filepath.Join(dir, "fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	res := scanDir(t, dir, Options{MaxFileSize: 1024})
	if diff := cmp.Diff([]brief{{"ok.txt", 1, RuleToken, token.KindClassicPAT, ChecksumValid, KnownUnchecked}}, briefs(res.Findings)); diff != "" {
		t.Errorf("findings (-want +got):\n%s", diff)
	}
	want := Stats{Files: 2, Bytes: int64(len(tok) + 1 + len("nothing")), Binary: 1, TooLarge: 1, Symlinks: 3, Special: 1}
	got := res.Stats
	got.Duration = 0
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("stats (-want +got):\n%s", diff)
	}
}

func mustSymlink(t *testing.T, target, link string) {
	t.Helper()
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}

func TestScan_NamedPaths(t *testing.T) {
	tok := gen(token.KindClassicPAT)
	dir := writeTree(t, t.TempDir(), map[string]string{"a/one.txt": tok, "b/two.txt": tok, "c/three.txt": tok})
	mustSymlink(t, filepath.Join(dir, "c"), filepath.Join(dir, "link-to-c"))
	t.Chdir(dir)
	t.Run("files and directories, a named link is followed", func(t *testing.T) {
		res, err := Scan(context.Background(), []string{"a/one.txt", "b", "link-to-c"}, Options{})
		if err != nil {
			t.Fatal(err)
		}
		var paths []string
		for _, f := range res.Findings {
			paths = append(paths, f.Path)
		}
		if diff := cmp.Diff([]string{"a/one.txt", "b/two.txt", "link-to-c/three.txt"}, paths); diff != "" {
			t.Errorf("paths (-want +got):\n%s", diff)
		}
	})
	t.Run("missing path", func(t *testing.T) {
		_, err := Scan(context.Background(), []string{"a", "nope"}, Options{})
		if !errors.Is(err, ErrNoPath) || !strings.Contains(err.Error(), "nope") {
			t.Errorf("err = %v, want ErrNoPath naming the path", err)
		}
	})
	t.Run("named fifo does not block", func(t *testing.T) {
		if err := syscall.Mkfifo(filepath.Join(dir, "fifo"), 0o644); err != nil {
			t.Fatal(err)
		}
		res, err := Scan(context.Background(), []string{"fifo"}, Options{})
		if err != nil || res.Stats.Special != 1 {
			t.Errorf("Scan(fifo) = %+v, %v", res.Stats, err)
		}
	})
}

func TestScan_Unreadable(t *testing.T) {
	tok := gen(token.KindClassicPAT)
	dir := writeTree(t, t.TempDir(), map[string]string{"locked.txt": tok, "open.txt": tok, "locked-dir/x.txt": tok})
	t.Run("open fails", func(t *testing.T) {
		// Tests run as root here, and root reads a mode-000 file; make the
		// open fail the way it would for anyone else.
		readFile = func(name string, max int64, buf []byte) ([]byte, readStatus, error) {
			if filepath.Base(name) == "locked.txt" {
				return nil, 0, &fs.PathError{Op: "open", Path: name, Err: syscall.EACCES}
			}
			return readRegular(name, max, buf)
		}
		t.Cleanup(func() { readFile = readRegular })
		res := scanDir(t, dir, Options{})
		if diff := cmp.Diff([]Problem{{Path: "locked.txt", Err: "permission denied"}}, res.Problems); diff != "" {
			t.Errorf("problems (-want +got):\n%s", diff)
		}
		if len(res.Findings) != 2 || res.Stats.Unreadable != 1 {
			t.Errorf("findings %d, unreadable %d; want 2 and 1: the scan goes on", len(res.Findings), res.Stats.Unreadable)
		}
	})
	t.Run("mode 000", func(t *testing.T) {
		if os.Geteuid() == 0 {
			t.Skip("root reads mode-000 files; the case above covers the code path")
		}
		for _, p := range []string{"locked.txt", "locked-dir"} {
			if err := os.Chmod(filepath.Join(dir, p), 0); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { os.Chmod(filepath.Join(dir, p), 0o755) })
		}
		res := scanDir(t, dir, Options{})
		if len(res.Problems) != 2 || len(res.Findings) != 1 {
			t.Errorf("problems %v, findings %d", res.Problems, len(res.Findings))
		}
	})
}

func TestScan_Gitignore(t *testing.T) {
	tok := gen(token.KindClassicPAT)
	files := map[string]string{
		".gitignore":              "*.log\n/build/\n",
		"app.log":                 tok,
		"build/out.txt":           tok,
		"src/build/kept.txt":      tok,
		"src/.gitignore":          "pipeline.json\n",
		"src/pipeline.json":       tok,
		"src/main.txt":            tok,
		"vendor/repo/.git/HEAD":   tok, // .git is never scanned
		"vendor/repo/.gitignore":  "*.txt\n",
		"vendor/repo/dropped.txt": tok,
		"vendor/repo/a.log":       tok,
	}
	paths := func(res Result) []string {
		var out []string
		for _, f := range res.Findings {
			out = append(out, filepath.ToSlash(f.Path))
		}
		return out
	}
	t.Run("inside a work tree", func(t *testing.T) {
		dir := writeTree(t, t.TempDir(), files)
		gitInit(t, dir)
		res := scanDir(t, dir, Options{})
		// vendor/repo is a work tree of its own: the outer .gitignore does
		// not apply inside it, as with git.
		if diff := cmp.Diff([]string{"src/build/kept.txt", "src/main.txt", "vendor/repo/a.log"}, paths(res)); diff != "" {
			t.Errorf("found (-want +got):\n%s", diff)
		}
		if res.Stats.Ignored != 4 {
			t.Errorf("ignored = %d, want 4 (app.log, build, src/pipeline.json, vendor/repo/dropped.txt)", res.Stats.Ignored)
		}
		t.Run("scanning a subdirectory honours the .gitignore above it", func(t *testing.T) {
			t.Chdir(filepath.Join(dir, "src"))
			res, err := Scan(context.Background(), []string{"."}, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff([]string{"build/kept.txt", "main.txt"}, paths(res)); diff != "" {
				t.Errorf("found (-want +got):\n%s", diff)
			}
		})
		t.Run("no-ignore", func(t *testing.T) {
			res := scanDir(t, dir, Options{NoIgnore: true})
			if len(res.Findings) != 7 || res.Stats.Ignored != 0 {
				t.Errorf("found %v, ignored %d", paths(res), res.Stats.Ignored)
			}
		})
	})
	t.Run("outside a work tree .gitignore means nothing", func(t *testing.T) {
		dir := writeTree(t, t.TempDir(), map[string]string{".gitignore": "*.log\n", "app.log": tok})
		if _, ok := findRepoRoot(dir); ok {
			t.Skip("the temporary directory is inside a git work tree")
		}
		res := scanDir(t, dir, Options{})
		if diff := cmp.Diff([]string{"app.log"}, paths(res)); diff != "" {
			t.Errorf("found (-want +got):\n%s", diff)
		}
	})
}

// gitInit makes dir a work tree: with git when it is installed, else the
// .git directory that is all rotor looks for.
func gitInit(t *testing.T, dir string) {
	t.Helper()
	if _, err := exec.LookPath("git"); err == nil {
		if out, err := exec.Command("git", "init", "-q", dir).CombinedOutput(); err != nil {
			t.Fatalf("git init: %v: %s", err, out)
		}
		return
	}
	if err := os.MkdirAll(filepath.Join(dir, ".git"), 0o755); err != nil {
		t.Fatal(err)
	}
}

// fakeStore answers Known from a map and counts lookups.
type fakeStore struct {
	mu       sync.Mutex
	versions map[string]rotation.Version
	calls    map[string]int
	err      error
}

func (s *fakeStore) known(_ context.Context, fp string) (rotation.Version, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.calls == nil {
		s.calls = map[string]int{}
	}
	s.calls[fp]++
	if s.err != nil {
		return rotation.Version{}, s.err
	}
	v, ok := s.versions[fp]
	if !ok {
		return rotation.Version{}, fmt.Errorf("version %s: %w", fp, rotation.ErrNotFound)
	}
	return v, nil
}

func TestScan_Known(t *testing.T) {
	states := []rotation.VersionState{rotation.VersionCurrent, rotation.VersionPrevious, rotation.VersionRetired, rotation.VersionRejected, rotation.VersionPending}
	store := &fakeStore{versions: map[string]rotation.Version{}}
	files := map[string]string{}
	var want []brief
	for i, st := range states {
		v := gen(token.KindClassicPAT)
		store.versions[token.Fingerprint(v)] = rotation.Version{Credential: "app", Seq: int64(i + 1), Fingerprint: token.Fingerprint(v), State: st}
		name := fmt.Sprintf("%d-%s.txt", i, st)
		files[name] = v
		files["copy/"+name] = v // the same token twice: one lookup
		want = append(want, brief{name, 1, RuleToken, token.KindClassicPAT, ChecksumValid, Known(st)})
	}
	files["unknown.txt"] = gen(token.KindClassicPAT)
	dir := writeTree(t, t.TempDir(), files)
	res := scanDir(t, dir, Options{Known: store.known})
	var got []brief
	for _, f := range res.Findings {
		if !strings.HasPrefix(f.Path, "copy") {
			got = append(got, brief{f.Path, f.Line, f.Rule, f.Kind, f.Checksum, f.Known})
		}
		if f.Known != KnownUnknown && (f.Credential != "app" || f.Version == 0) {
			t.Errorf("%s: credential %q version %d", f.Path, f.Credential, f.Version)
		}
	}
	want = append(want, brief{"unknown.txt", 1, RuleToken, token.KindClassicPAT, ChecksumValid, KnownUnknown})
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("findings (-want +got):\n%s", diff)
	}
	for fp, n := range store.calls {
		if n != 1 {
			t.Errorf("fingerprint %s looked up %d times, want once", fp, n)
		}
	}
	if !res.StoreChecked {
		t.Error("StoreChecked = false")
	}
	t.Run("advice follows what rotor knows", func(t *testing.T) {
		for _, f := range res.Findings {
			if f.Known == KnownCurrent && !strings.Contains(f.Advice, "rotor rotate app") {
				t.Errorf("current: advice %q", f.Advice)
			}
			if f.Known == KnownRetired && !strings.Contains(f.Advice, "dead") {
				t.Errorf("retired: advice %q", f.Advice)
			}
		}
	})
	t.Run("a failing store stops the scan", func(t *testing.T) {
		broken := &fakeStore{err: errors.New("database is locked")}
		_, err := Scan(context.Background(), []string{dir}, Options{Known: broken.known})
		if err == nil || !strings.Contains(err.Error(), "database is locked") {
			t.Errorf("err = %v", err)
		}
	})
}

func TestScan_Live(t *testing.T) {
	known, unknown, bad := gen(token.KindClassicPAT), gen(token.KindClassicPAT), badChecksum(token.KindClassicPAT)
	dead := gen(token.KindAppUser)
	store := &fakeStore{versions: map[string]rotation.Version{
		token.Fingerprint(known): {Credential: "app", Seq: 2, State: rotation.VersionCurrent},
		token.Fingerprint(dead):  {Credential: "app", Seq: 1, State: rotation.VersionRetired},
	}}
	dir := writeTree(t, t.TempDir(), map[string]string{
		"a.txt": known + "\n" + unknown + "\n" + bad + "\n" + dead,
		"b.txt": known,
	})
	var mu sync.Mutex
	asked := map[string]int{}
	live := func(_ context.Context, tok token.Token) (bool, error) {
		mu.Lock()
		defer mu.Unlock()
		asked[tok.Fingerprint()]++
		if tok.Reveal() == unknown {
			return false, errors.New("401 Bad credentials")
		}
		return tok.Reveal() == known, nil
	}
	tests := []struct {
		name        string
		liveUnknown bool
		want        map[string]int
	}{
		{"known only", false, map[string]int{token.Fingerprint(known): 1, token.Fingerprint(dead): 1}},
		{"unknown too", true, map[string]int{token.Fingerprint(known): 1, token.Fingerprint(dead): 1, token.Fingerprint(unknown): 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clear(asked)
			res := scanDir(t, dir, Options{Known: store.known, Live: live, LiveUnknown: tt.liveUnknown})
			if diff := cmp.Diff(tt.want, asked); diff != "" {
				t.Errorf("asked GitHub (-want +got):\n%s", diff)
			}
			for _, f := range res.Findings {
				switch f.Fingerprint {
				case token.Fingerprint(known):
					if f.Live == nil || !*f.Live {
						t.Errorf("%s: live = %v, want true", f.Path, f.Live)
					}
				case token.Fingerprint(dead):
					if f.Live == nil || *f.Live || sarifLevel(f) != "warning" {
						t.Errorf("dead token: live %v", f.Live)
					}
				case token.Fingerprint(unknown):
					if tt.liveUnknown && f.LiveError == "" {
						t.Error("unknown token: want the live check's error")
					}
				case token.Fingerprint(bad):
					if f.Live != nil || f.LiveError != "" {
						t.Error("a bad checksum is never sent to GitHub")
					}
				}
			}
		})
	}
	t.Run("no store: nothing is known, nothing is asked", func(t *testing.T) {
		clear(asked)
		scanDir(t, dir, Options{Live: live})
		if len(asked) != 0 {
			t.Errorf("asked about %d tokens", len(asked))
		}
	})
}

func TestScan_ManyFiles(t *testing.T) {
	files := map[string]string{}
	want := map[string]bool{}
	for i := range 2000 {
		name := fmt.Sprintf("d%02d/e%d/f%d.txt", i%37, i%5, i)
		files[name] = fmt.Sprintf("line one\nconfig value %d\n", i)
		if i%97 == 0 {
			files[name] += "token: " + gen(token.KindClassicPAT) + "\n"
			want[name] = true
		}
	}
	dir := writeTree(t, t.TempDir(), files)
	res := scanDir(t, dir, Options{Workers: 16})
	got := map[string]bool{}
	for _, f := range res.Findings {
		got[filepath.ToSlash(f.Path)] = true
		if f.Line != 3 {
			t.Errorf("%s: line %d, want 3", f.Path, f.Line)
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("found (-want +got):\n%s", diff)
	}
	if res.Stats.Files != 2000 {
		t.Errorf("files = %d, want 2000", res.Stats.Files)
	}
}

func TestScan_Cancelled(t *testing.T) {
	dir := writeTree(t, t.TempDir(), map[string]string{"a.txt": "x"})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Scan(ctx, []string{dir}, Options{}); !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
}

func TestScan_Allow(t *testing.T) {
	vector, other := gen(token.KindClassicPAT), gen(token.KindClassicPAT)
	dir := writeTree(t, t.TempDir(), map[string]string{
		"vectors_test.go": `var v = "` + vector + `"` + "\n",
		"pipeline.json":   getPipeline(`"`+vector+`"`, true),
		"leak.env":        other,
	})
	res := scanDir(t, dir, Options{Allow: []string{token.Fingerprint(vector)}})
	if diff := cmp.Diff([]brief{{"leak.env", 1, RuleToken, token.KindClassicPAT, ChecksumValid, KnownUnchecked}}, briefs(res.Findings)); diff != "" {
		t.Errorf("findings (-want +got):\n%s", diff)
	}
	if res.Stats.Allowed != 2 {
		t.Errorf("allowed = %d, want 2", res.Stats.Allowed)
	}
}
