package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	cp "github.com/aws/aws-sdk-go-v2/service/codepipeline"

	"github.com/rotor-ci/rotor/internal/awsx"
	"github.com/rotor-ci/rotor/internal/plan"
)

// TestCLI_PlanWarnings builds an account where one credential serves two
// pipelines, a third pipeline's GitHub action belongs to nobody, and one
// action is claimed by two credentials; plan must name each.
func TestCLI_PlanWarnings(t *testing.T) {
	e := newE2E(t, "10m")
	ctx := context.Background()
	awsCfg, err := awsx.Load(ctx, awsx.Config{Region: "us-east-1", EndpointURL: e.sb.CodePipelineURL})
	if err != nil {
		t.Fatal(err)
	}
	client := cp.NewFromConfig(awsCfg)
	got, err := client.GetPipeline(ctx, &cp.GetPipelineInput{Name: aws.String("MyFirstPipeline")})
	if err != nil {
		t.Fatal(err)
	}
	old := e.tokens[0]
	for _, name := range []string{"SecondApp", "Orphan"} {
		decl := got.Pipeline
		decl.Name = aws.String(name)
		for _, s := range decl.Stages {
			for _, a := range s.Actions {
				if _, ok := a.Configuration["OAuthToken"]; ok {
					a.Configuration["OAuthToken"] = old.Reveal()
				}
			}
		}
		if _, err := client.CreatePipeline(ctx, &cp.CreatePipelineInput{Pipeline: decl}); err != nil {
			t.Fatalf("create %s: %v", name, err)
		}
	}
	b, err := os.ReadFile(e.config)
	if err != nil {
		t.Fatal(err)
	}
	cfg := strings.Replace(string(b), "pipelines: [MyFirstPipeline]}", "pipelines: [MyFirstPipeline, SecondApp]}", 1) + `  - name: second
    application: SecondApp
    source: {type: personal-token}
    targets:
      - {type: codepipeline, pipelines: [SecondApp]}
`
	if err := os.WriteFile(e.config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out := e.rotor("", "plan", "-o", "json")
	if code != 0 {
		t.Fatalf("plan: exit %d\n%s", code, out)
	}
	var r plan.Report
	if err := json.Unmarshal([]byte(strings.SplitN(out, "\n\n", 2)[0]), &r); err != nil {
		t.Fatalf("plan -o json: %v\n%s", err, out)
	}
	kinds := map[string]string{}
	for _, w := range r.Warnings {
		kinds[w.Kind] += w.Binding + " " + w.Message + "\n"
	}
	for kind, want := range map[string]string{
		"Shared":      "MyFirstPipeline, SecondApp",
		"DoubleBound": "SecondApp/Source/Source",
		"Unheld":      "Orphan",
	} {
		if !strings.Contains(kinds[kind], want) {
			t.Errorf("no %s warning naming %q; warnings:\n%s", kind, want, fmt.Sprint(kinds))
		}
	}
	if strings.Contains(kinds["Unheld"], "MyFirstPipeline") {
		t.Errorf("a held action is reported unheld: %s", kinds["Unheld"])
	}
	if len(r.Credentials) != 2 || len(r.Credentials[0].Bindings) != 3 {
		t.Fatalf("credentials/bindings: %+v", r.Credentials)
	}
	e.canary()
}
