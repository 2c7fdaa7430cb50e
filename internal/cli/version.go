package cli

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
)

// buildStamp is what the release build wrote into cmd/rotor with -ldflags -X
// (scripts/release); empty in every other build.
var buildStamp struct{ version, commit, date string }

// Stamp records the version, commit and build date stamped into the binary.
// cmd/rotor calls it before Main.
func Stamp(version, commit, date string) {
	buildStamp.version, buildStamp.commit, buildStamp.date = version, commit, date
}

// BuildInfo says which rotor this is and how it was built.
type BuildInfo struct {
	Version   string `json:"version"`    // v1.2.3, a pseudo-version, or "(devel)"
	Commit    string `json:"commit"`     // full revision, "unknown" when nothing recorded it
	BuildDate string `json:"build_date"` // RFC 3339; the release build uses the commit's time, so rebuilds match
	GoVersion string `json:"go_version"`
	Platform  string `json:"platform"` // GOOS/GOARCH
}

const unknown = "unknown"

// currentBuild combines the -ldflags stamp with what the Go toolchain
// recorded in the binary.
func currentBuild() BuildInfo {
	bi, _ := debug.ReadBuildInfo()
	return resolveBuild(buildStamp.version, buildStamp.commit, buildStamp.date, bi, runtime.Version(), runtime.GOOS+"/"+runtime.GOARCH)
}

// resolveBuild prefers the stamp (a release build), then the module version
// and VCS settings that the toolchain records: `go install …/cmd/rotor@v1.2.3`
// records v1.2.3 as the main module's version (but no VCS settings: it builds
// from a module zip); a build inside a git checkout records vcs.revision and
// vcs.time.
func resolveBuild(version, commit, date string, bi *debug.BuildInfo, goVersion, platform string) BuildInfo {
	out := BuildInfo{Version: version, Commit: commit, BuildDate: date, GoVersion: goVersion, Platform: platform}
	if bi != nil {
		settings := map[string]string{}
		for _, s := range bi.Settings {
			settings[s.Key] = s.Value
		}
		if out.Version == "" {
			out.Version = bi.Main.Version
		}
		if out.Commit == "" {
			out.Commit = settings["vcs.revision"]
			if out.Commit != "" && settings["vcs.modified"] == "true" {
				out.Commit += " (modified)"
			}
		}
		if out.Commit == "" {
			out.Commit = pseudoVersionRev(out.Version)
		}
		if out.BuildDate == "" {
			out.BuildDate = settings["vcs.time"]
		}
		if bi.GoVersion != "" {
			out.GoVersion = bi.GoVersion
		}
	}
	if out.Version == "" {
		out.Version = "(devel)"
	}
	if out.Commit == "" {
		out.Commit = unknown
	}
	if out.BuildDate == "" {
		out.BuildDate = unknown
	}
	return out
}

// pseudoVersionRev returns the 12-digit commit prefix that ends a Go
// pseudo-version (v0.0.0-20261201120000-0123456789ab, optionally +dirty),
// or "" for a release version. `go install …@COMMIT` records one.
func pseudoVersionRev(v string) string {
	v, _, _ = strings.Cut(v, "+")
	i := strings.LastIndexByte(v, '-')
	if i < 0 {
		return ""
	}
	rev := v[i+1:]
	if len(rev) != 12 || strings.Trim(rev, "0123456789abcdef") != "" {
		return ""
	}
	// The part before must end in a 14-digit UTC timestamp.
	ts := v[:i]
	if j := max(strings.LastIndexByte(ts, '-'), strings.LastIndexByte(ts, '.')); j >= 0 {
		ts = ts[j+1:]
	}
	if len(ts) != 14 || strings.Trim(ts, "0123456789") != "" {
		return ""
	}
	return rev
}

func (b BuildInfo) table(w io.Writer) {
	fmt.Fprintf(w, "version\t%s\n", b.Version)
	fmt.Fprintf(w, "commit\t%s\n", b.Commit)
	fmt.Fprintf(w, "built\t%s\n", b.BuildDate)
	fmt.Fprintf(w, "go\t%s\n", b.GoVersion)
	fmt.Fprintf(w, "platform\t%s\n", b.Platform)
}

func newVersionCmd(app *App) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Show rotor's version, commit, build date and Go version",
		Example: `  rotor version
  rotor --version
  rotor version -o json`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			b := currentBuild()
			return app.emit(b, b.table)
		},
	}
}

// addVersion registers `rotor version` and makes `rotor --version` print the
// same, honouring -o. (cobra's own Version field prints a fixed template
// before the flags are checked, so -o json could not apply.)
func addVersion(root *cobra.Command, app *App) {
	version := newVersionCmd(app)
	root.AddCommand(version)
	var show bool
	root.Flags().BoolVar(&show, "version", false, "print the version and exit (same as 'rotor version')")
	root.RunE = func(cmd *cobra.Command, args []string) error {
		if show {
			return version.RunE(cmd, args)
		}
		return cmd.Help()
	}
}
