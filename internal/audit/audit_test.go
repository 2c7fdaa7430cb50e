package audit

import (
	"errors"
	"testing"
	"time"
)

func chain(n int) ([]Record, Head) {
	var recs []Record
	var head Head
	for i := range n {
		r := Seal(Record{Time: time.Unix(int64(1000+i), 0), Credential: "c", Event: "step", Detail: `{"n":1}`}, head)
		recs = append(recs, r)
		head = Head{Seq: r.Seq, Hash: r.Hash}
	}
	return recs, head
}

func TestVerify(t *testing.T) {
	tests := []struct {
		name   string
		tamper func([]Record, Head) ([]Record, Head)
		ok     bool
	}{
		{"intact", func(r []Record, h Head) ([]Record, Head) { return r, h }, true},
		{"empty", func([]Record, Head) ([]Record, Head) { return nil, Head{} }, true},
		{"edit detail", func(r []Record, h Head) ([]Record, Head) { r[2].Detail = `{"n":2}`; return r, h }, false},
		{"edit time", func(r []Record, h Head) ([]Record, Head) { r[1].Time = r[1].Time.Add(time.Second); return r, h }, false},
		{"delete middle", func(r []Record, h Head) ([]Record, Head) { return append(r[:2], r[3:]...), h }, false},
		{"reorder", func(r []Record, h Head) ([]Record, Head) { r[1], r[2] = r[2], r[1]; return r, h }, false},
		{"truncate tail", func(r []Record, h Head) ([]Record, Head) { return r[:3], h }, false},
		{"rehash edited record", func(r []Record, h Head) ([]Record, Head) {
			r[2].Event = "forged"
			r[2].Hash = hash(r[2])
			return r, h
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			recs, head := chain(5)
			recs, head = tt.tamper(recs, head)
			err := Verify(recs, head)
			if tt.ok != (err == nil) {
				t.Fatalf("Verify = %v, want ok=%v", err, tt.ok)
			}
			if err != nil && !errors.Is(err, ErrBroken) {
				t.Fatalf("error %v does not wrap ErrBroken", err)
			}
		})
	}
}
