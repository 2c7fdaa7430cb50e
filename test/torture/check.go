package torture

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/rotor-ci/rotor/internal/audit"
	"github.com/rotor-ci/rotor/internal/emulator/codepipeline"
	"github.com/rotor-ci/rotor/internal/token"
)

// Records is everything the invariant checks read. None of it is rotor's
// own view of the world except the audit log (I5, I7) and which version
// rotor calls current (I3 compares it with what the pipelines hold).
type Records struct {
	Start, Now time.Time
	Grace      time.Duration

	Fetches        []codepipeline.Fetch // every fetch a pipeline made
	FetchesDropped int64
	Mints          []Mint // installation and user tokens GitHub issued to rotor
	// UserGrants is every refresh rotor sent and every device flow GitHub
	// answered with a pair; UserCreds names the github-app-user credential
	// of each app's client id.
	UserGrants []UserGrant
	UserCreds  map[string]string
	Revokes    []Revoke // revocations GitHub accepted from rotor
	Updates    []Update // UpdatePipeline calls the emulator accepted
	// CPUpdates is the emulator's own record of every UpdatePipeline it
	// applied: the executions each stopped, and when the pipeline's
	// executions were last read before it (I8). Interrupt names the
	// pipelines whose policy allows stopping one.
	CPUpdates []codepipeline.Update
	Interrupt map[string]bool

	Tokens       map[string]known     // every token value ever issued, by fingerprint
	Live         map[string]bool      // tokens GitHub accepts now
	PATRevokedAt map[string]time.Time // GitHub's own revocation time of personal tokens
	// Superseded: user tokens a refresh ended, when (GitHub's time);
	// UserRevokedAt: user tokens revoked, when (a revocation may name the
	// pair's refresh token instead).
	Superseded, UserRevokedAt map[string]time.Time

	Initial   map[string]pipelineStart // pipelines as the world made them
	Pipelines map[string]pipelineNow   // and as they are now
	Creds     []credState

	Kills      []time.Time       // when each SIGKILLed rotor process was found dead
	KilledPIDs map[int]time.Time // which, and when

	Audit       []audit.Record
	AuditVerify error // rotor audit verify
	Leaks       []Leak
}

// pipelineNow is a pipeline at rest.
type pipelineNow struct {
	Masked  json.RawMessage // without version
	Version int
	Tokens  map[string]string // "stage/action" → fingerprint held
}

// credState is a credential at rest.
type credState struct {
	Name     string
	Current  string            // fingerprint rotor calls current
	Versions map[string]string // fingerprint → state, every version rotor recorded
	Bindings []binding         // where its token lives
	Open     bool              // a run is still open
}

type binding struct{ Pipeline, Action string } // Action is "stage/action"

func (b binding) String() string { return b.Pipeline + "/" + b.Action }

// Violation is one broken invariant, with what a person needs to find it.
type Violation struct {
	Invariant string
	At        time.Time
	What      string
}

func (v Violation) String() string {
	return fmt.Sprintf("%s at %s: %s", v.Invariant, v.At.Format("15:04:05.000000"), v.What)
}

// Findings is what Check found.
type Findings struct {
	Violations                             []Violation // sorted by time: the first is the first that happened
	FailedFetches                          int
	FailedFetchesDeadToken                 int
	SupersededFetches                      int // with a user token its refresh had ended (excused: see I1)
	OrphanLiveTokens                       int
	LostMints                              int // installation tokens whose value died with a killed process
	RevocationsQueued                      int // retired tokens waiting for GitHub's hourly revocation allowance
	Leaks                                  int
	Rotations                              int // runs that finished
	Succeeded, RolledBack, Failed, Resumed int
	ScheduledRuns                          int // started by rotor serve (its schedule or its API)
	Retired                                int
	StoppedExecutions, RacedStops          int // by rotor's updates (I8)
	Stragglers                             int // bindings a run left waiting for their pipeline
	StragglerWaitMax                       time.Duration
}

