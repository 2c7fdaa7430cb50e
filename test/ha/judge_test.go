package ha

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/rotor-ci/rotor/internal/audit"
	"github.com/rotor-ci/rotor/internal/rotation"
)

// evidence is what the verdict is drawn from. None of it is a replica's
// account of itself: the store's runs and versions and the audit chain are
// shared records written under leases; the request log and the tokens come
// from the emulators.
type evidence struct {
	Every time.Duration
	// Slack is how late a due credential may be picked up: a dead
	// replica's lease must lapse first, then a tick must come.
	Slack time.Duration
	Stop  time.Time // when the replicas were stopped
	Creds []credEvidence
	// Records is the whole audit chain, in order.
	Records  []audit.Record
	Requests []request
	// Process names each audit actor (host/pid) by the process it is.
	Process map[string]string
	// Interrupted is when a process was killed or paused: a token it
	// minted just before may never have reached the store.
	Interrupted map[string]time.Time
	// Live holds the fingerprints of every installation token GitHub still
	// accepts at the end.
	Live map[string]bool
	// FailedFetches are the pipelines' own polls that GitHub refused.
	FailedFetches []string
}

// credEvidence is one credential's share.
type credEvidence struct {
	Name     string
	Pipeline string
	Runs     []rotation.Run     // as the store lists them, newest first
	Versions []rotation.Version // newest first
	// Holds is the fingerprint of the token the pipeline holds at the
	// end; HoldsOK whether GitHub accepts it for the repository (Why if not).
	Holds   string
	HoldsOK bool
	Why     string
}

// verdict is the figures and every violation found.
type verdict struct {
	Rotations    int // runs that succeeded
	Resumed      int // runs finished by another process than the one that started them
	Duplicates   int // second runs for one due time, second promotions, unrecorded mints
	Overlaps     int // a credential acted on by two runs or two processes at once
	LostRuns     int // runs never finished; due times never served
	DeadBindings int // a pipeline on a token GitHub refuses, at the end or in a poll
	Orphans      int // live tokens minted by a killed or paused process and never recorded
	Problems     []string
}

func (v *verdict) add(figure *int, format string, a ...any) {
	if figure != nil {
		*figure++
	}
	v.Problems = append(v.Problems, fmt.Sprintf(format, a...))
}

// runView is one run as the audit chain tells it.
type runView struct {
	run     rotation.Run
	records []audit.Record
	// takeovers are the run's actors in the order they first appear, with
	// the time of their first record.
	actors []string
	since  []time.Time
}

func judge(ev evidence) verdict {
	var v verdict
	byRun := map[int64][]audit.Record{}
	for _, r := range ev.Records {
		if r.RunID != 0 {
			byRun[r.RunID] = append(byRun[r.RunID], r)
		}
	}
	views := map[int64]*runView{}
	versions := map[string]rotation.Version{} // by fingerprint
	for _, c := range ev.Creds {
		for _, ver := range c.Versions {
			versions[ver.Fingerprint] = ver
		}
		for _, run := range c.Runs {
			views[run.ID] = viewOf(run, byRun[run.ID])
		}
		judgeRuns(&v, ev, c, views)
	}
	judgeWrites(&v, ev, versions, views)
	judgeTokens(&v, ev, versions)
	return v
}

func viewOf(run rotation.Run, recs []audit.Record) *runView {
	rv := &runView{run: run, records: recs}
	for _, r := range recs {
		if !slices.Contains(rv.actors, r.Actor) {
			rv.actors = append(rv.actors, r.Actor)
			rv.since = append(rv.since, r.Time)
		}
	}
	return rv
}

