package cli

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/rotor-ci/rotor/internal/awsx"
	"github.com/rotor-ci/rotor/internal/emulator/motoserver"
	"github.com/rotor-ci/rotor/internal/grant"
	"github.com/rotor-ci/rotor/internal/revoke"
	"github.com/rotor-ci/rotor/internal/rotation"
	"github.com/rotor-ci/rotor/internal/seal"
	"github.com/rotor-ci/rotor/internal/store"
	"github.com/rotor-ci/rotor/internal/token"
)

// motoKMSKey starts moto_server (skipping loudly without it) and creates a
// KMS key there; it returns the endpoint and the key's ARN.
func motoKMSKey(t *testing.T) (endpoint, arn string) {
	t.Helper()
	// TestDemo leaves AWS_PROFILE="" in this process's environment (the
	// demo sets it for itself), and moto_server, which inherits it, fails
	// CreateKey with a 500 on an empty profile name: start it without one.
	t.Setenv("AWS_PROFILE", "")
	os.Unsetenv("AWS_PROFILE")
	endpoint = motoserver.Start(t)
	cfg, err := awsx.Load(context.Background(), awsx.Config{Region: "us-east-1", EndpointURL: endpoint, Credentials: credentials.NewStaticCredentialsProvider("x", "x", "")})
	if err != nil {
		t.Fatal(err)
	}
	out, err := kms.NewFromConfig(cfg).CreateKey(context.Background(), &kms.CreateKeyInput{Description: aws.String("rotor migrate-key test")})
	if err != nil {
		t.Fatalf("moto CreateKey: %v", err)
	}
	return endpoint, aws.ToString(out.KeyMetadata.Arn)
}

// writeKMSConfig points the installation at moto for AWS (KMS) and gives
// it two credentials whose only targets are files outside e.dir (the
// canary walks e.dir, where no token may be).
func (e *e2e) writeKMSConfig(key, previous, endpoint, targets string) {
	e.t.Helper()
	cfg := fmt.Sprintf(`store: sqlite:rotor.db
key: %s
previous_keys: [%s]
github: {api_url: %s}
aws: {region: us-east-1, endpoint_url: %s}
credentials:
  - name: app
    source: {type: personal-token, scopes: [repo]}
    rotate: {every: 30d, grace: 10m}
    targets: [{type: file, path: %s}]
  - name: other
    source: {type: personal-token, scopes: [repo]}
    rotate: {every: 30d, grace: 10m}
    targets: [{type: file, path: %s}]
`, key, previous, e.githubURL(), endpoint, filepath.Join(targets, "app-token"), filepath.Join(targets, "other-token"))
	if err := os.WriteFile(e.config, []byte(cfg), 0o600); err != nil {
		e.t.Fatal(err)
	}
}

// githubURL is the GitHub emulator's, or a closed port where the test
// needs no GitHub.
func (e *e2e) githubURL() string {
	if e.sb == nil {
		return "http://127.0.0.1:9"
	}
	return e.sb.GitHubURL
}

// newOffline is an installation for commands that talk to no GitHub.
func newOffline(t *testing.T) *e2e {
	t.Helper()
	for k, v := range map[string]string{"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_CONFIG_FILE": os.DevNull, "AWS_SHARED_CREDENTIALS_FILE": os.DevNull, "ROTOR_CONFIG": ""} {
		t.Setenv(k, v)
	}
	e := &e2e{t: t, dir: t.TempDir()}
	e.config = filepath.Join(e.dir, "rotor.yaml")
	if err := seal.Generate(filepath.Join(e.dir, "rotor.key")); err != nil {
		t.Fatal(err)
	}
	return e
}

// schemes opens the store read-only through its interface and returns the
// scheme of every stored version, "credential/seq" → scheme.
func (e *e2e) schemes() map[string]seal.Scheme {
	e.t.Helper()
	st, err := store.Open(context.Background(), "sqlite:"+filepath.Join(e.dir, "rotor.db"), store.Options{})
	if err != nil {
		e.t.Fatal(err)
	}
	defer st.Close()
	out := map[string]seal.Scheme{}
	for _, name := range []string{"app", "other"} {
		vs, err := st.Versions(context.Background(), name)
		if err != nil {
			e.t.Fatal(err)
		}
		for _, v := range vs {
			s, err := seal.SchemeOf(v.Sealed)
			if err != nil {
				e.t.Fatalf("version %d of %s: %v", v.Seq, name, err)
			}
			out[fmt.Sprintf("%s/%d", name, v.Seq)] = s
		}
	}
	return out
}

