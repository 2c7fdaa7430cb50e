package torture

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/rotor-ci/rotor/internal/audit"
	"github.com/rotor-ci/rotor/internal/emulator/codepipeline"
	"github.com/rotor-ci/rotor/internal/token"
)

// The checks must find what they promise to: each case plants one
// violation in an otherwise clean record of one rotation (boot token A
// replaced by B, A retired after the grace period).
var (
	t0    = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	grace = time.Second
	decl  = json.RawMessage(`{"name":"p1","stages":[{"name":"Source","actions":[{"name":"Source","configuration":{"OAuthToken":"****"}}]}]}`)
)

const (
	fpA = "sha256:aaaaaaaaaaaa"
	fpB = "sha256:bbbbbbbbbbbb"
	fpC = "sha256:cccccccccccc"
)

// norm is a declaration as the harness keeps it: without version, re-encoded.
func norm(d json.RawMessage) json.RawMessage {
	n, err := withoutVersion(d)
	if err != nil {
		panic(err)
	}
	return n
}

func at(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }

func cleanRecords() Records {
	src := binding{"p1", "Source/Source"}
	return Records{
		Start: t0, Now: at(10_000), Grace: grace,
		Fetches: []codepipeline.Fetch{
			{Time: at(100), Pipeline: "p1", Action: "Source", TokenFingerprint: fpA, OK: true, Status: 200},
			{Time: at(3000), Pipeline: "p1", Action: "Source", TokenFingerprint: fpB, OK: true, Status: 200},
		},
		Updates: []Update{{Time: at(1000), Pipeline: "p1", Version: 2, Tokens: map[string]string{"Source/Source": fpB}, Masked: decl}},
		Revokes: []Revoke{{Time: at(2500), Fingerprint: fpA, Via: "POST /credentials/revoke"}},
		Tokens: map[string]known{
			fpA: {Origin: "boot", Cred: "c"},
			fpB: {Origin: "person", Cred: "c"},
		},
		Live:         map[string]bool{fpB: true},
		PATRevokedAt: map[string]time.Time{fpA: at(2499)},
		Initial:      map[string]pipelineStart{"p1": {Masked: norm(decl), Version: 1, Tokens: map[string]string{"Source/Source": fpA}}},
		Pipelines:    map[string]pipelineNow{"p1": {Masked: norm(decl), Version: 2, Tokens: map[string]string{"Source/Source": fpB}}},
		Creds:        []credState{{Name: "c", Current: fpB, Versions: map[string]string{fpA: "retired", fpB: "current"}, Bindings: []binding{src}}},
		Audit: []audit.Record{
			{Seq: 1, Time: at(0), Credential: "c", Event: "adopted"},
			{Seq: 2, Time: at(500), Credential: "c", RunID: 1, Event: "run.started", Detail: `{"trigger":"manual"}`},
			{Seq: 3, Time: at(900), Credential: "c", RunID: 1, Event: "applied"},
			{Seq: 4, Time: at(1200), Credential: "c", RunID: 1, Event: "promoted"},
			{Seq: 5, Time: at(2500), Credential: "c", Event: "retired"},
		},
	}
}

