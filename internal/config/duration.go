package config

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Duration is a time.Duration written in Go syntax plus a d unit for days
// ("30d", "1d12h", "10m"). A bare 0 means zero.
type Duration time.Duration

// D returns the duration as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// String writes whole days as d, then the rest in Go syntax without zero
// units: 30d, 1d12h, 10m, 90s.
func (d Duration) String() string {
	td := time.Duration(d)
	if td == 0 {
		return "0"
	}
	sign := ""
	if td < 0 {
		sign, td = "-", -td
	}
	days := td / (24 * time.Hour)
	rest := td % (24 * time.Hour)
	switch {
	case days == 0:
		return sign + short(rest)
	case rest == 0:
		return fmt.Sprintf("%s%dd", sign, days)
	}
	return fmt.Sprintf("%s%dd%s", sign, days, short(rest))
}

// short drops Go's trailing zero units: 2h0m0s → 2h, 1h30m0s → 1h30m.
func short(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}

var errDuration = errors.New("want a duration like 30d or 12h")

// ParseDuration parses Go duration syntax with an optional leading day
// component: "30d", "1d12h", "90m", "0".
func ParseDuration(s string) (time.Duration, error) {
	in := strings.TrimSpace(s)
	if in == "0" {
		return 0, nil
	}
	neg := false
	if rest, ok := strings.CutPrefix(in, "-"); ok {
		neg, in = true, rest
	}
	var days time.Duration
	if i := strings.IndexByte(in, 'd'); i >= 0 {
		n, err := strconv.ParseUint(in[:i], 10, 32)
		if err != nil || i == 0 {
			return 0, errDuration
		}
		days = time.Duration(n) * 24 * time.Hour
		in = in[i+1:]
	}
	var rest time.Duration
	if in != "" {
		d, err := time.ParseDuration(in)
		if err != nil || d < 0 {
			return 0, errDuration
		}
		rest = d
	} else if days == 0 && !strings.Contains(s, "d") {
		return 0, errDuration
	}
	total := days + rest
	if total < days { // overflow
		return 0, errDuration
	}
	if neg {
		total = -total
	}
	return total, nil
}

// UnmarshalYAML lets goccy/go-yaml decode "30d" and plain 0.
func (d *Duration) UnmarshalYAML(b []byte) error {
	s := strings.Trim(strings.TrimSpace(string(b)), `"'`)
	v, err := ParseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML writes the form String gives.
func (d Duration) MarshalYAML() ([]byte, error) { return []byte(d.String()), nil }
