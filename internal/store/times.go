package store

import (
	"fmt"
	"time"
)

// micros is how a time is stored: microseconds since the epoch, NULL for
// the zero time.
func micros(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMicro()
}

// norm is t as it will read back from the store.
func norm(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return time.UnixMicro(t.UnixMicro()).UTC()
}

// microTime scans a microseconds column into a time.Time (zero for NULL).
type microTime struct{ t *time.Time }

func scanTime(t *time.Time) microTime { return microTime{t} }

func (m microTime) Scan(v any) error {
	switch v := v.(type) {
	case nil:
		*m.t = time.Time{}
	case int64:
		*m.t = time.UnixMicro(v).UTC()
	default:
		return fmt.Errorf("time column holds %T, want an integer", v)
	}
	return nil
}