// Check checks I1–I7 on r.
func Check(r Records) Findings {
	var f Findings
	add := func(inv string, at time.Time, format string, a ...any) {
		f.Violations = append(f.Violations, Violation{Invariant: inv, At: at, What: fmt.Sprintf(format, a...)})
	}
	hist := bindingHistories(r)
	death := deaths(r)

	// I1 from the fetch record: no fetch may fail. A 401 is a dead token;
	// anything else is no fault the harness injects (GitHub faults spare
	// the fetches) and is a violation too, reported as such.
	if r.FetchesDropped > 0 {
		add("I1", r.Now, "the fetch record dropped %d fetches: the check cannot see them", r.FetchesDropped)
	}
	for _, fe := range r.Fetches {
		if fe.OK {
			continue
		}
		if fe.Status == 401 && r.supersededBy(fe.TokenFingerprint, death, r.Now) {
			// A refresh ends the user token it replaces at once: the
			// bindings of a github-app-user credential hold a dead token
			// from the refresh until the run writes them (or, when the
			// answer was lost, until a person authorizes rotor again).
			// Documented, unavoidable, counted; I3 requires every binding
			// on the current token at rest. (A fetch's time is when it was
			// sent: one sent just before the refresh may be refused.)
			f.SupersededFetches++
			continue
		}
		f.FailedFetches++
		b := binding{fe.Pipeline, actionKey(fe)}
		held := hist[b].at(fe.Time)
		if fe.Status == 401 {
			f.FailedFetchesDeadToken++
			add("I1", fe.Time, "pipeline %s action %s fetched with %s (%s) and GitHub refused it: %s; the binding held %s then; the token died %s",
				fe.Pipeline, b.Action, fe.TokenFingerprint, r.origin(fe.TokenFingerprint), fe.Reason, held, when(death[fe.TokenFingerprint]))
		} else {
			add("I1", fe.Time, "pipeline %s action %s: fetch failed without an injected fault: status %d: %s", fe.Pipeline, b.Action, fe.Status, fe.Reason)
		}
	}
	// I1 exactly: no binding ever held a token after it died.
	for b, h := range hist {
		for i, iv := range h {
			d, dead := death[iv.fp]
			if !dead || r.supersededBy(iv.fp, death, d) {
				continue
			}
			end := r.Now
			if i+1 < len(h) {
				end = h[i+1].from
			}
			if d.Before(end) {
				add("I1", d, "binding %s held %s (%s) from %s until %s, but GitHub stopped accepting it at %s",
					b, iv.fp, r.origin(iv.fp), stamp(iv.from), stampOrNow(end, i+1 == len(h)), stamp(d))
			}
		}
	}
	for _, u := range r.Updates {
		for _, a := range u.Unknown {
			add("I1", u.Time, "UpdatePipeline %s (version %d) sent action %s a value GitHub never issued", u.Pipeline, u.Version, a)
		}
	}

	// I2: a token rotor revoked was revoked after every binding moved off
	// it and, unless it was a rollback's new token, after the grace period.
	revokedBy := map[string]time.Time{}
	for _, rv := range r.Revokes {
		if t, ok := revokedBy[rv.Fingerprint]; !ok || rv.Time.Before(t) {
			revokedBy[rv.Fingerprint] = rv.Time
		}
	}
	for fp, t := range r.UserRevokedAt {
		if rt, ok := revokedBy[fp]; !ok || t.Before(rt) {
			revokedBy[fp] = t // or by its refresh token, which the proxy saw
		}
	}
	for fp, t := range r.PATRevokedAt {
		if _, ok := revokedBy[fp]; ok {
			revokedBy[fp] = t // GitHub's own time: the earlier, exact one
		} else if k := r.Tokens[fp]; k.DeletedAt.IsZero() {
			add("I2", t, "personal token %s (%s) was revoked, but not through any request the proxy saw", fp, r.origin(fp))
		}
	}
	// A failed run's new token goes at once, once no binding holds it. A
	// binding that moved back to a token it held before shows a rollback;
	// a straggler of an earlier run that the failed run had taken moves
	// to the current version instead, which it never held: the audit
	// record that ends the failed run names its token.
	failedRunToken := map[string]bool{}
	for _, rec := range r.Audit {
		if rec.Event != "run.rolled_back" && rec.Event != "run.failed" {
			continue
		}
		var d struct {
			Fingerprint string `json:"fingerprint"`
		}
		if json.Unmarshal([]byte(rec.Detail), &d) == nil && d.Fingerprint != "" {
			failedRunToken[d.Fingerprint] = true
		}
	}
	for fp, d := range revokedBy {
		if r.supersededBy(fp, death, d) {
			continue // a refresh had ended it already: revoking it changes nothing
		}
		var lastOff time.Time
		rollback := true
		held := false
		for b, h := range hist {
			for i, iv := range h {
				if iv.fp != fp {
					continue
				}
				held = true
				if i+1 >= len(h) {
					continue // still held: I1 above reports it
				}
				off := h[i+1].from
				if off.After(lastOff) {
					lastOff = off
				}
				if !h.heldBefore(h[i+1].fp, i) {
					rollback = false
				}
				_ = b
			}
		}
		if !held || lastOff.IsZero() {
			continue
		}
		if !rollback && !failedRunToken[fp] && d.Sub(lastOff) < r.Grace-10*time.Millisecond {
			add("I2", d, "%s (%s) was revoked %s after the last binding moved off it, within the grace period %s",
				fp, r.origin(fp), d.Sub(lastOff).Round(time.Millisecond), r.Grace)
		}
	}

	// I3 at rest: every binding holds its credential's current version;
	// every live token is some credential's current one.
	current := map[string]string{}
	recorded := map[string]string{}
	for _, c := range r.Creds {
		current[c.Current] = c.Name
		if c.Open {
			add("I3", r.Now, "credential %s still has an open run at rest", c.Name)
		}
		for fp, st := range c.Versions {
			recorded[fp] = c.Name + " " + st
			if st == "previous" {
				add("I3", r.Now, "credential %s: version %s is still previous after the grace period and a retire", c.Name, fp)
			}
		}
		for _, b := range c.Bindings {
			p, ok := r.Pipelines[b.Pipeline]
			if !ok {
				add("I3", r.Now, "binding %s: the pipeline is gone", b)
				continue
			}
			if got := p.Tokens[b.Action]; got != c.Current {
				add("I3", r.Now, "binding %s holds %s (%s), but %s's current version is %s", b, got, r.origin(got), c.Name, c.Current)
			}
		}
	}
	reached := map[string]bool{}
	for _, h := range hist {
		for _, iv := range h {
			reached[iv.fp] = true
		}
	}
	minted := map[string]Mint{}
	for _, m := range r.Mints {
		minted[m.Fingerprint] = m
	}
	var live []string
	for fp := range r.Live {
		live = append(live, fp)
	}
	sort.Strings(live)
	for _, fp := range live {
		if _, ok := current[fp]; ok {
			continue
		}
		k := r.Tokens[fp]
		st, isVersion := recorded[fp]
		_, isMinted := minted[fp]
		switch {
		case isMinted && !isVersion && !reached[fp] && r.askerKilled(minted[fp]):
			// The rotor process that asked was killed while it waited for
			// GitHub's answer or before it could record the token: its value existed only in
			// that process's memory (the leak search finds no copy), and
			// GitHub cannot list installation tokens. It expires within the
			// hour.
			f.LostMints++
		case isVersion && strings.HasSuffix(st, " retired") && revokedByCredentialsAPI(k.Value) && r.revokeBudgetSpent(r.Now):
			// rotor retired it and queued its revocation, but GitHub's
			// allowance for the revocation API (60 calls an hour) is
			// spent: the queue sends it when the hour has passed. Not an
			// orphan: rotor keeps it sealed and queued, and status and
			// the metrics show it.
			f.RevocationsQueued++
		case isMinted && !isVersion:
			f.OrphanLiveTokens++
			add("I3", minted[fp].Time, "%s %s was minted at %s for rotor process %d, which was not killed, and is still live, but no credential ever recorded it", kindOf(minted[fp]), fp, stamp(minted[fp].Time), minted[fp].PID)
		case reached[fp] || isMinted || (isVersion && !strings.HasSuffix(st, "rejected")):
			f.OrphanLiveTokens++
			add("I3", r.Now, "%s (%s; rotor: %s) is live but no credential's current token", fp, r.origin(fp), cmp.Or(st, "-"))
		case k.Origin == "person":
			// The person's own token that rotor refused and the person did
			// not delete yet: not rotor's to revoke.
		case k.Origin == "boot":
			f.OrphanLiveTokens++
			add("I3", r.Now, "boot token %s is live but no credential's current token", fp)
		}
	}

	// I3 for refresh answers: one lost by a crash must end in "person
	// needed", never silently.
	f.checkRefreshes(r, recorded, revokedBy, add)

	// I4: a declaration changes only in its tokens, and its version by one
	// per update.
	byPipeline := map[string][]Update{}
	for _, u := range r.Updates {
		byPipeline[u.Pipeline] = append(byPipeline[u.Pipeline], u)
	}
	for name, start := range r.Initial {
		us := byPipeline[name]
		slices.SortFunc(us, func(a, b Update) int { return cmp.Compare(a.Version, b.Version) })
		for i, u := range us {
			if want := start.Version + i + 1; u.Version != want {
				add("I4", u.Time, "pipeline %s: update %d left version %d, want %d", name, i+1, u.Version, want)
			}
			if m, err := withoutVersion(u.Masked); err != nil || !bytes.Equal(m, start.Masked) {
				add("I4", u.Time, "pipeline %s version %d differs from the original beyond its tokens: %s", name, u.Version, strings.Join(jsonDiff(start.Masked, m), ", "))
			}
		}
		now, ok := r.Pipelines[name]
		if !ok {
			continue
		}
		if want := start.Version + len(us); now.Version != want {
			add("I4", r.Now, "pipeline %s is at version %d after %d updates from version %d", name, now.Version, len(us), start.Version)
		}
		if !bytes.Equal(now.Masked, start.Masked) {
			add("I4", r.Now, "pipeline %s differs from the original beyond its tokens: %s", name, strings.Join(jsonDiff(start.Masked, now.Masked), ", "))
		}
	}

	// I5: the audit log shows no two runs of one credential at once.
	f.checkAudit(r.Audit, add)

	// I8: no execution stopped by rotor unless its policy said interrupt.
	// An update stops what runs when it arrives; rotor reads the
	// executions just before it sends one. An execution that started
	// after that read is the race no API can close (counted, not a
	// violation); one that was already running when rotor looked, or an
	// update with no look before it, is a violation.
	f.checkStops(r, add)
	f.stragglers(r)

	// I6: no token value in any output, log, store file or temp file.
	for _, l := range r.Leaks {
		f.Leaks++
		add("I6", l.ModTime, "%s holds %s (%s) at byte %d", l.File, l.Fingerprint, r.origin(l.Fingerprint), l.Offset)
	}

	// I7: rotor audit verify.
	if r.AuditVerify != nil {
		add("I7", r.Now, "rotor audit verify: %v", r.AuditVerify)
	}

	slices.SortStableFunc(f.Violations, func(a, b Violation) int { return a.At.Compare(b.At) })
	return f
}

