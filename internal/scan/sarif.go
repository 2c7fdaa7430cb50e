package scan

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"path/filepath"
	"strings"
)

// SARIF 2.1.0, the subset GitHub code scanning reads (and every other SARIF
// viewer understands): tool.driver with its rules, one result per finding
// with one physical location, and partialFingerprints so that an alert
// survives edits elsewhere in the file. Only the fields rotor fills are
// declared.

const (
	SARIFVersion = "2.1.0"
	SARIFSchema  = "https://json.schemastore.org/sarif-2.1.0.json"
	// InformationURI is where a SARIF viewer sends people who ask about the
	// tool.
	InformationURI = "https://github.com/rotor-ci/rotor"
)

type sarifLog struct {
	Schema  string     `json:"$schema"`
	Version string     `json:"version"`
	Runs    []sarifRun `json:"runs"`
}

type sarifRun struct {
	Tool        sarifTool         `json:"tool"`
	Invocations []sarifInvocation `json:"invocations"`
	ColumnKind  string            `json:"columnKind"`
	Results     []sarifResult     `json:"results"`
}

type sarifTool struct {
	Driver sarifDriver `json:"driver"`
}

type sarifDriver struct {
	Name           string      `json:"name"`
	Version        string      `json:"version,omitempty"`
	InformationURI string      `json:"informationUri"`
	Rules          []sarifRule `json:"rules"`
}

type sarifRule struct {
	ID                   string         `json:"id"`
	Name                 string         `json:"name"`
	ShortDescription     sarifMessage   `json:"shortDescription"`
	FullDescription      sarifMessage   `json:"fullDescription"`
	Help                 sarifMessage   `json:"help"`
	DefaultConfiguration sarifConfig    `json:"defaultConfiguration"`
	Properties           map[string]any `json:"properties"`
}

type sarifConfig struct {
	Level string `json:"level"`
}

type sarifMessage struct {
	Text string `json:"text"`
}

type sarifInvocation struct {
	ExecutionSuccessful bool                `json:"executionSuccessful"`
	Notifications       []sarifNotification `json:"toolExecutionNotifications,omitempty"`
}

type sarifNotification struct {
	Level     string          `json:"level"`
	Message   sarifMessage    `json:"message"`
	Locations []sarifLocation `json:"locations"`
}

type sarifResult struct {
	RuleID              string            `json:"ruleId"`
	RuleIndex           int               `json:"ruleIndex"`
	Level               string            `json:"level"`
	Message             sarifMessage      `json:"message"`
	Locations           []sarifLocation   `json:"locations"`
	PartialFingerprints map[string]string `json:"partialFingerprints"`
	Properties          map[string]any    `json:"properties"`
}

type sarifLocation struct {
	PhysicalLocation sarifPhysical `json:"physicalLocation"`
}

type sarifPhysical struct {
	ArtifactLocation sarifArtifact `json:"artifactLocation"`
	Region           *sarifRegion  `json:"region,omitempty"`
}

type sarifArtifact struct {
	URI       string `json:"uri"`
	URIBaseID string `json:"uriBaseId,omitempty"`
}

type sarifRegion struct {
	StartLine   int `json:"startLine"`
	StartColumn int `json:"startColumn,omitempty"`
}

// ruleInfo describes each rule once, for SARIF's rules[] and for docs.
var ruleInfo = map[Rule]struct {
	name, short, full, severity string
}{
	RuleToken: {
		"GitHubTokenInFile",
		"GitHub token in a file",
		"A GitHub token (ghp_, github_pat_, gho_, ghu_, ghr_, ghs_) is stored in a file. rotor matches it by fingerprint against the versions it holds: current and previous tokens still work and must be removed and rotated; retired ones are dead but keep looking like leaks. A token whose checksum fails is reported as a likely false positive.",
		"9.0",
	},
	RulePipelineJSON: {
		"PipelineJSONWithToken",
		"Pipeline JSON holding a real OAuthToken",
		"A CodePipeline declaration (get-pipeline output, or the update-pipeline input made from it) whose GitHub action's OAuthToken holds a real token instead of \"****\". The manual rotation procedure ends with 'delete the JSON files': this one was left behind.",
		"9.0",
	},
	RuleCFNLiteral: {
		"CloudFormationLiteralOAuthToken",
		"CloudFormation template with a literal OAuthToken",
		"A CloudFormation or CDK template sets OAuthToken to a literal token instead of a {{resolve:secretsmanager:…}} or {{resolve:ssm-secure:…}} dynamic reference, so the token lives in the template, its history and every copy of it.",
		"8.0",
	},
}

