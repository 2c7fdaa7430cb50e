package ha

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/rotor-ci/rotor/internal/audit"
	"github.com/rotor-ci/rotor/internal/rotation"
)

// cleanHistory is a history judge must pass: app-00 adopted version 1;
// run 1 (started by a, killed after check, resumed by c) promoted version 2;
// run 2 (by b) promoted version 3; the pipeline holds version 3.
func cleanHistory() evidence {
	t0 := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	ver := func(seq int64, st rotation.VersionState, created float64) rotation.Version {
		return rotation.Version{Credential: "app-00", Seq: seq, Fingerprint: fmt.Sprintf("sha256:v%d", seq), State: st, CreatedAt: at(created)}
	}
	run := func(id, prev int64, started float64) rotation.Run {
		return rotation.Run{ID: id, Credential: "app-00", Trigger: "schedule", Step: rotation.StepPromoted, Status: rotation.RunSucceeded,
			PrevSeq: prev, NewSeq: prev + 1, StartedAt: at(started)}
	}
	var recs []audit.Record
	rec := func(runID int64, actor, event string, s float64) {
		recs = append(recs, audit.Record{Seq: int64(len(recs) + 1), Time: at(s), Credential: "app-00", RunID: runID, Event: event, Actor: actor})
	}
	rec(0, "host/1", "adopted", 0)
	rec(1, "host/10", "run.started", 6)
	rec(1, "host/10", "minted", 6.1)
	rec(1, "host/10", "checked", 6.2)
	rec(1, "host/30", "run.resumed", 36)
	rec(1, "host/30", "applied", 36.2)
	rec(1, "host/30", "promoted", 36.3)
	rec(2, "host/20", "run.started", 42.2)
	rec(2, "host/20", "minted", 42.3)
	rec(2, "host/20", "applied", 42.5)
	rec(2, "host/20", "promoted", 42.6)
	write := func(process, fp string, s float64) request {
		return request{Process: process, Service: "codepipeline", Op: opUpdate, Resource: "pipe-00", Fingerprint: fp, Start: at(s), End: at(s + 0.05), Status: 200}
	}
	return evidence{
		Every: 6 * time.Second, Slack: 40 * time.Second, Stop: at(45),
		Creds: []credEvidence{{
			Name: "app-00", Pipeline: "pipe-00",
			Runs:     []rotation.Run{run(2, 2, 42.2), run(1, 1, 6)},
			Versions: []rotation.Version{ver(3, rotation.VersionCurrent, 42.3), ver(2, rotation.VersionPrevious, 6.1), ver(1, rotation.VersionRetired, 0)},
			Holds:    "sha256:v3", HoldsOK: true,
		}},
		Records: recs,
		Requests: []request{
			write("setup", "sha256:v1", -1),
			write("a", "sha256:v2", 6.25),
			write("c", "sha256:v2", 36.1),
			write("b", "sha256:v3", 42.4),
			{Process: "b", Service: "github", Op: opMint, Resource: "repo-00", Fingerprint: "sha256:v3", Start: at(42.25), End: at(42.28), Status: 201},
		},
		Process:     map[string]string{"host/10": "a", "host/20": "b", "host/30": "c"},
		Interrupted: map[string]time.Time{"a": at(6.3), "b": at(20)},
		Live:        map[string]bool{"sha256:v3": true, "sha256:v2": true},
	}
}

