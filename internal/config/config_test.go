package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/rotor-ci/rotor/internal/token"
)

const full = `store: sqlite:data/rotor.db
key: file:rotor.key
github:
  api_url: http://127.0.0.1:9000
aws:
  region: us-east-1
  endpoint_url: http://127.0.0.1:9001
  profile: ci
server:
  listen: 127.0.0.1:8080
  auth_token_file: rotor-api.token
  watch_every: 1m
  alerts:
    - {type: webhook, url: "https://hooks.example.com/rotor"}
credentials:
  - name: codepipeline-test-repo
    application: MyFirstPipeline
    source:
      type: personal-token
      allow_identity_change: true
    rotate:
      every: 30d
      jitter: 1h
    targets:
      - type: codepipeline
        pipelines: [MyFirstPipeline]
        match: {owner: MyGitHubUserName, repo: test-repo, branch: master}
        verify: execution
        region: eu-west-1
        role_arn: arn:aws:iam::123456789012:role/rotor
        external_id: x1
        allow_cloudformation_drift: true
        concurrency: 8
      - type: file
        path: out/github-token
      - type: secretsmanager
        secret_id: ci/github-token
        json_key: token
        kms_key_id: alias/ci
      - type: ssm
        name: /ci/github-token
  - name: ci-app
    source:
      type: github-app
      client_id: Iv1.abc
      installation_id: 678
      private_key_file: rotor-ci.pem
      repositories: [test-repo]
      permissions: {contents: read, metadata: read}
    rotate:
      grace: 0
    targets:
      - type: file
        path: /etc/ci/app-token
`

