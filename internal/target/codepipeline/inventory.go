package codepipeline

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws/arn"
	"github.com/aws/aws-sdk-go-v2/service/codepipeline"
)

// The inventory remembers what discovery learned about each pipeline at
// each version, so that discovery does not read a pipeline again while its
// version is unchanged.
//
// Why: discovery must read every pipeline of the region to find the GitHub
// actions, and apply must read each bound pipeline again just before it
// updates it (the API has no conditional update; a fresh read keeps the
// window in which someone else's edit could be overwritten to a fraction of
// a second). Both reads are GetPipeline, which AWS throttles, and the engine
// runs discovery before apply, so without the inventory a rotation of N
// pipelines costs 2N GetPipeline calls, serially: twice the time the update
// rate alone would take. ListPipelines (one call per thousand pipelines)
// gives every pipeline's version and creation time; a declaration with the
// same version and creation time is the same declaration (every update bumps
// the version; a pipeline deleted and created again has a new creation
// time), so the facts discovery drew from it still hold.
//
// What is kept is nothing secret: names, ARNs, stage and action names,
// owner/repo/branch, and the names of masked properties. Apply still reads
// every pipeline fresh and re-checks everything before it writes, so a stale
// or edited inventory can cost a refusal, never a wrong write. Two facts can
// change without a new version: AWS disabling polling on an inactive
// pipeline (a warning only), and tags. The CloudFormation stack tag decides
// whether rotor may write at all, so it is read fresh by every rotation: by
// discovery for pipelines it reads (or remembers with a stack), and
// otherwise by Apply just before it writes, inside the fan-out where the
// call costs latency but no serial time.
//
// The inventory lives in memory for the life of the Target (rotor serve)
// and, between processes, in rotor's store (Config.Inventory: one table,
// shared by every replica, surviving restarts and read-only containers), or,
// for a process without a store, in a file (0600) in the user's cache
// directory.
type inventory struct {
	keep keeper // nil keeps it in memory only

	mu      sync.Mutex
	loaded  bool
	changed map[string]bool  // pipelines to write at the next save
	removed map[string]bool  // pipelines to delete at the next save
	entries map[string]facts // by pipeline name
	acct    string           // account(), once found
}

// keeper is where an inventory lives between processes.
type keeper interface {
	// id tells keepers apart: targets of one process with the same id share
	// one inventory.
	id() string
	load(ctx context.Context) (map[string]facts, error)
	// save writes the changed entries and deletes the removed ones; all is
	// the whole inventory (a file rewrites it).
	save(ctx context.Context, all map[string]facts, changed, removed map[string]bool) error
}

// InventoryStore keeps inventories where every replica finds them: rotor's
// store (PostgreSQL or SQLite). Entries are opaque JSON by pipeline name;
// place names the account view.
type InventoryStore interface {
	PipelineInventory(ctx context.Context, place string) (map[string][]byte, error)
	PutPipelineInventory(ctx context.Context, place string, put map[string][]byte, remove []string) error
}

// storeKeeper keeps an inventory in rotor's store.
type storeKeeper struct {
	st    InventoryStore
	place string
}

func (k storeKeeper) id() string { return fmt.Sprintf("store:%p:%s", k.st, k.place) }

func (k storeKeeper) load(ctx context.Context) (map[string]facts, error) {
	rows, err := k.st.PipelineInventory(ctx, k.place)
	if err != nil {
		return nil, err
	}
	out := make(map[string]facts, len(rows))
	for name, b := range rows {
		var e envelope
		if json.Unmarshal(b, &e) == nil && e.Format == inventoryFormat {
			out[name] = e.Facts
		}
	}
	return out, nil
}

func (k storeKeeper) save(ctx context.Context, all map[string]facts, changed, removed map[string]bool) error {
	put := make(map[string][]byte, len(changed))
	for name := range changed {
		b, err := json.Marshal(envelope{Format: inventoryFormat, Facts: all[name]})
		if err != nil {
			return err
		}
		put[name] = b
	}
	var del []string
	for name := range removed {
		del = append(del, name)
	}
	return k.st.PutPipelineInventory(ctx, k.place, put, del)
}

// envelope is one pipeline's row in the store.
type envelope struct {
	Format int   `json:"format"`
	Facts  facts `json:"facts"`
}

// fileKeeper keeps an inventory in a file: the fallback of a process
// without a store (rotor validate, library use). A file is per host, so
// replicas and fresh containers would each start cold; the store is not.
type fileKeeper struct{ path string }

func (k fileKeeper) id() string { return "file:" + k.path }

