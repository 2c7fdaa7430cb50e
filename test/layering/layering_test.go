// Package layering holds the test that keeps rotor's arrows pointing the
// way docs/architecture.md draws them, read from `go list`.
package layering

import (
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/rotor-ci/rotor/"

// implementation matches the packages that talk to the world: rotor's
// store, GitHub client, sealing keys, AWS access, targets and sources, and
// the SDKs and drivers under them. wiring is the one place that builds
// them.
var implementation = regexp.MustCompile(`^(` + module + `internal/(store|github|seal|awsx|target|source)(/|$)` +
	`|github\.com/aws/aws-sdk-go-v2/service/|github\.com/google/go-github/|github\.com/jackc/pgx/|modernc\.org/sqlite)`)

// mayImportImplementations are the packages besides wiring and the
// implementations themselves (a target uses awsx, the target factory each
// target) that may import one, and why.
var mayImportImplementations = map[string]string{
	"internal/wiring": "builds every implementation",
	"cmd/rotor":       "the binary",
	// cfnref builds no client (wiring does); the API it reads templates
	// through is shaped like the SDK's CloudFormation client, whose types
	// it names, and awsx sanitises its errors.
	"internal/cfnref": "the CloudFormation template logic the codepipeline target and plan share",
	"internal/scan":   "the secret scan (--github) speaks the github package's secret places and listings through its own SecretsAPI interface",
	// Harnesses act as the user and the world around rotor: they create
	// sealing keys, drive the emulated CodePipeline with the SDK as a user
	// with the AWS CLI would, and (torture) lock the SQLite file under
	// rotor's processes. None of them is linked into rotor's commands
	// except the demo, which rotor demo runs.
	"internal/demo": "harness: rotor demo",
	"bench":         "harness: benchmarks",
	"test/torture":  "harness: torture run",
	"test/ha":       "harness: HA test",
}

type pkg struct {
	path    string // without the module prefix
	imports []string
	deps    []string
}

func list(t *testing.T, args ...string) []pkg {
	t.Helper()
	goBin, err := exec.LookPath("go") // go test puts its own go first on PATH
	if err != nil {
		t.Fatalf("go not found: %v", err)
	}
	out, err := exec.Command(goBin, append([]string{"list", "-f", `{{.ImportPath}}|{{join .Imports " "}}|{{join .Deps " "}}`}, args...)...).Output()
	if err != nil {
		t.Fatalf("go list %v: %v", args, err)
	}
	var pkgs []pkg
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Split(line, "|")
		path, _, _ := strings.Cut(f[0], " ") // "p [p.test]" is p built for its tests
		pkgs = append(pkgs, pkg{path: strings.TrimPrefix(path, module), imports: clean(f[1]), deps: clean(f[2])})
	}
	if len(pkgs) < 10 {
		t.Fatalf("go list %v reported only %d packages:\n%s", args, len(pkgs), out)
	}
	return pkgs
}

func clean(s string) []string {
	var out []string
	for _, d := range strings.Fields(s) {
		d, _, _ = strings.Cut(d, " ")
		out = append(out, d)
	}
	return out
}

func under(path, dir string) bool { return path == dir || strings.HasPrefix(path, dir+"/") }

// TestLayering fails on an import that breaks the layering (rotor's code,
// not its tests, except for the emulators, whose tests count too).
func TestLayering(t *testing.T) {
	pkgs := list(t, module+"...")

	t.Run("the engine imports no implementation", func(t *testing.T) {
		for _, p := range pkgs {
			if !under(p.path, "internal/rotation") {
				continue
			}
			for _, d := range p.deps {
				if implementation.MatchString(d) || d == module+"internal/wiring" {
					t.Errorf("%s depends on %s: the engine knows its Store, Source, Target and Sealer only as its own interfaces", p.path, strings.TrimPrefix(d, module))
				}
			}
		}
	})

	t.Run("sources and targets import neither the store nor wiring", func(t *testing.T) {
		for _, p := range pkgs {
			if !under(p.path, "internal/source") && !under(p.path, "internal/target") {
				continue
			}
			for _, d := range p.deps {
				if under(d, module+"internal/store") || under(d, module+"internal/wiring") {
					t.Errorf("%s depends on %s: what a source or target needs of the store comes through its Deps, from wiring", p.path, strings.TrimPrefix(d, module))
				}
			}
		}
	})

	t.Run("only wiring and cmd import implementations", func(t *testing.T) {
		for _, p := range pkgs {
			if implementation.MatchString(module+p.path) || under(p.path, "internal/emulator") {
				continue // an implementation using another; emulators: below
			}
			if _, ok := mayImportImplementations[p.path]; ok {
				continue
			}
			for _, d := range p.imports {
				if implementation.MatchString(d) {
					t.Errorf("%s imports %s: only wiring builds implementations; ask wiring, or declare a small interface where it is used", p.path, strings.TrimPrefix(d, module))
				}
			}
		}
	})

	t.Run("the emulators import no client-side package", func(t *testing.T) {
		// Code and tests: the emulators are what rotor is tested against,
		// so they share no logic with it. Every package outside
		// internal/emulator counts as rotor's, so a package added later is
		// covered without a change here.
		checked := 0
		for _, p := range list(t, "-test", module+"internal/emulator/...") {
			if strings.HasSuffix(p.path, ".test") {
				continue // the generated test main
			}
			checked++
			for _, d := range p.deps {
				if !strings.HasPrefix(d, module) || under(d, module+"internal/emulator") {
					continue
				}
				if slices.Contains(crossCheckImports[p.path], d) {
					continue
				}
				t.Errorf("%s depends on rotor's %s: the emulators must not share code with rotor", p.path, strings.TrimPrefix(d, module))
			}
		}
		if checked < 6 {
			t.Fatalf("go list reported only %d packages under internal/emulator", checked)
		}
	})
}

// crossCheckImports are the only rotor packages outside internal/emulator
// that code under it may reach, and only from the test named: the
// cross-check of the emulators' token code against rotor's.
var crossCheckImports = map[string][]string{
	"internal/emulator/ghtoken_test": {module + "internal/token"},
}
