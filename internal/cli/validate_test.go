package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/spf13/cobra"
)

// runCmd runs one subcommand as rotor would, with buffers for streams, and
// returns what it printed and the exit code Main would give.
func runSubcommand(t *testing.T, build func(*App) *cobra.Command, app *App, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	app.IO = IO{In: strings.NewReader(""), Out: &out, Err: &errb}
	if app.Output == "" {
		app.Output = "table"
	}
	cmd := build(app)
	cmd.SetArgs(args)
	cmd.SetOut(&out)
	cmd.SetErr(&errb)
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	err := cmd.Execute()
	code = ExitOK
	if err != nil {
		code = exitCode(err)
		errb.WriteString("rotor: " + err.Error() + "\n")
	}
	return out.String(), errb.String(), code
}

func writeTestConfig(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "rotor.yaml")
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

const validConfig = `credentials:
  - name: cp
    source: {type: personal-token}
    targets:
      - {type: codepipeline, pipelines: [MyFirstPipeline]}
      - {type: file, path: token}
  - name: app
    source: {type: github-app, app_id: 1, installation_id: 2, private_key_file: k.pem}
    targets:
      - {type: ssm, name: /ci/token}
`

func TestValidate(t *testing.T) {
	tests := []struct {
		name       string
		body       string // "" means no file
		wantCode   int
		wantOut    string
		wantErrHas []string
	}{
		{name: "ok", body: validConfig, wantCode: 0, wantOut: "rotor.yaml: ok (2 credentials, 3 targets)\n"},
		{name: "one of each", body: "credentials:\n  - name: cp\n    source: {type: personal-token}\n    targets: [{type: file, path: t}]\n", wantOut: "rotor.yaml: ok (1 credential, 1 target)\n"},
		{
			name:     "every error, then a summary",
			body:     "credentials:\n  - name: cp\n    source: {type: personal-token}\n    rotate: {every: 3x}\n    targets: [{type: file, pth: t}]\n",
			wantCode: 2,
			wantErrHas: []string{
				`rotor.yaml:4: credentials[0].rotate.every: "3x": want a duration like 30d or 12h` + "\n",
				`rotor.yaml:5: credentials[0].targets[0].pth: unknown field (did you mean "path"?)` + "\n",
				"rotor: ", "rotor.yaml: 2 errors\n",
			},
		},
		{name: "no file", wantCode: 2, wantErrHas: []string{"rotor.yaml: no such file: write one with 'rotor init'"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "rotor.yaml")
			if tt.body != "" {
				if err := os.WriteFile(path, []byte(tt.body), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			t.Chdir(dir)
			out, errs, code := runSubcommand(t, newValidateCmd, &App{ConfigPath: "rotor.yaml"})
			if code != tt.wantCode {
				t.Errorf("exit code %d, want %d (stderr %q)", code, tt.wantCode, errs)
			}
			if out != tt.wantOut {
				t.Errorf("stdout = %q, want %q", out, tt.wantOut)
			}
			for _, want := range tt.wantErrHas {
				if !strings.Contains(errs, want) {
					t.Errorf("stderr does not say %q:\n%s", want, errs)
				}
			}
		})
	}
}

func TestValidate_json(t *testing.T) {
	path := writeTestConfig(t, "store: nope\ncredentials:\n  - name: cp\n")
	out, _, code := runSubcommand(t, newValidateCmd, &App{ConfigPath: path, Output: "json"})
	if code != 2 {
		t.Errorf("exit code %d, want 2", code)
	}
	var got validateView
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("stdout is not JSON: %v\n%s", err, out)
	}
	want := validateView{File: path, Errors: []*configItem{
		{Line: 1, Field: "store", Message: `"nope": want sqlite:PATH or postgres://…`},
		{Line: 3, Field: "credentials[0].source.type", Message: "required: personal-token, github-app or github-app-user"},
		{Line: 3, Field: "credentials[0].targets", Message: "required: at least one target (where the token is used)"},
	}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("JSON (-want +got):\n%s", diff)
	}

	path = writeTestConfig(t, validConfig)
	out, _, code = runSubcommand(t, newValidateCmd, &App{ConfigPath: path, Output: "json"})
	if code != 0 || !strings.Contains(out, `"ok": true`) || !strings.Contains(out, `"targets": 3`) {
		t.Errorf("exit %d, stdout %s", code, out)
	}
}