// WriteSARIF writes r as a SARIF 2.1.0 log. toolVersion may be empty.
func WriteSARIF(w io.Writer, r Result, toolVersion string) error {
	run := sarifRun{
		Tool: sarifTool{Driver: sarifDriver{
			Name: "rotor", Version: toolVersion, InformationURI: InformationURI,
		}},
		ColumnKind:  "unicodeCodePoints",
		Invocations: []sarifInvocation{{ExecutionSuccessful: true}},
		Results:     []sarifResult{},
	}
	index := map[Rule]int{}
	for i, rule := range Rules {
		info := ruleInfo[rule]
		index[rule] = i
		run.Tool.Driver.Rules = append(run.Tool.Driver.Rules, sarifRule{
			ID:                   string(rule),
			Name:                 info.name,
			ShortDescription:     sarifMessage{info.short},
			FullDescription:      sarifMessage{info.full},
			Help:                 sarifMessage{info.full},
			DefaultConfiguration: sarifConfig{Level: "error"},
			Properties: map[string]any{
				"tags":              []string{"security", "secret", "github-token"},
				"security-severity": info.severity,
				"precision":         "high",
			},
		})
	}
	seen := map[string]int{}
	for _, f := range r.Findings {
		// A stable identity that survives edits elsewhere in the file: what
		// and where, plus an occurrence count for one token found twice in
		// one file. The fingerprint is already public; the value never is.
		key := string(f.Rule) + "\x00" + f.Path + "\x00" + f.Fingerprint
		seen[key]++
		sum := sha256.Sum256(fmt.Appendf(nil, "%s\x00%d", key, seen[key]))
		run.Results = append(run.Results, sarifResult{
			RuleID:    string(f.Rule),
			RuleIndex: index[f.Rule],
			Level:     sarifLevel(f),
			Message:   sarifMessage{Text: sarifText(f)},
			Locations: []sarifLocation{{PhysicalLocation: sarifPhysical{
				ArtifactLocation: artifact(f.Path),
				Region:           &sarifRegion{StartLine: f.Line, StartColumn: f.Column},
			}}},
			PartialFingerprints: map[string]string{"rotorFinding/v1": hex.EncodeToString(sum[:16])},
			Properties: map[string]any{
				"kind":        f.KindName(),
				"redacted":    f.Redacted,
				"fingerprint": f.Fingerprint,
				"checksum":    string(f.Checksum),
				"known":       string(f.Known),
				"credential":  f.Credential,
			},
		})
	}
	for _, p := range r.Problems {
		run.Invocations[0].Notifications = append(run.Invocations[0].Notifications, sarifNotification{
			Level:     "warning",
			Message:   sarifMessage{Text: "could not read: " + p.Err},
			Locations: []sarifLocation{{PhysicalLocation: sarifPhysical{ArtifactLocation: artifact(p.Path)}}},
		})
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(sarifLog{Schema: SARIFSchema, Version: SARIFVersion, Runs: []sarifRun{run}})
}

// sarifLevel: "error" for anything that may work, "warning" for what is
// dead, "note" for a likely false positive.
func sarifLevel(f Finding) string {
	switch {
	case f.LikelyFalsePositive():
		return "note"
	case f.Live != nil && !*f.Live, f.Known == KnownRetired:
		return "warning"
	}
	return "error"
}

func sarifText(f Finding) string {
	what := fmt.Sprintf("%s %s (%s)", f.Kind.Describe(), f.Redacted, f.Fingerprint)
	if f.Kind == "" {
		what = fmt.Sprintf("a token with no GitHub prefix %s (%s)", f.Redacted, f.Fingerprint)
	}
	var known string
	switch f.Known {
	case KnownUnknown:
		known = "; rotor does not hold it"
	case KnownUnchecked:
	default:
		known = fmt.Sprintf("; rotor knows it: %s version %d of %s", f.Known, f.Version, f.Credential)
	}
	return fmt.Sprintf("%s: %s%s. %s.", ruleInfo[f.Rule].short, what, known, upperFirst(f.Advice))
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// artifact turns a path as shown into a SARIF URI: relative paths stay
// relative to the checkout (%SRCROOT%, which GitHub expects), absolute ones
// become file:// URIs.
func artifact(p string) sarifArtifact {
	slash := filepath.ToSlash(p)
	if filepath.IsAbs(p) {
		return sarifArtifact{URI: (&url.URL{Scheme: "file", Path: slash}).String()}
	}
	return sarifArtifact{URI: (&url.URL{Path: slash}).String(), URIBaseID: "%SRCROOT%"}
}