// judgeRuns checks one credential's runs: each finished and succeeded, one
// per due time, none started early, none interleaved with another, and
// each handed from process to process only forward.
func judgeRuns(v *verdict, ev evidence, c credEvidence, views map[int64]*runView) {
	bySeq := map[int64]rotation.Version{}
	for _, ver := range c.Versions {
		bySeq[ver.Seq] = ver
	}
	replaced := map[int64][]int64{} // previous version → runs that replaced it
	runs := slices.Clone(c.Runs)
	slices.SortFunc(runs, func(a, b rotation.Run) int { return int(a.ID - b.ID) })
	for _, run := range runs {
		rv := views[run.ID]
		switch run.Status {
		case rotation.RunSucceeded:
			v.Rotations++
			replaced[run.PrevSeq] = append(replaced[run.PrevSeq], run.ID)
		case rotation.RunRunning:
			v.add(&v.LostRuns, "%s: run %d never finished (stopped after %s)", c.Name, run.ID, run.Step)
			replaced[run.PrevSeq] = append(replaced[run.PrevSeq], run.ID)
		default:
			v.add(nil, "%s: run %d ended %s (%s): %s", c.Name, run.ID, run.Status, run.Reason, run.Error)
		}
		if n := countEvent(rv.records, "promoted"); n > 1 {
			v.Duplicates += n - 1
			v.add(nil, "%s: run %d was promoted %d times", c.Name, run.ID, n)
		}
		if prev, ok := bySeq[run.PrevSeq]; ok && run.Trigger == "schedule" && run.StartedAt.Before(prev.CreatedAt.Add(ev.Every)) {
			v.add(&v.Duplicates, "%s: run %d started at %s, before version %d was due (%s): a second run for a due time already served",
				c.Name, run.ID, clock(run.StartedAt), prev.Seq, clock(prev.CreatedAt.Add(ev.Every)))
		}
		judgeHandover(v, c.Name, rv, ev.Process)
	}
	for prev, ids := range replaced {
		if len(ids) > 1 {
			v.Duplicates += len(ids) - 1
			v.add(nil, "%s: runs %v all replaced version %d: one due time, %d rotations", c.Name, ids, prev, len(ids))
		}
	}
	// Runs of one credential follow each other in the chain: a record of
	// a run never falls between two records of another.
	slices.SortFunc(runs, func(a, b rotation.Run) int { return int(firstSeq(views[a.ID]) - firstSeq(views[b.ID])) })
	for i := 1; i < len(runs); i++ {
		prev, next := views[runs[i-1].ID], views[runs[i].ID]
		if len(prev.records) > 0 && len(next.records) > 0 && next.records[0].Seq < prev.records[len(prev.records)-1].Seq {
			v.add(&v.Overlaps, "%s: runs %d and %d overlap: run %d started (audit %d) before run %d's last record (audit %d)",
				c.Name, prev.run.ID, next.run.ID, next.run.ID, next.records[0].Seq, prev.run.ID, prev.records[len(prev.records)-1].Seq)
		}
	}
	if !slices.ContainsFunc(runs, func(r rotation.Run) bool { return r.Status == rotation.RunSucceeded }) {
		v.add(&v.LostRuns, "%s: never rotated", c.Name)
	}
	for _, ver := range c.Versions {
		if ver.State != rotation.VersionCurrent {
			continue
		}
		if late := ev.Stop.Sub(ver.CreatedAt.Add(ev.Every)); late > ev.Slack {
			v.add(&v.LostRuns, "%s: version %d was due at %s and nobody rotated it for %s (replicas stopped at %s)",
				c.Name, ver.Seq, clock(ver.CreatedAt.Add(ev.Every)), late.Round(time.Millisecond), clock(ev.Stop))
		}
	}
}

// judgeHandover checks that a run passed from one process to the next only
// through a resume, and that no process came back to a run after another
// took it over.
func judgeHandover(v *verdict, cred string, rv *runView, process map[string]string) {
	for i := 1; i < len(rv.actors); i++ {
		first := slices.IndexFunc(rv.records, func(r audit.Record) bool { return r.Actor == rv.actors[i] })
		if ev := rv.records[first].Event; ev != "run.resumed" {
			v.add(&v.Overlaps, "%s: run %d: %s acted on it (%s, audit %d) without resuming it from %s", cred, rv.run.ID,
				name(process, rv.actors[i]), ev, rv.records[first].Seq, name(process, rv.actors[i-1]))
		}
	}
	cur := ""
	for _, r := range rv.records {
		if r.Actor == cur {
			continue
		}
		if cur != "" && slices.Index(rv.actors, r.Actor) < slices.Index(rv.actors, cur) {
			v.add(&v.Overlaps, "%s: run %d: %s wrote %s (audit %d) after %s had taken the run over", cred, rv.run.ID,
				name(process, r.Actor), r.Event, r.Seq, name(process, cur))
		}
		cur = r.Actor
	}
	if len(rv.actors) > 1 && rv.run.Status == rotation.RunSucceeded {
		v.Resumed++
	}
}

// judgeWrites checks every token write the CodePipeline emulator received:
// the token is a version rotor recorded; it was written by the process that
// held that version's run at that moment, while the run was open; no two
// writes to one pipeline were in flight at once; and versions only go
// forward.
func judgeWrites(v *verdict, ev evidence, versions map[string]rotation.Version, views map[int64]*runView) {
	runOf := map[string]*runView{} // credential/seq → the run that minted it
	for _, rv := range views {
		if rv.run.NewSeq != 0 {
			runOf[fmt.Sprintf("%s/%d", rv.run.Credential, rv.run.NewSeq)] = rv
		}
	}
	byPipeline := map[string][]request{}
	for _, r := range ev.Requests {
		if r.Service == "codepipeline" && r.Op == opUpdate && r.Status == 200 && r.Process != "setup" {
			byPipeline[r.Resource] = append(byPipeline[r.Resource], r)
		}
	}
	for pipe, writes := range byPipeline {
		var lastSeq int64
		for i, w := range writes {
			if i > 0 && w.Start.Before(writes[i-1].End) {
				v.add(&v.Overlaps, "%s: %s and %s updated it at once (%s–%s and %s–%s)", pipe, writes[i-1].Process, w.Process,
					clock(writes[i-1].Start), clock(writes[i-1].End), clock(w.Start), clock(w.End))
			}
			ver, ok := versions[w.Fingerprint]
			if !ok {
				v.add(&v.Overlaps, "%s: %s wrote token %s at %s, which rotor has no version of", pipe, w.Process, w.Fingerprint, clock(w.Start))
				continue
			}
			if ver.Seq < lastSeq {
				v.add(&v.Overlaps, "%s: %s wrote version %d at %s after version %d had been written", pipe, w.Process, ver.Seq, clock(w.Start), lastSeq)
			}
			lastSeq = max(lastSeq, ver.Seq)
			rv := runOf[fmt.Sprintf("%s/%d", ver.Credential, ver.Seq)]
			if rv == nil {
				v.add(&v.Overlaps, "%s: %s wrote version %d of %s at %s, which no run minted", pipe, w.Process, ver.Seq, ver.Credential, clock(w.Start))
				continue
			}
			judgeWriter(v, ev, pipe, w, rv)
		}
	}
}

