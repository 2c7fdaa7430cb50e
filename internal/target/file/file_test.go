package file

import (
	"context"
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

func TestTarget_Discover(t *testing.T) {
	dir := t.TempDir()
	link := filepath.Join(dir, "link")
	if err := os.Symlink(filepath.Join(dir, "real"), link); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		path       string
		wantSaying string
	}{
		{name: "new file", path: filepath.Join(dir, "token")},
		{name: "missing directory", path: filepath.Join(dir, "nope", "token"), wantSaying: "directory"},
		{name: "a directory", path: dir, wantSaying: "is not a regular file"},
		{name: "a symbolic link", path: link, wantSaying: "is a symbolic link"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tg := New(tt.path)
			bs, err := tg.Discover(context.Background())
			if tt.wantSaying != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantSaying) || !strings.Contains(err.Error(), tt.path) {
					t.Fatalf("Discover() = %v, want an error naming %s and saying %q", err, tt.path, tt.wantSaying)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := []rotation.Binding{{ID: "file:" + tt.path, Target: Type, Resource: tt.path}}
			if diff := cmp.Diff(want, bs); diff != "" {
				t.Errorf("Discover() (-want +got):\n%s", diff)
			}
		})
	}
}

func TestNew_relative(t *testing.T) {
	wd, _ := os.Getwd()
	if got := New("x/token").Path(); got != filepath.Join(wd, "x/token") {
		t.Errorf("Path() = %q", got)
	}
}

func TestTarget_ApplyVerify(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, path string) // the file before Apply
	}{
		{name: "no file yet", setup: func(*testing.T, string) {}},
		{name: "an old token, world-readable", setup: func(t *testing.T, path string) {
			if err := os.WriteFile(path, []byte(token.Generate(token.KindClassicPAT).Reveal()+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "github-token")
			tt.setup(t, path)
			tg := New(path)
			bs := discover(t, tg)
			tok := token.Generate(token.KindClassicPAT)
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
	tg := New(path)
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
			t.Skipf("cannot make a directory read-only as root here (chattr: %v: %s)", err, out)
		}
		t.Cleanup(func() { exec.Command("chattr", "-i", dir).Run() })
	}
	probe := filepath.Join(dir, ".probe")
	if f, err := os.Create(probe); err == nil {
		f.Close()
		os.Remove(probe)
		t.Skip("the directory is still writable")
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
	tg := New(path)
	bs := discover(t, tg)
	readOnlyDir(t, dir)
	tok := token.Generate(token.KindClassicPAT)
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

func TestTarget_Apply_keepsOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("only root can give a file to another user")
	}
	path := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(path, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(path, 65534, 65534); err != nil {
		t.Skipf("chown: %v", err)
	}
	tg := New(path)
	if err := run(t, tg.Apply, context.Background(), token.Generate(token.KindClassicPAT), discover(t, tg))[tg.BindingID()]; err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(path)
	st := fi.Sys().(*syscall.Stat_t)
	if st.Uid != 65534 || st.Gid != 65534 {
		t.Errorf("owner %d:%d, want 65534:65534", st.Uid, st.Gid)
	}
}

func TestTarget_errors(t *testing.T) {
	path := filepath.Join(t.TempDir(), "token")
	tg := New(path)
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
