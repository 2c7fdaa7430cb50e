package codepipeline

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	sdk "github.com/aws/aws-sdk-go-v2/service/codepipeline"
	"github.com/google/go-cmp/cmp"

	"github.com/rotor-ci/rotor/internal/emulator/fault"
	"github.com/rotor-ci/rotor/internal/rotation"
	"github.com/rotor-ci/rotor/internal/token"
)

// discoverCounting runs Discover on a new target (a new process, as far as
// the target knows) and returns the bindings and the requests it made.
func discoverCounting(t *testing.T, be backend, cfg Config) ([]rotation.Binding, map[string]int64) {
	t.Helper()
	newProcess()
	be.emu.Faults().ResetCounts()
	bs, err := newTarget(t, be, cfg).Discover(context.Background())
	if err != nil {
		t.Fatalf("Discover: %v", err)
	}
	return bs, counts(be)
}

// newProcess forgets the inventories this process shares among its
// targets, as a new rotor process starts without them.
func newProcess() { inventories.Clear() }

func bindingIDs(bs []rotation.Binding) []string {
	out := make([]string, len(bs))
	for i, b := range bs {
		out[i] = b.ID
	}
	return out
}

// TestDiscover_Inventory: a process that finds the inventory of an earlier
// one reads only the pipelines whose version or creation time changed, and
// finds the same bindings as a full read would.
func TestDiscover_Inventory(t *testing.T) {
	isolate(t)
	be, _ := emulatorBackend(t, nil)
	ctx := context.Background()
	old := token.Generate(token.KindClassicPAT)
	for i := range 6 {
		create(t, be, testDecl(fmt.Sprintf("inv-%d", i), ghSpec{"GitHub", "acme", "inv", old}))
	}
	for i := range 2 {
		create(t, be, testDecl(fmt.Sprintf("other-%d", i), ghSpec{"GitHub", "acme", "else", old}))
	}
	create(t, be, plainDecl("plain"))
	cfg := Config{Match: &Match{Owner: "acme", Repo: "inv"}, CacheDir: t.TempDir()}
	uncached := cfg
	uncached.CacheDir = "-"

	first, got := discoverCounting(t, be, cfg)
	if d := cmp.Diff(map[string]int64{"ListPipelines": 1, "GetPipeline": 9, "ListTagsForResource": 6}, got); d != "" {
		t.Errorf("first Discover requests (-want +got):\n%s", d)
	}
	// Known pipelines with no stack tag: their tags are left to Apply.
	second, got := discoverCounting(t, be, cfg)
	if d := cmp.Diff(map[string]int64{"ListPipelines": 1}, got); d != "" {
		t.Errorf("second Discover requests (-want +got):\n%s", d)
	}
	if d := cmp.Diff(first, second); d != "" {
		t.Errorf("bindings from the inventory differ from a full read (-read +inventory):\n%s", d)
	}

	// Changes the inventory must notice: an update (new version), a
	// pipeline deleted and created again (version 1 again, new creation
	// time), a pipeline gone; and one it cannot: a stack tag (no new
	// version), which Apply must catch before it writes.
	if _, err := be.admin.UpdatePipeline(ctx, &sdk.UpdatePipelineInput{Pipeline: testDecl("inv-0", ghSpec{"GitHub", "acme", "elsewhere", old})}); err != nil {
		t.Fatal(err)
	}
	if _, err := be.admin.DeletePipeline(ctx, &sdk.DeletePipelineInput{Name: aws.String("other-0")}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Millisecond) // a creation time of its own
	create(t, be, testDecl("other-0", ghSpec{"GitHub", "acme", "inv", old}))
	if _, err := be.admin.DeletePipeline(ctx, &sdk.DeletePipelineInput{Name: aws.String("inv-5")}); err != nil {
		t.Fatal(err)
	}
	be.tagStack(t, "inv-1", "stack-1")

	third, got := discoverCounting(t, be, cfg)
	if d := cmp.Diff(map[string]int64{"ListPipelines": 1, "GetPipeline": 2, "ListTagsForResource": 1}, got); d != "" {
		t.Errorf("Discover after changes: requests (-want +got):\n%s", d)
	}
	want := []string{
		id("inv-1", "Source", "GitHub"), id("inv-2", "Source", "GitHub"),
		id("inv-3", "Source", "GitHub"), id("inv-4", "Source", "GitHub"),
		id("other-0", "Source", "GitHub"),
	}
	if d := cmp.Diff(want, bindingIDs(third)); d != "" {
		t.Errorf("bindings (-want +got):\n%s", d)
	}

	// Apply (another process) reads the tags of every pipeline whose tags
	// discovery did not read, refuses the one CloudFormation now manages
	// without reading or writing it, reads every other pipeline fresh, and
	// leaves the inventory at the versions it wrote.
	fresh := token.Generate(token.KindClassicPAT)
	newProcess()
	be.emu.Faults().ResetCounts()
	res := apply(newTarget(t, be, cfg), fresh, third)
	if err := res[third[0].ID]; !errors.Is(err, ErrCloudFormation) {
		t.Errorf("Apply to the pipeline tagged since discovery: %v, want %v", err, ErrCloudFormation)
	}
	delete(res, third[0].ID)
	if f := failures(res); len(f) > 0 {
		t.Fatal(f)
	}
	if d := cmp.Diff(map[string]int64{"ListTagsForResource": 5, "GetPipeline": 4, "ListPipelineExecutions": 4, "UpdatePipeline": 4}, counts(be)); d != "" {
		t.Errorf("Apply requests (-want +got):\n%s", d)
	}
	if got := be.stored(t, "inv-1", "GitHub"); !got.Equal(old) {
		t.Error("the CloudFormation-managed pipeline was written")
	}
	// Now known to have a stack, inv-1 has its tags read by discovery,
	// which names the stack, and Vet refuses it up front (nothing proves it
	// safe); the others are known and read nothing.
	newProcess()
	be.emu.Faults().ResetCounts()
	tg := newTarget(t, be, cfg)
	bs, err := tg.Discover(ctx)
	if err != nil || bs[0].Attrs[AttrStack] == "" {
		t.Errorf("Discover: %v; inv-1's stack = %q", err, bs[0].Attrs[AttrStack])
	}
	if d := cmp.Diff(map[string]int64{"ListPipelines": 1, "ListTagsForResource": 1}, counts(be)); d != "" {
		t.Errorf("Discover after Apply: requests (-want +got):\n%s", d)
	}
	if _, err := tg.Vet(ctx, bs, bs); !errors.Is(err, ErrCloudFormation) || !strings.Contains(err.Error(), "inv-1") {
		t.Errorf("Vet: %v, want inv-1 refused (%v)", err, ErrCloudFormation)
	}
	cfg.AllowCloudFormationDrift = true
	uncached.AllowCloudFormationDrift = true
	after, _ := discoverCounting(t, be, cfg)
	full, _ := discoverCounting(t, be, uncached)
	if d := cmp.Diff(full, after); d != "" {
		t.Errorf("bindings from the inventory differ from a full read (-read +inventory):\n%s", d)
	}

	// The file holds nothing secret, is the user's alone, and a damaged one
	// only costs the reads.
	files, _ := filepath.Glob(filepath.Join(cfg.CacheDir, "codepipeline-*.json"))
	if len(files) != 1 {
		t.Fatalf("inventory files: %v, want one", files)
	}
	b, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, tok := range []token.Token{old, fresh} {
		if strings.Contains(string(b), tok.Reveal()) {
			t.Fatal("the inventory holds a token value")
		}
	}
	if strings.Contains(string(b), "ghp_") || strings.Contains(string(b), masked) {
		t.Errorf("the inventory holds token material:\n%s", b)
	}
	if fi, _ := os.Stat(files[0]); fi.Mode().Perm() != 0o600 {
		t.Errorf("inventory mode %v, want 0600", fi.Mode().Perm())
	}
	if err := os.WriteFile(files[0], []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	damaged, got := discoverCounting(t, be, cfg)
	if got["GetPipeline"] != 8 {
		t.Errorf("with a damaged inventory Discover made %d GetPipeline calls, want 8 (every pipeline)", got["GetPipeline"])
	}
	if d := cmp.Diff(full, damaged); d != "" {
		t.Errorf("bindings with a damaged inventory (-want +got):\n%s", d)
	}
}

// TestDiscover_NamedInventory: named pipelines use the inventory too, and a
// listing the role may not make only costs the reads.
func TestDiscover_NamedInventory(t *testing.T) {
	isolate(t)
	be, _ := emulatorBackend(t, nil)
	for i := range 3 {
		create(t, be, testDecl(fmt.Sprintf("named-%d", i), ghSpec{"GitHub", "acme", "named", token.Generate(token.KindClassicPAT)}))
	}
	cfg := Config{Pipelines: []string{"named-2", "named-0", "named-2"}, CacheDir: t.TempDir()}
	want := []string{id("named-0", "Source", "GitHub"), id("named-2", "Source", "GitHub")}

	be.emu.Faults().SetRules([]fault.Rule{{Service: "codepipeline", Operation: "ListPipelines", Fail: true}})
	bs, got := discoverCounting(t, be, cfg)
	if d := cmp.Diff(want, bindingIDs(bs)); d != "" {
		t.Errorf("bindings without a listing (-want +got):\n%s", d)
	}
	if got["GetPipeline"] != 2 {
		t.Errorf("without a listing: %d GetPipeline calls, want 2", got["GetPipeline"])
	}

	be.emu.Faults().SetRules(nil)
	bs, got = discoverCounting(t, be, cfg)
	if d := cmp.Diff(want, bindingIDs(bs)); d != "" {
		t.Errorf("bindings from the inventory (-want +got):\n%s", d)
	}
	if d := cmp.Diff(map[string]int64{"ListPipelines": 1}, got); d != "" {
		t.Errorf("requests with the inventory (-want +got):\n%s", d)
	}
}

// TestDiscover_SharedInventory: the targets of one process (one per
// credential in rotor serve) share what they learn, file or no file.
func TestDiscover_SharedInventory(t *testing.T) {
	isolate(t)
	be, _ := emulatorBackend(t, nil)
	for i := range 4 {
		create(t, be, testDecl(fmt.Sprintf("shared-%d", i), ghSpec{"GitHub", "acme", "shared", token.Generate(token.KindClassicPAT)}))
	}
	dir := t.TempDir()
	_, got := discoverCounting(t, be, Config{Match: &Match{Owner: "acme", Repo: "shared"}, CacheDir: dir})
	if got["GetPipeline"] != 4 {
		t.Fatalf("first Discover: %d GetPipeline calls, want 4", got["GetPipeline"])
	}
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	be.emu.Faults().ResetCounts()
	bs, err := newTarget(t, be, Config{Pipelines: []string{"shared-1", "shared-3"}, CacheDir: dir}).Discover(context.Background())
	if err != nil || len(bs) != 2 {
		t.Fatalf("Discover: %d bindings, %v", len(bs), err)
	}
	if d := cmp.Diff(map[string]int64{"ListPipelines": 1}, counts(be)); d != "" {
		t.Errorf("another target of the same process (-want +got):\n%s", d)
	}
	newProcess()
}

func TestInventoryPath(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", "/cache")
	a := inventoryPath("", "http://127.0.0.1:1", "us-east-1", "", "")
	tests := []struct {
		name string
		got  string
		want func(string) bool
	}{
		{"default: the user's cache directory", a, func(p string) bool { return strings.HasPrefix(p, "/cache/rotor/codepipeline-") }},
		{"another endpoint: another file", inventoryPath("", "http://127.0.0.1:2", "us-east-1", "", ""), func(p string) bool { return p != a }},
		{"another region: another file", inventoryPath("", "http://127.0.0.1:1", "eu-west-1", "", ""), func(p string) bool { return p != a }},
		{"a directory of its own", inventoryPath("/d", "x"), func(p string) bool { return filepath.Dir(p) == "/d" }},
		{"memory only", inventoryPath("-", "x"), func(p string) bool { return p == "" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !tt.want(tt.got) {
				t.Errorf("inventoryPath = %q", tt.got)
			}
		})
	}
}

// memStore is an InventoryStore in memory, as rotor's store keeps it: rows
// of JSON by place and pipeline.
type memStore struct {
	mu   sync.Mutex
	rows map[string]map[string][]byte
}

func (m *memStore) PipelineInventory(_ context.Context, place string) (map[string][]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return maps.Clone(m.rows[place]), nil
}

func (m *memStore) PutPipelineInventory(_ context.Context, place string, put map[string][]byte, remove []string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.rows == nil {
		m.rows = map[string]map[string][]byte{}
	}
	if m.rows[place] == nil {
		m.rows[place] = map[string][]byte{}
	}
	maps.Copy(m.rows[place], put)
	for _, n := range remove {
		delete(m.rows[place], n)
	}
	return nil
}

// TestDiscover_InventoryInStore: with the store keeping the inventory, a
// new process (another replica, a fresh container with a read-only root)
// reads no pipeline that an earlier one read, writes no file, and the
// store holds nothing secret; a pipeline gone from the region leaves it.
func TestDiscover_InventoryInStore(t *testing.T) {
	isolate(t)
	be, _ := emulatorBackend(t, nil)
	ctx := context.Background()
	old := token.Generate(token.KindClassicPAT)
	for i := range 4 {
		create(t, be, testDecl(fmt.Sprintf("st-%d", i), ghSpec{"GitHub", "acme", "st", old}))
	}
	st := &memStore{}
	dir := t.TempDir()
	cfg := Config{Match: &Match{Owner: "acme", Repo: "st"}, Inventory: st, CacheDir: dir}

	first, got := discoverCounting(t, be, cfg)
	if got["GetPipeline"] != 4 {
		t.Errorf("first Discover: %d GetPipeline, want 4", got["GetPipeline"])
	}
	fresh := token.Generate(token.KindClassicPAT)
	newProcess()
	for id, err := range apply(newTarget(t, be, cfg), fresh, first) {
		if err != nil {
			t.Fatalf("Apply %s: %v", id, err)
		}
	}
	// A new process after the rotation: the versions Apply wrote are kept.
	second, got := discoverCounting(t, be, cfg)
	if d := cmp.Diff(map[string]int64{"ListPipelines": 1}, got); d != "" {
		t.Errorf("Discover in a new process after a rotation: requests (-want +got):\n%s", d)
	}
	if d := cmp.Diff(first, second); d != "" {
		t.Errorf("bindings (-first +second):\n%s", d)
	}
	if files, _ := filepath.Glob(filepath.Join(dir, "*")); len(files) != 0 {
		t.Errorf("files written with a store: %v", files)
	}
	var places []string
	for place, rows := range st.rows {
		places = append(places, place)
		if len(rows) != 4 {
			t.Errorf("place %s holds %d pipelines, want 4", place, len(rows))
		}
		for name, b := range rows {
			for _, tok := range []token.Token{old, fresh} {
				if strings.Contains(string(b), tok.Reveal()) || strings.Contains(string(b), "ghp_") {
					t.Fatalf("the stored inventory of %s holds token material", name)
				}
			}
		}
	}
	if len(places) != 1 {
		t.Fatalf("places %v, want one", places)
	}
	if _, err := be.admin.DeletePipeline(ctx, &sdk.DeletePipelineInput{Name: aws.String("st-3")}); err != nil {
		t.Fatal(err)
	}
	discoverCounting(t, be, cfg)
	if _, ok := st.rows[places[0]]["st-3"]; ok || len(st.rows[places[0]]) != 3 {
		t.Errorf("after st-3 was deleted the store holds %d pipelines (st-3 kept: %v)", len(st.rows[places[0]]), ok)
	}
}