// judgeWriter checks that w came from the process holding run rv at the
// time, while rv was open.
func judgeWriter(v *verdict, ev evidence, pipe string, w request, rv *runView) {
	i := slices.IndexFunc(rv.actors, func(a string) bool { return ev.Process[a] == w.Process })
	switch {
	case i < 0:
		v.add(&v.Overlaps, "%s: %s wrote run %d's token at %s but never held run %d", pipe, w.Process, rv.run.ID, clock(w.Start), rv.run.ID)
	case i+1 < len(rv.actors) && !w.Start.Before(rv.since[i+1]):
		v.add(&v.Overlaps, "%s: %s wrote run %d's token at %s, after %s had taken the run over at %s", pipe, w.Process, rv.run.ID,
			clock(w.Start), name(ev.Process, rv.actors[i+1]), clock(rv.since[i+1]))
	case len(rv.records) > 0 && w.Start.After(rv.records[len(rv.records)-1].Time):
		v.add(&v.Overlaps, "%s: %s wrote run %d's token at %s, after the run's last record (%s at %s)", pipe, w.Process, rv.run.ID,
			clock(w.Start), rv.records[len(rv.records)-1].Event, clock(rv.records[len(rv.records)-1].Time))
	}
}

// judgeTokens checks the end state: every pipeline holds its credential's
// current version and GitHub accepts it; no pipeline poll was refused; every
// live installation token is one rotor knows and has not retired, or was
// minted by a process in the instant before it was killed or paused.
func judgeTokens(v *verdict, ev evidence, versions map[string]rotation.Version) {
	for _, c := range ev.Creds {
		cur := ""
		for _, ver := range c.Versions {
			if ver.State == rotation.VersionCurrent {
				cur = ver.Fingerprint
			}
		}
		switch {
		case c.Holds != cur:
			v.add(&v.DeadBindings, "%s: holds %s, but %s's current version is %s", c.Pipeline, c.Holds, c.Name, cur)
		case !c.HoldsOK:
			v.add(&v.DeadBindings, "%s: holds %s, which GitHub refuses: %s", c.Pipeline, c.Holds, c.Why)
		}
	}
	for _, f := range ev.FailedFetches {
		v.add(&v.DeadBindings, "a pipeline poll failed: %s", f)
	}
	minted := map[string]request{}
	for _, r := range ev.Requests {
		if r.Op == opMint && r.Fingerprint != "" {
			minted[r.Fingerprint] = r
		}
	}
	live := slices.Sorted(func(yield func(string) bool) {
		for fp := range ev.Live {
			if !yield(fp) {
				return
			}
		}
	})
	for _, fp := range live {
		ver, known := versions[fp]
		switch {
		case known && ver.State == rotation.VersionRetired:
			v.add(nil, "%s: version %d (%s) is retired but GitHub still accepts it", ver.Credential, ver.Seq, fp)
		case known:
		default:
			m, ok := minted[fp]
			at, interrupted := ev.Interrupted[m.Process]
			if ok && interrupted && m.Start.Before(at) {
				v.Orphans++
				continue
			}
			v.add(&v.Duplicates, "installation token %s (minted by %s at %s for %s) is alive and rotor has no record of it",
				fp, cmp.Or(strings.TrimSpace(m.Process), "-"), clock(m.Start), cmp.Or(strings.TrimSpace(m.Resource), "-"))
		}
	}
}

func countEvent(recs []audit.Record, event string) int {
	n := 0
	for _, r := range recs {
		if r.Event == event {
			n++
		}
	}
	return n
}

func firstSeq(rv *runView) int64 {
	if len(rv.records) == 0 {
		return 0
	}
	return rv.records[0].Seq
}

func name(process map[string]string, actor string) string {
	if p, ok := process[actor]; ok {
		return p
	}
	return actor
}

func clock(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Format("15:04:05.000")
}
