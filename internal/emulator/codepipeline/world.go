package codepipeline

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"

	"github.com/rotor-ci/rotor/internal/emulator/fault"
)

// World is the codepipeline section of a world file: what exists before the
// first request.
type World struct {
	Account      string         `yaml:"account,omitempty" json:"account,omitempty"` // 12 digits; default 123456789012
	Region       string         `yaml:"region,omitempty" json:"region,omitempty"`   // default us-east-1
	Pipelines    []PipelineSpec `yaml:"pipelines,omitempty" json:"pipelines,omitempty"`
	PollInterval fault.Duration `yaml:"poll_interval,omitempty" json:"poll_interval,omitzero"` // default 1s
	// RunTimes give stages a run time, so that executions stay in
	// progress (a deployment) for as long as a test needs.
	RunTimes []RunTime `yaml:"run_times,omitempty" json:"run_times,omitempty"`
	// Regions are more accounts and regions, each with its own pipelines
	// and faults (see RegionSpec).
	Regions []RegionSpec `yaml:"regions,omitempty" json:"regions,omitempty"`
}

// Defaults of a World's zero fields.
const (
	DefaultAccount      = "123456789012"
	DefaultRegion       = "us-east-1"
	DefaultPollInterval = time.Second
)

// PipelineSpec is one pipeline declaration of a world file, written as
// CreatePipeline's "pipeline" member (camelCase keys, as the AWS CLI shows
// them). A configuration value "{{token:NOTE}}" stands for the GitHub world's
// token with that note, so that a world file never holds a secret.
type PipelineSpec struct {
	JSON json.RawMessage // the declaration as JSON
	Line int             // where it starts in the world file; 0 when unknown
}

// TokenRefPrefix and TokenRefSuffix delimit a token reference.
const (
	TokenRefPrefix = "{{token:"
	TokenRefSuffix = "}}"
)

// UnmarshalYAML keeps the declaration as JSON and remembers its line.
func (p *PipelineSpec) UnmarshalYAML(node ast.Node) error {
	var v any
	if err := yaml.NodeToValue(node, &v); err != nil {
		return err
	}
	if _, ok := v.(map[string]any); !ok {
		// A yaml error with the node's token lets the world file's reader
		// name the line.
		return &yaml.SyntaxError{Message: fmt.Sprintf("a pipeline is a mapping (name, roleArn, artifactStore, stages), not %s", node.Type()), Token: node.GetToken()}
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("pipeline: %w", err)
	}
	p.JSON, p.Line = b, node.GetToken().Position.Line
	return nil
}

// MarshalYAML writes the declaration back as a mapping.
func (p PipelineSpec) MarshalYAML() (any, error) {
	var v any
	if err := json.Unmarshal(p.JSON, &v); err != nil {
		return nil, err
	}
	return v, nil
}

func (p PipelineSpec) MarshalJSON() ([]byte, error) {
	if len(p.JSON) == 0 {
		return []byte("null"), nil
	}
	return p.JSON, nil
}

func (p *PipelineSpec) UnmarshalJSON(b []byte) error {
	p.JSON = append(json.RawMessage(nil), b...)
	return nil
}

var reAccount = regexp.MustCompile(`^[0-9]{12}$`)

// WorldError is a world pipeline that CreatePipeline would refuse.
type WorldError struct {
	In    string // "" for the default account and region, else "regions[N]"
	Index int    // position in pipelines
	Line  int    // line in the world file, 0 when unknown
	Name  string // the pipeline's name, when it has one
	Err   error
}

func (e *WorldError) Error() string {
	at := fmt.Sprintf("pipelines[%d]", e.Index)
	if e.In != "" {
		at = e.In + "." + at
	}
	if e.Name != "" {
		at += " (" + e.Name + ")"
	}
	return at + ": " + e.Err.Error()
}

func (e *WorldError) Unwrap() error { return e.Err }

// Validate checks every pipeline as CreatePipeline would, without resolving
// token references, and the section's own fields.
func (w World) Validate() error {
	if _, err := w.declarations(); err != nil {
		return err
	}
	return w.validateRegions()
}

// declarations validates the section and decodes its pipelines.
func (w World) declarations() ([]Declaration, error) {
	if w.Account != "" && !reAccount.MatchString(w.Account) {
		return nil, fmt.Errorf("account %q: want 12 digits", w.Account)
	}
	if w.PollInterval.Duration < 0 {
		return nil, fmt.Errorf("poll_interval %v: must not be negative", w.PollInterval)
	}
	if err := validateRunTimes(w.RunTimes); err != nil {
		return nil, err
	}
	decls := make([]Declaration, len(w.Pipelines))
	seen := map[string]bool{}
	for i, spec := range w.Pipelines {
		d, err := decodeWorldPipeline(spec)
		if err == nil && seen[d.Name] {
			err = fmt.Errorf("a pipeline named %q is declared twice", d.Name)
		}
		if err != nil {
			return nil, &WorldError{Index: i, Line: spec.Line, Name: d.Name, Err: err}
		}
		seen[d.Name] = true
		decls[i] = d
	}
	return decls, nil
}

// decodeWorldPipeline decodes strictly (a misspelt key is an error in a world
// file, where AWS would drop it silently) and validates.
func decodeWorldPipeline(spec PipelineSpec) (Declaration, error) {
	var d Declaration
	dec := json.NewDecoder(bytes.NewReader(spec.JSON))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&d); err != nil {
		return d, fmt.Errorf("pipeline declaration: %w", err)
	}
	d.normalise()
	if err := validateDeclaration(&d); err != nil {
		return d, fmt.Errorf("%s: %s", err.Type, err.Message)
	}
	return d, nil
}