func (k fileKeeper) load(context.Context) (map[string]facts, error) {
	b, err := os.ReadFile(k.path)
	if err != nil {
		return nil, err
	}
	var f inventoryFile
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, err
	}
	if f.Format != inventoryFormat {
		return nil, fmt.Errorf("inventory %s: format %d", k.path, f.Format)
	}
	return f.Pipelines, nil
}

// save writes the whole file atomically, 0600.
func (k fileKeeper) save(_ context.Context, all map[string]facts, _, _ map[string]bool) error {
	b, err := json.Marshal(inventoryFile{Format: inventoryFormat, Pipelines: all})
	if err != nil {
		return err
	}
	dir := filepath.Dir(k.path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("inventory: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".codepipeline-*.tmp")
	if err != nil {
		return fmt.Errorf("inventory: %w", err)
	}
	defer os.Remove(tmp.Name())
	_, werr := tmp.Write(b)
	if err := errors.Join(werr, tmp.Close()); err != nil {
		return fmt.Errorf("inventory: %w", err)
	}
	if err := os.Rename(tmp.Name(), k.path); err != nil {
		return fmt.Errorf("inventory: %w", err)
	}
	pruneInventories(dir, k.path)
	return nil
}

// facts is what discovery needs of one pipeline at one version.
type facts struct {
	Version           int32        `json:"version"`
	Created           time.Time    `json:"created"`
	Arn               string       `json:"arn"`
	Actions           []factAction `json:"actions,omitempty"`
	MaskedElsewhere   []string     `json:"masked_elsewhere,omitempty"`
	PollingDisabledAt time.Time    `json:"polling_disabled_at,omitzero"`
	// Stack is the CloudFormation stack tag when the tags were last read
	// (StackKnown); tags change without a new version, so a pipeline known
	// to have none has its tags read again by Apply, before it writes, and
	// one with a stack has them read again by discovery.
	Stack      string `json:"stack,omitempty"`
	StackKnown bool   `json:"stack_known,omitempty"`
}

type factAction struct {
	Stage        string `json:"stage"`
	Action       string `json:"action"`
	Owner        string `json:"owner"`
	Repo         string `json:"repo"`
	Branch       string `json:"branch,omitempty"`
	PollDisabled bool   `json:"poll_disabled,omitempty"`
}

// inventoryFormat is the file's format version; another is ignored.
const inventoryFormat = 1

type inventoryFile struct {
	Format    int              `json:"format"`
	Pipelines map[string]facts `json:"pipelines"`
}

// inventoryPlace names one account view: the endpoint, region, profile and
// role the target talks to (the store's place, the file's name).
func inventoryPlace(key ...string) string {
	sum := sha256.Sum256([]byte(strings.Join(key, "\x00")))
	return hex.EncodeToString(sum[:8])
}

// inventoryPath names the file for one account view. dir "" is the user's
// cache directory; "-" or an unusable directory keeps the inventory in
// memory.
func inventoryPath(dir string, key ...string) string {
	if dir == "-" {
		return ""
	}
	if dir == "" {
		base, err := os.UserCacheDir()
		if err != nil {
			return ""
		}
		dir = filepath.Join(base, "rotor")
	}
	return filepath.Join(dir, "codepipeline-"+inventoryPlace(key...)+".json")
}

// inventories shares one inventory per keeper among the process's targets
// (rotor serve holds one target per credential, often on one account).
var inventories sync.Map // keeper id → *inventory

// newInventory returns the process's inventory kept by k; nil is a private
// one, in memory only.
func newInventory(k keeper) *inventory {
	inv := &inventory{keep: k, entries: map[string]facts{}, changed: map[string]bool{}, removed: map[string]bool{}}
	if k == nil {
		return inv
	}
	shared, _ := inventories.LoadOrStore(k.id(), inv)
	return shared.(*inventory)
}

// loadTimeout bounds reading the inventory: it is only a shortcut.
const loadTimeout = 10 * time.Second

// load reads the kept inventory once; a missing, unreadable or foreign one
// is empty (it is only a shortcut). Called with mu held.
func (inv *inventory) load() {
	if inv.loaded {
		return
	}
	inv.loaded = true
	if inv.keep == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), loadTimeout)
	defer cancel()
	kept, err := inv.keep.load(ctx)
	if err != nil {
		return
	}
	for name, e := range kept {
		if _, ok := inv.entries[name]; !ok {
			inv.entries[name] = e
		}
	}
}

// lookup returns the facts of a pipeline if they were drawn from the
// version and creation time that ListPipelines shows now.
func (inv *inventory) lookup(p pipelineSummary) (facts, bool) {
	if p.version == nil || p.created == nil {
		return facts{}, false
	}
	inv.mu.Lock()
	defer inv.mu.Unlock()
	inv.load()
	e, ok := inv.entries[p.name]
	if !ok || e.Version != *p.version || !e.Created.Equal(*p.created) {
		return facts{}, false
	}
	return e, true
}

