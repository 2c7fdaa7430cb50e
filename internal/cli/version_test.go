package cli

import (
	"bytes"
	"encoding/json"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestResolveBuild(t *testing.T) {
	settings := func(kv ...string) []debug.BuildSetting {
		var s []debug.BuildSetting
		for i := 0; i < len(kv); i += 2 {
			s = append(s, debug.BuildSetting{Key: kv[i], Value: kv[i+1]})
		}
		return s
	}
	tests := []struct {
		name                  string
		version, commit, date string
		bi                    *debug.BuildInfo
		want                  BuildInfo
	}{
		{
			name:    "release build: the stamp wins over what the toolchain recorded",
			version: "v1.2.3", commit: "0123456789abcdef0123456789abcdef01234567", date: "2026-12-01T10:00:00Z",
			bi:   &debug.BuildInfo{GoVersion: "go1.27.3", Main: debug.Module{Version: "(devel)"}, Settings: settings("vcs.revision", "ffff")},
			want: BuildInfo{"v1.2.3", "0123456789abcdef0123456789abcdef01234567", "2026-12-01T10:00:00Z", "go1.27.3", "linux/amd64"},
		},
		{
			name: "go install …/cmd/rotor@v1.2.3: module version, no VCS data",
			bi:   &debug.BuildInfo{GoVersion: "go1.27.3", Main: debug.Module{Path: "github.com/rotor-ci/rotor", Version: "v1.2.3"}},
			want: BuildInfo{"v1.2.3", unknown, unknown, "go1.27.3", "linux/amd64"},
		},
		{
			name: "go install …/cmd/rotor@COMMIT: the pseudo-version names the commit",
			bi:   &debug.BuildInfo{GoVersion: "go1.27.3", Main: debug.Module{Version: "v0.0.0-20261201100000-0123456789ab"}},
			want: BuildInfo{"v0.0.0-20261201100000-0123456789ab", "0123456789ab", unknown, "go1.27.3", "linux/amd64"},
		},
		{
			name: "pseudo-version after a tag",
			bi:   &debug.BuildInfo{GoVersion: "go1.27.3", Main: debug.Module{Version: "v1.2.4-0.20261201100000-0123456789ab+dirty"}},
			want: BuildInfo{"v1.2.4-0.20261201100000-0123456789ab+dirty", "0123456789ab", unknown, "go1.27.3", "linux/amd64"},
		},
		{
			name: "prerelease that only looks like a pseudo-version is not one",
			bi:   &debug.BuildInfo{GoVersion: "go1.27.3", Main: debug.Module{Version: "v1.0.0-rc-0123456789ab"}},
			want: BuildInfo{"v1.0.0-rc-0123456789ab", unknown, unknown, "go1.27.3", "linux/amd64"},
		},
		{
			name: "go build in a modified git checkout",
			bi: &debug.BuildInfo{GoVersion: "go1.27.3", Main: debug.Module{Version: "(devel)"},
				Settings: settings("vcs", "git", "vcs.revision", "abcdef", "vcs.time", "2026-11-30T09:00:00Z", "vcs.modified", "true")},
			want: BuildInfo{"(devel)", "abcdef (modified)", "2026-11-30T09:00:00Z", "go1.27.3", "linux/amd64"},
		},
		{
			name: "nothing recorded",
			want: BuildInfo{"(devel)", unknown, unknown, "go1.26.8", "linux/amd64"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := resolveBuild(tt.version, tt.commit, tt.date, tt.bi, "go1.26.8", "linux/amd64")
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("resolveBuild (-want +got):\n%s", diff)
			}
		})
	}
}

// `rotor version` and `rotor --version` print the same, in both formats, and
// the JSON names its fields in snake_case.
func TestVersionCommand(t *testing.T) {
	run := func(args ...string) (string, string, int) {
		var out, errb bytes.Buffer
		code := Main(t.Context(), args, IO{In: strings.NewReader(""), Out: &out, Err: &errb})
		return out.String(), errb.String(), code
	}
	byCmd, _, code := run("version", "-o", "json")
	if code != ExitOK {
		t.Fatalf("version -o json: exit %d", code)
	}
	byFlag, _, code := run("--version", "-o", "json")
	if code != ExitOK {
		t.Fatalf("--version -o json: exit %d", code)
	}
	if byCmd != byFlag {
		t.Errorf("rotor version and rotor --version differ:\n%s\n%s", byCmd, byFlag)
	}
	var fields map[string]string
	if err := json.Unmarshal([]byte(byCmd), &fields); err != nil {
		t.Fatalf("version -o json is not a JSON object of strings: %v\n%s", err, byCmd)
	}
	for _, k := range []string{"version", "commit", "build_date", "go_version", "platform"} {
		if fields[k] == "" {
			t.Errorf("version -o json: field %q missing or empty in %s", k, byCmd)
		}
	}
	if fields["go_version"] != runtime.Version() {
		t.Errorf("go_version = %q, want %q", fields["go_version"], runtime.Version())
	}

	table, _, code := run("--version")
	if code != ExitOK || !strings.Contains(table, "go        "+runtime.Version()) {
		t.Errorf("--version: exit %d, table:\n%s", code, table)
	}
	if _, stderr, code := run("version", "-o", "xml"); code != ExitUsage || !strings.Contains(stderr, "--output") {
		t.Errorf("version -o xml: exit %d, stderr %q; want exit 2 naming --output", code, stderr)
	}
	if y, _, code := run("version", "-o", "yaml"); code != ExitOK || !strings.Contains(y, "go_version: "+runtime.Version()) {
		t.Errorf("version -o yaml: exit %d:\n%s", code, y)
	}
	if _, _, code := run("version", "extra"); code != ExitUsage {
		t.Errorf("version extra: exit %d, want 2", code)
	}
	// The bare command still prints help, and an unknown one is still a usage error.
	if out, _, code := run(); code != ExitOK || !strings.Contains(out, "Available Commands") {
		t.Errorf("rotor with no arguments: exit %d, output %q", code, out)
	}
	if _, _, code := run("no-such-command"); code != ExitUsage {
		t.Errorf("rotor no-such-command: exit %d, want 2", code)
	}
}