func (f *Findings) checkStops(r Records, add func(string, time.Time, string, ...any)) {
	for _, u := range r.CPUpdates {
		for _, x := range u.Stopped {
			f.StoppedExecutions++
			switch {
			case r.Interrupt[u.Pipeline]:
			case u.StateRead.IsZero():
				add("I8", u.Time, "UpdatePipeline of %s (version %d) stopped execution %s, and nothing read the pipeline's executions before it", u.Pipeline, u.Version, x.ID)
			case x.Started.Before(u.StateRead):
				add("I8", u.Time, "UpdatePipeline of %s (version %d) stopped execution %s, which had run since %s, before rotor last read the executions at %s", u.Pipeline, u.Version, x.ID, stamp(x.Started), stamp(u.StateRead))
			default:
				f.RacedStops++
			}
		}
	}
}

// stragglers counts the bindings runs left waiting for their pipeline
// (the audit records of apply name them) and how long the longest waited
// until rotor next updated its pipeline.
func (f *Findings) stragglers(r Records) {
	us := slices.Clone(r.Updates)
	slices.SortStableFunc(us, func(a, b Update) int { return a.Time.Compare(b.Time) })
	for _, rec := range r.Audit {
		if rec.Event != "applied" || rec.Detail == "" {
			continue
		}
		var d struct {
			Waiting []string `json:"waiting"`
		}
		if json.Unmarshal([]byte(rec.Detail), &d) != nil {
			continue
		}
		for _, id := range d.Waiting {
			f.Stragglers++
			// IDs are codepipeline:<account>:<region>:<pipeline>/<stage>/<action>.
			rest := id[strings.LastIndexByte(id, ':')+1:]
			pipeline, _, _ := strings.Cut(rest, "/")
			for _, u := range us {
				if u.Pipeline == pipeline && u.Time.After(rec.Time) {
					f.StragglerWaitMax = max(f.StragglerWaitMax, u.Time.Sub(rec.Time))
					break
				}
			}
		}
	}
}

