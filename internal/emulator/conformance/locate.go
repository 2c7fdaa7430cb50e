package conformance

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// Environment variables that say where the descriptions are.
const (
	// EnvDescriptions is the directory that npm installed @octokit/openapi
	// and @octokit/fixtures into (it holds node_modules/@octokit/…).
	EnvDescriptions = "ROTOR_API_DESCRIPTIONS"
	// EnvBotocore is botocore's data directory (it holds
	// codepipeline/2015-07-09/service-2.json[.gz]).
	EnvBotocore = "ROTOR_BOTOCORE_DATA"
)

// defaultDescriptions is where .ci/run installs the npm packages:
// ${XDG_CACHE_HOME:-~/.cache}/rotor/api-descriptions. Read once at start,
// before any test changes HOME or XDG_CACHE_HOME.
var defaultDescriptions = func() string {
	dir, err := os.UserCacheDir()
	if err != nil {
		return ""
	}
	return filepath.Join(dir, "rotor", "api-descriptions")
}()

// Paths are where the descriptions were found; an empty field means not
// found, with the reason in the matching Why field.
type Paths struct {
	OpenAPI  string // api.github.com.json
	Fixtures string // @octokit/fixtures' scenarios/api.github.com
	Botocore string // botocore's data directory

	WhyNoGitHub, WhyNoBotocore string
}

// Locate finds the descriptions: $ROTOR_API_DESCRIPTIONS (default
// ~/.cache/rotor/api-descriptions, where .ci/run installs them) for
// GitHub's, $ROTOR_BOTOCORE_DATA or else the botocore package of the
// python3 on PATH (the AWS CLI's) for AWS's.
func Locate() Paths {
	var p Paths
	dir := os.Getenv(EnvDescriptions)
	if dir == "" {
		dir = defaultDescriptions
	}
	openapi := filepath.Join(dir, "node_modules", "@octokit", "openapi", "generated", "api.github.com.json")
	fixtures := filepath.Join(dir, "node_modules", "@octokit", "fixtures", "scenarios", "api.github.com")
	if _, err := os.Stat(openapi); err != nil {
		p.WhyNoGitHub = "GitHub's OpenAPI description is not installed at " + openapi +
			" (.ci/run installs it: npm install --prefix " + dir + " @octokit/openapi @octokit/fixtures; or set $" + EnvDescriptions + ")"
	} else {
		p.OpenAPI = openapi
	}
	if _, err := os.Stat(fixtures); err == nil {
		p.Fixtures = fixtures
	}
	p.Botocore, p.WhyNoBotocore = locateBotocore()
	return p
}

func locateBotocore() (string, string) {
	if d := os.Getenv(EnvBotocore); d != "" {
		if _, err := os.Stat(d); err != nil {
			return "", "$" + EnvBotocore + " is " + d + ", which does not exist"
		}
		return d, ""
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "python3", "-c", "import botocore, os; print(os.path.dirname(botocore.__file__))").Output()
	if err != nil {
		return "", "botocore's service models were not found: python3 -c 'import botocore' failed (" + err.Error() + "); install the AWS CLI or set $" + EnvBotocore
	}
	d := filepath.Join(strings.TrimSpace(string(out)), "data")
	if _, err := os.Stat(d); err != nil {
		return "", "botocore has no data directory at " + d
	}
	return d, ""
}
