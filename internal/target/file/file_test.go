package file

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/rotor-ci/rotor/internal/rotation"
	"github.com/rotor-ci/rotor/internal/rotation/targettest"
	"github.com/rotor-ci/rotor/internal/token"
)

// run applies or verifies and returns the results by binding.
func run(t *testing.T, fn func(context.Context, token.Token, []rotation.Binding, func(rotation.Result)), ctx context.Context, tok token.Token, bs []rotation.Binding) map[string]error {
	t.Helper()
	var mu sync.Mutex
	out := map[string]error{}
	fn(ctx, tok, bs, func(r rotation.Result) {
		mu.Lock()
		defer mu.Unlock()
		if _, dup := out[r.BindingID]; dup {
			t.Errorf("binding %s reported twice", r.BindingID)
		}
		out[r.BindingID] = r.Err
	})
	if len(out) != len(bs) {
		t.Fatalf("%d results for %d bindings", len(out), len(bs))
	}
	return out
}

func discover(t *testing.T, tg *Target) []rotation.Binding {
	t.Helper()
	bs, err := tg.Discover(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return bs
}

func requireNoSecret(t *testing.T, err error, toks ...token.Token) {
	t.Helper()
	if err == nil {
		return
	}
	for _, tok := range toks {
		if strings.Contains(err.Error(), tok.Reveal()) || strings.Contains(err.Error(), tok.Fingerprint()) {
			t.Fatalf("error shows a token or its fingerprint: %v", err)
		}
	}
}

// known is a Known over a fixed set of tokens.
func known(toks ...token.Token) Known {
	return func(_ context.Context, fp string) (bool, error) {
		for _, t := range toks {
			if t.Fingerprint() == fp {
				return true, nil
			}
		}
		return false, nil
	}
}

func newTarget(t *testing.T, c Config) *Target {
	t.Helper()
	tg, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	return tg
}

func TestTarget_Discover(t *testing.T) {
	dir := t.TempDir()
	link := filepath.Join(dir, "link")
	if err := os.Symlink(filepath.Join(dir, "real"), link); err != nil {
		t.Fatal(err)
	}
	tok := token.Generate(token.KindClassicPAT)
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	held := write("held", tok.Reveal()+"\n")
	stranger := write("stranger", token.Generate(token.KindClassicPAT).Reveal())
	tests := []struct {
		name        string
		c           Config
		wantSaying  string
		wantWarning string
	}{
		{name: "new file, create: true", c: Config{Path: filepath.Join(dir, "token"), Create: true}},
		{name: "new file without create", c: Config{Path: filepath.Join(dir, "token")}, wantSaying: "create: true"},
		{name: "a known token", c: Config{Path: held, Known: known(tok)}},
		{name: "a token rotor does not know", c: Config{Path: stranger, Known: known(tok)}, wantWarning: "rotor adopt"},
		{name: "something else", c: Config{Path: write("passwd", "root:x:0:0:root:/root:/bin/bash\n"), Known: known(tok)}, wantSaying: "something other than one GitHub token"},
		{name: "two tokens", c: Config{Path: write("two", tok.Reveal()+"\n"+tok.Reveal()+"\n"), Known: known(tok)}, wantSaying: "something other than one GitHub token"},
		{name: "an empty file", c: Config{Path: write("empty", ""), Known: known(tok)}, wantSaying: "something other than one GitHub token"},
		{name: "missing directory", c: Config{Path: filepath.Join(dir, "nope", "token"), Create: true}, wantSaying: "does not exist"},
		{name: "a directory", c: Config{Path: dir, Create: true}, wantSaying: "is not a regular file"},
		{name: "a symbolic link", c: Config{Path: link, Create: true}, wantSaying: "is a symbolic link"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tg := newTarget(t, tt.c)
			bs, err := tg.Discover(context.Background())
			if tt.wantSaying != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantSaying) || !strings.Contains(err.Error(), tg.Path()) {
					t.Fatalf("Discover() = %v, want an error naming %s and saying %q", err, tg.Path(), tt.wantSaying)
				}
				requireNoSecret(t, err, tok)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var warnings []string
			if tt.wantWarning != "" {
				if len(bs) != 1 || len(bs[0].Warnings) != 1 || !strings.Contains(bs[0].Warnings[0], tt.wantWarning) {
					t.Fatalf("Discover() = %+v, want one warning saying %q", bs, tt.wantWarning)
				}
				warnings = bs[0].Warnings
			}
			want := []rotation.Binding{{ID: "file:" + tg.Path(), Target: Type, Resource: tg.Path(), Warnings: warnings}}
			if diff := cmp.Diff(want, bs); diff != "" {
				t.Errorf("Discover() (-want +got):\n%s", diff)
			}
		})
	}
}

func TestNew_relative(t *testing.T) {
	wd, _ := os.Getwd()
	if got := newTarget(t, Config{Path: "x/token"}).Path(); got != filepath.Join(wd, "x/token") {
		t.Errorf("Path() = %q", got)
	}
}

