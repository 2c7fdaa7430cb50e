package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"reflect"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/goccy/go-yaml"
)

// outputFormats are what -o accepts on every command that prints data.
// (scan also writes sarif; see scan.go.)
var outputFormats = []string{"table", "json", "yaml"}

// checkOutput refuses an -o value no command knows.
func checkOutput(o string) error {
	if !slices.Contains(outputFormats, o) {
		return usageErrorf("--output %q: want %s", o, strings.Join(outputFormats, ", "))
	}
	return nil
}

// emit is the one way a command prints data: v as JSON (-o json) or YAML
// (-o yaml) with the same snake_case field names, or the table that table
// writes through a tab writer.
func (a *App) emit(v any, table func(w io.Writer)) error {
	return writeData(a.Out, a.Output, v, table)
}

func writeData(w io.Writer, format string, v any, table func(w io.Writer)) error {
	switch format {
	case "json":
		return writeJSON(w, v)
	case "yaml":
		return writeYAML(w, func(w io.Writer) error { return writeJSON(w, v) })
	}
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	table(tw)
	return tw.Flush()
}

// writeJSON writes v as indented JSON. An empty list is [] rather than
// null, so that a script can range over it.
func writeJSON(w io.Writer, v any) error {
	if rv := reflect.ValueOf(v); rv.Kind() == reflect.Slice && rv.IsNil() {
		v = reflect.MakeSlice(rv.Type(), 0, 0).Interface()
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// writeYAML writes as YAML what writeJSON writes: converting the JSON
// keeps one set of field names (the json tags, snake_case) and the same
// omissions for both formats, and their order.
func writeYAML(w io.Writer, writeJSON func(io.Writer) error) error {
	var buf bytes.Buffer
	if err := writeJSON(&buf); err != nil {
		return err
	}
	out, err := yaml.JSONToYAML(buf.Bytes())
	if err != nil {
		return fmt.Errorf("yaml output: %w", err)
	}
	_, err = w.Write(out)
	return err
}

// styled says whether w gets colour and symbols: only a terminal does, and
// never when NO_COLOR is set to anything (https://no-color.org).
func styled(w any) bool {
	return os.Getenv("NO_COLOR") == "" && isTTY(w)
}

// marks are what progress lines start with on stderr: a green ✓ and a red
// ✗ on a terminal, plain words in a log file, a pipe or with NO_COLOR.
func (a *App) marks() (ok, failed string) {
	if styled(a.Err) {
		return "\x1b[32m✓\x1b[0m", "\x1b[31m✗\x1b[0m"
	}
	return "ok", "FAILED"
}