func TestJudge(t *testing.T) {
	type figures struct{ Rotations, Resumed, Duplicates, Overlaps, LostRuns, DeadBindings, Orphans int }
	clean := figures{Rotations: 2, Resumed: 1}
	tests := []struct {
		name    string
		mutate  func(ev *evidence)
		want    func(f *figures)
		problem string // a word the problem must contain
	}{
		{"clean", func(*evidence) {}, func(*figures) {}, ""},
		{"stale writer after takeover", func(ev *evidence) {
			ev.Requests = append(ev.Requests, request{Process: "a", Service: "codepipeline", Op: opUpdate, Resource: "pipe-00",
				Fingerprint: "sha256:v2", Start: ev.Stop.Add(-9 * time.Second), End: ev.Stop.Add(-8900 * time.Millisecond), Status: 200})
		}, func(f *figures) { f.Overlaps = 3 }, "after c had taken the run over"},
		{"stale record after takeover", func(ev *evidence) {
			ev.Records = append(ev.Records, audit.Record{Seq: 12, Time: ev.Stop, Credential: "app-00", RunID: 1, Event: "applied", Actor: "host/10"})
		}, func(f *figures) { f.Overlaps = 2 }, "after c had taken the run over"},
		{"handover without resume", func(ev *evidence) {
			ev.Records[4].Event = "applied"
		}, func(f *figures) { f.Overlaps = 1 }, "without resuming"},
		{"two runs for one due time", func(ev *evidence) {
			c := &ev.Creds[0]
			c.Runs = append(c.Runs, rotation.Run{ID: 3, Credential: "app-00", Trigger: "schedule", Status: rotation.RunSucceeded, PrevSeq: 2, NewSeq: 4, StartedAt: ev.Stop})
		}, func(f *figures) { f.Rotations, f.Duplicates = 3, 1 }, "one due time"},
		{"started before due", func(ev *evidence) {
			ev.Creds[0].Runs[0].StartedAt = ev.Creds[0].Versions[1].CreatedAt.Add(5 * time.Second)
		}, func(f *figures) { f.Duplicates = 1 }, "before version 2 was due"},
		{"promoted twice", func(ev *evidence) {
			ev.Records = append(ev.Records, audit.Record{Seq: 12, Time: ev.Stop, Credential: "app-00", RunID: 2, Event: "promoted", Actor: "host/20"})
		}, func(f *figures) { f.Duplicates = 1 }, "promoted 2 times"},
		{"interleaved runs", func(ev *evidence) {
			ev.Records[7].RunID = 2
			ev.Records[6], ev.Records[7] = ev.Records[7], ev.Records[6]
			ev.Records[6].Seq, ev.Records[7].Seq = 7, 8
		}, func(f *figures) { f.Overlaps = 1 }, "overlap"},
		{"concurrent writes", func(ev *evidence) {
			ev.Requests[3].Start = ev.Requests[2].Start.Add(10 * time.Millisecond)
		}, func(f *figures) { f.Overlaps = 1 }, "at once"},
		{"unfinished run", func(ev *evidence) {
			ev.Creds[0].Runs[0].Status = rotation.RunRunning
		}, func(f *figures) { f.Rotations, f.LostRuns = 1, 1 }, "never finished"},
		{"due time never served", func(ev *evidence) {
			ev.Stop = ev.Stop.Add(time.Minute)
		}, func(f *figures) { f.LostRuns = 1 }, "nobody rotated it"},
		{"pipeline on an old token", func(ev *evidence) {
			ev.Creds[0].Holds = "sha256:v2"
		}, func(f *figures) { f.DeadBindings = 1 }, "current version is"},
		{"token refused", func(ev *evidence) {
			ev.Creds[0].HoldsOK, ev.Creds[0].Why = false, "revoked"
		}, func(f *figures) { f.DeadBindings = 1 }, "GitHub refuses"},
		{"failed poll", func(ev *evidence) {
			ev.FailedFetches = []string{"pipe-00 at 12:00:40 with sha256:v1: 401"}
		}, func(f *figures) { f.DeadBindings = 1 }, "poll failed"},
		{"orphan from the killed replica", func(ev *evidence) {
			ev.Live["sha256:x"] = true
			ev.Requests = append(ev.Requests, request{Process: "a", Service: "github", Op: opMint, Resource: "repo-00", Fingerprint: "sha256:x", Start: ev.Stop.Add(-39 * time.Second)})
		}, func(f *figures) { f.Orphans = 1 }, ""},
		{"unrecorded mint by a live replica", func(ev *evidence) {
			ev.Live["sha256:x"] = true
			ev.Requests = append(ev.Requests, request{Process: "c", Service: "github", Op: opMint, Resource: "repo-00", Fingerprint: "sha256:x", Start: ev.Stop.Add(-5 * time.Second)})
		}, func(f *figures) { f.Duplicates = 1 }, "no record of it"},
		{"retired token still alive", func(ev *evidence) {
			ev.Live["sha256:v1"] = true
		}, func(f *figures) {}, "retired but GitHub still accepts it"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := cleanHistory()
			tt.mutate(&ev)
			v := judge(ev)
			want := clean
			tt.want(&want)
			got := figures{v.Rotations, v.Resumed, v.Duplicates, v.Overlaps, v.LostRuns, v.DeadBindings, v.Orphans}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("figures (-want +got):\n%s\nproblems:\n%s", diff, strings.Join(v.Problems, "\n"))
			}
			switch {
			case tt.problem == "" && tt.name == "clean" && len(v.Problems) > 0:
				t.Errorf("a clean history has problems:\n%s", strings.Join(v.Problems, "\n"))
			case tt.problem != "" && !strings.Contains(strings.Join(v.Problems, "\n"), tt.problem):
				t.Errorf("no problem mentions %q:\n%s", tt.problem, strings.Join(v.Problems, "\n"))
			}
		})
	}
}