func invariants(vs []Violation) []string {
	var out []string
	for _, v := range vs {
		out = append(out, v.Invariant)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func TestCheck(t *testing.T) {
	for _, tc := range []struct {
		name  string
		plant func(r *Records)
		want  []string
		check func(t *testing.T, f Findings)
	}{
		{name: "clean", plant: func(*Records) {}},
		{
			name: "I2 a failed run's token may go at once even off a binding that never held the token it moved to",
			plant: func(r *Records) {
				// A → B (the run), then C, the credential's current token,
				// which this binding (a straggler before) never held; B
				// revoked at once and named by the run's end.
				r.Updates = append(r.Updates, Update{Time: at(1100), Pipeline: "p1", Version: 3, Tokens: map[string]string{"Source/Source": fpC}, Masked: decl})
				r.Revokes = []Revoke{{Time: at(1101), Fingerprint: fpB}}
				r.PATRevokedAt = map[string]time.Time{fpB: at(1101)}
				r.Tokens[fpC] = known{Origin: "person", Cred: "c"}
				r.Live = map[string]bool{fpC: true}
				r.Pipelines["p1"] = pipelineNow{Masked: norm(decl), Version: 3, Tokens: map[string]string{"Source/Source": fpC}}
				r.Creds[0].Current, r.Creds[0].Versions = fpC, map[string]string{fpA: "retired", fpB: "retired", fpC: "current"}
				r.Audit = append(r.Audit[:3], audit.Record{Seq: 4, Time: at(1102), Credential: "c", RunID: 1, Event: "run.rolled_back", Detail: `{"fingerprint":"` + fpB + `","revoked":true}`}, audit.Record{Seq: 5, Time: at(2500), Credential: "c", Event: "retired"})
				r.Updates[1].Version = 3
			},
		},
		{
			name: "I8 an update stopped an execution rotor had seen running",
			plant: func(r *Records) {
				r.CPUpdates = []codepipeline.Update{{Time: at(1000), Pipeline: "p1", Version: 2, StateRead: at(990),
					Stopped: []codepipeline.StoppedExecution{{ID: "e-1", Started: at(400), Status: "Superseded"}}}}
			},
			want: []string{"I8"},
			check: func(t *testing.T, f Findings) {
				if f.StoppedExecutions != 1 || f.RacedStops != 0 {
					t.Errorf("stopped %d, raced %d; want 1, 0", f.StoppedExecutions, f.RacedStops)
				}
			},
		},
		{
			name: "I8 an update with no look at the executions before it",
			plant: func(r *Records) {
				r.CPUpdates = []codepipeline.Update{{Time: at(1000), Pipeline: "p1", Version: 2,
					Stopped: []codepipeline.StoppedExecution{{ID: "e-1", Started: at(999), Status: "Stopped"}}}}
			},
			want: []string{"I8"},
		},
		{
			name: "I8 the race: the execution started after rotor's look",
			plant: func(r *Records) {
				r.CPUpdates = []codepipeline.Update{{Time: at(1000), Pipeline: "p1", Version: 2, StateRead: at(990),
					Stopped: []codepipeline.StoppedExecution{{ID: "e-1", Started: at(995), Status: "Superseded"}}}}
			},
			check: func(t *testing.T, f Findings) {
				if f.StoppedExecutions != 1 || f.RacedStops != 1 {
					t.Errorf("stopped %d, raced %d; want 1, 1", f.StoppedExecutions, f.RacedStops)
				}
			},
		},
		{
			name: "I8 interrupt allowed by policy",
			plant: func(r *Records) {
				r.Interrupt = map[string]bool{"p1": true}
				r.CPUpdates = []codepipeline.Update{{Time: at(1000), Pipeline: "p1", Version: 2, StateRead: at(990),
					Stopped: []codepipeline.StoppedExecution{{ID: "e-1", Started: at(400), Status: "Superseded"}}}}
			},
		},
		{
			name: "stragglers moved later are counted, not violations",
			plant: func(r *Records) {
				r.Audit[2].Detail = `{"waiting":["codepipeline:123456789012:us-east-1:p1/Source/Source"]}`
			},
			check: func(t *testing.T, f Findings) {
				if f.Stragglers != 1 || f.StragglerWaitMax != 100*time.Millisecond {
					t.Errorf("stragglers %d, longest wait %v; want 1, 100ms", f.Stragglers, f.StragglerWaitMax)
				}
			},
		},
		{
			name: "I5 stragglers moved while another run is open",
			plant: func(r *Records) {
				r.Audit = append(r.Audit[:3], audit.Record{Seq: 4, Time: at(950), Credential: "c", RunID: 7, Event: "stragglers"}, r.Audit[3], r.Audit[4])
			},
			want: []string{"I5"},
		},
		{
			name: "I1 fetch with a dead token",
			plant: func(r *Records) {
				r.Fetches = append(r.Fetches, codepipeline.Fetch{Time: at(2600), Pipeline: "p1", Action: "Source", TokenFingerprint: fpA, Status: 401, Reason: "bad credentials"})
			},
			want: []string{"I1"},
			check: func(t *testing.T, f Findings) {
				if f.FailedFetchesDeadToken != 1 {
					t.Errorf("FailedFetchesDeadToken = %d, want 1", f.FailedFetchesDeadToken)
				}
			},
		},
		{
			name: "I1 failed fetch without a fault",
			plant: func(r *Records) {
				r.Fetches = append(r.Fetches, codepipeline.Fetch{Time: at(2600), Pipeline: "p1", Action: "Source", TokenFingerprint: fpB, Status: 502})
			},
			want: []string{"I1"},
		},
		{
			name: "I1 and I2 old token revoked before the pipeline moved off it",
			plant: func(r *Records) {
				r.PATRevokedAt[fpA] = at(900)
				r.Revokes[0].Time = at(901)
			},
			want: []string{"I1", "I2"},
		},
		{
			name:  "I1 a value GitHub never issued",
			plant: func(r *Records) { r.Updates[0].Unknown = []string{"Source/Source"} },
			want:  []string{"I1"},
		},
		{
			name:  "I2 retired within the grace period",
			plant: func(r *Records) { r.PATRevokedAt[fpA] = at(1300); r.Revokes[0].Time = at(1301) },
			want:  []string{"I2"},
		},
		{
			name: "I2 a rollback's new token may go at once",
			plant: func(r *Records) {
				// A → B, then back to A (rollback) and B revoked at once.
				r.Updates = append(r.Updates, Update{Time: at(1100), Pipeline: "p1", Version: 3, Tokens: map[string]string{"Source/Source": fpA}, Masked: decl})
				r.Revokes = []Revoke{{Time: at(1101), Fingerprint: fpB}}
				r.PATRevokedAt = map[string]time.Time{fpB: at(1100)}
				r.Live = map[string]bool{fpA: true}
				r.Pipelines["p1"] = pipelineNow{Masked: norm(decl), Version: 3, Tokens: map[string]string{"Source/Source": fpA}}
				r.Creds[0].Current = fpA
				r.Creds[0].Versions = map[string]string{fpA: "current", fpB: "retired"}
				r.Fetches = r.Fetches[:1]
			},
		},
		{
			name:  "I2 revoked by nobody the proxy saw",
			plant: func(r *Records) { r.Revokes = nil },
			want:  []string{"I2"},
		},
		{
			name:  "I3 a binding left on another token",
			plant: func(r *Records) { r.Creds[0].Current = fpC; r.Live[fpC] = true },
			want:  []string{"I3"},
		},
		{
			name: "I3 a live token that reached a binding",
			plant: func(r *Records) {
				delete(r.PATRevokedAt, fpA)
				r.Revokes = nil
				r.Live[fpA] = true
			},
			want: []string{"I3"},
			check: func(t *testing.T, f Findings) {
				if f.OrphanLiveTokens != 1 {
					t.Errorf("OrphanLiveTokens = %d, want 1", f.OrphanLiveTokens)
				}
			},
		},
		{
			name: "I3 a minted token nobody recorded",
			plant: func(r *Records) {
				r.Mints = []Mint{{Time: at(4000), Asked: at(3990), Fingerprint: fpC, ExpiresAt: at(3_600_000), PID: 42}}
				r.KilledPIDs = map[int]time.Time{7: at(4010)}
				r.Live[fpC] = true
			},
			want: []string{"I3"},
		},
		{
			name: "I3 a minted token whose process was killed before it asked",
			plant: func(r *Records) {
				r.Mints = []Mint{{Time: at(4000), Asked: at(3990), Fingerprint: fpC, ExpiresAt: at(3_600_000), PID: 42}}
				r.KilledPIDs = map[int]time.Time{42: at(3000)}
				r.Live[fpC] = true
			},
			want: []string{"I3"},
		},
		{
			name: "a minted token whose process was killed while it waited for the answer is lost, not orphaned",
			plant: func(r *Records) {
				r.Mints = []Mint{{Time: at(4000), Asked: at(3990), Fingerprint: fpC, ExpiresAt: at(3_600_000), PID: 42}}
				r.Live[fpC] = true
				r.KilledPIDs = map[int]time.Time{42: at(3995)}
			},
			check: func(t *testing.T, f Findings) {
				if f.LostMints != 1 || f.OrphanLiveTokens != 0 {
					t.Errorf("LostMints = %d, OrphanLiveTokens = %d, want 1 and 0", f.LostMints, f.OrphanLiveTokens)
				}
			},
		},
		{
			name: "a minted token whose process was killed right after is lost, not orphaned",
			plant: func(r *Records) {
				r.Mints = []Mint{{Time: at(4000), Asked: at(3990), Fingerprint: fpC, ExpiresAt: at(3_600_000), PID: 42}}
				r.Live[fpC] = true
				r.KilledPIDs = map[int]time.Time{42: at(4010)}
			},
			check: func(t *testing.T, f Findings) {
				if f.LostMints != 1 || f.OrphanLiveTokens != 0 {
					t.Errorf("LostMints = %d, OrphanLiveTokens = %d, want 1 and 0", f.LostMints, f.OrphanLiveTokens)
				}
			},
		},
		{
			name: "a minted token whose asker could not be named, and one of the processes running then was killed, is lost",
			plant: func(r *Records) {
				r.Mints = []Mint{{Time: at(4000), Asked: at(3990), Fingerprint: fpC, ExpiresAt: at(3_600_000), Running: []int{7, 42}}}
				r.Live[fpC] = true
				r.KilledPIDs = map[int]time.Time{42: at(3992)}
			},
			check: func(t *testing.T, f Findings) {
				if f.LostMints != 1 || f.OrphanLiveTokens != 0 {
					t.Errorf("LostMints = %d, OrphanLiveTokens = %d, want 1 and 0", f.LostMints, f.OrphanLiveTokens)
				}
			},
		},
		{
			name: "I3 a minted token whose asker could not be named, and none of the processes running then was killed",
			plant: func(r *Records) {
				r.Mints = []Mint{{Time: at(4000), Asked: at(3990), Fingerprint: fpC, ExpiresAt: at(3_600_000), Running: []int{7, 42}}}
				r.Live[fpC] = true
				r.KilledPIDs = map[int]time.Time{9: at(3992), 42: at(3000)}
			},
			want: []string{"I3"},
		},
		{
			name:  "a retired token that GitHub's hourly revocation allowance keeps live is queued, not orphaned",
			plant: func(r *Records) { budgetSpent(r, revokeCallsPerHour) },
			check: func(t *testing.T, f Findings) {
				if f.RevocationsQueued != 1 || f.OrphanLiveTokens != 0 {
					t.Errorf("RevocationsQueued = %d, OrphanLiveTokens = %d, want 1 and 0", f.RevocationsQueued, f.OrphanLiveTokens)
				}
			},
		},
		{
			name:  "I3 a retired token left live with the revocation allowance not spent",
			plant: func(r *Records) { budgetSpent(r, revokeCallsPerHour-1) },
			want:  []string{"I3"},
		},
		{
			name:  "I3 a previous version left after the grace period",
			plant: func(r *Records) { r.Creds[0].Versions[fpC] = "previous" },
			want:  []string{"I3"},
		},
		{
			name: "I4 a declaration changed beyond its token",
			plant: func(r *Records) {
				r.Updates[0].Masked = json.RawMessage(`{"name":"p1","stages":[{"name":"Source","actions":[{"name":"Source","configuration":{"OAuthToken":"****","Branch":"dev"}}]}]}`)
			},
			want: []string{"I4"},
		},
		{
			name: "I4 a version skipped",
			plant: func(r *Records) {
				r.Pipelines["p1"] = pipelineNow{Masked: norm(decl), Version: 3, Tokens: map[string]string{"Source/Source": fpB}}
			},
			want: []string{"I4"},
		},
		{
			name: "I5 two runs at once",
			plant: func(r *Records) {
				r.Audit = slices.Insert(r.Audit, 2, audit.Record{Seq: 9, Time: at(600), Credential: "c", RunID: 2, Event: "run.started"})
			},
			want: []string{"I5"},
		},
		{
			name: "I5 two processes driving one run",
			plant: func(r *Records) {
				r.Audit[1].Actor, r.Audit[2].Actor, r.Audit[3].Actor = "host/1", "host/2", "host/1"
			},
			want: []string{"I5"},
		},
		{
			name: "a run resumed by another process after a crash",
			plant: func(r *Records) {
				r.Audit[1].Actor, r.Audit[2].Actor, r.Audit[3].Actor = "host/1", "host/2", "host/2"
			},
		},
		{
			name: "I5 a retirement inside a run",
			plant: func(r *Records) {
				r.Audit = slices.Insert(r.Audit, 3, audit.Record{Seq: 9, Time: at(950), Credential: "c", Event: "retired"})
			},
			want: []string{"I5"},
		},
		{
			name: "I6 a token in a file",
			plant: func(r *Records) {
				r.Leaks = []Leak{{File: "logs/00001-rotate.err", Fingerprint: fpB, Offset: 10, ModTime: at(1000)}}
			},
			want: []string{"I6"},
		},
		{
			name:  "I7 the chain does not verify",
			plant: func(r *Records) { r.AuditVerify = errors.New("record 3: hash mismatch") },
			want:  []string{"I7"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := cleanRecords()
			tc.plant(&r)
			f := Check(r)
			if diff := cmp.Diff(tc.want, invariants(f.Violations)); diff != "" {
				t.Errorf("invariants violated (-want +got):\n%s\nviolations: %v", diff, f.Violations)
			}
			if tc.check != nil {
				tc.check(t, f)
			}
		})
	}
}

func TestCheck_firstViolationFirst(t *testing.T) {
	r := cleanRecords()
	r.Leaks = []Leak{{File: "x", Fingerprint: fpB, ModTime: at(9000)}}
	r.Fetches = append(r.Fetches, codepipeline.Fetch{Time: at(2600), Pipeline: "p1", Action: "Source", TokenFingerprint: fpA, Status: 401})
	f := Check(r)
	if len(f.Violations) != 2 || f.Violations[0].Invariant != "I1" {
		t.Fatalf("violations %v: want the I1 at 2.6s before the I6 at 9s", f.Violations)
	}
}

func TestCheck_rotations(t *testing.T) {
	f := Check(cleanRecords())
	want := Findings{Rotations: 1, Succeeded: 1, Retired: 1}
	if diff := cmp.Diff(want, f); diff != "" {
		t.Errorf("findings (-want +got):\n%s", diff)
	}
}

const (
	fpD  = "sha256:dddddddddddd"
	fpR1 = "sha256:r1r1r1r1r1r1"
	fpR2 = "sha256:r2r2r2r2r2r2"
	fpR3 = "sha256:r3r3r3r3r3r3"
	fpR4 = "sha256:r4r4r4r4r4r4"
)

// userRecords is a github-app-user credential u with a clean record: its
// binding holds user token A (refresh token R1), a refresh at 0.8 s gives
// B (R2) and ends A at once, the run writes B at 1 s, A is retired at
// 2.5 s. Then a refresh with R2 at 4 s gives C (R3), but the process that
// asked (42) is killed as the answer arrives; the resume sends R2 again at
// 4.9 s, GitHub refuses it, the run fails with PersonNeeded at 5 s; a
// person authorizes rotor (D, R4) and the next run writes D at 6.5 s. C
// lives on, a lost mint.
func userRecords() Records {
	r := cleanRecords()
	r.Creds[0].Name = "u"
	for i := range r.Audit {
		r.Audit[i].Credential = "u"
	}
	r.UserCreds = map[string]string{"Iv1.u": "u"}
	r.Tokens = map[string]known{fpA: {Origin: "minted"}, fpB: {Origin: "minted"}, fpC: {Origin: "minted"}, fpD: {Origin: "minted"}}
	r.UserGrants = []UserGrant{
		{Time: at(800), Asked: at(790), ClientID: "Iv1.u", Grant: "refresh_token", Used: fpR1, Access: fpB, Refresh: fpR2, PID: 7},
		{Time: at(4000), Asked: at(3990), ClientID: "Iv1.u", Grant: "refresh_token", Used: fpR2, Access: fpC, Refresh: fpR3, PID: 42},
		{Time: at(4900), Asked: at(4890), ClientID: "Iv1.u", Grant: "refresh_token", Used: fpR2, Error: "bad_refresh_token", PID: 8},
		{Time: at(6000), Asked: at(5000), ClientID: "Iv1.u", Grant: "device_code", Access: fpD, Refresh: fpR4, PID: 9},
	}
	r.Mints = []Mint{
		{Time: at(800), Kind: "user", Asked: at(790), Fingerprint: fpB, ExpiresAt: at(28_800_000), PID: 7},
		{Time: at(4000), Kind: "user", Asked: at(3990), Fingerprint: fpC, ExpiresAt: at(28_800_000), PID: 42},
		{Time: at(6000), Kind: "user", Asked: at(5000), Fingerprint: fpD, ExpiresAt: at(28_800_000), PID: 9},
	}
	r.KilledPIDs = map[int]time.Time{42: at(4001)}
	r.Superseded = map[string]time.Time{fpA: at(800), fpB: at(4000)}
	r.UserRevokedAt = map[string]time.Time{fpA: at(2499), fpB: at(7000)}
	r.PATRevokedAt = nil
	r.Revokes = []Revoke{{Time: at(2500), Fingerprint: fpA}, {Time: at(7000), Fingerprint: fpB}}
	r.Fetches = []codepipeline.Fetch{
		{Time: at(100), Pipeline: "p1", Action: "Source", TokenFingerprint: fpA, OK: true, Status: 200},
		{Time: at(795), Pipeline: "p1", Action: "Source", TokenFingerprint: fpA, Status: 401}, // sent as the refresh arrived
		{Time: at(900), Pipeline: "p1", Action: "Source", TokenFingerprint: fpA, Status: 401},
		{Time: at(3000), Pipeline: "p1", Action: "Source", TokenFingerprint: fpB, OK: true, Status: 200},
		{Time: at(5500), Pipeline: "p1", Action: "Source", TokenFingerprint: fpB, Status: 401},
		{Time: at(8000), Pipeline: "p1", Action: "Source", TokenFingerprint: fpD, OK: true, Status: 200},
	}
	r.Updates = append(r.Updates, Update{Time: at(6500), Pipeline: "p1", Version: 3, Tokens: map[string]string{"Source/Source": fpD}, Masked: decl})
	r.Pipelines["p1"] = pipelineNow{Masked: norm(decl), Version: 3, Tokens: map[string]string{"Source/Source": fpD}}
	r.Creds[0].Current, r.Creds[0].Versions = fpD, map[string]string{fpA: "retired", fpB: "retired", fpD: "current"}
	r.Live = map[string]bool{fpC: true, fpD: true}
	r.Audit = append(r.Audit,
		audit.Record{Seq: 6, Time: at(3900), Credential: "u", RunID: 2, Event: "run.started"},
		audit.Record{Seq: 7, Time: at(5000), Credential: "u", RunID: 2, Event: "failed", Detail: `{"reason":"PersonNeeded","error":"…"}`},
		audit.Record{Seq: 8, Time: at(5001), Credential: "u", RunID: 2, Event: "run.failed"},
		audit.Record{Seq: 9, Time: at(6100), Credential: "u", RunID: 3, Event: "run.started"},
		audit.Record{Seq: 10, Time: at(6400), Credential: "u", RunID: 3, Event: "applied"},
		audit.Record{Seq: 11, Time: at(6600), Credential: "u", RunID: 3, Event: "promoted"},
		audit.Record{Seq: 12, Time: at(7000), Credential: "u", Event: "retired"},
	)
	r.Now = at(10_000)
	return r
}

// The rules for a github-app-user credential: its bindings may hold a
// token a refresh ended until the run writes them, and an answer to a
// refresh that a crash lost must end in PersonNeeded.
func TestCheck_userTokens(t *testing.T) {
	for _, tc := range []struct {
		name  string
		plant func(r *Records)
		want  []string
		check func(t *testing.T, f Findings)
	}{
		{
			name:  "clean: a lost answer found out and a person called",
			plant: func(*Records) {},
			check: func(t *testing.T, f Findings) {
				if f.SupersededFetches != 3 || f.FailedFetches != 0 || f.LostMints != 1 || f.OrphanLiveTokens != 0 {
					t.Errorf("superseded fetches %d, failed %d, lost mints %d, orphans %d; want 3, 0, 1, 0", f.SupersededFetches, f.FailedFetches, f.LostMints, f.OrphanLiveTokens)
				}
			},
		},
		{
			name: "I1 a user token revoked, not refreshed, while a binding held it",
			plant: func(r *Records) {
				delete(r.Superseded, fpA)
				r.UserRevokedAt[fpA] = at(850)
			},
			want: []string{"I1", "I2"},
		},
		{
			name: "I3 a lost answer and no PersonNeeded after GitHub refused the used refresh token",
			plant: func(r *Records) {
				r.Audit[6].Detail = `{"reason":"MintFailed"}`
			},
			want: []string{"I3"},
		},
		{
			name: "I3 a lost answer and rotor never tried the used refresh token again",
			plant: func(r *Records) {
				r.UserGrants = slices.Delete(r.UserGrants, 2, 3)
			},
			want: []string{"I3"},
		},
		{
			name: "I3 a lost answer whose process was not killed",
			plant: func(r *Records) {
				r.KilledPIDs = nil
			},
			want: []string{"I3"},
			check: func(t *testing.T, f Findings) {
				if f.OrphanLiveTokens != 1 || len(f.Violations) != 2 {
					t.Errorf("orphans %d, violations %v; want the orphan and the silent loss", f.OrphanLiveTokens, f.Violations)
				}
			},
		},
		{
			name: "an answer recorded: its refresh token sent again later, its user token never a version",
			plant: func(r *Records) {
				// Killed right after recording (refresh.recorded): the
				// resume refreshes with R3, which ends C.
				r.UserGrants[2] = UserGrant{Time: at(4900), ClientID: "Iv1.u", Grant: "refresh_token", Used: fpR3, Access: fpD, Refresh: fpR4, PID: 8}
				r.UserGrants = r.UserGrants[:3]
				r.Superseded[fpC] = at(4900)
				r.Live = map[string]bool{fpD: true}
				r.Audit[6].Detail = `{"reason":"ApplyFailed"}`
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := userRecords()
			tc.plant(&r)
			f := Check(r)
			if diff := cmp.Diff(tc.want, invariants(f.Violations)); diff != "" {
				t.Errorf("invariants violated (-want +got):\n%s\nviolations: %v", diff, f.Violations)
			}
			if tc.check != nil {
				tc.check(t, f)
			}
		})
	}
}

// budgetSpent makes fpA, retired, still live (its revocation queued) after
// calls calls to GitHub's revocation API within the hour.
func budgetSpent(r *Records, calls int) {
	r.Tokens[fpA] = known{Value: token.Generate(token.KindClassicPAT), Origin: "boot", Cred: "c"}
	r.Live[fpA] = true
	delete(r.PATRevokedAt, fpA)
	r.Revokes = nil
	for i := range calls {
		r.Revokes = append(r.Revokes, Revoke{Time: at(3000 + i), Fingerprint: fmt.Sprintf("sha256:%012d", i), Via: "POST /credentials/revoke"})
	}
}
