// Package installyaml writes rotor.yaml for an installation on the
// emulators: the one writer the demo, the benchmark and the torture harness
// share. It writes the file a user would, so what they run is what rotor
// loads; config.Load still checks it.
package installyaml

import (
	"fmt"
	"os"

	"github.com/goccy/go-yaml"
)

// Install is one rotor.yaml.
type Install struct {
	// Comment is the first line ("written by rotor demo").
	Comment     string       `yaml:"-"`
	Store       string       `yaml:"store"` // default sqlite:rotor.db
	Key         string       `yaml:"key"`   // default file:rotor.key
	GitHub      GitHub       `yaml:"github"`
	AWS         AWS          `yaml:"aws"`
	Server      *Server      `yaml:"server,omitempty"`
	Credentials []Credential `yaml:"credentials"`
}

// GitHub is the github section.
type GitHub struct {
	APIURL string `yaml:"api_url"`
}

// AWS is the aws section; the region defaults to us-east-1.
type AWS struct {
	Region      string `yaml:"region"`
	EndpointURL string `yaml:"endpoint_url"`
}

// Server is the server section.
type Server struct {
	Listen        string  `yaml:"listen,omitempty"`
	AuthTokenFile string  `yaml:"auth_token_file,omitempty"`
	WatchEvery    string  `yaml:"watch_every,omitempty"`
	Alerts        []Alert `yaml:"alerts,omitempty"`
}

// Alert is one alert destination.
type Alert struct {
	Type string `yaml:"type"`
	URL  string `yaml:"url"`
}

// Credential is one credential.
type Credential struct {
	Name        string   `yaml:"name"`
	Application string   `yaml:"application"`
	Source      Source   `yaml:"source"`
	Rotate      Rotate   `yaml:"rotate"`
	Targets     []Target `yaml:"targets"`
}

// Source is a credential's source: personal-token, github-app or
// github-app-user.
type Source struct {
	Type           string            `yaml:"type"`
	ClientID       string            `yaml:"client_id,omitempty"`
	Scopes         []string          `yaml:"scopes,omitempty"`
	AppID          int64             `yaml:"app_id,omitempty"`
	InstallationID int64             `yaml:"installation_id,omitempty"`
	PrivateKeyFile string            `yaml:"private_key_file,omitempty"`
	Repositories   []string          `yaml:"repositories,omitempty"`
	Permissions    map[string]string `yaml:"permissions,omitempty"`
}

// Personal is a personal-token source with the scopes the seed's pipeline
// needs.
func Personal() Source {
	return Source{Type: "personal-token", Scopes: []string{"repo", "admin:repo_hook"}}
}

// App is a github-app source reading repositories' contents.
func App(appID, installationID int64, keyFile string, repositories ...string) Source {
	return Source{Type: "github-app", AppID: appID, InstallationID: installationID, PrivateKeyFile: keyFile,
		Repositories: repositories, Permissions: map[string]string{"contents": "read", "metadata": "read"}}
}

// AppUser is a github-app-user source: rotor authorize NAME gives it its
// first grant through the device flow, so it needs no client secret.
func AppUser(clientID string) Source {
	return Source{Type: "github-app-user", ClientID: clientID}
}

// Rotate is a credential's schedule, as rotor.yaml writes durations (30d).
type Rotate struct {
	Every       string `yaml:"every"`
	RenewBefore string `yaml:"renew_before"`
	Grace       string `yaml:"grace"`
}

// Target is a codepipeline target.
type Target struct {
	Type      string    `yaml:"type"` // default codepipeline
	Pipelines []string  `yaml:"pipelines,omitempty"`
	Match     *Match    `yaml:"match,omitempty"`
	Verify    string    `yaml:"verify,omitempty"`
	InFlight  string    `yaml:"in_flight,omitempty"`
	Accounts  []Account `yaml:"accounts,omitempty"`
}

// Account is one account of a codepipeline target over several.
type Account struct {
	RoleARN    string   `yaml:"role_arn"`
	ExternalID string   `yaml:"external_id,omitempty"`
	Regions    []string `yaml:"regions"`
}

// Match selects pipelines by the repository their GitHub action reads.
type Match struct {
	Owner string `yaml:"owner"`
	Repo  string `yaml:"repo"`
}

// YAML is the file's text.
func (i Install) YAML() (string, error) {
	if i.Store == "" {
		i.Store = "sqlite:rotor.db"
	}
	if i.Key == "" {
		i.Key = "file:rotor.key"
	}
	if i.AWS.Region == "" {
		i.AWS.Region = "us-east-1"
	}
	for c := range i.Credentials {
		for t := range i.Credentials[c].Targets {
			if i.Credentials[c].Targets[t].Type == "" {
				i.Credentials[c].Targets[t].Type = "codepipeline"
			}
		}
	}
	b, err := yaml.Marshal(i)
	if err != nil {
		return "", fmt.Errorf("rotor.yaml: %w", err)
	}
	if i.Comment != "" {
		b = append([]byte("# "+i.Comment+"\n"), b...)
	}
	return string(b), nil
}

// Write writes the file at path, readable by its owner only.
func (i Install) Write(path string) error {
	s, err := i.YAML()
	if err != nil {
		return err
	}
	return os.WriteFile(path, []byte(s), 0o600)
}
