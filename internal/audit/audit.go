// Package audit defines rotor's tamper-evident audit record and its hash
// chain (invariant I7). Stores persist records; this package alone decides
// how a record is hashed and what a valid chain is, so that every store
// backend and `rotor audit verify` agree.
package audit

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Genesis is the PrevHash of the first record.
const Genesis = "0000000000000000000000000000000000000000000000000000000000000000"

// Record is one audited event. Detail is JSON written by rotor; it holds
// fingerprints, never token values.
type Record struct {
	Seq        int64     `json:"seq"`
	Time       time.Time `json:"time"`
	Credential string    `json:"credential,omitempty"`
	RunID      int64     `json:"run_id,omitempty"`
	Event      string    `json:"event"`
	Actor      string    `json:"actor,omitempty"` // host/pid of the rotor process, or a person
	Detail     string    `json:"detail,omitempty"`
	PrevHash   string    `json:"prev_hash"`
	Hash       string    `json:"hash"`
}

// Head is the newest record's position, kept by stores beside the chain so
// that truncating the tail of the chain is detected too.
type Head struct {
	Seq  int64
	Hash string
}

// Seal fills Seq, PrevHash and Hash of r as the record after head. Time is
// truncated to microseconds so that every SQL backend stores it exactly.
func Seal(r Record, head Head) Record {
	r.Seq = head.Seq + 1
	r.PrevHash = head.Hash
	if r.PrevHash == "" {
		r.PrevHash = Genesis
	}
	r.Time = r.Time.UTC().Truncate(time.Microsecond)
	r.Hash = hash(r)
	return r
}

func hash(r Record) string {
	// A fixed field order and encoding: changing this breaks every chain.
	b, _ := json.Marshal([]any{r.Seq, r.Time.UnixMicro(), r.Credential, r.RunID, r.Event, r.Actor, r.Detail, r.PrevHash})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// ErrBroken is wrapped by every chain failure.
var ErrBroken = errors.New("audit chain broken")

// Verify checks a whole chain in order of Seq as the store returned it, and
// that it ends at head. The error names the first bad record.
func Verify(records []Record, head Head) error {
	prev := Head{Hash: Genesis}
	for _, r := range records {
		switch {
		case r.Seq != prev.Seq+1:
			return fmt.Errorf("%w: record %d follows %d (a record was deleted or reordered)", ErrBroken, r.Seq, prev.Seq)
		case r.PrevHash != prev.Hash:
			return fmt.Errorf("%w: record %d does not link to record %d", ErrBroken, r.Seq, prev.Seq)
		case hash(r) != r.Hash:
			return fmt.Errorf("%w: record %d (%s) was edited after it was written", ErrBroken, r.Seq, r.Event)
		}
		prev = Head{Seq: r.Seq, Hash: r.Hash}
	}
	if head.Seq != prev.Seq || (head.Seq > 0 && head.Hash != prev.Hash) {
		return fmt.Errorf("%w: the chain ends at record %d but the head says %d (records were removed from the end)", ErrBroken, prev.Seq, head.Seq)
	}
	return nil
}
