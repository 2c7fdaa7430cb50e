package config

import (
	"cmp"
	"slices"
	"strconv"
	"strings"

	"github.com/rotor-ci/rotor/internal/token"
)

// Error is one mistake in a config file. Its text is
// "file:line: field: msg"; Line 0 or an empty Field leave that part out.
type Error struct {
	File  string
	Line  int
	Field string // path like credentials[0].rotate.every
	Msg   string
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		b.WriteString(":" + strconv.Itoa(e.Line))
	}
	b.WriteString(": ")
	if e.Field != "" {
		b.WriteString(e.Field + ": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Errors is every mistake found in one file, sorted by line.
type Errors []*Error

func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap lets errors.As find each *Error.
func (es Errors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

func (es Errors) sorted() Errors {
	slices.SortStableFunc(es, func(a, b *Error) int {
		return cmp.Or(cmp.Compare(a.Line, b.Line), cmp.Compare(a.Field, b.Field))
	})
	return es
}

// quote shows a config value in an error message, unless it looks like a
// token: then only its kind is named, never a character of it.
func quote(s string) string {
	if k := token.KindOf(s); k != token.KindUnknown {
		return "(a value that looks like a " + k.Describe() + ")"
	}
	return strconv.Quote(s)
}