// checkAudit walks the chain per credential: between a run's start and its
// end no other run of that credential, and no retirement, may write; and a
// run passes from one process to another (a resume after a crash) but
// never back: two processes never drive one run at once.
func (f *Findings) checkAudit(recs []audit.Record, add func(string, time.Time, string, ...any)) {
	open := map[string]int64{}
	actors := map[int64][]string{} // run → the processes that wrote for it, in order
	for _, rec := range recs {
		c := rec.Credential
		if rec.Event == "stragglers" {
			// Bindings a finished run left waiting, moved later under the
			// credential's lease by whichever process got to them: like a
			// retirement, never while another run is open.
			if o, ok := open[c]; ok {
				add("I5", rec.Time, "%s: stragglers of run %d moved (record %d) while run %d was open", c, rec.RunID, rec.Seq, o)
			}
			continue
		}
		if rec.RunID != 0 {
			as := actors[rec.RunID]
			switch {
			case len(as) == 0 || as[len(as)-1] != rec.Actor:
				if slices.Contains(as, rec.Actor) {
					add("I5", rec.Time, "%s: run %d: %s wrote %s (record %d) after %s had taken the run over", c, rec.RunID, rec.Actor, rec.Event, rec.Seq, as[len(as)-1])
				}
				actors[rec.RunID] = append(as, rec.Actor)
			}
		}
		switch rec.Event {
		case "run.started":
			if o, ok := open[c]; ok && o != rec.RunID {
				add("I5", rec.Time, "%s: run %d started (record %d) while run %d was open", c, rec.RunID, rec.Seq, o)
			}
			open[c] = rec.RunID
			if strings.Contains(rec.Detail, `"trigger":"schedule"`) || strings.Contains(rec.Detail, `"trigger":"api"`) {
				f.ScheduledRuns++
			}
			continue
		case "promoted":
			f.Rotations++
			f.Succeeded++
		case "run.rolled_back":
			f.Rotations++
			f.RolledBack++
		case "run.failed":
			f.Rotations++
			f.Failed++
		case "run.resumed":
			f.Resumed++
		case "retired":
			f.Retired++
		}
		o, isOpen := open[c]
		switch {
		case rec.RunID == 0 && isOpen:
			add("I5", rec.Time, "%s: %s (record %d) while run %d was open", c, rec.Event, rec.Seq, o)
		case rec.RunID != 0 && isOpen && rec.RunID != o:
			add("I5", rec.Time, "%s: run %d wrote %s (record %d) while run %d was open", c, rec.RunID, rec.Event, rec.Seq, o)
		case rec.RunID != 0 && !isOpen:
			add("I5", rec.Time, "%s: run %d wrote %s (record %d) after it had ended", c, rec.RunID, rec.Event, rec.Seq)
		}
		switch rec.Event {
		case "promoted", "run.rolled_back", "run.failed":
			delete(open, c)
		}
	}
}