// remember records what a GetPipeline showed. version, when non-nil,
// overrides the response's (after an update that changed only tokens).
func (inv *inventory) remember(name string, out *codepipeline.GetPipelineOutput, version *int32) {
	if out == nil || out.Pipeline == nil || out.Metadata == nil || out.Metadata.Created == nil || out.Metadata.PipelineArn == nil {
		return
	}
	v := out.Pipeline.Version
	if version != nil {
		v = version
	}
	if v == nil {
		return
	}
	e := facts{Version: *v, Created: *out.Metadata.Created, Arn: *out.Metadata.PipelineArn, MaskedElsewhere: maskedElsewhere(out.Pipeline)}
	if out.Metadata.PollingDisabledAt != nil {
		e.PollingDisabledAt = *out.Metadata.PollingDisabledAt
	}
	for _, a := range githubActions(out.Pipeline) {
		e.Actions = append(e.Actions, factAction{a.stage, a.action, a.owner, a.repo, a.branch, a.pollDisabled})
	}
	inv.mu.Lock()
	defer inv.mu.Unlock()
	inv.load()
	if prev, ok := inv.entries[name]; ok && prev.Arn == e.Arn {
		e.Stack, e.StackKnown = prev.Stack, prev.StackKnown
	}
	inv.entries[name] = e
	inv.touch(name)
}

// touch marks a pipeline's entry for the next save. Called with mu held.
func (inv *inventory) touch(name string) {
	inv.changed[name] = true
	delete(inv.removed, name)
}

// tagged records the stack tag just read for a pipeline.
func (inv *inventory) tagged(name, pipelineArn, stack string) {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	inv.load()
	e, ok := inv.entries[name]
	if !ok || e.Arn != pipelineArn || (e.StackKnown && e.Stack == stack) {
		return
	}
	e.Stack, e.StackKnown = stack, true
	inv.entries[name] = e
	inv.touch(name)
}

// arn returns a pipeline's ARN if the inventory knows it.
func (inv *inventory) arn(name string) string {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	inv.load()
	return inv.entries[name].Arn
}

// account is the account of the pipelines the inventory remembers (a view
// sees one account), or "" when it remembers none. Once found it is kept:
// it only names calls in metrics (Target.callAccount).
func (inv *inventory) account() string {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	if inv.acct != "" {
		return inv.acct
	}
	inv.load()
	for _, e := range inv.entries {
		if a, err := arn.Parse(e.Arn); err == nil && a.AccountID != "" {
			inv.acct = a.AccountID
			break
		}
	}
	return inv.acct
}

// retain forgets every pipeline not in names (a full listing of the region).
func (inv *inventory) retain(names []string) {
	keep := make(map[string]bool, len(names))
	for _, n := range names {
		keep[n] = true
	}
	inv.mu.Lock()
	defer inv.mu.Unlock()
	inv.load()
	for n := range inv.entries {
		if !keep[n] {
			delete(inv.entries, n)
			delete(inv.changed, n)
			inv.removed[n] = true
		}
	}
}

// save keeps what changed since the last save.
func (inv *inventory) save(ctx context.Context) error {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	if inv.keep == nil || len(inv.changed)+len(inv.removed) == 0 {
		return nil
	}
	if err := inv.keep.save(ctx, inv.entries, inv.changed, inv.removed); err != nil {
		return err
	}
	clear(inv.changed)
	clear(inv.removed)
	return nil
}

// inventoryMaxAge: files of account views not used for this long are
// removed (test runs against emulators on ephemeral ports leave many).
const inventoryMaxAge = 30 * 24 * time.Hour

func pruneInventories(dir, keep string) {
	old, _ := filepath.Glob(filepath.Join(dir, "codepipeline-*.json"))
	for _, p := range old {
		if p == keep {
			continue
		}
		if fi, err := os.Stat(p); err == nil && time.Since(fi.ModTime()) > inventoryMaxAge && fi.Mode().Type() == fs.FileMode(0) {
			_ = os.Remove(p)
		}
	}
}

// scannedFrom rebuilds what discovery learns from a pipeline's facts.
func scannedFrom(name string, e facts) scanned {
	s := scanned{name: name, maskedElsewhere: e.MaskedElsewhere, pollingDisabledAt: e.PollingDisabledAt}
	for _, a := range e.Actions {
		s.actions = append(s.actions, ghAction{stage: a.Stage, action: a.Action, owner: a.Owner, repo: a.Repo, branch: a.Branch, pollDisabled: a.PollDisabled})
	}
	return s
}
