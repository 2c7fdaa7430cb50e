package codepipeline

import (
	"bytes"
	"encoding/json"
	"maps"
	"strconv"
	"time"
)

// The declaration types follow the botocore model (codepipeline 2015-07-09).
// Members the emulator does not interpret (conditions, triggers, variables,
// commands…) are kept as raw JSON so that a Get returns what was sent.

// Declaration is a PipelineDeclaration.
type Declaration struct {
	Name           string                   `json:"name"`
	RoleArn        string                   `json:"roleArn"`
	ArtifactStore  *ArtifactStore           `json:"artifactStore,omitempty"`
	ArtifactStores map[string]ArtifactStore `json:"artifactStores,omitempty"`
	Stages         []Stage                  `json:"stages"`
	Version        *int                     `json:"version,omitempty"`
	ExecutionMode  string                   `json:"executionMode,omitempty"`
	PipelineType   string                   `json:"pipelineType,omitempty"`
	Variables      json.RawMessage          `json:"variables,omitempty"`
	Triggers       json.RawMessage          `json:"triggers,omitempty"`
}

// ArtifactStore is where a pipeline keeps its artifacts.
type ArtifactStore struct {
	Type          string         `json:"type"`
	Location      string         `json:"location"`
	EncryptionKey *EncryptionKey `json:"encryptionKey,omitempty"`
}

// EncryptionKey is an artifact store's KMS key.
type EncryptionKey struct {
	ID   string `json:"id"`
	Type string `json:"type"`
}

// Stage is a StageDeclaration.
type Stage struct {
	Name        string          `json:"name"`
	Blockers    json.RawMessage `json:"blockers,omitempty"`
	Actions     []Action        `json:"actions"`
	OnFailure   json.RawMessage `json:"onFailure,omitempty"`
	OnSuccess   json.RawMessage `json:"onSuccess,omitempty"`
	BeforeEntry json.RawMessage `json:"beforeEntry,omitempty"`
}

// Action is an ActionDeclaration.
type Action struct {
	Name                 string            `json:"name"`
	ActionTypeID         ActionTypeID      `json:"actionTypeId"`
	RunOrder             *int              `json:"runOrder,omitempty"`
	Configuration        map[string]string `json:"configuration,omitempty"`
	Commands             json.RawMessage   `json:"commands,omitempty"`
	OutputArtifacts      []Artifact        `json:"outputArtifacts"`
	InputArtifacts       []Artifact        `json:"inputArtifacts"`
	OutputVariables      json.RawMessage   `json:"outputVariables,omitempty"`
	RoleArn              string            `json:"roleArn,omitempty"`
	Region               string            `json:"region,omitempty"`
	Namespace            string            `json:"namespace,omitempty"`
	TimeoutInMinutes     *int              `json:"timeoutInMinutes,omitempty"`
	EnvironmentVariables json.RawMessage   `json:"environmentVariables,omitempty"`
}

// ActionTypeID names an action type.
type ActionTypeID struct {
	Category string `json:"category"`
	Owner    string `json:"owner"`
	Provider string `json:"provider"`
	Version  string `json:"version"`
}

// Artifact is an input or output artifact.
type Artifact struct {
	Name  string   `json:"name"`
	Files []string `json:"files,omitempty"`
}

// Tag is a resource tag.
type Tag struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// The GitHub (version 1) source action and its secret property.
const (
	propOwner    = "Owner"
	propRepo     = "Repo"
	propBranch   = "Branch"
	propToken    = "OAuthToken"
	propPoll     = "PollForSourceChanges"
	maskedSecret = "****"
)

// property is an action type's configuration property.
type property struct {
	name     string
	required bool
}

// githubV1Properties are the configuration properties of ThirdParty/GitHub/1,
// in the order AWS checks them.
var githubV1Properties = []property{{propOwner, true}, {propRepo, true}, {propBranch, true}, {propToken, true}, {propPoll, false}}