// interval is a token a binding held from a moment on.
type interval struct {
	from time.Time
	fp   string
}

type tokenHistory []interval

func (h tokenHistory) at(t time.Time) string {
	fp := "?"
	for _, iv := range h {
		if iv.from.After(t) {
			break
		}
		fp = iv.fp
	}
	return fp
}

// heldBefore reports whether fp was held in an interval before i.
func (h tokenHistory) heldBefore(fp string, i int) bool {
	for _, iv := range h[:i] {
		if iv.fp == fp {
			return true
		}
	}
	return false
}

// bindingHistories is what each GitHub action held over time: the world's
// token, then what each accepted update sent it.
func bindingHistories(r Records) map[binding]tokenHistory {
	out := map[binding]tokenHistory{}
	for name, p := range r.Initial {
		for a, fp := range p.Tokens {
			out[binding{name, a}] = tokenHistory{{from: r.Start, fp: fp}}
		}
	}
	us := slices.Clone(r.Updates)
	slices.SortStableFunc(us, func(a, b Update) int { return a.Time.Compare(b.Time) })
	for _, u := range us {
		for a, fp := range u.Tokens {
			b := binding{u.Pipeline, a}
			h := out[b]
			if len(h) > 0 && h[len(h)-1].fp == fp {
				continue
			}
			out[b] = append(h, interval{from: u.Time, fp: fp})
		}
	}
	return out
}

