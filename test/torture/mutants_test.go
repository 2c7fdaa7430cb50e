package torture

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rotor-ci/rotor/internal/rotorbin"
)

// A mutant is a bug planted in rotor's source (in a copy, through go build
// -overlay; the tree is not touched) that the harness must catch.
type mutant struct {
	name  string
	edits []edit
	want  string // the invariant the harness must report
}

// edit replaces the first occurrence of old in file (relative to the
// module root).
type edit struct{ file, old, new string }

var mutants = []mutant{
	{
		name: "retire ignores the grace period",
		edits: []edit{{"internal/rotation/retire.go",
			"if v.State == VersionPrevious && !now.Before(v.RetireAfter) {",
			"if v.State == VersionPrevious && !now.Add(1<<40).Before(v.RetireAfter) {"}},
		want: "I2",
	},
	{
		name: "the previous token is revoked before the new one is applied",
		edits: []edit{{"internal/rotation/engine.go",
			"func (s *session) apply(ctx context.Context, run Run) (Run, error) {",
			"func (s *session) apply(ctx context.Context, run Run) (Run, error) {\n\tif prev, _, perr := s.token(ctx, run.PrevSeq); perr == nil && run.PrevSeq != 0 {\n\t\t_ = s.c.Source.Revoke(ctx, prev)\n\t}"}},
		want: "I1",
	},
	{
		name: "rollback revokes the new token without putting the old one back",
		edits: []edit{{"internal/rotation/engine.go",
			"if run.Step != StepRolledBack && touched {",
			"if false && run.Step != StepRolledBack && touched {"}},
		want: "I1",
	},
	{
		name: "a failed run's new token is never revoked",
		edits: []edit{{"internal/rotation/engine.go",
			"if err := s.c.Source.Revoke(ctx, tok); err != nil {",
			"if err := error(nil); tok.IsZero() && err != nil {"}},
		want: "I3",
	},
	{
		name: "no lease",
		edits: []edit{{"internal/rotation/engine.go",
			"if err := e.Store.AcquireLease(ctx, name, e.holder(), ttl); err != nil {",
			"if err := error(nil); err != nil {"}},
		want: "I5",
	},
	{
		name: "the new token in a log line",
		edits: []edit{{"internal/rotation/engine.go",
			"sealed, err := s.e.Sealer.Seal(ctx, SealContext{Credential: s.c.Name, Fingerprint: fp}, m.Token)",
			"s.e.log().Info(\"minted\", \"value\", m.Token.Reveal())\n\tsealed, err := s.e.Sealer.Seal(ctx, SealContext{Credential: s.c.Name, Fingerprint: fp}, m.Token)"}},
		want: "I6",
	},
	{
		name: "apply turns polling off too, and its guard looks away",
		edits: []edit{
			{"internal/target/codepipeline/declaration.go", "cfg[propToken] = v", "cfg[propToken] = v\n\t\t\tcfg[\"PollForSourceChanges\"] = \"false\""},
			{"internal/target/codepipeline/apply.go", "if diff := differences(want, comparable(p), 5); len(diff) > 0 {", "if diff := differences(want, comparable(p), 5); false && len(diff) > 0 {"},
		},
		want: "I4",
	},
	{
		name: "the idle check looks away: updates stop deployments",
		edits: []edit{{"internal/target/codepipeline/inflight.go",
			"if !g.interrupt {",
			"if false && !g.interrupt {"}},
		want: "I8",
	},
	{
		name: "audit records skip a sequence number",
		edits: []edit{{"internal/audit/audit.go",
			"r.Seq = head.Seq + 1",
			"r.Seq = head.Seq + 2"}},
		want: "I7",
	},
}

// TestMutants proves the harness has teeth: for each planted bug, a short
// torture run must report the invariant it breaks. It builds rotor once
// per mutant and takes about a minute each:
//
//	ROTOR_TORTURE=mutants go test ./test/torture -run TestMutants -v -timeout 30m
func TestMutants(t *testing.T) {
	if os.Getenv(envMode) != "mutants" {
		t.Skipf("set %s=mutants to plant bugs in rotor and see the harness catch each", envMode)
	}
	root, err := rotorbin.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	only := os.Getenv("ROTOR_TORTURE_MUTANT")
	for _, m := range mutants {
		if only != "" && !strings.Contains(m.name, only) {
			continue
		}
		t.Run(m.name, func(t *testing.T) {
			dir := t.TempDir()
			replace := map[string]string{}
			for i, e := range m.edits {
				src := filepath.Join(root, e.file)
				b, err := os.ReadFile(src)
				if err != nil {
					t.Fatal(err)
				}
				s := string(b)
				if cur, ok := replace[src]; ok {
					b, _ = os.ReadFile(cur)
					s = string(b)
				}
				if !strings.Contains(s, e.old) {
					t.Fatalf("stale mutant: %s no longer contains %q: update the mutant", e.file, e.old)
				}
				out := filepath.Join(dir, filepath.Base(e.file)+"."+string(rune('a'+i))+".go")
				if err := os.WriteFile(out, []byte(strings.Replace(s, e.old, e.new, 1)), 0o600); err != nil {
					t.Fatal(err)
				}
				replace[src] = out
			}
			ov, _ := json.Marshal(map[string]any{"Replace": replace})
			overlay := filepath.Join(dir, "overlay.json")
			if err := os.WriteFile(overlay, ov, 0o600); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Minute)
			defer cancel()
			bin, err := BuildRotor(ctx, dir, false, overlay)
			if err != nil {
				t.Fatal(err)
			}
			opts, phases, _ := runOptions(t)
			opts.Bin, opts.Dir, opts.Logf = bin, filepath.Join(dir, "installation"), t.Logf
			if err := os.MkdirAll(opts.Dir, 0o700); err != nil {
				t.Fatal(err)
			}
			h, err := New(ctx, opts)
			if err != nil {
				t.Fatalf("the harness could not start on this mutant: %v", err)
			}
			defer h.Close()
			rep, err := h.Run(ctx, phases)
			t.Log(rep.Figures)
			for _, v := range rep.Violations {
				if v.Invariant == m.want {
					t.Logf("caught: %s", v)
					return
				}
			}
			t.Errorf("the harness did not report %s (run error: %v; violations: %v)", m.want, err, rep.Violations)
		})
	}
}
