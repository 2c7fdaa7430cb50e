package schedule

import (
	"testing"
	"time"
)

func TestNext(t *testing.T) {
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	day := 24 * time.Hour
	p := Policy{Every: 30 * day, RenewBefore: 7 * day}
	tests := []struct {
		name     string
		p        Policy
		s        State
		wantAt   time.Time
		wantWhy  string
		wantDue  bool
		notAfter time.Time
	}{
		{"fresh token", p, State{HasCurrent: true, CurrentCreated: now.Add(-day)}, now.Add(29 * day), ReasonAge, false, time.Time{}},
		{"old token", p, State{HasCurrent: true, CurrentCreated: now.Add(-31 * day)}, now.Add(-day), ReasonAge, true, time.Time{}},
		{"expiring first", p, State{HasCurrent: true, CurrentCreated: now.Add(-day), CurrentExpires: now.Add(3 * day)}, now.Add(-4 * day), ReasonExpiring, true, time.Time{}},
		{"expiry far", p, State{HasCurrent: true, CurrentCreated: now.Add(-day), CurrentExpires: now.Add(90 * day)}, now.Add(29 * day), ReasonAge, false, time.Time{}},
		{"broken", p, State{HasCurrent: true, CurrentCreated: now, Broken: true}, now, ReasonBroken, true, time.Time{}},
		{"requested", p, State{HasCurrent: true, CurrentCreated: now, Requested: true}, now, ReasonRequested, true, time.Time{}},
		{"no current", p, State{}, now, ReasonNoCurrent, true, time.Time{}},
		{"no schedule", Policy{}, State{HasCurrent: true, CurrentCreated: now}, farFuture, "", false, time.Time{}},
		{"backoff after 3 failures", p, State{HasCurrent: true, CurrentCreated: now.Add(-40 * day), Failures: 3, LastFailure: now.Add(-time.Minute)}, now.Add(-10 * day), ReasonAge + "," + ReasonBackingOff, false, now.Add(3 * time.Minute)},
		{"within max lifetime: expiry rules", Policy{Every: 30 * day, RenewBefore: 7 * day, MaxLifetime: 30 * day}, State{HasCurrent: true, CurrentCreated: now.Add(-day), CurrentExpires: now.Add(20 * day)}, now.Add(13 * day), ReasonExpiring, false, time.Time{}},
		{"at max lifetime exactly", Policy{Every: 90 * day, RenewBefore: 7 * day, MaxLifetime: 30 * day}, State{HasCurrent: true, CurrentCreated: now.Add(-day), CurrentExpires: now.Add(29 * day)}, now.Add(22 * day), ReasonExpiring, false, time.Time{}},
		{"over max lifetime", Policy{Every: 30 * day, RenewBefore: 7 * day, MaxLifetime: 30 * day}, State{HasCurrent: true, CurrentCreated: now.Add(-day), CurrentExpires: now.Add(89 * day)}, now, ReasonMaxLifetime, true, time.Time{}},
		{"no expiry under a max lifetime", Policy{Every: 30 * day, RenewBefore: 7 * day, MaxLifetime: 366 * day}, State{HasCurrent: true, CurrentCreated: now.Add(-day)}, now, ReasonMaxLifetime, true, time.Time{}},
		{"no expiry, no max lifetime", p, State{HasCurrent: true, CurrentCreated: now.Add(-day)}, now.Add(29 * day), ReasonAge, false, time.Time{}},
		{"over max lifetime, backing off", Policy{Every: 30 * day, MaxLifetime: 30 * day}, State{HasCurrent: true, CurrentCreated: now.Add(-day), Failures: 1, LastFailure: now}, now, ReasonMaxLifetime + "," + ReasonBackingOff, false, now.Add(time.Minute)},
		{"backoff capped", Policy{Every: day, BackoffMax: time.Hour}, State{HasCurrent: true, CurrentCreated: now.Add(-2 * day), Failures: 30, LastFailure: now.Add(-2 * time.Hour)}, now.Add(-day), ReasonAge, true, time.Time{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := Next(tt.p, tt.s, now)
			if !d.At.Equal(tt.wantAt) || d.Reason != tt.wantWhy || d.Due(now) != tt.wantDue {
				t.Fatalf("Next = %+v (due %v), want at %v reason %q due %v", d, d.Due(now), tt.wantAt, tt.wantWhy, tt.wantDue)
			}
			if !tt.notAfter.IsZero() && !d.NotBefore.Equal(tt.notAfter) {
				t.Fatalf("NotBefore = %v, want %v", d.NotBefore, tt.notAfter)
			}
		})
	}
}

func TestJitter_StableAndBounded(t *testing.T) {
	p := Policy{Jitter: time.Hour}
	for _, n := range []string{"a", "b", "codepipeline-test-repo"} {
		j := jitter(p, n)
		if j < 0 || j >= time.Hour || j != jitter(p, n) {
			t.Fatalf("jitter(%s) = %v", n, j)
		}
	}
	if jitter(p, "a") == jitter(p, "b") && jitter(p, "b") == jitter(p, "c") {
		t.Fatal("jitter does not spread credentials")
	}
}