// deaths is when GitHub stopped accepting each token: revoked (GitHub's
// own time, or the proxy's), deleted by the person, or expired.
func deaths(r Records) map[string]time.Time {
	out := map[string]time.Time{}
	set := func(fp string, t time.Time) {
		if t.IsZero() {
			return
		}
		if d, ok := out[fp]; !ok || t.Before(d) {
			out[fp] = t
		}
	}
	for fp, t := range r.PATRevokedAt {
		set(fp, t)
	}
	for _, rv := range r.Revokes {
		set(rv.Fingerprint, rv.Time)
	}
	for fp, k := range r.Tokens {
		set(fp, k.DeletedAt)
	}
	for fp, t := range r.Superseded {
		set(fp, t)
	}
	for fp, t := range r.UserRevokedAt {
		set(fp, t)
	}
	for _, m := range r.Mints {
		set(m.Fingerprint, m.ExpiresAt)
	}
	return out
}

func actionKey(fe codepipeline.Fetch) string {
	// Every GitHub action of the torture world sits in the stage "Source".
	return "Source/" + fe.Action
}

func (r Records) origin(fp string) string {
	if k, ok := r.Tokens[fp]; ok {
		if k.Cred != "" {
			return k.Origin + " token of " + k.Cred
		}
		return k.Origin + " token"
	}
	return "unknown token"
}

func stamp(t time.Time) string { return t.Format("15:04:05.000000") }

func stampOrNow(t time.Time, now bool) string {
	if now {
		return "now"
	}
	return stamp(t)
}

func when(t time.Time) string {
	if t.IsZero() {
		return "never (as far as GitHub's records go)"
	}
	return "at " + stamp(t)
}

// jsonDiff lists up to five paths where two JSON documents differ.
func jsonDiff(a, b []byte) []string {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return []string{"(not JSON)"}
	}
	var out []string
	var walk func(path string, x, y any)
	walk = func(path string, x, y any) {
		if len(out) >= 5 {
			return
		}
		switch xv := x.(type) {
		case map[string]any:
			yv, ok := y.(map[string]any)
			if !ok {
				out = append(out, path)
				return
			}
			keys := map[string]bool{}
			for k := range xv {
				keys[k] = true
			}
			for k := range yv {
				keys[k] = true
			}
			ks := make([]string, 0, len(keys))
			for k := range keys {
				ks = append(ks, k)
			}
			sort.Strings(ks)
			for _, k := range ks {
				walk(path+"."+k, xv[k], yv[k])
			}
		case []any:
			yv, ok := y.([]any)
			if !ok || len(xv) != len(yv) {
				out = append(out, path)
				return
			}
			for i := range xv {
				walk(fmt.Sprintf("%s[%d]", path, i), xv[i], yv[i])
			}
		default:
			if fmt.Sprint(x) != fmt.Sprint(y) {
				out = append(out, path)
			}
		}
	}
	walk("", x, y)
	if len(out) == 0 {
		out = []string{"(equal as values, different as bytes)"}
	}
	return out
}

func kindOf(m Mint) string {
	if m.Kind == "user" {
		return "user token"
	}
	return "installation token"
}

// supersededBy reports whether fp died by a refresh (its first death) at
// or before t.
func (r Records) supersededBy(fp string, death map[string]time.Time, t time.Time) bool {
	s, ok := r.Superseded[fp]
	return ok && !s.After(t) && !death[fp].Before(s)
}