// isGitHubV1 reports whether an action is the GitHub (version 1) source action.
func (a *Action) isGitHubV1() bool {
	t := a.ActionTypeID
	return t.Category == "Source" && t.Owner == "ThirdParty" && t.Provider == "GitHub" && t.Version == "1"
}

// normalise fills the defaults AWS fills, so that what a Get returns can be
// sent back unchanged and read back identical.
func (d *Declaration) normalise() {
	if d.ExecutionMode == "" {
		d.ExecutionMode = "SUPERSEDED"
	}
	if d.PipelineType == "" {
		d.PipelineType = "V1"
	}
	for _, raw := range []*json.RawMessage{&d.Variables, &d.Triggers} {
		dropNull(raw)
	}
	for i := range d.Stages {
		s := &d.Stages[i]
		for _, raw := range []*json.RawMessage{&s.Blockers, &s.OnFailure, &s.OnSuccess, &s.BeforeEntry} {
			dropNull(raw)
		}
		for j := range s.Actions {
			a := &s.Actions[j]
			if a.RunOrder == nil {
				one := 1
				a.RunOrder = &one
			}
			if a.InputArtifacts == nil {
				a.InputArtifacts = []Artifact{}
			}
			if a.OutputArtifacts == nil {
				a.OutputArtifacts = []Artifact{}
			}
			for _, raw := range []*json.RawMessage{&a.Commands, &a.OutputVariables, &a.EnvironmentVariables} {
				dropNull(raw)
			}
		}
	}
}

// dropNull turns an explicit JSON null into an absent member.
func dropNull(raw *json.RawMessage) {
	if bytes.Equal(bytes.TrimSpace(*raw), []byte("null")) {
		*raw = nil
	}
}

// masked returns a copy that shares everything with d except the
// configuration maps of actions that hold a secret, whose secret reads "****".
func (d *Declaration) masked() Declaration {
	out := *d
	out.Stages = make([]Stage, len(d.Stages))
	for i, s := range d.Stages {
		out.Stages[i] = s
		var actions []Action
		for j := range s.Actions {
			a := &s.Actions[j]
			if _, ok := a.Configuration[propToken]; !ok || !a.isGitHubV1() {
				continue
			}
			if actions == nil {
				actions = append([]Action(nil), s.Actions...)
			}
			cfg := make(map[string]string, len(a.Configuration))
			for k, v := range a.Configuration {
				cfg[k] = v
			}
			cfg[propToken] = maskedSecret
			actions[j].Configuration = cfg
		}
		if actions != nil {
			out.Stages[i].Actions = actions
		}
	}
	return out
}

// epoch is a timestamp on the wire: epoch seconds, as AWS JSON 1.1 sends them.
type epoch time.Time

func (e epoch) MarshalJSON() ([]byte, error) {
	ms := time.Time(e).UnixMilli()
	return strconv.AppendFloat(nil, float64(ms)/1000, 'f', -1, 64), nil
}

// isManualApproval reports whether an action is the manual approval action.
func (a *Action) isManualApproval() bool {
	t := a.ActionTypeID
	return t.Category == "Approval" && t.Owner == "AWS" && t.Provider == "Manual" && t.Version == "1"
}

// action finds an action by stage and name, or nil.
func (d *Declaration) action(stage, name string) *Action {
	for i := range d.Stages {
		if d.Stages[i].Name != stage {
			continue
		}
		for j := range d.Stages[i].Actions {
			if a := &d.Stages[i].Actions[j]; a.Name == name {
				return a
			}
		}
	}
	return nil
}

// withMaskedToken is a copy of a GitHub action as GetPipeline shows it.
func (a *Action) withMaskedToken() Action {
	out := *a
	out.Configuration = maps.Clone(a.Configuration)
	if _, ok := out.Configuration[propToken]; ok {
		out.Configuration[propToken] = maskedSecret
	}
	return out
}

// sameAction compares two normalised action declarations as JSON (object
// keys sorted, raw members compacted).
func sameAction(a, b Action) bool {
	x, err1 := json.Marshal(&a)
	y, err2 := json.Marshal(&b)
	return err1 == nil && err2 == nil && bytes.Equal(x, y)
}
