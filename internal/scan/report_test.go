package scan

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/rotor-ci/rotor/internal/rotation"
	"github.com/rotor-ci/rotor/internal/token"
)

// plantedTree is a tree with one token of every kind in every rule, some
// of them known to a fake store, and an unreadable file. It returns the
// planted values for the canary check.
func plantedTree(t *testing.T) (string, Options, []string) {
	t.Helper()
	var planted []string
	plant := func(v string) string { planted = append(planted, v); return v }
	cur, prev, ret := plant(gen(token.KindClassicPAT)), plant(gen(token.KindFineGrained)), plant(gen(token.KindInstallation))
	store := &fakeStore{versions: map[string]rotation.Version{
		token.Fingerprint(cur):  {Credential: "codepipeline-app", Seq: 3, State: rotation.VersionCurrent},
		token.Fingerprint(prev): {Credential: "codepipeline-app", Seq: 2, State: rotation.VersionPrevious},
		token.Fingerprint(ret):  {Credential: "codepipeline-app", Seq: 1, State: rotation.VersionRetired},
	}}
	files := map[string]string{
		"pipeline.json":        getPipeline(`"`+cur+`"`, true),
		"old/pipeline.json":    getPipeline(`"`+prev+`"`, false),
		"infra/template.yaml":  cfnYAML(plant(gen(token.KindClassicPAT))),
		"scripts/rotate.sh":    "curl -H 'Authorization: token " + ret + "' https://api.github.com/user\n",
		"dir with space/a.env": "A=" + plant(gen(token.KindOAuth)) + "\nB=" + plant(gen(token.KindAppUser)) + "\nC=" + plant(gen(token.KindAppRefresh)) + "\n",
		"notes.md":             "stateless: " + plant(stateless()) + "\nfake: " + plant(badChecksum(token.KindClassicPAT)) + "\n",
		"locked.txt":           plant(gen(token.KindClassicPAT)),
	}
	dir := writeTree(t, t.TempDir(), files)
	readFile = func(name string, max int64, buf []byte) ([]byte, readStatus, error) {
		if filepath.Base(name) == "locked.txt" {
			return nil, 0, &os.PathError{Op: "open", Path: name, Err: errors.New("permission denied")}
		}
		return readRegular(name, max, buf)
	}
	t.Cleanup(func() { readFile = readRegular })
	return dir, Options{Known: store.known}, planted
}

// TestOutput_Canary is the rule the scanner lives by: whatever it found,
// no output format carries a token value, or any long piece of one.
func TestOutput_Canary(t *testing.T) {
	dir, opts, planted := plantedTree(t)
	res := scanDir(t, dir, opts)
	if len(res.Findings) < 9 {
		t.Fatalf("found %d, want every planted token (9)", len(res.Findings))
	}
	outs := map[string]*bytes.Buffer{"table": {}, "json": {}, "sarif": {}}
	if err := WriteTable(outs["table"], res); err != nil {
		t.Fatal(err)
	}
	if err := WriteJSON(outs["json"], res); err != nil {
		t.Fatal(err)
	}
	if err := WriteSARIF(outs["sarif"], res, "test"); err != nil {
		t.Fatal(err)
	}
	outs["go-syntax"] = bytes.NewBufferString(fmt.Sprintf("%#v %+v", res, res))
	for name, out := range outs {
		for _, v := range planted {
			if leaks(out.String(), v) {
				t.Errorf("%s output contains (part of) a planted token:\n%s", name, out)
			}
		}
	}
}

// leaks reports whether out contains v, or any 8 consecutive characters of
// v's random part (the redacted form shows the prefix and last 4).
func leaks(out, v string) bool {
	body := v[strings.IndexByte(v, '_')+1:]
	for i := 0; i+8 <= len(body); i++ {
		if strings.Contains(out, body[i:i+8]) {
			return true
		}
	}
	return false
}

