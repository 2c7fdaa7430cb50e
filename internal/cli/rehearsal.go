package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/rotor-ci/rotor/internal/config"
	"github.com/rotor-ci/rotor/internal/emulator"
)

// The rehearsal: from 'rotor emulator' to a first rotation, with the
// commands the README walks through (README.md, "Rehearse on the
// emulator"; rehearsal_test.go runs them as written).

// emulatorAccessKey is the AWS key the rehearsal exports: the emulator
// accepts any, but the SDK needs one to sign with.
const emulatorAccessKey = "emulator"

// emulatorNotes is what 'rotor emulator' prints under its endpoint lines:
// the part of rotor.yaml that points at it, and, for the default world,
// the commands of a first rotation.
func emulatorNotes(defaultWorld bool) func(emulator.Endpoints) string {
	return func(ep emulator.Endpoints) string {
		var b strings.Builder
		fmt.Fprintf(&b, `# rotor.yaml for this emulator ('rotor init --emulator %s' writes it whole):
github:
  api_url: %s
aws:
  region: %s
  endpoint_url: %s
# The emulator takes any AWS key, but the AWS SDK needs one to sign with:
#   export AWS_ACCESS_KEY_ID=%s AWS_SECRET_ACCESS_KEY=%s
`, ep.AWS, ep.GitHub, ep.Region, ep.AWS, emulatorAccessKey, emulatorAccessKey)
		if !defaultWorld {
			return b.String()
		}
		fmt.Fprintf(&b, `
# A first rotation, in another shell, in an empty directory:
export AWS_ACCESS_KEY_ID=%[3]s AWS_SECRET_ACCESS_KEY=%[3]s
rotor init --emulator %[2]s
rotor plan
curl -fsS %[2]s/_emulator/pipelines/MyFirstPipeline/token | rotor adopt codepipeline-test-repo --token-stdin --confirm-unverifiable
curl -fsS -X POST '%[1]s/_emulator/tokens?output=value' -d '{"user":"MyGitHubUserName","kind":"classic","note":"rotor","scopes":["repo","admin:repo_hook"]}' | rotor rotate codepipeline-test-repo --token-stdin
rotor status
`, ep.GitHub, ep.AWS, emulatorAccessKey)
		return b.String()
	}
}

// emulatorEndpoints asks the emulator at u (its AWS endpoint, as 'rotor
// emulator' prints it) where its APIs are.
func emulatorEndpoints(ctx context.Context, u string) (emulator.Endpoints, error) {
	var ep emulator.Endpoints
	base, err := url.Parse(strings.TrimRight(u, "/"))
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return ep, usageErrorf("--emulator %q: want the emulator's AWS endpoint as 'rotor emulator' prints it (http://127.0.0.1:PORT)", u)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base.String()+emulator.EndpointsPath, nil)
	if err != nil {
		return ep, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return ep, fmt.Errorf("--emulator %s: is 'rotor emulator' running? %w", u, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return ep, fmt.Errorf("--emulator %s: %s from %s: give the AWS endpoint ('codepipeline http://…' in the emulator's output), not the GitHub one", u, resp.Status, emulator.EndpointsPath)
	}
	if err := json.NewDecoder(resp.Body).Decode(&ep); err != nil || ep.GitHub == "" || ep.AWS == "" {
		return ep, fmt.Errorf("--emulator %s: unexpected answer from %s: %v", u, emulator.EndpointsPath, err)
	}
	return ep, nil
}

// emulatorConfig is the example rotor.yaml pointed at the emulator: the
// same file 'rotor init' writes, with its github and aws sections set.
func emulatorConfig(ep emulator.Endpoints) (string, error) {
	ex := config.Example()
	for _, r := range []struct{ old, new string }{
		{"  api_url: https://api.github.com\n", "  api_url: " + ep.GitHub + "   # rotor emulator\n"},
		{"  region: us-east-1\n", "  region: " + ep.Region + "\n  endpoint_url: " + ep.AWS + "   # rotor emulator: every AWS API\n"},
		{"  # Credentials come from the standard AWS chain (environment, profile, SSO, role).\n",
			"  # Credentials come from the standard AWS chain (environment, profile, SSO, role).\n  # The emulator takes any key: export AWS_ACCESS_KEY_ID=" + emulatorAccessKey + " AWS_SECRET_ACCESS_KEY=" + emulatorAccessKey + "\n"},
	} {
		if strings.Count(ex, r.old) != 1 {
			return "", fmt.Errorf("init --emulator: the example config no longer has %q", strings.TrimSpace(r.old)) // a bug, caught by tests
		}
		ex = strings.Replace(ex, r.old, r.new, 1)
	}
	return ex, nil
}