func allScheme(m map[string]seal.Scheme, want seal.Scheme) bool {
	for _, s := range m {
		if s != want {
			return false
		}
	}
	return len(m) > 0
}

// From the age key file to KMS and back, through the CLI, with rotations
// before, between and after, and no token value in any output or file.
func TestCLI_MigrateKeyEndToEnd(t *testing.T) {
	e := newE2E(t, "10m")
	endpoint, arn := motoKMSKey(t)
	targets := t.TempDir()
	e.writeKMSConfig("file:rotor.key", "", endpoint, targets)
	kmsSpec := "awskms:" + arn
	ageSpec := "file:" + filepath.Join(e.dir, "rotor.key")

	user := "MyGitHubUserName"
	mustRun := func(stdin string, args ...string) string {
		t.Helper()
		code, out := e.rotor(stdin, args...)
		if code != 0 {
			t.Fatalf("rotor %s: exit %d\n%s", strings.Join(args, " "), code, out)
		}
		return out
	}
	rotate := func(name string) token.Token {
		t.Helper()
		tok := e.newToken(user, "repo")
		mustRun(tok.Reveal()+"\n", "rotate", name, "--token-stdin")
		b, err := os.ReadFile(filepath.Join(targets, name+"-token"))
		if err != nil || string(b) != tok.Reveal() {
			t.Fatalf("%s's file target does not hold the new token (%v)", name, err)
		}
		return tok
	}
	for _, name := range []string{"app", "other"} {
		tok := e.newToken(user, "repo")
		if err := os.WriteFile(filepath.Join(targets, name+"-token"), []byte(tok.Reveal()), 0o600); err != nil {
			t.Fatal(err)
		}
		mustRun(tok.Reveal()+"\n", "adopt", name, "--token-stdin")
	}
	rotate("app")
	if s := e.schemes(); len(s) != 3 || !allScheme(s, seal.SchemeAge) {
		t.Fatalf("before: %v, want 3 age versions", s)
	}

	// Usage mistakes exit 2 and change nothing.
	for _, args := range [][]string{
		{"migrate-key", "--to", kmsSpec},
		{"migrate-key", "--from", "file:rotor.key", "--to", ageSpec},
		{"migrate-key", "--from", "file:rotor.key", "--to", "awskms:alias/rotor"},
	} {
		if code, out := e.rotor("", args...); code != ExitUsage {
			t.Errorf("rotor %s: exit %d, want 2\n%s", strings.Join(args, " "), code, out)
		}
	}
	// A --from that opens nothing: exit 1, every failure named, nothing changed.
	if err := seal.Generate(filepath.Join(e.dir, "wrong.key")); err != nil {
		t.Fatal(err)
	}
	if code, out := e.rotor("", "migrate-key", "--from", "file:wrong.key", "--to", kmsSpec); code != ExitFailure ||
		!strings.Contains(out, "nothing was changed: 3 of 3 sealed tokens") || !strings.Contains(out, "sealed with neither --from nor --to") {
		t.Fatalf("migrate-key with the wrong --from: exit %d\n%s", code, out)
	}

	out := mustRun("", "migrate-key", "--from", "file:rotor.key", "--to", kmsSpec, "--dry-run")
	if !strings.Contains(out, "would reseal 3 of 3 token versions") || !strings.Contains(out, "nothing was written") {
		t.Errorf("dry run:\n%s", out)
	}
	if s := e.schemes(); !allScheme(s, seal.SchemeAge) {
		t.Fatalf("the dry run changed the store: %v", s)
	}

	out = mustRun("", "migrate-key", "--from", "file:rotor.key", "--to", kmsSpec)
	for _, want := range []string{"resealed 3 of 3 token versions", "verified: every sealed token", "key.migrated",
		"now change rotor.yaml: key: " + kmsSpec, "it still says key: " + ageSpec} {
		if !strings.Contains(out, want) {
			t.Errorf("migrate-key output lacks %q:\n%s", want, out)
		}
	}
	if s := e.schemes(); len(s) != 3 || !allScheme(s, seal.SchemeAWSKMS) {
		t.Fatalf("after migrate-key: %v, want 3 KMS versions", s)
	}
	// Run again: nothing to reseal, every version checked, nothing written.
	if out := mustRun("", "migrate-key", "--from", "file:rotor.key", "--to", kmsSpec); !strings.Contains(out, "resealed 0 of 3 token versions (3 sealed with the new key already)") || strings.Contains(out, "audit record") {
		t.Errorf("second migrate-key:\n%s", out)
	}
	// The config still names the age key: the next rotation stops where it
	// first needs a resealed version, says which key it needs, and stays
	// open to be resumed. Its new version is sealed with the age key.
	if code, out := e.rotor(e.newToken(user, "repo").Reveal()+"\n", "rotate", "app", "--token-stdin"); code == 0 || !strings.Contains(out, "needs "+kmsSpec) {
		t.Fatalf("rotate with the old key in rotor.yaml: exit %d, want a failure naming %s\n%s", code, kmsSpec, out)
	}
	// The person changes rotor.yaml as told, keeping the age key to open
	// that straggler: a store with both schemes is readable.
	e.writeKMSConfig(kmsSpec, "file:rotor.key", endpoint, targets)
	mustRun("", "rotate", "app", "--resume")
	if s := e.schemes(); len(s) != 4 || s["app/3"] != seal.SchemeAge || s["app/2"] != seal.SchemeAWSKMS {
		t.Fatalf("after the resumed run: %v, want app/3 age and the rest KMS", s)
	}
	if out := mustRun("", "migrate-key", "--from", "file:rotor.key", "--to", kmsSpec); !strings.Contains(out, "resealed 1 of 4 token versions (3 sealed with the new key already)") {
		t.Errorf("migrate-key for the straggler:\n%s", out)
	}
	// Every version is KMS-sealed: the age key can leave the config.
	e.writeKMSConfig(kmsSpec, "", endpoint, targets)
	rotate("app")
	rotate("other")
	if s := e.schemes(); len(s) != 6 || !allScheme(s, seal.SchemeAWSKMS) {
		t.Fatalf("after rotating with key: awskms: %v, want 6 KMS versions", s)
	}
	mustRun("", "audit", "verify")

	// Roll back: the same command the other way, then the config.
	out = mustRun("", "migrate-key", "--from", kmsSpec, "--to", "file:rotor.key")
	if !strings.Contains(out, "now change rotor.yaml: key: "+ageSpec) {
		t.Errorf("rollback output:\n%s", out)
	}
	if s := e.schemes(); !allScheme(s, seal.SchemeAge) {
		t.Fatalf("after the rollback: %v", s)
	}
	e.writeKMSConfig("file:rotor.key", "", endpoint, targets)
	rotate("app")
	mustRun("", "audit", "verify")
	if code, out := e.rotor("", "audit", "list", "-o", "json"); code != 0 || strings.Count(out, `"event": "key.migrated"`) != 3 {
		t.Errorf("audit: want 3 key.migrated records (forward, the straggler, back): exit %d\n%s", code, out)
	}
	e.canary()
}

