package torture

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rotor-ci/rotor/internal/audit"
	"github.com/rotor-ci/rotor/internal/emulator"
	"github.com/rotor-ci/rotor/internal/emulator/codepipeline"
	"github.com/rotor-ci/rotor/internal/emulator/fault"
	"github.com/rotor-ci/rotor/internal/emulator/github"
	"github.com/rotor-ci/rotor/internal/installyaml"
	"github.com/rotor-ci/rotor/internal/rotation"
	"github.com/rotor-ci/rotor/internal/seal"
	"github.com/rotor-ci/rotor/internal/token"
)

// Options size one torture run.
type Options struct {
	Bin          string        // the rotor binary (BuildRotor)
	Dir          string        // an empty directory for rotor's installation
	Pipelines    int           // at least 20 for a full run
	PollInterval time.Duration // how often each pipeline fetches
	Grace        time.Duration // every credential's grace period
	AppEvery     time.Duration // github-app credentials' rotate.every (rotor serve rotates them)
	LeaseTTL     time.Duration // ROTOR_LEASE_TTL: how soon a killed process's lease lapses
	MinRotations int           // the chaos phase runs until both minimums are met…
	MinCrashes   int
	Budget       time.Duration // …or until the whole run has taken this long
	ServeFor     time.Duration // how long the serve phase runs (0: no serve phase)
	Seed         uint64
	// Shared adds a pipeline whose two GitHub actions two credentials hold.
	Shared bool
	// DeployEvery: one pipeline starts an execution this often (0: none);
	// DeployRunTime: how long each execution's Build stage takes. Pipelines
	// with an approval stage wait there until the deployer approves.
	DeployEvery, DeployRunTime time.Duration
	Logf                       func(format string, a ...any)
}

// Harness is one torture run: the emulators, the proxies, rotor's
// installation and everything recorded along the way.
type Harness struct {
	opts   Options
	layout Layout
	sb     *emulator.Sandbox
	wire   *Wire
	gh, cp *proxy
	faults *Faults
	rotor  *Rotor
	deploy *deployer  // nil without deployments
	alerts *alertSink // rotor's alerts land here, for the canary grep
	start  time.Time

	appID, installationID int64
	userClientID          string       // the device flow app's, for github-app-user credentials
	authorizations        atomic.Int64 // rotor authorize runs the harness's person approved

	rngMu sync.Mutex
	rng   *mrand.Rand

	mu      sync.Mutex
	tokens  map[string]*known // by fingerprint: every token value that ever existed
	initial map[string]pipelineStart
	notes   []string // what the harness did that a reader of a failure needs
}

// known is a token value the harness knows of, and where it came from.
type known struct {
	Value     token.Token
	Origin    string // "boot", "person", "minted"
	Cred      string // the credential it was made for ("" for minted: see the wire)
	PATID     int64  // personal tokens: GitHub's id
	Created   time.Time
	DeletedAt time.Time // a person deleted it in GitHub (a token rotor refused)
}

// pipelineStart is a pipeline as the world created it.
type pipelineStart struct {
	Masked  json.RawMessage // declaration without version, secrets masked
	Version int
	Tokens  map[string]string // "stage/action" → fingerprint
}

