//go:build rotor_crashpoints

package rotation

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseCrashPoint(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    CrashPoint
		wantErr bool
	}{
		{in: "applied", want: CrashPoint{Event: "applied", N: 1}},
		{in: "run.rolled_back:3", want: CrashPoint{Event: "run.rolled_back", N: 3}},
		{in: "*:7", want: CrashPoint{Event: "*", N: 7}},
		{in: "", wantErr: true},
		{in: ":2", wantErr: true},
		{in: "applied:0", wantErr: true},
		{in: "applied:x", wantErr: true},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseCrashPoint(tc.in)
			if (err != nil) != tc.wantErr {
				t.Fatalf("ParseCrashPoint(%q) error = %v, want error %v", tc.in, err, tc.wantErr)
			}
			if err == nil {
				if diff := cmp.Diff(tc.want, got); diff != "" {
					t.Errorf("ParseCrashPoint(%q) (-want +got):\n%s", tc.in, diff)
				}
			}
		})
	}
}

func TestCrashPoint_hook(t *testing.T) {
	steps := []string{"started", "discovered", "minted", "failed", "minted", "promoted"}
	for _, tc := range []struct {
		cp       CrashPoint
		wantStep string
		wantAt   int // index in steps, -1: never
	}{
		{CrashPoint{"minted", 1}, "minted", 2},
		{CrashPoint{"minted", 2}, "minted", 4},
		{CrashPoint{"*", 4}, "failed", 3},
		{CrashPoint{"minted", 3}, "", -1},
		{CrashPoint{"retired", 1}, "", -1},
	} {
		t.Run(tc.cp.Event, func(t *testing.T) {
			var chained []string
			killedAt, killedStep := -1, ""
			i := 0
			h := tc.cp.hook(func(s string) { chained = append(chained, s) }, func(s string, _ int64) {
				if killedAt < 0 {
					killedAt, killedStep = i, s
				}
			})
			for i = range steps {
				h(steps[i])
			}
			if killedAt != tc.wantAt || killedStep != tc.wantStep {
				t.Errorf("killed at %d (%q), want %d (%q)", killedAt, killedStep, tc.wantAt, tc.wantStep)
			}
			if diff := cmp.Diff(steps, chained); diff != "" {
				t.Errorf("the chained hook saw (-want +got):\n%s", diff)
			}
		})
	}
}
