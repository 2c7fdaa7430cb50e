package audit

import (
	"context"
	"fmt"
	"sort"
)

// Chain is where records are kept: a store's read side.
type Chain interface {
	// Audit returns records with Seq > after, in order, at most limit (0:
	// all), and the chain's head as stored.
	Audit(ctx context.Context, after int64, limit int) ([]Record, Head, error)
}

const auditPage = 1000

// VerifyChain reads the whole chain of s in pages and checks it with
// Verify: an edited, deleted, reordered or truncated record, or one
// added past the head, is an error wrapping ErrBroken. Records
// appended while it reads are left for the next check.
func VerifyChain(ctx context.Context, s Chain) error {
	recs, head, err := readChain(ctx, s)
	if err != nil {
		return err
	}
	if n := len(recs); n > 0 && recs[n-1].Seq > head.Seq {
		// Records past the head seen first: appended since, or forged. An
		// append moves the head in its own transaction, so a head read now
		// covers every record already read unless one was slipped in.
		last := recs[n-1].Seq
		_, now, err := s.Audit(ctx, last, 1)
		if err != nil {
			return err
		}
		if last > now.Seq {
			return fmt.Errorf("%w: record %d lies past the head (%d): records were added, or the head moved back, behind rotor's back", ErrBroken, last, now.Seq)
		}
		i := sort.Search(n, func(i int) bool { return recs[i].Seq > head.Seq })
		recs = recs[:i]
	}
	return Verify(recs, head)
}

// readChain reads every record, and the head as the first page saw it.
func readChain(ctx context.Context, s Chain) ([]Record, Head, error) {
	var all []Record
	var head Head
	after := int64(0)
	for first := true; ; first = false {
		page, h, err := s.Audit(ctx, after, auditPage)
		if err != nil {
			return nil, head, err
		}
		if first {
			head = h
		}
		all = append(all, page...)
		if len(page) < auditPage {
			return all, head, nil
		}
		after = page[len(page)-1].Seq
	}
}