func TestParse_Full(t *testing.T) {
	dir := t.TempDir()
	c, err := Parse([]byte(full), filepath.Join(dir, "rotor.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	want := &Config{
		Store:  "sqlite:" + filepath.Join(dir, "data/rotor.db"),
		Key:    "file:" + filepath.Join(dir, "rotor.key"),
		GitHub: GitHub{APIURL: "http://127.0.0.1:9000"},
		AWS:    AWS{Region: "us-east-1", EndpointURL: "http://127.0.0.1:9001", Profile: "ci"},
		Server: Server{
			Listen:        "127.0.0.1:8080",
			AuthTokenFile: filepath.Join(dir, "rotor-api.token"),
			WatchEvery:    Duration(time.Minute),
			Alerts:        []Alert{{Type: "webhook", URL: "https://hooks.example.com/rotor", Line: 14}},
		},
		Credentials: []Credential{
			{
				Name: "codepipeline-test-repo", Application: "MyFirstPipeline", Line: 16,
				Source: Source{Type: "personal-token", AllowIdentityChange: true, Scopes: []string{"repo", "admin:repo_hook"}},
				Rotate: Rotate{Every: Duration(30 * 24 * time.Hour), RenewBefore: Duration(7 * 24 * time.Hour), Grace: Duration(10 * time.Minute), Jitter: Duration(time.Hour)},
				Targets: []Target{
					{
						Type: "codepipeline", Line: 25, Pipelines: []string{"MyFirstPipeline"},
						Match:  Match{Owner: "MyGitHubUserName", Repo: "test-repo", Branch: "master"},
						Verify: "execution", Region: "eu-west-1", RoleARN: "arn:aws:iam::123456789012:role/rotor", ExternalID: "x1",
						AllowCloudFormationDrift: true, Concurrency: 8,
						InFlight: "wait", MaxWait: DefaultMaxWait, OnExpiry: "interrupt", OtherActions: "carry",
					},
					{Type: "file", Line: 34, Path: filepath.Join(dir, "out/github-token")},
					{Type: "secretsmanager", Line: 36, SecretID: "ci/github-token", JSONKey: "token", KMSKeyID: "alias/ci"},
					{Type: "ssm", Line: 40, Name: "/ci/github-token"},
				},
			},
			{
				Name: "ci-app", Line: 42,
				Source: Source{
					Type: "github-app", ClientID: "Iv1.abc", InstallationID: 678,
					PrivateKeyFile: filepath.Join(dir, "rotor-ci.pem"), Repositories: []string{"test-repo"},
					Permissions: map[string]string{"contents": "read", "metadata": "read"},
				},
				Rotate:  Rotate{Every: Duration(50 * time.Minute), RenewBefore: Duration(10 * time.Minute), Grace: 0},
				Targets: []Target{{Type: "file", Line: 53, Path: "/etc/ci/app-token"}},
			},
		},
	}
	if diff := cmp.Diff(want, c, cmpopts.IgnoreUnexported(Config{}), cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("Parse() mismatch (-want +got):\n%s", diff)
	}
	if c.Dir() != dir {
		t.Errorf("Dir() = %q, want %q", c.Dir(), dir)
	}
	if got, ok := c.Credential("ci-app"); !ok || got.Name != "ci-app" {
		t.Errorf("Credential(ci-app) = %v, %v", got, ok)
	}
	if _, ok := c.Credential("nope"); ok {
		t.Error("Credential(nope) found")
	}
	if n := c.TargetCount(); n != 5 {
		t.Errorf("TargetCount() = %d, want 5", n)
	}
	if got, want := c.StorePath(), filepath.Join(dir, "data/rotor.db"); got != want {
		t.Errorf("StorePath() = %q, want %q", got, want)
	}
}

func TestParse_Defaults(t *testing.T) {
	c, err := Parse([]byte(""), "/etc/rotor/rotor.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if c.Store != "sqlite:/etc/rotor/rotor.db" || c.Key != "file:/etc/rotor/rotor.key" || c.GitHub.APIURL != DefaultGitHubAPI ||
		c.Server.Listen != DefaultListen || c.Server.WatchEvery != DefaultWatchEvery {
		t.Errorf("defaults not applied: %+v", c)
	}
}

func TestParse_KMSKey(t *testing.T) {
	const arn = "arn:aws:kms:eu-west-1:111122223333:key/mrk-1234abcd12ab34cd56ef1234567890ab"
	c, err := Parse([]byte("key: awskms:"+arn+"\nprevious_keys: [file:rotor.key, file:/abs/old.key]\n"), "/etc/rotor/rotor.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if c.Key != "awskms:"+arn || c.KeyPath() != "" {
		t.Errorf("key = %q (path %q), want the ARN as written", c.Key, c.KeyPath())
	}
	if diff := cmp.Diff([]string{"file:/etc/rotor/rotor.key", "file:/abs/old.key"}, c.PreviousKeys); diff != "" {
		t.Errorf("previous_keys not resolved against the config's directory (-want +got):\n%s", diff)
	}
}

func TestExample(t *testing.T) {
	c, err := Parse([]byte(Example()), "rotor.yaml")
	if err != nil {
		t.Fatalf("the example does not parse: %v", err)
	}
	if len(c.Credentials) != 1 || c.TargetCount() != 1 {
		t.Errorf("example has %d credentials, %d targets; want 1, 1", len(c.Credentials), c.TargetCount())
	}
	if strings.Contains(Example(), "127.0.0.1:") && !strings.Contains(Example(), "listen: 127.0.0.1") {
		t.Error("the example points at a local emulator")
	}
	// Uncommenting the app example must give a valid config too.
	var b strings.Builder
	app := false
	for line := range strings.Lines(Example()) {
		if rest, ok := strings.CutPrefix(line, "  # "); ok && app {
			line = "  " + rest
		}
		app = app || strings.Contains(line, "# A GitHub App installation token")
		b.WriteString(line)
	}
	if c, err := Parse([]byte(b.String()), "rotor.yaml"); err != nil {
		t.Errorf("the example with its app credential uncommented does not parse: %v\n%s", err, b.String())
	} else if len(c.Credentials) != 2 {
		t.Errorf("uncommented example has %d credentials, want 2", len(c.Credentials))
	}
}

const base = `credentials:
  - name: app
    source:
      type: personal-token
    targets:
      - type: file
        path: /tmp/x
`

func TestParse_Errors(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []string
	}{
		{
			name: "unknown top-level key",
			in:   "stor: sqlite:x.db\n",
			want: []string{`rotor.yaml:1: stor: unknown field (did you mean "store"?)`},
		},
		{
			name: "unknown nested key lists known fields",
			in:   "github:\n  url: https://x\n",
			want: []string{`rotor.yaml:2: github.url: unknown field; known fields here: api_url`},
		},
		{
			name: "bad duration",
			in:   strings.Replace(base, "    targets:", "    rotate:\n      every: 3x\n    targets:", 1),
			want: []string{`rotor.yaml:6: credentials[0].rotate.every: "3x": want a duration like 30d or 12h`},
		},
		{
			name: "wrong shapes and types",
			in:   "credentials:\n  - name: app\n    source: personal-token\n    targets: {type: file}\n    rotate: {every: [1]}\nserver: {listen: [a]}\n",
			want: []string{
				`rotor.yaml:3: credentials[0].source: want a mapping of key: value`,
				`rotor.yaml:4: credentials[0].targets: want a list, like [a, b]`,
				`rotor.yaml:5: credentials[0].rotate.every: want a duration like 30d or 12h, not a list`,
				`rotor.yaml:6: server.listen: want a string, not a list`,
			},
		},
		{
			name: "number where a string is meant",
			in:   strings.Replace(base, "path: /tmp/x", "path: 123", 1),
			want: []string{`rotor.yaml:7: credentials[0].targets[0].path: "123": want a string (quote it if you mean the text)`},
		},
		{
			name: "string where a number is meant",
			in:   "credentials:\n  - name: app\n    source: {type: github-app, app_id: abc, installation_id: 1, private_key_file: k.pem}\n    targets: [{type: file, path: /x}]\n",
			want: []string{`rotor.yaml:3: credentials[0].source.app_id: "abc": want a whole number`},
		},
		{
			name: "key given twice",
			in:   "store: sqlite:a.db\nstore: sqlite:b.db\n",
			want: []string{`rotor.yaml:2: mapping key "store" already defined at [1:1]`},
		},
		{
			name: "missing required fields",
			in:   "credentials:\n  - application: x\n    source: {}\n",
			want: []string{
				`rotor.yaml:2: credentials[0].name: required`,
				`rotor.yaml:2: credentials[0].targets: required: at least one target (where the token is used)`,
				`rotor.yaml:3: credentials[0].source.type: required: personal-token, github-app or github-app-user`,
			},
		},
		{
			name: "github-app needs its fields",
			in:   "credentials:\n  - name: app\n    source:\n      type: github-app\n      scopes: [repo]\n    targets: [{type: file, path: /x}]\n",
			want: []string{
				`rotor.yaml:3: credentials[0].source: github-app needs app_id or client_id`,
				`rotor.yaml:3: credentials[0].source.installation_id: required: the installation's number (from the app's settings, Install App)`,
				`rotor.yaml:3: credentials[0].source.private_key_file: required: the app's private key (PEM file, mode 0600)`,
				`rotor.yaml:5: credentials[0].source.scopes: not a field of github-app sources`,
			},
		},
		{
			name: "github-app repositories and permissions",
			in:   "credentials:\n  - name: app\n    source:\n      type: github-app\n      app_id: 1\n      installation_id: 2\n      private_key_file: k.pem\n      repositories: [me/repo]\n      permissions: {contents: all}\n    targets: [{type: file, path: /x}]\n",
			want: []string{
				`rotor.yaml:8: credentials[0].source.repositories[0]: "me/repo": name the repository without its owner (the installation's account owns it)`,
				`rotor.yaml:9: credentials[0].source.permissions.contents: "all": want read, write or admin`,
			},
		},
		{
			name: "unknown types",
			in:   "credentials:\n  - name: app\n    source: {type: password}\n    targets:\n      - type: s3\n",
			want: []string{
				`rotor.yaml:3: credentials[0].source.type: "password": want personal-token, github-app or github-app-user`,
				`rotor.yaml:5: credentials[0].targets[0].type: "s3": want codepipeline, file, github-actions-secret, secretsmanager or ssm`,
			},
		},
		{
			name: "target fields",
			in: strings.Replace(base, "      - type: file\n        path: /tmp/x\n",
				"      - type: codepipeline\n        pipelines: [ok, \"bad name\", ok]\n        verify: live\n        external_id: x\n        path: /x\n        concurrency: 100\n      - type: secretsmanager\n      - type: ssm\n        name: \"a b\"\n      - type: file\n", 1),
			want: []string{
				`rotor.yaml:7: credentials[0].targets[0].pipelines[1]: "bad name": not a pipeline name (1 to 100 of A-Z a-z 0-9 . @ - _)`,
				`rotor.yaml:7: credentials[0].targets[0].pipelines[2]: "ok" listed twice`,
				`rotor.yaml:8: credentials[0].targets[0].verify: "live": want readback or execution`,
				`rotor.yaml:9: credentials[0].targets[0].external_id: needs role_arn: an external id is only sent when assuming a role`,
				`rotor.yaml:10: credentials[0].targets[0].path: not a field of codepipeline targets`,
				`rotor.yaml:11: credentials[0].targets[0].concurrency: 100: want 1 to 64 (0: the default)`,
				`rotor.yaml:12: credentials[0].targets[1].secret_id: required: the secret's name or ARN`,
				`rotor.yaml:14: credentials[0].targets[2].name: "a b": not a parameter name (letters, digits, _ . - /)`,
				`rotor.yaml:15: credentials[0].targets[3].path: required: the file to write the token to`,
			},
		},
		{
			name: "in-flight policy",
			in: strings.Replace(base, "      - type: file\n        path: /tmp/x\n",
				"      - type: codepipeline\n        pipelines: [a]\n        in_flight: pause\n        max_wait: 0s\n        on_expiry: ignore\n        other_actions: overwrite\n      - type: codepipeline\n        pipelines: [b]\n        in_flight: skip\n        max_wait: 5m\n", 1),
			want: []string{
				`rotor.yaml:8: credentials[0].targets[0].in_flight: "pause": want wait, skip or interrupt (what to do with a pipeline whose execution an update would stop)`,
				`rotor.yaml:9: credentials[0].targets[0].max_wait: 0: must be positive (in_flight: skip does not wait at all)`,
				`rotor.yaml:10: credentials[0].targets[0].on_expiry: "ignore": want interrupt or wait`,
				`rotor.yaml:11: credentials[0].targets[0].other_actions: "overwrite": want carry or refuse`,
				`rotor.yaml:15: credentials[0].targets[1].max_wait: only with in_flight: wait (it is skip)`,
			},
		},
		{
			name: "codepipeline needs pipelines or match",
			in:   strings.Replace(base, "      - type: file\n        path: /tmp/x\n", "      - type: codepipeline\n        match: {}\n", 1),
			want: []string{`rotor.yaml:6: credentials[0].targets[0]: codepipeline needs pipelines, match or both`},
		},
		{
			name: "duplicate names and places",
			in:   base + strings.TrimPrefix(base, "credentials:\n"),
			want: []string{
				`rotor.yaml:8: credentials[1].name: "app" is also the name of credentials[0]: names must be unique`,
				`rotor.yaml:12: credentials[1].targets[0]: writes the same place as credentials[0].targets[0]: two targets would overwrite each other`,
			},
		},
		{
			name: "bad name",
			in:   strings.Replace(base, "name: app", "name: My_App", 1),
			want: []string{`rotor.yaml:2: credentials[0].name: "My_App": want lowercase letters, digits, -, _ or . (at most 63, starting with a letter or digit)`},
		},
		{
			name: "schedule",
			in:   strings.Replace(base, "    targets:", "    rotate: {every: 1h, grace: 2h, jitter: 1h, renew_before: -1h}\n    targets:", 1),
			want: []string{
				`rotor.yaml:5: credentials[0].rotate.grace: 2h must be shorter than every (1h): the old token would still be waiting to be retired when the next rotation starts`,
				`rotor.yaml:5: credentials[0].rotate.jitter: 1h must be shorter than every (1h)`,
				`rotor.yaml:5: credentials[0].rotate.renew_before: must not be negative`,
			},
		},
		{
			name: "max_lifetime zero",
			in:   strings.Replace(base, "      type: personal-token\n", "      type: personal-token\n      max_lifetime: 0\n", 1),
			want: []string{`rotor.yaml:5: credentials[0].source.max_lifetime: 0: must be longer than 0: the organisation's maximum lifetime of a personal access token, like 90d (leave it out if there is none)`},
		},
		{
			name: "max_lifetime negative",
			in:   strings.Replace(base, "      type: personal-token\n", "      type: personal-token\n      max_lifetime: -30d\n", 1),
			want: []string{`rotor.yaml:5: credentials[0].source.max_lifetime: -30d: must be longer than 0: the organisation's maximum lifetime of a personal access token, like 90d (leave it out if there is none)`},
		},
		{
			name: "max_lifetime not a duration",
			in:   strings.Replace(base, "      type: personal-token\n", "      type: personal-token\n      max_lifetime: 90 days\n", 1),
			want: []string{`rotor.yaml:5: credentials[0].source.max_lifetime: "90 days": want a duration like 30d or 12h`},
		},
		{
			name: "max_lifetime within renew_before",
			in:   strings.Replace(base, "      type: personal-token\n", "      type: personal-token\n      max_lifetime: 7d\n", 1),
			want: []string{`rotor.yaml:5: credentials[0].source.max_lifetime: 7d is not longer than rotate.renew_before (7d): a new token must still be valid renew_before from now, and one that lives longer than max_lifetime is blocked; shorten renew_before`},
		},
		{
			name: "max_lifetime of an app",
			in:   "credentials:\n  - name: app\n    source: {type: github-app, app_id: 1, installation_id: 1, private_key_file: k.pem, max_lifetime: 90d}\n    targets: [{type: file, path: /x}]\n",
			want: []string{`rotor.yaml:3: credentials[0].source.max_lifetime: not a field of github-app sources`},
		},
		{
			name: "urls, store, key, listen, alerts",
			in:   "store: mysql://x\nkey: vault:x\ngithub: {api_url: \"ftp://x\"}\naws: {endpoint_url: \"http://u:p@h\"}\nserver:\n  listen: localhost\n  alerts: [{type: email}]\n",
			want: []string{
				`rotor.yaml:1: store: "mysql://x": want sqlite:PATH or postgres://…`,
				`rotor.yaml:2: key: "vault:x": want file:PATH or awskms:ARN`,
				`rotor.yaml:3: github.api_url: "ftp://x": want an http(s) URL`,
				`rotor.yaml:4: aws.endpoint_url: must not hold a user name or password: put secrets in files, not the config`,
				`rotor.yaml:6: server.listen: "localhost": want host:port, like 127.0.0.1:8080`,
				`rotor.yaml:7: server.alerts[0].type: "email": want webhook or slack`,
				`rotor.yaml:7: server.alerts[0].url: required: url, or url_file naming a file (0600) that holds it`,
			},
		},
		{
			name: "kms keys",
			in:   "key: awskms:alias/rotor\nprevious_keys:\n  - file:old.key\n  - awskms:1234abcd-12ab-34cd-56ef-1234567890ab\n  - \"file:\"\n",
			want: []string{
				`rotor.yaml:1: key: "awskms:alias/rotor": awskms: needs a key ARN, like awskms:arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab (not an alias: the ARN is recorded in each sealed version)`,
				`rotor.yaml:4: previous_keys[1]: "awskms:1234abcd-12ab-34cd-56ef-1234567890ab": awskms: needs a key ARN, like awskms:arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab (not an alias: the ARN is recorded in each sealed version)`,
				`rotor.yaml:5: previous_keys[2]: file: needs a path, like file:rotor.key`,
			},
		},
		{
			name: "syntax error",
			in:   "credentials: [\nstore: x\n",
			want: []string{`rotor.yaml:1: sequence end token ']' not found`},
		},
		{
			name: "two documents",
			in:   "store: sqlite:a.db\n---\nstore: sqlite:b.db\n",
			want: []string{`rotor.yaml:3: one YAML document only (found a second one, document 2)`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.in), "rotor.yaml")
			if err == nil {
				t.Fatal("Parse() = nil error")
			}
			var got []string
			var es Errors
			if !errors.As(err, &es) {
				t.Fatalf("error %T is not config.Errors: %v", err, err)
			}
			for _, e := range es {
				got = append(got, e.Error())
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("errors mismatch (-want +got):\n%s", diff)
			}
			var one *Error
			if !errors.As(err, &one) {
				t.Errorf("errors.As(%T, *Error) = false: the CLI could not map it to exit 2", err)
			}
		})
	}
}

