package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/rotor-ci/rotor/internal/emulator"
	cpemu "github.com/rotor-ci/rotor/internal/emulator/codepipeline"
	ghemu "github.com/rotor-ci/rotor/internal/emulator/github"
	"github.com/rotor-ci/rotor/internal/token"
)

// The migration benchmark (-migrate): rotor migrate moves a fleet of one
// credential's pipelines from the GitHub (version 1) action to a
// CodeConnections connection, through the CLI, against the emulators. Once
// with every pipeline's role allowed to use the connection, once with the
// last pipeline's role lacking UseConnection (declared in the world file:
// the emulator has no IAM API). Everything is checked from the emulators'
// records: each pipeline's declaration, its executions, the token's state.

var connectionARN = regexp.MustCompile(`arn:aws:codeconnections:[a-z0-9-]+:[0-9]{12}:connection/[0-9a-f-]+`)

// noConnRole is the role the failing pipeline runs with.
const noConnRole = "no-connections"

// migrateResult is one migration of a fleet.
type migrateResult struct {
	N         int           `json:"n"`
	BadRole   bool          `json:"bad_role"` // the last pipeline's role lacks UseConnection
	Wall      time.Duration `json:"wall"`
	Exit      int           `json:"exit"`
	Moved     int           `json:"moved"`       // on the version 2 action, on the connection
	Verified  int           `json:"verified"`    // of those, with a succeeded execution since the start
	Back      int           `json:"back_on_v1"`  // on version 1 with the token, declaration as before
	Identical int           `json:"identical"`   // declaration identical apart from the source action
	Stopped   int           `json:"stopped"`     // executions an update stopped
	Token     string        `json:"token_state"` // active, revoked
	First     string        `json:"first_problem,omitempty"`
}

func (r migrateResult) ok() bool {
	want := r.N
	if r.BadRole {
		want = r.N - 1
	}
	tokenOK := (r.BadRole && r.Token == string(ghemu.StateActive)) || (!r.BadRole && r.Token == string(ghemu.StateRevoked))
	return r.Moved == want && r.Verified == want && r.Identical == r.N && r.Stopped == 0 && tokenOK && (!r.BadRole || r.Back == 1)
}

func runMigrate(ctx context.Context, bin, tmp string, o options, stdout, stderr io.Writer) error {
	var rs []migrateResult
	for _, n := range o.Ns {
		for _, bad := range []bool{false, true} {
			for i := range o.Runs {
				fmt.Fprintf(stderr, "migrate run %d/%d  N=%d bad_role=%v …\n", i+1, o.Runs, n, bad)
				r, err := measureMigrate(ctx, bin, filepath.Join(tmp, fmt.Sprintf("migrate-%d-%v-%d", n, bad, i)), n, bad)
				if err != nil {
					return err
				}
				fmt.Fprintf(stderr, "  %+v\n", r)
				rs = append(rs, r)
			}
		}
	}
	if o.JSON != "" {
		b, _ := json.MarshalIndent(rs, "", "  ")
		if err := os.WriteFile(o.JSON, b, 0o644); err != nil {
			return err
		}
	}
	fmt.Fprintln(stdout, "| pipelines | role lacking UseConnection | rotor migrate (wall) | exit | moved to the connection | verified by execution | back on version 1 | declarations identical but the action | executions stopped | old token | ok |")
	fmt.Fprintln(stdout, "|---|---|---|---|---|---|---|---|---|---|---|")
	for _, r := range rs {
		bad := "none"
		if r.BadRole {
			bad = "1 (the last)"
		}
		fmt.Fprintf(stdout, "| %d | %s | %.1f s | %d | %d | %d | %d | %d/%d | %d | %s | %v |\n", r.N, bad, r.Wall.Seconds(), r.Exit, r.Moved, r.Verified, r.Back, r.Identical, r.N, r.Stopped, r.Token, r.ok())
	}
	for _, r := range rs {
		if !r.ok() {
			return fmt.Errorf("%d pipelines, bad_role %v: %s", r.N, r.BadRole, r.First)
		}
	}
	return nil
}

