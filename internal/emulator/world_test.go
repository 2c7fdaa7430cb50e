package emulator_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/rotor-ci/rotor/internal/emulator"
)

// normalised compares worlds by their JSON, pipelines parsed (their line
// numbers and formatting differ between a file and DefaultWorld).
func normalised(t *testing.T, w emulator.World) any {
	t.Helper()
	for i := range w.CodePipeline.Pipelines {
		w.CodePipeline.Pipelines[i].Line = 0
	}
	b, err := json.Marshal(w)
	if err != nil {
		t.Fatal(err)
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestLoadWorld_Seed(t *testing.T) {
	w, err := emulator.LoadWorld("testdata/world.yaml")
	if err != nil {
		t.Fatalf("LoadWorld: %v", err)
	}
	if diff := cmp.Diff(normalised(t, emulator.DefaultWorld()), normalised(t, w)); diff != "" {
		t.Errorf("testdata/world.yaml differs from DefaultWorld (-default +file):\n%s", diff)
	}
	if err := emulator.DefaultWorld().Validate(); err != nil {
		t.Errorf("DefaultWorld is invalid: %v", err)
	}
}

func TestParseWorld_Errors(t *testing.T) {
	seed, err := os.ReadFile("testdata/world.yaml")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		src  string
		want string // the whole error
	}{
		{"unknown top-level key", "github: {}\nbogus: 1\n", `w.yaml:2: bogus: unknown field "bogus"`},
		{"unknown nested key", "github:\n  users:\n    - login: a\n      emial: x\n", `w.yaml:4: github.users[0].emial: unknown field "emial"`},
		{"wrong type", "github:\n  rate_limit: [1]\n", "w.yaml:2: github.rate_limit: cannot unmarshal []interface {} into Go struct field World.GitHub of type int"},
		{"bad duration", "codepipeline:\n  poll_interval: soon\n", `w.yaml:2: codepipeline.poll_interval: duration "soon": time: invalid duration "soon"`},
		{"pipeline not a mapping", "codepipeline:\n  pipelines:\n    - 3\n", "w.yaml:3: codepipeline.pipelines[0]: a pipeline is a mapping (name, roleArn, artifactStore, stages), not Integer"},
		{"misspelt pipeline key", strings.Replace(string(seed), "roleArn:", "rolArn:", 1),
			`w.yaml:30: codepipeline.pipelines[0]: pipeline MyFirstPipeline: pipeline declaration: json: unknown field "rolArn"`},
		{"pipeline AWS would refuse", strings.Replace(string(seed), "OAuthToken:", "OAuthTokn:", 1),
			"w.yaml:30: codepipeline.pipelines[0]: pipeline MyFirstPipeline: InvalidActionDeclarationException: Action configuration for action 'Source' is missing required configuration 'OAuthToken'"},
		{"bad fault", "faults:\n  - {error_rate: 2}\n", "w.yaml:2: faults[0]: fault rule: error_rate 2 is not between 0 and 1"},
		{"unknown fault service", "faults:\n  - {service: s3, fail: true}\n", `w.yaml:2: faults[0].service: unknown service "s3": use github, codepipeline, sts, organizations, codeconnections or leave it out`},
		{"bad account id", "aws:\n  accounts:\n    - {id: \"12\"}\n", `w.yaml:3: aws.accounts[0].id: account id "12": want 12 digits (quote it in YAML)`},
		{"trust policy the emulator cannot evaluate", "aws:\n  accounts:\n    - id: \"111111111111\"\n      roles:\n        - name: r\n          trust_policy: {Statement: [{Effect: Allow, Principal: \"*\", Action: \"sts:AssumeRole\", Condition: {IpAddress: {\"aws:SourceIp\": 10.0.0.0/8}}}]}\n",
			"w.yaml:6: aws.accounts[0].roles[0].trust_policy: Statement[0]: Condition operator IpAddress is not modelled (only StringEquals, StringLike)"},
		{"region pipeline AWS would refuse", "codepipeline:\n  regions:\n    - account: \"111111111111\"\n      region: eu-west-1\n      pipelines:\n        - {name: \"bad name!\"}\n",
			"w.yaml:6: codepipeline.regions[0].pipelines[0]: pipeline bad name!: ValidationException: 3 validation errors detected: Value 'bad name!' at 'pipeline.name' failed to satisfy constraint: Member must satisfy regular expression pattern: [A-Za-z0-9.@\\-_]+; Value null at 'pipeline.roleArn' failed to satisfy constraint: Member must not be null; Value null at 'pipeline.stages' failed to satisfy constraint: Member must not be null"},
		{"empty", "\n", "w.yaml: the file is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := emulator.ParseWorld("w.yaml", []byte(tt.src))
			if err == nil {
				t.Fatal("no error")
			}
			if err.Error() != tt.want {
				t.Errorf("error:\n got %s\nwant %s", err, tt.want)
			}
			if !errors.Is(err, emulator.ErrWorld) {
				t.Errorf("error does not match ErrWorld")
			}
		})
	}
	if _, err := emulator.LoadWorld(filepath.Join(t.TempDir(), "missing.yaml")); err == nil {
		t.Error("LoadWorld of a missing file: no error")
	}
}