// New starts the emulators and the proxies, writes rotor's installation
// (config, sealing key, app key) and adopts every credential's boot token.
func New(ctx context.Context, opts Options) (*Harness, error) {
	if opts.Logf == nil {
		opts.Logf = func(string, ...any) {}
	}
	h := &Harness{opts: opts, layout: NewLayout(opts.Pipelines, opts.Shared), wire: newWire(), start: time.Now(),
		rng: mrand.New(mrand.NewPCG(opts.Seed, opts.Seed^0x9e3779b97f4a7c15)), tokens: map[string]*known{}, initial: map[string]pipelineStart{}}
	world, err := h.layout.World()
	if err != nil {
		return nil, fmt.Errorf("torture world: %w", err)
	}
	if opts.DeployRunTime > 0 {
		world.CodePipeline.RunTimes = []codepipeline.RunTime{{Pipeline: "*", Stage: "Build", RunTime: fault.Duration{Duration: opts.DeployRunTime}}}
	}
	h.sb, err = emulator.Start(ctx, emulator.Config{World: world, PollInterval: opts.PollInterval, ActionDelay: 10 * time.Millisecond})
	if err != nil {
		return nil, fmt.Errorf("start emulators: %w", err)
	}
	if h.gh, err = startProxy(h.sb.GitHub, h.wire.arrive, h.wire.github); err != nil {
		h.Close()
		return nil, err
	}
	if h.cp, err = startProxy(h.sb.CodePipeline, nil, h.wire.codepipeline(h.isKnown)); err != nil {
		h.Close()
		return nil, err
	}
	if err := h.install(); err != nil {
		h.Close()
		return nil, err
	}
	env := []string{fmt.Sprintf("ROTOR_LEASE_TTL=%s", opts.LeaseTTL)}
	if h.rotor, err = NewRotor(opts.Bin, opts.Dir, env); err != nil {
		h.Close()
		return nil, err
	}
	h.wire.mu.Lock()
	h.wire.pids = h.rotor.PIDs
	h.wire.mu.Unlock()
	h.faults = newFaults(h.sb.Faults, h.gh, h.cp, h.rotor.PIDs)
	for _, c := range h.layout.Creds {
		if c.Doomed != "" {
			h.faults.Set("doomed", fault.Rule{Service: codepipeline.Service, Operation: "UpdatePipeline", Resource: c.Doomed, Fail: true})
		}
	}
	for _, c := range h.layout.Creds {
		if c.Source == appUser {
			continue // a user token source starts with rotor authorize, below
		}
		boot := h.tokens[fingerprintOfNote(h.sb, c.bootNote())].Value
		res := h.rotor.Run(ctx, Job{Args: []string{"adopt", c.Name, "--token-stdin", "--confirm-unverifiable"}, Stdin: boot})
		if res.Exit != 0 {
			h.Close()
			return nil, fmt.Errorf("adopt %s: %s\n%s", c.Name, res, res.Stderr)
		}
	}
	for _, c := range h.layout.Creds {
		if c.Source != appUser {
			continue
		}
		if err := h.authorizeFirst(ctx, c); err != nil {
			h.Close()
			return nil, err
		}
	}
	if opts.DeployEvery > 0 {
		h.deploy = h.startDeployer(opts.DeployEvery)
	}
	return h, nil
}

func fingerprintOfNote(sb *emulator.Sandbox, note string) string {
	t, _ := sb.Token(note)
	return t.Fingerprint()
}

// install writes rotor.yaml, the sealing key, the app's private key and the
// API token file, and records the world as it starts.
func (h *Harness) install() error {
	dir := h.opts.Dir
	if err := seal.Generate(filepath.Join(dir, "rotor.key")); err != nil {
		return err
	}
	pem, err := h.sb.GitHub.AppPrivateKeyPEM(appName)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "app.pem"), pem, 0o600); err != nil {
		return err
	}
	api := make([]byte, 24)
	_, _ = rand.Read(api)
	if err := os.WriteFile(filepath.Join(dir, "api.token"), []byte(hex.EncodeToString(api)+"\n"), 0o600); err != nil {
		return err
	}
	var installs []int64
	h.appID, installs = h.sb.GitHub.App(appName)
	if len(installs) == 0 {
		return errors.New("torture world: the app has no installation")
	}
	h.installationID = installs[0]
	info, err := h.sb.GitHub.DescribeApp(userAppName)
	if err != nil {
		return err
	}
	h.userClientID = info.ClientID
	install := h.layout.install(h.gh.URL, h.cp.URL, h.appID, h.installationID, h.userClientID, h.opts.Grace, h.opts.AppEvery)
	if h.alerts, err = startAlertSink(dir); err != nil {
		return err
	}
	install.Server.Alerts = []installyaml.Alert{h.alerts.alert()}
	if err := install.Write(filepath.Join(dir, "rotor.yaml")); err != nil {
		return err
	}
	for _, c := range h.layout.Creds {
		emuT, ok := h.sb.Token(c.bootNote())
		if !ok {
			return fmt.Errorf("torture world: no boot token %s", c.bootNote())
		}
		t := token.New(emuT.Reveal()) // from the emulator's token type to rotor's
		h.tokens[t.Fingerprint()] = &known{Value: t, Origin: "boot", Cred: c.Name, Created: time.Now()}
	}
	for _, ti := range h.sb.GitHub.Tokens() {
		if k := h.tokens[ti.Fingerprint]; k != nil {
			k.PATID = ti.ID
		}
	}
	for _, name := range h.sb.CodePipeline.PipelineNames() {
		masked, version, _ := h.sb.CodePipeline.Pipeline(name)
		start := pipelineStart{Version: version, Tokens: map[string]string{}}
		var err error
		if start.Masked, err = withoutVersion(masked); err != nil {
			return fmt.Errorf("pipeline %s: %w", name, err)
		}
		for _, a := range githubActionsOf(masked) {
			t, _ := h.sb.CodePipeline.StoredToken(name, a.action)
			start.Tokens[a.stage+"/"+a.action] = t.Fingerprint()
		}
		h.initial[name] = start
	}
	return nil
}