func measureMigrate(ctx context.Context, bin, dir string, n int, bad bool) (migrateResult, error) {
	res := migrateResult{N: n, BadRole: bad}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return res, err
	}
	last := pipelineName(n - 1)
	f, err := startFleetWith(ctx, shape{N: n}, dir, func(w *emulator.World) {
		roles, err := emulator.ParseWorld("roles.yaml", []byte(`
aws:
  accounts:
    - id: "`+cpemu.DefaultAccount+`"
      roles:
        - name: `+noConnRole+`
          policies: [{Statement: [{Effect: Allow, Action: "codepipeline:*", Resource: "*"}]}]
`))
		if err != nil {
			panic(err) // a constant
		}
		w.AWS = roles.AWS
		if bad {
			spec := &w.CodePipeline.Pipelines[n-1]
			spec.JSON = bytes.Replace(spec.JSON, []byte("role/AWS-CodePipeline-Service"), []byte("role/"+noConnRole), 1)
		}
	})
	if err != nil {
		return res, err
	}
	defer f.close()
	// The token is revoked as soon as the last action moved: grace 0.
	cfg, err := os.ReadFile(f.config)
	if err != nil {
		return res, err
	}
	if !bytes.Contains(cfg, []byte("grace: 10m")) {
		return res, fmt.Errorf("the fleet's config has no grace: 10m to change")
	}
	if err := os.WriteFile(f.config, bytes.Replace(cfg, []byte("grace: 10m"), []byte("grace: 0s"), 1), 0o600); err != nil {
		return res, err
	}
	old := f.oldToken()
	if _, err := f.runRotor(ctx, bin, old, "adopt", credential, "--token-stdin", "--confirm-unverifiable"); err != nil {
		return res, err
	}
	p, err := f.runRotor(ctx, bin, token.Token{}, "migrate", credential, "--create-connection", "bench", "-o", "json")
	if err != nil {
		return res, err
	}
	// The output is time-stamped line by line: find the ARN in it.
	conn := connectionARN.FindString(p.Output)
	if conn == "" {
		return res, fmt.Errorf("create connection: no ARN in\n%s", p.Output)
	}
	body, _ := json.Marshal(map[string]any{"connection_arn": conn, "github_account": user, "repositories": []string{repo}})
	resp, err := http.Post(f.sb.AWSURL+"/_emulator/connections/handshake", "application/json", bytes.NewReader(body))
	if err != nil {
		return res, err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return res, fmt.Errorf("handshake: %s", resp.Status)
	}
	before, err := f.snapshot(f.names)
	if err != nil {
		return res, err
	}
	start := time.Now()
	p, err = f.runRotor(ctx, bin, token.Token{}, "migrate", credential, "--connection", conn)
	res.Wall = p.Wall
	if err != nil {
		res.Exit = 1
		if strings.Contains(err.Error(), "exit status 3") {
			res.Exit = 3
		}
	}
	problem := func(format string, a ...any) {
		if res.First == "" {
			res.First = fmt.Sprintf(format, a...)
		}
	}
	if bad && res.Exit != 3 {
		problem("exit %d, want 3 (rolled back)", res.Exit)
	}
	after, err := f.snapshot(f.names)
	if err != nil {
		return res, err
	}
	verified := map[string]bool{}
	for _, x := range f.sb.CodePipeline.Executions() {
		if x.StoppedBy == cpemu.StoppedByUpdate {
			res.Stopped++
		}
		if x.Status == "Succeeded" && x.Started.After(start) {
			verified[x.Pipeline] = true
		}
	}
	for _, name := range f.names {
		a := source(after[name].decl)
		typ, _ := a["actionTypeId"].(map[string]any)
		cfg, _ := a["configuration"].(map[string]any)
		switch {
		case typ["provider"] == "CodeStarSourceConnection" && cfg["ConnectionArn"] == conn && cfg["FullRepositoryId"] == user+"/"+repo && cfg["BranchName"] == "master":
			res.Moved++
			if verified[name] {
				res.Verified++
			} else {
				problem("%s moved but no execution succeeded since the start", name)
			}
			if after[name].version != before[name].version+1 {
				problem("%s: version %d → %d", name, before[name].version, after[name].version)
			}
		case typ["provider"] == "GitHub":
			held, _ := f.sb.CodePipeline.StoredToken(name, "Source")
			if bad && name == last && held.Reveal() == old.Reveal() {
				res.Back++
			} else {
				problem("%s still on version 1", name)
			}
		default:
			problem("%s: source action %v", name, typ)
		}
		if sameApartFromSource(before[name].decl, after[name].decl) {
			res.Identical++
		} else {
			problem("%s: the declaration changed beyond the source action", name)
		}
	}
	for _, ti := range f.sb.GitHub.Tokens() {
		if ti.Fingerprint == old.Fingerprint() {
			res.Token = string(ti.State)
		}
	}
	return res, nil
}

// source is the first action of the first stage of a raw declaration.
func source(d map[string]any) map[string]any {
	stages, _ := d["stages"].([]any)
	if len(stages) == 0 {
		return nil
	}
	actions, _ := stages[0].(map[string]any)["actions"].([]any)
	if len(actions) == 0 {
		return nil
	}
	a, _ := actions[0].(map[string]any)
	return a
}

// sameApartFromSource compares two raw declarations without the source
// action's type and configuration (the version is already left out).
func sameApartFromSource(a, b map[string]any) bool {
	strip := func(d map[string]any) string {
		var c map[string]any
		raw, _ := json.Marshal(d)
		_ = json.Unmarshal(raw, &c)
		s := source(c)
		delete(s, "actionTypeId")
		delete(s, "configuration")
		out, _ := json.Marshal(c)
		return string(out)
	}
	return strip(a) == strip(b)
}