// checkRefreshes: the answer to a refresh holds the only copy of the next
// refresh token. An answer rotor recorded shows later: its user token
// became a version, its refresh token was sent again, or rotor revoked the
// pair. An answer that never shows was lost; that is allowed only when the
// process that asked was killed after asking (a crash between the request
// and its record), and then rotor must find out and say so: send the used
// refresh token again, have GitHub refuse it, and fail a run of the
// credential with reason PersonNeeded. Anything else is a silent loss.
func (f *Findings) checkRefreshes(r Records, recorded map[string]string, revokedBy map[string]time.Time, add func(string, time.Time, string, ...any)) {
	personNeeded := map[string][]time.Time{}
	for _, rec := range r.Audit {
		if rec.Event != "failed" {
			continue
		}
		var d struct {
			Reason string `json:"reason"`
		}
		if json.Unmarshal([]byte(rec.Detail), &d) == nil && d.Reason == "PersonNeeded" {
			personNeeded[rec.Credential] = append(personNeeded[rec.Credential], rec.Time)
		}
	}
	for i, g := range r.UserGrants {
		if g.Grant != "refresh_token" || g.Error != "" {
			continue
		}
		_, isVersion := recorded[g.Access]
		_, revoked := revokedBy[g.Access]
		usedAgain := false
		var refused time.Time
		for _, later := range r.UserGrants[i+1:] {
			if later.Used == g.Refresh {
				usedAgain = true
			}
			if later.Used == g.Used && later.Error == "bad_refresh_token" && refused.IsZero() {
				refused = later.Time
			}
		}
		if isVersion || usedAgain || revoked {
			continue
		}
		cred := r.UserCreds[g.ClientID]
		what := fmt.Sprintf("the answer to %s's refresh with %s (user token %s, refresh token %s) was never recorded", cmp.Or(cred, "?"), g.Used, g.Access, g.Refresh)
		if !r.askerKilled(Mint{PID: g.PID, Running: g.Running, Asked: g.Asked}) {
			add("I3", g.Time, "%s, and rotor process %d that asked for it was not killed: a silent loss", what, g.PID)
			continue
		}
		if refused.IsZero() {
			add("I3", g.Time, "%s (its process was killed), and rotor never tried the used refresh token again to find out", what)
			continue
		}
		if !slices.ContainsFunc(personNeeded[cred], func(t time.Time) bool { return !t.Before(refused) }) {
			add("I3", refused, "%s (its process was killed); GitHub refused the used refresh token at %s, but no run of %s failed with PersonNeeded after it", what, stamp(refused), cmp.Or(cred, "?"))
		}
	}
}

// askerKilled reports whether the rotor process that asked for m was
// killed after it asked. When its socket was gone before the proxy could
// name it (PID 0), the asker was one of the processes running then, and
// it can only have vanished by being killed: any of them killed after the
// request arrived counts.
func (r Records) askerKilled(m Mint) bool {
	if m.PID != 0 {
		return r.KilledPIDs[m.PID].After(m.Asked)
	}
	for _, pid := range m.Running {
		if r.KilledPIDs[pid].After(m.Asked) {
			return true
		}
	}
	return false
}

// revokeCallsPerHour is GitHub's allowance for POST /credentials/revoke
// (../shared/reference/github.md), which rotor's queue keeps to.
const revokeCallsPerHour = 60

// revokeBudgetSpent reports whether GitHub accepted revokeCallsPerHour
// calls to its revocation API in the hour before at (from the wire: the
// tokens of one call share its time).
func (r Records) revokeBudgetSpent(at time.Time) bool {
	calls := map[time.Time]bool{}
	for _, rv := range r.Revokes {
		if rv.Via == "POST /credentials/revoke" && !rv.Time.After(at) && at.Sub(rv.Time) < time.Hour {
			calls[rv.Time] = true
		}
	}
	return len(calls) >= revokeCallsPerHour
}

// revokedByCredentialsAPI reports whether rotor revokes t through the
// credential revocation API (every kind but installation tokens).
func revokedByCredentialsAPI(t token.Token) bool {
	return !t.IsZero() && token.KindOf(t.Reveal()) != token.KindInstallation
}