// Close stops every rotor process still running, the proxies and the
// emulators.
func (h *Harness) Close() {
	if h.deploy != nil {
		h.deploy.close()
	}
	if h.rotor != nil {
		h.rotor.KillAll()
	}
	for _, p := range []*proxy{h.gh, h.cp} {
		if p != nil {
			p.Close()
		}
	}
	if h.sb != nil {
		h.sb.Close()
	}
	if h.alerts != nil {
		h.alerts.Close()
	}
}

func (h *Harness) logf(format string, a ...any) {
	h.opts.Logf("[%6.1fs] "+format, append([]any{time.Since(h.start).Seconds()}, a...)...)
}

func (h *Harness) note(format string, a ...any) {
	msg := fmt.Sprintf(format, a...)
	h.mu.Lock()
	h.notes = append(h.notes, fmt.Sprintf("%s %s", time.Now().Format("15:04:05.000"), msg))
	h.mu.Unlock()
}

func (h *Harness) intn(n int) int {
	h.rngMu.Lock()
	defer h.rngMu.Unlock()
	return h.rng.IntN(n)
}

func (h *Harness) chance(p float64) bool {
	h.rngMu.Lock()
	defer h.rngMu.Unlock()
	return h.rng.Float64() < p
}

func (h *Harness) between(lo, hi time.Duration) time.Duration {
	if hi <= lo {
		return lo
	}
	h.rngMu.Lock()
	defer h.rngMu.Unlock()
	return lo + time.Duration(h.rng.Int64N(int64(hi-lo)))
}

// isKnown says whether GitHub ever issued t (to the world, a person or
// rotor): what the CodePipeline proxy checks every token sent against.
func (h *Harness) isKnown(t token.Token) bool {
	fp := t.Fingerprint()
	h.mu.Lock()
	_, ok := h.tokens[fp]
	h.mu.Unlock()
	if ok {
		return true
	}
	_, ok = h.wire.Values()[fp]
	return ok
}

// newPAT plays the person: a new classic token in GitHub's settings, with
// the scopes CodePipeline needs (or fewer, to be refused).
func (h *Harness) newPAT(cred string, scopes []string) (token.Token, error) {
	emuT, info, err := h.sb.GitHub.CreateToken(user, github.TokenSpec{Kind: github.KindClassic, Note: fmt.Sprintf("%s %s", cred, time.Now().Format("15:04:05.000000")), Scopes: scopes})
	if err != nil {
		return token.Token{}, err
	}
	t := token.New(emuT.Reveal())
	h.mu.Lock()
	h.tokens[t.Fingerprint()] = &known{Value: t, Origin: "person", Cred: cred, PATID: info.ID, Created: time.Now()}
	h.mu.Unlock()
	return t, nil
}

// deletePAT plays the person deleting a token rotor refused (rotor leaves
// a person's refused token alone: it may be theirs for something else).
func (h *Harness) deletePAT(fp string) error {
	h.mu.Lock()
	k := h.tokens[fp]
	h.mu.Unlock()
	if k == nil || k.PATID == 0 {
		return fmt.Errorf("no personal token %s", fp)
	}
	if err := h.sb.GitHub.DeleteToken(k.PATID); err != nil {
		return err
	}
	h.mu.Lock()
	k.DeletedAt = time.Now()
	h.mu.Unlock()
	return nil
}

