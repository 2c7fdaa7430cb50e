package cli

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"
)

var update = flag.Bool("update", false, "rewrite the golden files of the -o tests")

// normalise replaces what changes from run to run (times, fingerprints,
// hashes, ports, the temporary directory, the host and pid) with
// placeholders, so that a golden file holds only what must not change.
func normalise(s, dir string) string {
	for _, r := range []struct {
		re   *regexp.Regexp
		with string
	}{
		{regexp.MustCompile(regexp.QuoteMeta(dir)), "<dir>"},
		{regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)`), "<time>"},
		{regexp.MustCompile(`sha256:[0-9a-f]{12}`), "<fingerprint>"},
		{regexp.MustCompile(`\b[0-9a-f]{64}\b`), "<hash>"},
		{regexp.MustCompile(`127\.0\.0\.1:\d+`), "<addr>"},
		{regexp.MustCompile(`"actor": "[^"]*"`), `"actor": "<host/pid>"`},
		{regexp.MustCompile(`\b\d+(\.\d+)?(ms|µs|s)\b`), "<duration>"},
	} {
		s = r.re.ReplaceAllString(s, r.with)
	}
	return s
}

// snakeCase reports every object key in the JSON value v that is not
// snake_case. Maps keyed by data (a binding's attrs, interrupted
// executions by pipeline ARN) are not field names and are skipped.
func snakeCase(v any, path string, bad *[]string) {
	ok := regexp.MustCompile(`^[a-z][a-z0-9]*(_[a-z0-9]+)*$`)
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			if !ok.MatchString(k) {
				*bad = append(*bad, path+"."+k)
			}
			if k == "attrs" || k == "interrupted" {
				continue
			}
			snakeCase(x, path+"."+k, bad)
		}
	case []any:
		for _, x := range v {
			snakeCase(x, path+"[]", bad)
		}
	}
}

// TestOutput_golden drives one installation through adopt, rotate and
// retire and holds every data command's -o json to a golden file
// (testdata/golden, go test -run TestOutput_golden -update rewrites them),
// its field names to snake_case, its lists to [] rather than null, and
// -o yaml to the same document as -o json.
func TestOutput_golden(t *testing.T) {
	e := newE2E(t, "0s")
	old, _ := e.sb.CodePipeline.StoredToken("MyFirstPipeline", "Source")
	fresh := e.newToken("MyGitHubUserName", "repo", "admin:repo_hook")
	steps := []struct {
		name  string
		stdin string
		args  []string
	}{
		{"validate", "", []string{"validate"}},
		{"plan", "", []string{"plan"}},
		{"adopt", old.Reveal() + "\n", []string{"adopt", "pipeline-token", "--token-stdin", "--confirm-unverifiable"}},
		{"rotate", fresh.Reveal() + "\n", []string{"rotate", "pipeline-token", "--token-stdin"}},
		{"retire", "", []string{"retire"}},
		{"status", "", []string{"status"}},
		{"history", "", []string{"history", "pipeline-token"}},
		{"audit-list", "", []string{"audit", "list"}},
		{"audit-verify", "", []string{"audit", "verify"}},
	}
	for _, s := range steps {
		var out, errb bytes.Buffer
		code := Main(t.Context(), append([]string{"--config", e.config, "-o", "json"}, s.args...), IO{In: strings.NewReader(s.stdin), Out: &out, Err: &errb}, e.wiring...)
		e.outputs = append(e.outputs, out.String()+errb.String())
		if code != 0 {
			t.Fatalf("%s: exit %d\n%s%s", s.name, code, out.String(), errb.String())
		}
		var doc any
		if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
			t.Fatalf("%s -o json is not one JSON document: %v\n%s", s.name, err, out.String())
		}
		var bad []string
		snakeCase(doc, s.name, &bad)
		if len(bad) > 0 {
			t.Errorf("%s -o json: field names not in snake_case: %v", s.name, bad)
		}
		if strings.Contains(out.String(), "null") {
			t.Errorf("%s -o json holds a null:\n%s", s.name, out.String())
		}
		got := normalise(out.String(), e.dir)
		golden := filepath.Join("testdata", "golden", s.name+".json")
		if *update {
			if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
				t.Fatal(err)
			}
		} else if want, err := os.ReadFile(golden); err != nil {
			t.Fatalf("%v (go test ./internal/cli -run TestOutput_golden -update writes it)", err)
		} else if got != string(want) {
			t.Errorf("%s -o json differs from %s:\n--- got\n%s\n--- want\n%s", s.name, golden, got, want)
		}

		// -o yaml: the same document, field for field. The read-only
		// commands are asked again; the others would change something.
		if s.stdin != "" || s.name == "retire" {
			continue
		}
		var yout bytes.Buffer
		if code := Main(t.Context(), append([]string{"--config", e.config, "-o", "yaml"}, s.args...), IO{In: strings.NewReader(""), Out: &yout, Err: &errb}, e.wiring...); code != 0 {
			t.Fatalf("%s -o yaml: exit %d\n%s", s.name, code, errb.String())
		}
		var ydoc any
		if err := yaml.UnmarshalWithOptions(yout.Bytes(), &ydoc, yaml.UseJSONUnmarshaler()); err != nil {
			t.Fatalf("%s -o yaml: %v\n%s", s.name, err, yout.String())
		}
		if !sameDocument(t, doc, ydoc) {
			t.Errorf("%s: -o yaml and -o json differ:\n%s\n%s", s.name, yout.String(), out.String())
		}
	}
	e.canary()
}

// sameDocument compares a JSON and a YAML document through JSON, where
// numbers and maps have one representation.
func sameDocument(t *testing.T, j, y any) bool {
	t.Helper()
	b, err := json.Marshal(y)
	if err != nil {
		t.Fatal(err)
	}
	var y2 any
	if err := json.Unmarshal(b, &y2); err != nil {
		t.Fatal(err)
	}
	return reflect.DeepEqual(j, y2)
}

func TestOutput_unknownFormat(t *testing.T) {
	var out, errb bytes.Buffer
	code := Main(t.Context(), []string{"-o", "xml", "status"}, IO{In: strings.NewReader(""), Out: &out, Err: &errb})
	if code != ExitUsage || !strings.Contains(errb.String(), "table, json, yaml") {
		t.Fatalf("-o xml: exit %d, %q", code, errb.String())
	}
}