func TestWriteTable(t *testing.T) {
	dir, opts, _ := plantedTree(t)
	res := scanDir(t, dir, opts)
	var out bytes.Buffer
	if err := WriteTable(&out, res); err != nil {
		t.Fatal(err)
	}
	s := out.String()
	for _, want := range []string{
		"LOCATION", "pipeline.json:16:", "pipeline-json ghp", "current (codepipeline-app v3)", "delete this file",
		"previous (codepipeline-app v2)", "retired (codepipeline-app v1)", "cfn-literal-oauthtoken", "likely false positive",
		"could not read:\n  locked.txt: permission denied", "1 unreadable",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("table lacks %q:\n%s", want, s)
		}
	}
	t.Run("nothing found, no store", func(t *testing.T) {
		var out bytes.Buffer
		WriteTable(&out, Result{Stats: Stats{Files: 3, Bytes: 2048, Ignored: 1}})
		want := "no findings in 3 files scanned (2.0 KiB, 0s); skipped 1 ignored by .gitignore\nno rotor store was read: tokens are not matched to the versions rotor holds\n"
		if out.String() != want {
			t.Errorf("got %q\nwant %q", out.String(), want)
		}
	})
}

func TestWriteJSON(t *testing.T) {
	dir, opts, _ := plantedTree(t)
	res := scanDir(t, dir, opts)
	var out bytes.Buffer
	if err := WriteJSON(&out, res); err != nil {
		t.Fatal(err)
	}
	var back Result
	if err := json.Unmarshal(out.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if len(back.Findings) != len(res.Findings) || back.Findings[0].Fingerprint == "" || !back.StoreChecked || len(back.Problems) != 1 {
		t.Errorf("round trip lost data: %s", out.String())
	}
}

// TestWriteSARIF_RequiredFields checks the output against the properties
// that sarif-schema-2.1.0.json marks required (sarifLog: version, runs;
// run: tool; tool: driver; toolComponent: name; reportingDescriptor: id;
// result: message; message: text or id; physicalLocation: artifactLocation
// or address; region: startLine ≥ 1), the enums rotor uses, and what GitHub
// code scanning needs beyond the schema ($schema, ruleId, partialFingerprints,
// relative URIs).
func TestWriteSARIF_RequiredFields(t *testing.T) {
	dir, opts, _ := plantedTree(t)
	res := scanDir(t, dir, opts)
	var out bytes.Buffer
	if err := WriteSARIF(&out, res, "1.2.3"); err != nil {
		t.Fatal(err)
	}
	var log map[string]any
	if err := json.Unmarshal(out.Bytes(), &log); err != nil {
		t.Fatal(err)
	}
	check := func(cond bool, format string, a ...any) {
		t.Helper()
		if !cond {
			t.Errorf(format, a...)
		}
	}
	obj := func(v any) map[string]any { m, _ := v.(map[string]any); return m }
	arr := func(v any) []any { a, _ := v.([]any); return a }
	str := func(v any) string { s, _ := v.(string); return s }

	check(log["version"] == "2.1.0", "version = %v", log["version"])
	check(str(log["$schema"]) != "", "$schema missing")
	runs := arr(log["runs"])
	check(len(runs) == 1, "runs = %d", len(runs))
	run := obj(runs[0])
	driver := obj(obj(run["tool"])["driver"])
	check(driver["name"] == "rotor" && str(driver["informationUri"]) != "", "driver %v", driver)
	var ruleIDs []string
	for _, r := range arr(driver["rules"]) {
		r := obj(r)
		check(str(r["id"]) != "", "rule without id: %v", r)
		check(str(obj(r["shortDescription"])["text"]) != "", "rule %v: shortDescription", r["id"])
		check(str(obj(obj(r["properties"]))["security-severity"]) != "", "rule %v: security-severity", r["id"])
		ruleIDs = append(ruleIDs, str(r["id"]))
	}
	check(slices.Equal(ruleIDs, []string{"token", "pipeline-json", "cfn-literal-oauthtoken"}), "rules %v", ruleIDs)
	results := arr(run["results"])
	check(len(results) == len(res.Findings), "results %d, findings %d", len(results), len(res.Findings))
	seen := map[string]bool{}
	for _, r := range results {
		r := obj(r)
		id := str(r["ruleId"])
		idx, _ := r["ruleIndex"].(float64)
		check(int(idx) < len(ruleIDs) && ruleIDs[int(idx)] == id, "ruleIndex %v does not point at %q", r["ruleIndex"], id)
		check(slices.Contains([]string{"none", "note", "warning", "error"}, str(r["level"])), "level %v", r["level"])
		check(str(obj(r["message"])["text"]) != "", "result without message.text")
		locs := arr(r["locations"])
		check(len(locs) == 1, "locations %v", locs)
		pl := obj(obj(locs[0])["physicalLocation"])
		art := obj(pl["artifactLocation"])
		uri := str(art["uri"])
		check(uri != "" && !strings.HasPrefix(uri, "/") && !strings.Contains(uri, " "), "uri %q", uri)
		check(art["uriBaseId"] == "%SRCROOT%", "uriBaseId %v", art["uriBaseId"])
		region := obj(pl["region"])
		line, _ := region["startLine"].(float64)
		col, _ := region["startColumn"].(float64)
		check(line >= 1 && col >= 1, "region %v", region)
		pf := str(obj(r["partialFingerprints"])["rotorFinding/v1"])
		check(pf != "" && !seen[pf], "partialFingerprints %q missing or repeated", pf)
		seen[pf] = true
	}
	check(strings.Contains(out.String(), `"uri": "dir%20with%20space/a.env"`), "paths are URI-escaped")
	notes := arr(obj(arr(run["invocations"])[0])["toolExecutionNotifications"])
	check(len(notes) == 1, "unreadable file not reported as a notification: %v", notes)
	t.Run("levels", func(t *testing.T) {
		levels := map[Known]string{}
		for i, f := range res.Findings {
			levels[f.Known] = str(obj(results[i])["level"])
			if f.LikelyFalsePositive() && str(obj(results[i])["level"]) != "note" {
				t.Errorf("bad checksum: level %v", obj(results[i])["level"])
			}
		}
		if levels[KnownCurrent] != "error" || levels[KnownRetired] != "warning" {
			t.Errorf("levels %v", levels)
		}
	})
}

func TestArtifact(t *testing.T) {
	tests := map[string]sarifArtifact{
		"a/b.json":      {URI: "a/b.json", URIBaseID: "%SRCROOT%"},
		"/abs/x y.json": {URI: "file:///abs/x%20y.json"},
		"c:d/e":         {URI: "./c:d/e", URIBaseID: "%SRCROOT%"},
	}
	for in, want := range tests {
		if got := artifact(in); got != want {
			t.Errorf("artifact(%q) = %+v, want %+v", in, got, want)
		}
	}
}

func TestFinding_Fails(t *testing.T) {
	f := func(k Known, sum Checksum) Finding { return Finding{Known: k, Checksum: sum} }
	tests := []struct {
		f    Finding
		want map[Threshold]bool
	}{
		{f(KnownCurrent, ChecksumValid), map[Threshold]bool{FailCurrent: true, FailPrevious: true, FailAny: true}},
		{f(KnownPending, ChecksumValid), map[Threshold]bool{FailCurrent: true, FailPrevious: true, FailAny: true}},
		{f(KnownPrevious, ChecksumNone), map[Threshold]bool{FailPrevious: true, FailAny: true}},
		{f(KnownRetired, ChecksumValid), map[Threshold]bool{FailAny: true}},
		{f(KnownUnknown, ChecksumValid), map[Threshold]bool{FailAny: true}},
		{f(KnownUnchecked, ChecksumNone), map[Threshold]bool{FailAny: true}},
		{f(KnownUnknown, ChecksumInvalid), map[Threshold]bool{}},
	}
	for _, tt := range tests {
		for _, th := range []Threshold{FailNone, FailCurrent, FailPrevious, FailAny} {
			if got := tt.f.Fails(th); got != tt.want[th] {
				t.Errorf("%s/%s Fails(%s) = %v", tt.f.Known, tt.f.Checksum, th, got)
			}
		}
	}
}

func TestParseThreshold(t *testing.T) {
	for _, s := range []string{"none", "current", "previous", "any"} {
		if th, err := ParseThreshold(s); err != nil || string(th) != s {
			t.Errorf("ParseThreshold(%q) = %q, %v", s, th, err)
		}
	}
	if _, err := ParseThreshold("all"); !errors.Is(err, ErrThreshold) {
		t.Errorf("ParseThreshold(all) err = %v", err)
	}
}