func TestTarget_ApplyVerify(t *testing.T) {
	old := token.Generate(token.KindClassicPAT)
	tests := []struct {
		name   string
		create bool
		setup  func(t *testing.T, path string) // the file before Apply
	}{
		{name: "no file yet, create: true", create: true, setup: func(*testing.T, string) {}},
		{name: "the adopted token, world-readable", setup: func(t *testing.T, path string) {
			if err := os.WriteFile(path, []byte(old.Reveal()+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "github-token")
			tt.setup(t, path)
			tok := token.Generate(token.KindClassicPAT)
			tg := newTarget(t, Config{Path: path, Create: tt.create, Known: known(old, tok)})
			bs := discover(t, tg)
			ctx := context.Background()
			for i := range 2 { // the second Apply is a no-op
				if err := run(t, tg.Apply, ctx, tok, bs)[tg.BindingID()]; err != nil {
					t.Fatalf("Apply #%d: %v", i+1, err)
				}
			}
			data, err := os.ReadFile(path)
			if err != nil || string(data) != tok.Reveal() {
				t.Fatalf("the file does not hold exactly the token (err %v)", err)
			}
			fi, _ := os.Stat(path)
			if fi.Mode().Perm() != 0o600 {
				t.Errorf("mode %04o, want 0600", fi.Mode().Perm())
			}
			if err := run(t, tg.Verify, ctx, tok, bs)[tg.BindingID()]; err != nil {
				t.Errorf("Verify: %v", err)
			}
			other := token.Generate(token.KindClassicPAT)
			err = run(t, tg.Verify, ctx, other, bs)[tg.BindingID()]
			if err == nil || !strings.Contains(err.Error(), path) {
				t.Errorf("Verify(another token) = %v, want an error naming the file", err)
			}
			requireNoSecret(t, err, tok, other)
			entries, _ := os.ReadDir(dir)
			if len(entries) != 1 {
				t.Errorf("the directory holds %d entries, want only the token file (temp files left behind?)", len(entries))
			}
		})
	}
}

func TestTarget_Verify_trailingNewline(t *testing.T) {
	path := filepath.Join(t.TempDir(), "token")
	tok := token.Generate(token.KindFineGrained)
	if err := os.WriteFile(path, []byte(tok.Reveal()+"\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tg := newTarget(t, Config{Path: path})
	if err := run(t, tg.Verify, context.Background(), tok, discover(t, tg))[tg.BindingID()]; err != nil {
		t.Errorf("Verify(token written with a newline) = %v", err)
	}
}

// readOnlyDir makes dir unwritable even for root: mode 0555 stops other
// users, the immutable attribute stops root. Skips when neither can be set.
func readOnlyDir(t *testing.T, dir string) {
	t.Helper()
	if os.Geteuid() != 0 {
		if err := os.Chmod(dir, 0o555); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.Chmod(dir, 0o755) })
	} else {
		if out, err := exec.Command("chattr", "+i", dir).CombinedOutput(); err != nil {
			t.Skipf("SKIP: cannot make a directory read-only as root here (chattr: %v: %s)", err, out)
		}
		t.Cleanup(func() { exec.Command("chattr", "-i", dir).Run() })
	}
	probe := filepath.Join(dir, ".probe")
	if f, err := os.Create(probe); err == nil {
		f.Close()
		os.Remove(probe)
		t.Skip("SKIP: the directory is still writable")
	}
}

func TestTarget_Apply_readOnlyDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ro")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "github-token")
	old := token.Generate(token.KindClassicPAT)
	if err := os.WriteFile(path, []byte(old.Reveal()), 0o600); err != nil {
		t.Fatal(err)
	}
	tok := token.Generate(token.KindClassicPAT)
	tg := newTarget(t, Config{Path: path, Known: known(old, tok)})
	bs := discover(t, tg)
	readOnlyDir(t, dir)
	err := run(t, tg.Apply, context.Background(), tok, bs)[tg.BindingID()]
	if err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("Apply into a read-only directory = %v, want an error naming %s", err, path)
	}
	requireNoSecret(t, err, tok, old)
	if data, _ := os.ReadFile(path); string(data) != old.Reveal() {
		t.Error("the original file changed")
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("the directory holds %d entries, want 1", len(entries))
	}
}

func TestTarget_errors(t *testing.T) {
	path := filepath.Join(t.TempDir(), "token")
	tg := newTarget(t, Config{Path: path, Create: true})
	bs := discover(t, tg)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name string
		ctx  context.Context
		tok  token.Token
		bs   []rotation.Binding
		want string
	}{
		{"canceled", ctx, token.Generate(token.KindClassicPAT), bs, "context canceled"},
		{"empty token", context.Background(), token.Token{}, bs, "empty token"},
		{"foreign binding", context.Background(), token.Generate(token.KindClassicPAT), []rotation.Binding{{ID: "file:/elsewhere"}}, "does not belong"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for id, err := range run(t, tg.Apply, tt.ctx, tt.tok, tt.bs) {
				if err == nil || !strings.Contains(err.Error(), tt.want) {
					t.Errorf("Apply %s = %v, want an error saying %q", id, err, tt.want)
				}
			}
			if _, err := os.Stat(path); err == nil {
				t.Error("the file was written")
			}
		})
	}
}

// TestContract: the contract every target passes, on a temporary directory.
func TestContract(t *testing.T) {
	targettest.Run(t, targettest.Harness{
		New: func(t *testing.T, prev token.Token) rotation.Target {
			path := filepath.Join(t.TempDir(), "github-token")
			if err := os.WriteFile(path, []byte(prev.Reveal()+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			// The store knows every token the contract writes as a
			// version of the credential, as during a real run.
			everyToken := func(context.Context, string) (bool, error) { return true, nil }
			return newTarget(t, Config{Path: path, Mode: 0o600, Known: everyToken})
		},
		Holds: func(t *testing.T, b rotation.Binding) string {
			data, err := os.ReadFile(b.Resource)
			if err != nil {
				t.Fatal(err)
			}
			return token.Fingerprint(strings.TrimSpace(string(data)))
		},
	})
}
