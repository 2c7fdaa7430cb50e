package emulator_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	cp "github.com/aws/aws-sdk-go-v2/service/codepipeline"
	"github.com/aws/aws-sdk-go-v2/service/codepipeline/types"

	"github.com/rotor-ci/rotor/internal/emulator"
	"github.com/rotor-ci/rotor/internal/emulator/conformance"
	"github.com/rotor-ci/rotor/internal/emulator/ghtoken"
	"github.com/rotor-ci/rotor/internal/emulator/github"
)

var (
	keyOnce sync.Once
	key     *rsa.PrivateKey
)

// cachedKey keeps app key generation out of every test's time.
func cachedKey() (*rsa.PrivateKey, error) {
	keyOnce.Do(func() { key, _ = rsa.GenerateKey(rand.Reader, 2048) })
	return key, nil
}

func startSandbox(t *testing.T, cfg emulator.Config) *emulator.Sandbox {
	t.Helper()
	cfg.KeyGen = cachedKey
	if cfg.ActionDelay == 0 {
		cfg.ActionDelay = time.Millisecond
	}
	if cfg.Check == nil {
		cfg.Check = conformance.For(t)
	}
	sb, err := emulator.Start(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { _ = sb.Close() })
	return sb
}

func client(url string) *cp.Client {
	return cp.New(cp.Options{BaseEndpoint: aws.String(url), Region: "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider("x", "x", "")})
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func runExecution(t *testing.T, c *cp.Client, name string) types.PipelineExecutionStatus {
	t.Helper()
	ctx := context.Background()
	out, err := c.StartPipelineExecution(ctx, &cp.StartPipelineExecutionInput{Name: aws.String(name)})
	if err != nil {
		t.Fatalf("StartPipelineExecution: %v", err)
	}
	var status types.PipelineExecutionStatus
	waitFor(t, "execution", func() bool {
		e, err := c.GetPipelineExecution(ctx, &cp.GetPipelineExecutionInput{PipelineName: aws.String(name), PipelineExecutionId: out.PipelineExecutionId})
		if err != nil {
			t.Fatalf("GetPipelineExecution: %v", err)
		}
		status = e.PipelineExecution.Status
		return status != types.PipelineExecutionStatusInProgress
	})
	return status
}

func tokenID(t *testing.T, gh *github.Server, note string) int64 {
	t.Helper()
	for _, ti := range gh.Tokens() {
		if ti.Note == note {
			return ti.ID
		}
	}
	t.Fatalf("no GitHub token with note %q", note)
	return 0
}

// TestStart_SeedWorld runs the seed world end to end: the pipeline's source
// fetches from the GitHub emulator with the world token, and fails with
// CodePipeline's message once that token is revoked.
func TestStart_SeedWorld(t *testing.T) {
	sb := startSandbox(t, emulator.Config{World: emulator.DefaultWorld(), PollInterval: 20 * time.Millisecond})
	c := client(sb.CodePipelineURL)
	seedTok, ok := sb.Token(emulator.SeedTokenNote)
	if !ok {
		t.Fatal("no seed token")
	}
	if stored, _ := sb.CodePipeline.StoredToken(emulator.SeedPipeline, "Source"); !stored.Equal(seedTok) {
		t.Fatalf("pipeline holds %v, want the world token %v", stored, seedTok)
	}
	waitFor(t, "a successful poll", func() bool {
		for _, f := range sb.CodePipeline.Fetches() {
			if f.OK && f.TokenFingerprint == seedTok.Fingerprint() {
				return true
			}
		}
		return false
	})
	if st := runExecution(t, c, emulator.SeedPipeline); st != types.PipelineExecutionStatusSucceeded {
		t.Fatalf("execution = %s, want Succeeded", st)
	}

	// The token is revoked through GitHub's credential revocation API
	// (unauthenticated, as GitHub requires): the pipeline breaks.
	resp, err := http.Post(sb.GitHubURL+"/credentials/revoke", "application/json",
		strings.NewReader(`{"credentials":["`+seedTok.Reveal()+`"]}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("revoke = %d, want 202", resp.StatusCode)
	}
	sb.CodePipeline.ResetFetches()
	if st := runExecution(t, c, emulator.SeedPipeline); st != types.PipelineExecutionStatusFailed {
		t.Fatalf("execution after the token was deleted = %s, want Failed", st)
	}
	state, err := c.GetPipelineState(context.Background(), &cp.GetPipelineStateInput{Name: aws.String(emulator.SeedPipeline)})
	if err != nil {
		t.Fatal(err)
	}
	ed := state.StageStates[0].ActionStates[0].LatestExecution.ErrorDetails
	if ed == nil || aws.ToString(ed.Message) != "Could not access the GitHub repository" {
		t.Errorf("errorDetails = %+v", ed)
	}
	waitFor(t, "a failed poll", func() bool {
		for _, f := range sb.CodePipeline.Fetches() {
			if f.Trigger == "poll" && !f.OK && f.Status == http.StatusUnauthorized {
				return true
			}
		}
		return false
	})
}

func TestStart_RefusesNonLoopback(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:0", ":0", "192.0.2.1:0", "example.com:80"} {
		t.Run(addr, func(t *testing.T) {
			_, err := emulator.Start(context.Background(), emulator.Config{GitHubAddr: addr})
			if !errors.Is(err, emulator.ErrNotLoopback) {
				t.Errorf("Start(%s) = %v, want ErrNotLoopback", addr, err)
			}
			_, err = emulator.Start(context.Background(), emulator.Config{CodePipelineAddr: addr})
			if !errors.Is(err, emulator.ErrNotLoopback) {
				t.Errorf("Start(codepipeline %s) = %v, want ErrNotLoopback", addr, err)
			}
		})
	}
}

// TestSandbox_StateFile rotates the pipeline's token, stops, starts again
// from the state file: the same pipelines, tokens and versions come back.
func TestSandbox_StateFile(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "state.json")
	cfg := emulator.Config{World: emulator.DefaultWorld(), StateFile: path, PollInterval: -1, SaveInterval: 10 * time.Millisecond}
	a := startSandbox(t, cfg)
	fresh, _, err := a.GitHub.CreateToken(emulator.SeedUser, github.TokenSpec{Kind: github.KindClassic, Note: "rotated", Scopes: []string{"repo", "admin:repo_hook"}})
	if err != nil {
		t.Fatal(err)
	}
	c := client(a.CodePipelineURL)
	got, err := c.GetPipeline(ctx, &cp.GetPipelineInput{Name: aws.String(emulator.SeedPipeline)})
	if err != nil {
		t.Fatal(err)
	}
	got.Pipeline.Stages[0].Actions[0].Configuration["OAuthToken"] = fresh.Reveal()
	if _, err := c.UpdatePipeline(ctx, &cp.UpdatePipelineInput{Pipeline: got.Pipeline}); err != nil {
		t.Fatal(err)
	}
	// The periodic save catches the change without a Close.
	waitFor(t, "a periodic save", func() bool {
		b, err := os.ReadFile(path)
		return err == nil && strings.Contains(string(b), fresh.Reveal())
	})
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("state file mode = %v, %v; want 0600", fi.Mode().Perm(), err)
	}
	if err := a.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	tokensBefore := a.GitHub.Tokens()

	// A crash mid-save leaves a temporary file; the next start sweeps it.
	if err := os.WriteFile(filepath.Join(filepath.Dir(path), ".state.json.tmp-123"), []byte("{half"), 0o600); err != nil {
		t.Fatal(err)
	}
	b := startSandbox(t, cfg) // the world would generate new values; the state wins
	if stored, _ := b.CodePipeline.StoredToken(emulator.SeedPipeline, "Source"); !stored.Equal(fresh) {
		t.Errorf("restored pipeline holds %v, want %v", stored, fresh)
	}
	if _, v, _ := b.CodePipeline.Pipeline(emulator.SeedPipeline); v != 2 {
		t.Errorf("restored version = %d, want 2", v)
	}
	tokensAfter := b.GitHub.Tokens()
	if len(tokensAfter) != len(tokensBefore) {
		t.Fatalf("tokens: %d after restart, %d before", len(tokensAfter), len(tokensBefore))
	}
	for i := range tokensBefore {
		if tokensBefore[i].Fingerprint != tokensAfter[i].Fingerprint {
			t.Errorf("token %d: fingerprint %s after restart, %s before", i, tokensAfter[i].Fingerprint, tokensBefore[i].Fingerprint)
		}
	}
	if st := runExecution(t, client(b.CodePipelineURL), emulator.SeedPipeline); st != types.PipelineExecutionStatusSucceeded {
		t.Errorf("execution after restart = %s, want Succeeded", st)
	}
	if err := b.Close(); err != nil { // no save in flight while the directory is listed
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("state directory holds %d entries, want only the state file (no temp files left)", len(entries))
	}
}

func TestSandbox_BadStateFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	if err := os.WriteFile(path, []byte(`{"format":1,"github":`), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := emulator.Start(context.Background(), emulator.Config{World: emulator.DefaultWorld(), StateFile: path, KeyGen: cachedKey})
	if err == nil || !strings.Contains(err.Error(), "state") {
		t.Errorf("Start with a broken state file = %v, want an error naming it", err)
	}
}

func TestServe(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- emulator.Serve(ctx, emulator.Config{World: emulator.DefaultWorld(), StateFile: path, KeyGen: cachedKey, PollInterval: -1, Check: conformance.For(t)}, pw)
		pw.Close()
	}()
	lines := bufio.NewScanner(pr)
	var urls []string
	for _, name := range []string{"github", "codepipeline"} {
		if !lines.Scan() {
			t.Fatalf("Serve printed no %s line: %v", name, <-done)
		}
		if !regexp.MustCompile(`^` + name + ` http://127\.0\.0\.1:[0-9]+$`).MatchString(lines.Text()) {
			t.Fatalf("line %q, want %q", lines.Text(), name+" http://127.0.0.1:PORT")
		}
		urls = append(urls, strings.Fields(lines.Text())[1])
	}
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	resp, err := http.Get(urls[0] + "/users/" + emulator.SeedUser)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("github emulator not answering: %v %v", resp, err)
	}
	resp.Body.Close()
	if _, err := client(urls[1]).ListPipelines(context.Background(), &cp.ListPipelinesInput{}); err != nil {
		t.Fatalf("codepipeline emulator not answering: %v", err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Serve: %v", err)
	}
	var st map[string]json.RawMessage
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("state after Serve: %v", err)
	}
	if err := json.Unmarshal(b, &st); err != nil || st["github"] == nil || st["codepipeline"] == nil {
		t.Fatalf("state after Serve: %v", err)
	}
}

// TestWriteFileAtomic_Crash kills a process that saves the state in a loop
// at random moments: the file is always whole, never half written.
func TestWriteFileAtomic_Crash(t *testing.T) {
	if os.Getenv("EMULATOR_CRASH_CHILD") != "" {
		return // the child's work happens in TestMain
	}
	if testing.Short() {
		t.Skip("crash test skipped in -short")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "state.json")
	for i := range 5 {
		crashOnce(t, path, time.Duration(20+i*15)*time.Millisecond)
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("round %d: %v", i, err)
		}
		var v map[string]any
		if err := json.Unmarshal(b, &v); err != nil {
			t.Fatalf("round %d: the state file is not whole after a crash: %v", i, err)
		}
	}
}

// TestSandbox_RegenerateWindow measures what the seed procedure does: the
// token is regenerated in GitHub (the old value dies), polls fail until the
// pipeline is updated with the new value, then succeed again. The fetch
// record shows the window.
func TestSandbox_RegenerateWindow(t *testing.T) {
	ctx := context.Background()
	sb := startSandbox(t, emulator.Config{World: emulator.DefaultWorld(), PollInterval: 10 * time.Millisecond})
	c := client(sb.CodePipelineURL)
	resp, err := http.Post(sb.GitHubURL+"/_emulator/tokens/"+strconv.FormatInt(tokenID(t, sb.GitHub, emulator.SeedTokenNote), 10)+"/regenerate", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	var regen struct{ Value string }
	if err := json.NewDecoder(resp.Body).Decode(&regen); err != nil || resp.StatusCode != 200 || regen.Value == "" {
		t.Fatalf("regenerate: %d %v", resp.StatusCode, err)
	}
	resp.Body.Close()
	fresh := ghtoken.New(regen.Value)
	waitFor(t, "a failed poll after regenerate", func() bool { return sb.CodePipeline.FetchSummary().Failed > 0 })

	got, err := c.GetPipeline(ctx, &cp.GetPipelineInput{Name: aws.String(emulator.SeedPipeline)})
	if err != nil {
		t.Fatal(err)
	}
	got.Pipeline.Stages[0].Actions[0].Configuration["OAuthToken"] = fresh.Reveal()
	if _, err := c.UpdatePipeline(ctx, &cp.UpdatePipelineInput{Pipeline: got.Pipeline}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a good poll with the new token", func() bool {
		for _, f := range sb.CodePipeline.Fetches() {
			if f.OK && f.TokenFingerprint == fresh.Fingerprint() {
				return true
			}
		}
		return false
	})
	var lastBad, firstGood time.Time
	for _, f := range sb.CodePipeline.Fetches() {
		if !f.OK {
			lastBad = f.Time
		} else if f.TokenFingerprint == fresh.Fingerprint() && firstGood.IsZero() {
			firstGood = f.Time
		}
	}
	if lastBad.IsZero() || firstGood.Before(lastBad) {
		t.Errorf("window: last failure %v, first success with the new token %v", lastBad, firstGood)
	}
}
