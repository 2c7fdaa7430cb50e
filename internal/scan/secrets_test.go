package scan

import (
	"testing"
	"time"
)

func TestMatchSecret(t *testing.T) {
	at := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	path := "repos/acme/deploy/actions/secrets/GH_TOKEN"
	own := Write{Credential: "deploy", Seq: 3, Fingerprint: "sha256:aaaaaaaaaaaa", State: "current", Binding: "github-actions-secret:api.github.com/" + path, At: at}
	older := own
	older.Seq, older.At, older.State = 2, at.Add(-30*24*time.Hour), "retired"
	other := Write{Credential: "ci", Seq: 7, Fingerprint: "sha256:bbbbbbbbbbbb", State: "previous", Binding: "codepipeline:123456789012:us-east-1:P/Source/S", At: at}
	for _, tt := range []struct {
		name    string
		updated time.Time
		writes  []Write
		want    string
		seq     int64
	}{
		{"rotor's binding, its last write", at.Add(-3 * time.Second), []Write{older, own}, MatchBinding, 3},
		{"rotor's binding, written since", at.Add(time.Hour), []Write{own}, MatchChanged, 3},
		{"rotor's binding, older than rotor's write", at.Add(-time.Hour), []Write{own}, MatchChanged, 3},
		{"not rotor's, written with a version elsewhere", at.Add(40 * time.Second), []Write{other}, MatchTime, 7},
		{"not rotor's, nothing near", at.Add(10 * time.Minute), []Write{other}, MatchNone, 0},
		{"no records", at, nil, MatchNone, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := matchSecret(path, tt.updated, tt.writes)
			if f.Match != tt.want || f.Version != tt.seq || f.Advice == "" {
				t.Errorf("matchSecret = %+v, want %s with version %d", f, tt.want, tt.seq)
			}
		})
	}
}
