package emulator

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
	yamltoken "github.com/goccy/go-yaml/token"

	"github.com/rotor-ci/rotor/internal/emulator/awsaccounts"
	"github.com/rotor-ci/rotor/internal/emulator/codeconnections"
	"github.com/rotor-ci/rotor/internal/emulator/codepipeline"
	"github.com/rotor-ci/rotor/internal/emulator/fault"
	"github.com/rotor-ci/rotor/internal/emulator/ghtoken"
	"github.com/rotor-ci/rotor/internal/emulator/github"
)

// World is a world file: what exists in GitHub and CodePipeline when the
// emulators start, and the faults in force.
type World struct {
	GitHub       github.World       `yaml:"github" json:"github"`
	CodePipeline codepipeline.World `yaml:"codepipeline" json:"codepipeline"`
	// AWS is the accounts besides the default one (codepipeline.account),
	// their access keys and IAM roles, and the organisation.
	AWS    awsaccounts.World `yaml:"aws,omitempty" json:"aws,omitzero"`
	Faults []fault.Rule      `yaml:"faults,omitempty" json:"faults,omitempty"`
}

// defaultAccount is the account requests with an unknown access key reach.
func (w World) defaultAccount() string {
	if w.CodePipeline.Account != "" {
		return w.CodePipeline.Account
	}
	return codepipeline.DefaultAccount
}

// WorldError is a world file that cannot be used. Line is 0 when the
// problem has no single place.
type WorldError struct {
	File  string
	Line  int
	Field string // "codepipeline.pipelines[0]", "" when unknown
	Err   error
}

func (e *WorldError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	if e.Field != "" {
		b.WriteString(": " + e.Field)
	}
	b.WriteString(": " + e.Err.Error())
	return b.String()
}

func (e *WorldError) Unwrap() error { return e.Err }

// Is makes every WorldError match ErrWorld.
func (e *WorldError) Is(target error) bool { return target == ErrWorld }

// ErrWorld matches every world file error, for callers that map errors to
// exit codes.
var ErrWorld = errors.New("invalid world file")

// LoadWorld reads and checks a world file (YAML). Unknown keys are errors;
// every error names the file, the line and the field.
func LoadWorld(path string) (World, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return World{}, fmt.Errorf("world: %w", err)
	}
	return ParseWorld(path, b)
}

// ParseWorld is LoadWorld on bytes; name is what errors call the file.
func ParseWorld(name string, b []byte) (World, error) {
	var w World
	if len(bytes.TrimSpace(b)) == 0 {
		return w, &WorldError{File: name, Err: errors.New("the file is empty")}
	}
	if err := yaml.UnmarshalWithOptions(b, &w, yaml.Strict()); err != nil {
		return World{}, yamlError(name, b, err)
	}
	if err := w.Validate(); err != nil {
		var we *WorldError
		if errors.As(err, &we) {
			we.File = name
			if we.Line == 0 && we.Field != "" {
				we.Line = lineOf(b, we.Field)
			}
		}
		return World{}, err
	}
	return w, nil
}

// Validate checks what the YAML decoder cannot: the fault rules and the
// CodePipeline section (as CreatePipeline would). The GitHub section is
// checked when its emulator loads it.
func (w World) Validate() error {
	if err := w.validateFaults(); err != nil {
		return err
	}
	if err := w.validateAWS(); err != nil {
		return err
	}
	return w.validateCodePipeline()
}

func (w World) validateAWS() error {
	if err := w.AWS.Validate(w.defaultAccount()); err != nil {
		we := &WorldError{Field: "aws", Err: err}
		var fe *awsaccounts.FieldError
		if errors.As(err, &fe) {
			we.Field, we.Err = fe.Field, fe.Err
		}
		return we
	}
	return nil
}

func (w World) validateFaults() error {
	for i, r := range w.Faults {
		if err := r.Validate(); err != nil {
			return &WorldError{Field: fmt.Sprintf("faults[%d]", i), Err: err}
		}
		switch r.Service {
		case "", github.Service, codepipeline.Service, awsaccounts.ServiceSTS, awsaccounts.ServiceOrganizations, codeconnections.Service:
		default:
			return &WorldError{Field: fmt.Sprintf("faults[%d].service", i), Err: fmt.Errorf("unknown service %q: use github, codepipeline, sts, organizations, codeconnections or leave it out", r.Service)}
		}
	}
	return nil
}