// allTokens returns every token value ever issued: the world's, the
// person's, every installation and user token rotor was given, and every
// refresh token that crossed the wire.
func (h *Harness) allTokens() map[string]known {
	out := map[string]known{}
	h.mu.Lock()
	for fp, k := range h.tokens {
		out[fp] = *k
	}
	h.mu.Unlock()
	mints, _, _, _ := h.wire.Snapshot()
	values := h.wire.Values()
	for _, m := range mints {
		if _, ok := out[m.Fingerprint]; !ok {
			out[m.Fingerprint] = known{Value: values[m.Fingerprint], Origin: "minted", Created: m.Time}
		}
	}
	for fp, v := range values {
		if _, ok := out[fp]; !ok {
			out[fp] = known{Value: v, Origin: "refresh"}
		}
	}
	return out
}

// history is `rotor history NAME -o json`.
type history struct {
	Credential string             `json:"credential"`
	Versions   []rotation.Version `json:"versions"`
	Runs       []rotation.Run     `json:"runs"`
}

func (hi history) open() (rotation.Run, bool) {
	for _, r := range hi.Runs {
		if r.Status == rotation.RunRunning {
			return r, true
		}
	}
	return rotation.Run{}, false
}

func (hi history) byState(st rotation.VersionState) []rotation.Version {
	var out []rotation.Version
	for _, v := range hi.Versions {
		if v.State == st {
			out = append(out, v)
		}
	}
	return out
}

func (hi history) version(fp string) (rotation.Version, bool) {
	for _, v := range hi.Versions {
		if v.Fingerprint == fp {
			return v, true
		}
	}
	return rotation.Version{}, false
}

// history reads a credential's versions and runs through rotor, retrying
// while the store is locked.
func (h *Harness) history(ctx context.Context, name string) (history, error) {
	var last Result
	for range 20 {
		last = h.rotor.Run(ctx, Job{Args: []string{"-o", "json", "history", name}, Timeout: 30 * time.Second})
		if last.Exit == 0 {
			var hi history
			if err := json.Unmarshal(last.Stdout, &hi); err != nil {
				return hi, fmt.Errorf("history %s: %w", name, err)
			}
			return hi, nil
		}
		if ctx.Err() != nil {
			return history{}, ctx.Err()
		}
		time.Sleep(200 * time.Millisecond)
	}
	return history{}, fmt.Errorf("history %s: %s: %s", name, last, lastLine(last.Stderr))
}

// stragglers counts the credential's bindings still on the previous
// version (rotor status -o json).
func (h *Harness) stragglers(ctx context.Context, name string) (int, error) {
	var last Result
	for range 20 {
		last = h.rotor.Run(ctx, Job{Args: []string{"-o", "json", "status", name}, Timeout: 30 * time.Second})
		if last.Exit == 0 {
			var st []struct {
				Stragglers []json.RawMessage `json:"stragglers"`
			}
			if err := json.Unmarshal(last.Stdout, &st); err != nil || len(st) != 1 {
				return 0, fmt.Errorf("status %s: %v", name, err)
			}
			return len(st[0].Stragglers), nil
		}
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		time.Sleep(200 * time.Millisecond)
	}
	return 0, fmt.Errorf("status %s: %s: %s", name, last, lastLine(last.Stderr))
}

// auditLog is `rotor audit list -o json`, every record.
func (h *Harness) auditLog(ctx context.Context) ([]audit.Record, error) {
	res := h.rotor.Run(ctx, Job{Args: []string{"-o", "json", "audit", "list", "--limit", "100000000"}})
	if res.Exit != 0 {
		return nil, fmt.Errorf("%s: %s", res, lastLine(res.Stderr))
	}
	var recs []audit.Record
	if err := json.Unmarshal(res.Stdout, &recs); err != nil {
		return nil, fmt.Errorf("audit list: %w", err)
	}
	sort.Slice(recs, func(i, j int) bool { return recs[i].Seq < recs[j].Seq })
	return recs, nil
}

func lastLine(b []byte) string {
	s := strings.TrimSpace(string(b))
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	if len(s) > 400 {
		s = s[:400] + "…"
	}
	return s
}