// --to file: that does not exist is created (the rollback after the age
// key file was put away); a dry run creates nothing.
func TestCLI_MigrateKeyCreatesKeyFile(t *testing.T) {
	e := newE2E(t, "10m")
	targets := t.TempDir()
	e.writeKMSConfig("file:rotor.key", "", "http://127.0.0.1:9", targets)
	tok := e.newToken("MyGitHubUserName", "repo")
	if err := os.WriteFile(filepath.Join(targets, "app-token"), []byte(tok.Reveal()), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out := e.rotor(tok.Reveal()+"\n", "adopt", "app", "--token-stdin"); code != 0 {
		t.Fatalf("adopt: %d %s", code, out)
	}
	newKey := filepath.Join(e.dir, "new.key")
	code, out := e.rotor("", "migrate-key", "--from", "file:rotor.key", "--to", "file:new.key", "--dry-run")
	if code != 0 || !strings.Contains(out, "it will be created") || !strings.Contains(out, "would reseal 1 of 1 token versions") {
		t.Fatalf("dry run: %d %s", code, out)
	}
	code, out = e.rotor("", "migrate-key", "--from", "file:rotor.key", "--to", "file:new.key", "--dry-run", "-o", "json")
	var rep migrateKeyReport
	if err := json.Unmarshal([]byte(out), &rep); code != 0 || err != nil {
		t.Fatalf("dry run -o json: %d %v\n%s", code, err, out)
	}
	if !rep.DryRun || rep.Resealed != 1 || rep.CreatedKey != newKey || rep.To != "file:"+newKey || rep.Verified || len(rep.Credentials) != 2 {
		t.Errorf("dry run report: %+v", rep)
	}
	if _, err := os.Stat(newKey); !os.IsNotExist(err) {
		t.Fatalf("the dry run created %s (%v)", newKey, err)
	}
	code, out = e.rotor("", "migrate-key", "--from", "file:rotor.key", "--to", "file:new.key")
	if code != 0 || !strings.Contains(out, "created the key file "+newKey) {
		t.Fatalf("migrate-key: %d %s", code, out)
	}
	if fi, err := os.Stat(newKey); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("new key file: %v %v", fi, err)
	}
	k, err := seal.Open("file:new.key", e.dir)
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(context.Background(), "sqlite:"+filepath.Join(e.dir, "rotor.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	vs, _ := st.Versions(context.Background(), "app")
	if got, err := k.Open(context.Background(), vs[0].SealContext(), vs[0].Sealed); err != nil || !got.Equal(tok) {
		t.Fatalf("the version does not open with the new key file: %v", err)
	}
	e.canary()
}

// migrate-key waits for no rotation: a credential whose lease another
// process holds stops it before anything is read or written.
func TestCLI_MigrateKeyRefusesDuringARun(t *testing.T) {
	e := newOffline(t)
	targets := t.TempDir()
	e.writeKMSConfig("file:rotor.key", "", "http://127.0.0.1:9", targets)
	st, err := store.Open(context.Background(), "sqlite:"+filepath.Join(e.dir, "rotor.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.AcquireLease(context.Background(), "other", "serve/42", migrateKeyLeaseTTL); err != nil {
		t.Fatal(err)
	}
	code, out := e.rotor("", "migrate-key", "--from", "file:rotor.key", "--to", "file:new.key")
	if code != ExitFailure || !strings.Contains(out, "credential other") || !strings.Contains(out, "run migrate-key again once it has finished") {
		t.Fatalf("migrate-key during a run: exit %d\n%s", code, out)
	}
	// It let go of the leases it took before stopping.
	if err := st.AcquireLease(context.Background(), "app", "serve/43", migrateKeyLeaseTTL); err != nil {
		t.Errorf("app's lease still held after migrate-key stopped: %v", err)
	}
}

// helperMigrateKey names the crash point; rotor's arguments follow "--".
const helperMigrateKey = "ROTOR_MIGRATE_KEY_HELPER"

// TestMigrateKeyHelperProcess is not a test: the crash test runs the test
// binary again with it selected, as a rotor migrate-key that SIGKILLs
// itself at a crash point.
func TestMigrateKeyHelperProcess(t *testing.T) {
	point := os.Getenv(helperMigrateKey)
	if point == "" {
		t.Skip("SKIP: only runs as a helper process of TestCLI_MigrateKeyCrash")
	}
	migrateKeyHook = func(p string) {
		if p == point {
			fmt.Fprintf(os.Stderr, "crash point %s: SIGKILL\n", p)
			_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {}
		}
	}
	os.Exit(Main(context.Background(), flag.Args(), IO{In: os.Stdin, Out: os.Stdout, Err: os.Stderr}))
}

// A migrate-key killed at any point leaves every version openable, with
// the old key before the commit and the new one after; the audit chain
// holds; running it again finishes the job.
func TestCLI_MigrateKeyCrash(t *testing.T) {
	if os.Getenv(helperMigrateKey) != "" {
		t.Skip("SKIP: nested helper")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	type target struct {
		name, spec, endpoint string
	}
	targets := []target{{name: "age to age", spec: "file:new.key", endpoint: "http://127.0.0.1:9"}}
	if _, err := exec.LookPath(motoserver.Binary); err == nil {
		endpoint, arn := motoKMSKey(t)
		targets = append(targets, target{name: "age to kms", spec: "awskms:" + arn, endpoint: endpoint})
	} else {
		t.Log("SKIP: moto_server not on PATH: the crash test runs age to age only, not age to KMS")
	}
	for _, tg := range targets {
		for _, point := range []string{"resealed", "writing", "committed"} {
			t.Run(tg.name+"/"+point, func(t *testing.T) {
				e := newOffline(t)
				e.writeKMSConfig("file:rotor.key", "", tg.endpoint, t.TempDir())
				old, err := seal.Open("file:rotor.key", e.dir)
				if err != nil {
					t.Fatal(err)
				}
				tokens := seedVersions(t, e, old, 12)
				args := []string{"--config", e.config, "migrate-key", "--from", "file:rotor.key", "--to", tg.spec}

				cmd := exec.Command(exe, append([]string{"-test.run=^TestMigrateKeyHelperProcess$", "--"}, args...)...)
				cmd.Env = append(os.Environ(), helperMigrateKey+"="+point)
				out, err := cmd.CombinedOutput()
				e.outputs = append(e.outputs, string(out))
				if cmd.ProcessState == nil {
					t.Fatalf("run the helper: %v", err)
				}
				if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
					t.Fatalf("the helper was not killed at %s: %v\n%s", point, err, out)
				}

				newKey := openKeyT(t, e.dir, tg.spec, tg.endpoint)
				var want seal.Key = old
				if point == "committed" {
					want = newKey
				}
				checkVersions(t, e, tokens, want)
				if code, out := e.rotor("", "audit", "verify"); code != 0 {
					t.Fatalf("audit verify after the crash: %d %s", code, out)
				}
				// Again, to the end: the dead process's leases are its own
				// holder's, taken back at once.
				if code, out := e.rotor("", args[2:]...); code != 0 {
					t.Fatalf("migrate-key after the crash: %d %s", code, out)
				}
				checkVersions(t, e, tokens, newKey)
				e.canary()
			})
		}
	}
}

func openKeyT(t *testing.T, dir, spec, endpoint string) seal.Key {
	t.Helper()
	k, err := seal.OpenKey(context.Background(), spec, seal.Options{Dir: dir, AWS: awsx.Config{EndpointURL: endpoint, Credentials: credentials.NewStaticCredentialsProvider("x", "x", "")}})
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// seedVersions stores n versions over two credentials, sealed with k as
// the engine seals them, and returns their tokens by "credential/seq".
func seedVersions(t *testing.T, e *e2e, k seal.Key, n int) map[string]token.Token {
	t.Helper()
	st, err := store.Open(context.Background(), "sqlite:"+filepath.Join(e.dir, "rotor.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	tokens := map[string]token.Token{}
	for i := range n {
		name := []string{"app", "other"}[i%2]
		tok := token.Generate(token.KindClassicPAT)
		e.tokens = append(e.tokens, tok)
		sealed, err := k.Seal(context.Background(), rotation.SealContext{Credential: name, Fingerprint: tok.Fingerprint()}, tok)
		if err != nil {
			t.Fatal(err)
		}
		err = st.Tx(context.Background(), func(tx rotation.Tx) error {
			v, err := tx.AddVersion(rotation.Version{Credential: name, Fingerprint: tok.Fingerprint(), Kind: token.KindClassicPAT, Sealed: sealed, State: rotation.VersionRetired})
			tokens[fmt.Sprintf("%s/%d", name, v.Seq)] = tok
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return tokens
}

// checkVersions opens every stored version with k and compares it with the
// token it was made from.
func checkVersions(t *testing.T, e *e2e, tokens map[string]token.Token, k seal.Key) {
	t.Helper()
	st, err := store.Open(context.Background(), "sqlite:"+filepath.Join(e.dir, "rotor.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	seen := 0
	for _, name := range []string{"app", "other"} {
		vs, err := st.Versions(context.Background(), name)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range vs {
			got, err := k.Open(context.Background(), v.SealContext(), v.Sealed)
			if err != nil || !got.Equal(tokens[fmt.Sprintf("%s/%d", name, v.Seq)]) {
				t.Fatalf("version %d of %s does not open with %s: %v", v.Seq, name, k.Spec(), err)
			}
			seen++
		}
	}
	if seen != len(tokens) {
		t.Fatalf("%d versions in the store, want %d", seen, len(tokens))
	}
}

// migrate-key reseals every sealed token, not only versions: an App user
// grant's refresh token and stashed user token and a token queued for
// revocation open with the new key alone once the old one has left
// rotor.yaml (previous_keys); a confirmed revocation, which keeps no
// token, is left alone.
func TestCLI_MigrateKeyResealsGrantsAndRevocations(t *testing.T) {
	e := newOffline(t)
	targets := t.TempDir()
	e.writeKMSConfig("file:rotor.key", "", "http://127.0.0.1:9", targets)
	old, err := seal.Open("file:rotor.key", e.dir)
	if err != nil {
		t.Fatal(err)
	}
	tokens := seedVersions(t, e, old, 2)
	ctx := context.Background()
	gen := func(k token.Kind) token.Token {
		tok := token.Generate(k)
		e.tokens = append(e.tokens, tok)
		return tok
	}
	sealT := func(cred string, tok token.Token) []byte {
		b, err := old.Seal(ctx, rotation.SealContext{Credential: cred, Fingerprint: tok.Fingerprint()}, tok)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	refresh, stash, queued, done := gen(token.KindAppRefresh), gen(token.KindAppUser), gen(token.KindClassicPAT), gen(token.KindClassicPAT)
	st, err := store.Open(ctx, "sqlite:"+filepath.Join(e.dir, "rotor.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.ReplaceGrant(ctx, grant.Grant{Credential: "app", Fingerprint: refresh.Fingerprint(), Sealed: sealT("app", refresh),
		PairFingerprint: stash.Fingerprint(), Stash: sealT("app", stash), State: grant.GrantReady}, ""); err != nil {
		t.Fatal(err)
	}
	for _, tok := range []token.Token{queued, done} {
		if err := st.EnqueueRevocation(ctx, revoke.Item{Credential: "other", Fingerprint: tok.Fingerprint(), Sealed: sealT("other", tok)}); err != nil {
			t.Fatal(err)
		}
	}
	items, _ := st.Revocations(ctx, 0)
	items[1].State = revoke.ItemConfirmed
	if err := st.UpdateRevocation(ctx, items[1]); err != nil {
		t.Fatal(err)
	}

	code, out := e.rotor("", "migrate-key", "--from", "file:rotor.key", "--to", "file:new.key")
	for _, want := range []string{"resealed 2 of 2 token versions", "resealed 2 of 2 refresh and stashed user tokens of GitHub App user grants", "resealed 1 of 1 tokens queued for revocation", "verified: every sealed token"} {
		if code != 0 || !strings.Contains(out, want) {
			t.Fatalf("migrate-key: exit %d, output lacks %q:\n%s", code, want, out)
		}
	}
	// The old key leaves rotor.yaml: only the new one opens anything now.
	e.writeKMSConfig("file:new.key", "", "http://127.0.0.1:9", targets)
	newKey, err := seal.Open("file:new.key", e.dir)
	if err != nil {
		t.Fatal(err)
	}
	checkVersions(t, e, tokens, newKey)
	open := func(what, cred string, sealed []byte, want token.Token) {
		t.Helper()
		got, err := newKey.Open(ctx, rotation.SealContext{Credential: cred, Fingerprint: want.Fingerprint()}, sealed)
		if err != nil || !got.Equal(want) {
			t.Errorf("%s does not open with the new key alone: %v", what, err)
		}
	}
	g, err := st.Grant(ctx, "app")
	if err != nil {
		t.Fatal(err)
	}
	open("the grant's refresh token", "app", g.Sealed, refresh)
	open("the grant's stashed user token", "app", g.Stash, stash)
	items, _ = st.Revocations(ctx, 0)
	if len(items) != 2 || items[1].Sealed != nil {
		t.Fatalf("revocations after migrate-key: %+v", items)
	}
	open("the queued revocation", "other", items[0].Sealed, queued)
	// Again: everything is sealed with the new key already.
	if code, out := e.rotor("", "migrate-key", "--from", "file:rotor.key", "--to", "file:new.key"); code != 0 ||
		!strings.Contains(out, "resealed 0 of 2 refresh and stashed user tokens of GitHub App user grants (2 sealed with the new key already)") || strings.Contains(out, "audit record") {
		t.Errorf("second migrate-key: exit %d\n%s", code, out)
	}
	if code, out := e.rotor("", "audit", "verify"); code != 0 {
		t.Fatalf("audit verify: %d %s", code, out)
	}
	e.canary()
}