func (w World) validateCodePipeline() error {
	if err := w.CodePipeline.Validate(); err != nil {
		we := &WorldError{Field: "codepipeline", Err: err}
		var pe *codepipeline.WorldError
		if errors.As(err, &pe) {
			we.Field = fmt.Sprintf("codepipeline.pipelines[%d]", pe.Index)
			if pe.In != "" {
				we.Field = fmt.Sprintf("codepipeline.%s.pipelines[%d]", pe.In, pe.Index)
			}
			we.Line = pe.Line
			we.Err = pe.Err
			if pe.Name != "" {
				we.Err = fmt.Errorf("pipeline %s: %w", pe.Name, pe.Err)
			}
		}
		return we
	}
	return nil
}

// yamlError turns a decoder error into a WorldError with line and field.
func yamlError(name string, src []byte, err error) error {
	we := &WorldError{File: name, Err: err}
	var ye yaml.Error
	if errors.As(err, &ye) {
		we.Err = errors.New(ye.GetMessage())
		if tk := ye.GetToken(); tk != nil && tk.Position != nil {
			we.Line = tk.Position.Line
			we.Field = fieldAt(src, func(t *yamltoken.Token) bool {
				return t.Position.Line == tk.Position.Line && t.Position.Column == tk.Position.Column
			})
		}
		return we
	}
	// A field's own unmarshaler (a duration, a time) fails without a
	// position; its message quotes the value, which finds the field.
	if m := reQuoted.FindString(err.Error()); m != "" {
		if v, uerr := strconv.Unquote(m); uerr == nil && v != "" {
			we.Field = fieldAt(src, func(t *yamltoken.Token) bool { return t.Value == v })
			we.Line = lineOf(src, we.Field)
		}
	}
	return we
}

var reQuoted = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)

// fieldAt names the YAML path ("github.users[0]") of the first node whose
// token matches.
func fieldAt(src []byte, match func(*yamltoken.Token) bool) string {
	f, err := parser.ParseBytes(src, 0)
	if err != nil {
		return ""
	}
	var found string
	for _, doc := range f.Docs {
		ast.Walk(visitorFunc(func(n ast.Node) bool {
			tk := n.GetToken()
			if tk != nil && tk.Position != nil && found == "" && match(tk) {
				found = n.GetPath()
			}
			return found == ""
		}), doc)
	}
	return strings.TrimPrefix(strings.TrimPrefix(found, "$"), ".")
}

// lineOf finds the line of a field path ("codepipeline.pipelines[0]").
func lineOf(src []byte, field string) int {
	if field == "" {
		return 0
	}
	p, err := yaml.PathString("$." + field)
	if err != nil {
		return 0
	}
	f, err := parser.ParseBytes(src, 0)
	if err != nil {
		return 0
	}
	n, err := p.FilterFile(f)
	if err != nil || n == nil || n.GetToken() == nil || n.GetToken().Position == nil {
		return 0
	}
	return n.GetToken().Position.Line
}

type visitorFunc func(ast.Node) bool

func (v visitorFunc) Visit(n ast.Node) ast.Visitor {
	if !v(n) {
		return nil
	}
	return v
}

// The seed procedure's names, which DefaultWorld uses.
const (
	SeedUser     = "MyGitHubUserName"
	SeedRepo     = "test-repo"
	SeedBranch   = "master"
	SeedPipeline = "MyFirstPipeline"
	SeedApp      = "rotor-ci"
	// SeedTokenNote is the note of the classic token the seed pipeline uses;
	// its value is generated when the emulators start.
	SeedTokenNote = "codepipeline"
)