func TestParse_NoTokensInConfig(t *testing.T) {
	secrets := []token.Token{token.Generate(token.KindClassicPAT), token.Generate(token.KindFineGrained), token.Generate(token.KindInstallation)}
	for _, tok := range secrets {
		t.Run(string(token.KindOf(tok.Reveal())), func(t *testing.T) {
			in := strings.Replace(base, "path: /tmp/x", "path: "+tok.Reveal(), 1) +
				"    rotate:\n      every: " + tok.Reveal() + "\n" +
				"github:\n  api_url: \"" + tok.Reveal() + "\"\n"
			_, err := Parse([]byte(in), "rotor.yaml")
			if err == nil {
				t.Fatal("a token in the config was accepted")
			}
			msg := err.Error()
			if strings.Contains(msg, tok.Reveal()) || strings.Contains(msg, tok.Reveal()[4:12]) {
				t.Fatalf("the error quotes the token: %s", msg)
			}
			var es Errors
			errors.As(err, &es)
			if len(es) != 3 {
				t.Fatalf("want 3 errors, got %d:\n%s", len(es), msg)
			}
			for _, e := range es {
				if !strings.Contains(e.Msg, "put tokens in the store, not the config") {
					t.Errorf("error does not say where tokens go: %s", e)
				}
			}
		})
	}
}