// githubState is the GitHub emulator's token database, read from its
// snapshot (the only place it shows revocation times, installation tokens
// and user token pairs).
type githubState struct {
	PATs []struct {
		ID        int64     `json:"id"`
		Value     string    `json:"value"`
		RevokedAt time.Time `json:"revoked_at"`
		ExpiresAt time.Time `json:"expires_at"`
	} `json:"tokens"`
	Installation []struct {
		Value     string    `json:"value"`
		RevokedAt time.Time `json:"revoked_at"`
		ExpiresAt time.Time `json:"expires_at"`
	} `json:"installation_tokens"`
	User []struct {
		Access      string    `json:"access_token"`
		ExpiresAt   time.Time `json:"expires_at"`
		RefreshedAt time.Time `json:"refreshed_at"`
		RevokedAt   time.Time `json:"revoked_at"`
	} `json:"user_tokens"`
}

// githubTokens is what GitHub's database says of tokens, by fingerprint.
type githubTokens struct {
	Live         map[string]bool      // accepted now
	PATRevokedAt map[string]time.Time // personal tokens GitHub revoked, when
	// Superseded: user tokens a refresh ended (their refresh token was
	// used), when; UserRevokedAt: user tokens revoked, when.
	Superseded, UserRevokedAt map[string]time.Time
}

// liveTokens reads GitHub's token database.
func (h *Harness) liveTokens() (githubTokens, error) {
	out := githubTokens{Live: map[string]bool{}, PATRevokedAt: map[string]time.Time{}, Superseded: map[string]time.Time{}, UserRevokedAt: map[string]time.Time{}}
	b, err := h.sb.GitHub.Snapshot()
	if err != nil {
		return out, err
	}
	defer clear(b)
	var st githubState
	if err := json.Unmarshal(b, &st); err != nil {
		return out, fmt.Errorf("github snapshot: %w", err)
	}
	now := time.Now()
	for _, p := range st.PATs {
		fp := token.Fingerprint(p.Value)
		switch {
		case !p.RevokedAt.IsZero():
			out.PATRevokedAt[fp] = p.RevokedAt
		case !p.ExpiresAt.IsZero() && !now.Before(p.ExpiresAt):
		default:
			out.Live[fp] = true
		}
	}
	for _, it := range st.Installation { // the snapshot keeps only live ones
		if it.RevokedAt.IsZero() && now.Before(it.ExpiresAt) {
			out.Live[token.Fingerprint(it.Value)] = true
		}
	}
	for _, u := range st.User {
		fp := token.Fingerprint(u.Access)
		if !u.RefreshedAt.IsZero() {
			out.Superseded[fp] = u.RefreshedAt
		}
		if !u.RevokedAt.IsZero() {
			out.UserRevokedAt[fp] = u.RevokedAt
		}
		if u.RefreshedAt.IsZero() && u.RevokedAt.IsZero() && now.Before(u.ExpiresAt) {
			out.Live[fp] = true
		}
	}
	return out, nil
}

type actionRef struct{ stage, action string }

// githubActionsOf lists the GitHub v1 source actions of a declaration.
func githubActionsOf(decl json.RawMessage) []actionRef {
	var d wireDecl
	if json.Unmarshal(decl, &d) != nil {
		return nil
	}
	var out []actionRef
	for _, s := range d.Stages {
		for _, a := range s.Actions {
			t := a.ActionTypeID
			if t["category"] == "Source" && t["owner"] == "ThirdParty" && t["provider"] == "GitHub" && t["version"] == "1" {
				out = append(out, actionRef{s.Name, a.Name})
			}
		}
	}
	return out
}

// withoutVersion returns a declaration without its version, re-encoded so
// that two equal declarations compare equal as bytes.
func withoutVersion(decl json.RawMessage) (json.RawMessage, error) {
	var m map[string]any
	if err := json.Unmarshal(decl, &m); err != nil {
		return nil, err
	}
	delete(m, "version")
	return json.Marshal(m)
}

func newRand(seed uint64) *mrand.Rand { return mrand.New(mrand.NewPCG(seed, seed^0x9e3779b97f4a7c15)) }
