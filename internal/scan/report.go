package scan

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// Threshold is the --fail-on level: which findings make a scan fail.
type Threshold string

const (
	FailNone     Threshold = "none"     // never fail
	FailCurrent  Threshold = "current"  // a token rotor holds now (or is minting)
	FailPrevious Threshold = "previous" // that, or one rotor replaced and has not yet retired
	FailAny      Threshold = "any"      // any finding but a likely false positive
)

// ErrThreshold is returned by ParseThreshold for an unknown level.
var ErrThreshold = fmt.Errorf("want %s, %s, %s or %s", FailCurrent, FailPrevious, FailAny, FailNone)

// ParseThreshold reads a --fail-on value.
func ParseThreshold(s string) (Threshold, error) {
	switch t := Threshold(s); t {
	case FailNone, FailCurrent, FailPrevious, FailAny:
		return t, nil
	}
	return "", fmt.Errorf("--fail-on %q: %w", s, ErrThreshold)
}

// Fails reports whether f is at or above th.
func (f Finding) Fails(th Threshold) bool {
	switch th {
	case FailCurrent:
		return f.Known == KnownCurrent || f.Known == KnownPending
	case FailPrevious:
		return f.Known == KnownCurrent || f.Known == KnownPending || f.Known == KnownPrevious
	case FailAny:
		return !f.LikelyFalsePositive()
	}
	return false
}

// Failing counts the findings at or above th.
func (r Result) Failing(th Threshold) int {
	n := 0
	for _, f := range r.Findings {
		if f.Fails(th) {
			n++
		}
	}
	return n
}

// WriteJSON writes the whole result as one indented JSON document.
func WriteJSON(w io.Writer, r Result) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteTable writes findings for people: one line each, then what was
// scanned and skipped, then the files that could not be read.
func WriteTable(w io.Writer, r Result) error {
	ew := &errWriter{w: w}
	if len(r.Findings) > 0 {
		tw := tabwriter.NewWriter(ew, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "LOCATION\tFOUND\tTOKEN\tROTOR\tADVICE")
		for _, f := range r.Findings {
			fmt.Fprintf(tw, "%s:%d:%d\t%s\t%s %s\t%s\t%s\n", f.Path, f.Line, f.Column, found(f), f.Redacted, f.Fingerprint, rotorSays(f), f.Advice)
		}
		tw.Flush()
		fmt.Fprintln(ew)
	}
	fmt.Fprintln(ew, summary(r))
	if len(r.Problems) > 0 {
		fmt.Fprintln(ew, "could not read:")
		for _, p := range r.Problems {
			fmt.Fprintf(ew, "  %s: %s\n", p.Path, p.Err)
		}
	}
	return ew.err
}

func found(f Finding) string {
	s := string(f.Rule) + " " + f.KindName()
	if f.LikelyFalsePositive() {
		s += " (bad checksum: likely false positive)"
	}
	return s
}

func rotorSays(f Finding) string {
	s := string(f.Known)
	if f.Credential != "" {
		s += fmt.Sprintf(" (%s v%d)", f.Credential, f.Version)
	}
	switch {
	case f.LiveError != "":
		s += ", live check failed: " + f.LiveError
	case f.Live != nil && *f.Live:
		s += ", works"
	case f.Live != nil:
		s += ", dead"
	}
	return s
}

func summary(r Result) string {
	st := r.Stats
	var b strings.Builder
	switch n := len(r.Findings); n {
	case 0:
		b.WriteString("no findings")
	case 1:
		b.WriteString("1 finding")
	default:
		fmt.Fprintf(&b, "%d findings", n)
	}
	fmt.Fprintf(&b, " in %d files scanned (%s, %s)", st.Files, byteSize(st.Bytes), st.Duration.Round(time.Millisecond))
	var skipped []string
	for _, s := range []struct {
		n    int64
		what string
	}{{st.Ignored, "ignored by .gitignore"}, {st.Binary, "binary"}, {st.TooLarge, "over the size limit"}, {st.Symlinks, "symbolic links"}, {st.Special, "special files"}} {
		if s.n > 0 {
			skipped = append(skipped, fmt.Sprintf("%d %s", s.n, s.what))
		}
	}
	if len(skipped) > 0 {
		b.WriteString("; skipped " + strings.Join(skipped, ", "))
	}
	if st.Allowed > 0 {
		fmt.Fprintf(&b, "; %d allowed by fingerprint", st.Allowed)
	}
	if st.Unreadable > 0 {
		fmt.Fprintf(&b, "; %d unreadable", st.Unreadable)
	}
	if !r.StoreChecked {
		b.WriteString("\nno rotor store was read: tokens are not matched to the versions rotor holds")
	}
	return b.String()
}

func byteSize(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// errWriter keeps the first write error so that a report is written with
// plain Fprintf calls and checked once.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.w.Write(p)
	e.err = err
	return n, err
}