func TestParse_AnchorsAndMerge(t *testing.T) {
	in := `x-defaults: &cp
  type: codepipeline
  verify: execution
credentials:
  - name: a
    source: {type: personal-token}
    targets:
      - <<: *cp
        pipelines: [A]
`
	// x-defaults is an unknown key: anchors must live inside known fields.
	if _, err := Parse([]byte(in), "rotor.yaml"); err == nil || !strings.Contains(err.Error(), "rotor.yaml:1: x-defaults: unknown field") {
		t.Fatalf("want an unknown-field error for x-defaults, got %v", err)
	}
	in = `credentials:
  - name: a
    source: {type: personal-token}
    targets:
      - &cp
        type: codepipeline
        verify: execution
        pipelines: [A]
      - <<: *cp
        pipelines: [B]
        bogus: 1
`
	_, err := Parse([]byte(in), "rotor.yaml")
	if err == nil || !strings.Contains(err.Error(), "rotor.yaml:11: credentials[0].targets[1].bogus: unknown field") {
		t.Fatalf("want an unknown-field error for bogus, got %v", err)
	}
	in = strings.Replace(in, "        bogus: 1\n", "", 1)
	c, err := Parse([]byte(in), "rotor.yaml")
	if err != nil {
		t.Fatal(err)
	}
	got := c.Credentials[0].Targets[1]
	if got.Type != "codepipeline" || got.Verify != "execution" || len(got.Pipelines) != 1 || got.Pipelines[0] != "B" {
		t.Errorf("merged target = %+v", got)
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "rotor.yaml")
	_, err := Load(path)
	var es Errors
	if !errors.As(err, &es) || len(es) != 1 || !strings.Contains(err.Error(), "rotor init") {
		t.Fatalf("Load(missing) = %v, want one config error pointing at rotor init", err)
	}
	if err := os.WriteFile(path, []byte(base), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if c.File() != path || c.Credentials[0].Line != 2 || c.Credentials[0].Targets[0].Line != 6 {
		t.Errorf("Load() = file %q, lines %d/%d", c.File(), c.Credentials[0].Line, c.Credentials[0].Targets[0].Line)
	}
	if got := c.ResolvePath("k.pem"); got != filepath.Join(dir, "k.pem") {
		t.Errorf("ResolvePath(k.pem) = %q", got)
	}
	if got := c.ResolvePath("/abs"); got != "/abs" {
		t.Errorf("ResolvePath(/abs) = %q", got)
	}
}

func TestError_Error(t *testing.T) {
	tests := []struct {
		e    Error
		want string
	}{
		{Error{File: "rotor.yaml", Line: 14, Field: "credentials[0].rotate.every", Msg: `"3x": want a duration like 30d or 12h`}, `rotor.yaml:14: credentials[0].rotate.every: "3x": want a duration like 30d or 12h`},
		{Error{File: "rotor.yaml", Msg: "no such file"}, "rotor.yaml: no such file"},
		{Error{File: "rotor.yaml", Line: 3, Msg: "bad"}, "rotor.yaml:3: bad"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := tt.e.Error(); got != tt.want {
				t.Errorf("Error() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestParse_githubAppUser(t *testing.T) {
	c, err := Parse([]byte(`credentials:
  - name: ci
    source: {type: github-app-user, client_id: Iv23liabc, client_secret_file: app.secret}
    targets: [{type: file, path: /tmp/x}]
`), "/etc/rotor/rotor.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cr := c.Credentials[0]
	if cr.Rotate.Every.D() != 7*time.Hour || cr.Rotate.RenewBefore.D() != time.Hour {
		t.Errorf("default schedule = every %s, renew_before %s; want 7h, 1h", cr.Rotate.Every, cr.Rotate.RenewBefore)
	}
	if !filepath.IsAbs(cr.Source.ClientSecretFile) {
		t.Errorf("client_secret_file %q not resolved against the config's directory", cr.Source.ClientSecretFile)
	}
	_, err = Parse([]byte(`credentials:
  - name: ci
    source: {type: github-app-user, installation_id: 3}
    rotate: {every: 9h}
    targets: [{type: file, path: /tmp/x}]
`), "/etc/rotor/rotor.yaml")
	for _, want := range []string{"source.installation_id: not a field of github-app-user sources", "source.client_id: required", "rotate.every: 9h: GitHub App user tokens live 8h"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v; want it to say %q", err, want)
		}
	}
}

func TestParse_MaxLifetime(t *testing.T) {
	c, err := Parse([]byte(strings.Replace(base, "      type: personal-token\n", "      type: personal-token\n      max_lifetime: 90d\n", 1)), "rotor.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Credentials[0].Source.MaxLifetime.D(); got != 90*24*time.Hour {
		t.Errorf("max_lifetime = %s, want 90d", got)
	}
}

func TestParse_OrgRevoke(t *testing.T) {
	c, err := Parse([]byte(strings.Replace(base, "      type: personal-token\n",
		"      type: personal-token\n      org_revoke: {org: acme, app_id: 7, installation_id: 9, private_key_file: pat-admin.pem}\n", 1)), "/etc/rotor/rotor.yaml")
	if err != nil {
		t.Fatal(err)
	}
	o := c.Credentials[0].Source.OrgRevoke
	if !o.Configured() || o.Org != "acme" || o.AppID != 7 || o.InstallationID != 9 || o.PrivateKeyFile != "/etc/rotor/pat-admin.pem" {
		t.Errorf("org_revoke = %+v", o)
	}
	if c, err := Parse([]byte(base), "rotor.yaml"); err != nil || c.Credentials[0].Source.OrgRevoke.Configured() {
		t.Errorf("without org_revoke: %+v, %v", c.Credentials[0].Source.OrgRevoke, err)
	}
	for _, tt := range []struct{ in, want string }{
		{"      org_revoke: {}\n", "rotor.yaml:5: credentials[0].source.org_revoke.org: required"},
		{"      org_revoke: {org: acme}\n", "credentials[0].source.org_revoke: needs app_id or client_id"},
		{"      org_revoke: {org: acme}\n", "credentials[0].source.org_revoke.installation_id: required"},
		{"      org_revoke: {org: acme}\n", "credentials[0].source.org_revoke.private_key_file: required"},
		{"      org_revoke: {org: acme/x, client_id: Iv1, installation_id: 1, private_key_file: k}\n", `credentials[0].source.org_revoke.org: "acme/x": not an organisation login`},
		{"      org_revoke: {org: acme, app: 1}\n", "credentials[0].source.org_revoke.app: unknown field"},
	} {
		_, err := Parse([]byte(strings.Replace(base, "      type: personal-token\n", "      type: personal-token\n"+tt.in, 1)), "rotor.yaml")
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: error %v; want it to say %q", tt.in, err, tt.want)
		}
	}
	_, err = Parse([]byte("credentials:\n  - name: app\n    source: {type: github-app, app_id: 1, installation_id: 1, private_key_file: k.pem, org_revoke: {org: acme}}\n    targets: [{type: file, path: /x}]\n"), "rotor.yaml")
	if err == nil || !strings.Contains(err.Error(), "credentials[0].source.org_revoke: not a field of github-app sources") {
		t.Errorf("org_revoke on a github-app source: %v", err)
	}
}