// DefaultWorld is the seed procedure's world: a private repository, the
// classic token a person made for CodePipeline (scopes repo and
// admin:repo_hook), a GitHub App installed on the repository, and
// MyFirstPipeline, whose GitHub (version 1) source holds that token.
func DefaultWorld() World {
	return World{
		GitHub: github.World{
			Users: []github.UserSpec{{Login: SeedUser}},
			Repos: []github.RepoSpec{{Owner: SeedUser, Name: SeedRepo, Private: true, Branches: []string{SeedBranch}}},
			Tokens: []github.WorldToken{{TokenSpec: github.TokenSpec{
				User: SeedUser, Kind: github.KindClassic, Note: SeedTokenNote, Scopes: []string{"repo", "admin:repo_hook"},
			}}},
			Apps: []github.AppSpec{{
				Name: SeedApp, Owner: SeedUser,
				Permissions:   map[string]string{"contents": "read", "metadata": "read"},
				Installations: []github.InstallationSpec{{Account: SeedUser, Repositories: []string{SeedRepo}}},
			}},
		},
		CodePipeline: codepipeline.World{
			Account:   codepipeline.DefaultAccount,
			Region:    codepipeline.DefaultRegion,
			Pipelines: []codepipeline.PipelineSpec{{JSON: GitHubPipeline(SeedPipeline, SeedUser, SeedRepo, SeedBranch, SeedTokenNote)}},
		},
	}
}

// withTokenValues gives every noted GitHub world token without a value a
// generated one, so that pipelines can refer to it by note ("{{token:NOTE}}")
// and a world file never holds a secret. It returns the world to load and
// the notes' values.
func withTokenValues(w World) (World, map[string][]ghtoken.Token) {
	tokens := make([]github.WorldToken, len(w.GitHub.Tokens))
	copy(tokens, w.GitHub.Tokens)
	byNote := map[string][]ghtoken.Token{}
	for i := range tokens {
		t := &tokens[i]
		if t.Note == "" {
			continue
		}
		if t.Value == "" {
			kind := ghtoken.KindClassicPAT
			if t.Kind == github.KindFineGrained {
				kind = ghtoken.KindFineGrained
			}
			t.Value = ghtoken.Generate(kind).Reveal()
		}
		byNote[t.Note] = append(byNote[t.Note], ghtoken.New(t.Value))
	}
	w.GitHub.Tokens = tokens
	return w, byNote
}

// tokenRef resolves a note for codepipeline.Options.TokenRef.
func tokenRef(byNote map[string][]ghtoken.Token) func(string) (ghtoken.Token, error) {
	return func(note string) (ghtoken.Token, error) {
		switch ts := byNote[note]; len(ts) {
		case 0:
			return ghtoken.Token{}, fmt.Errorf("no github token in the world has note %q", note)
		case 1:
			return ts[0], nil
		default:
			return ghtoken.Token{}, fmt.Errorf("%d github tokens in the world have note %q: make notes unique", len(ts), note)
		}
	}
}

// GitHubPipeline is the declaration (as CreatePipeline takes it) of the
// seed's kind of pipeline: a GitHub (version 1) source reading owner/repo at
// branch with the world token noted tokenNote, then a CodeBuild stage.
// The default world, the benchmark and the HA test build their fleets from it.
func GitHubPipeline(name, owner, repo, branch, tokenNote string) []byte {
	return []byte(`{
  "name": "` + name + `",
  "roleArn": "arn:aws:iam::` + codepipeline.DefaultAccount + `:role/AWS-CodePipeline-Service",
  "artifactStore": {"type": "S3", "location": "codepipeline-us-east-1-1234567890"},
  "stages": [
    {"name": "Source", "actions": [{"name": "Source",
      "actionTypeId": {"category": "Source", "owner": "ThirdParty", "provider": "GitHub", "version": "1"},
      "configuration": {"Owner": "` + owner + `", "Repo": "` + repo + `", "Branch": "` + branch + `",
        "OAuthToken": "` + codepipeline.TokenRefPrefix + tokenNote + codepipeline.TokenRefSuffix + `"},
      "outputArtifacts": [{"name": "SourceArtifact"}]}]},
    {"name": "Build", "actions": [{"name": "Build",
      "actionTypeId": {"category": "Build", "owner": "AWS", "provider": "CodeBuild", "version": "1"},
      "configuration": {"ProjectName": "test-project"},
      "inputArtifacts": [{"name": "SourceArtifact"}]}]}
  ]
}`)
}
