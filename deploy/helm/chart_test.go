package helm_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"

	"github.com/rotor-ci/rotor/internal/alert"
	"github.com/rotor-ci/rotor/internal/config"
)

// digest is a well-formed image digest for renders (the chart refuses to
// render without one).
const digest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

// helmBin is the helm binary: $ROTOR_HELM (what .ci/run sets, from
// `scripts/helm --path`) or helm on PATH.
func helmBin(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("ROTOR_HELM"); p != "" {
		return p
	}
	if p, err := exec.LookPath("helm"); err == nil {
		return p
	}
	t.Skip("SKIP: helm not found (set ROTOR_HELM=$(scripts/helm --path)): the Helm chart was not linted or rendered")
	return ""
}

func chartDir(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs("rotor")
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// helm runs helm with args and returns stdout, or stderr as the error.
func helm(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(helmBin(t), args...)
	cmd.Env = append(os.Environ(), "HELM_CACHE_HOME="+t.TempDir(), "HELM_CONFIG_HOME="+t.TempDir(), "HELM_DATA_HOME="+t.TempDir())
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return out.String(), errors.New(strings.TrimSpace(errb.String()))
	}
	return out.String(), nil
}

type object = map[string]any

// render runs helm template with the values file body and returns the
// objects by "Kind/name".
func render(t *testing.T, values string) map[string]object {
	t.Helper()
	out, err := renderErr(t, values)
	if err != nil {
		t.Fatalf("helm template: %v", err)
	}
	return out
}

// renderErr is render, returning helm's error; extra goes to helm template.
func renderErr(t *testing.T, values string, extra ...string) (map[string]object, error) {
	t.Helper()
	vf := filepath.Join(t.TempDir(), "values.yaml")
	if err := os.WriteFile(vf, []byte(values), 0o600); err != nil {
		t.Fatal(err)
	}
	text, err := helm(t, append([]string{"template", "rotor", chartDir(t), "--namespace", "ci", "-f", vf}, extra...)...)
	if err != nil {
		return nil, err
	}
	objs := map[string]object{}
	for _, doc := range strings.Split(text, "\n---") {
		var o object
		if err := yaml.Unmarshal([]byte(doc), &o); err != nil {
			t.Fatalf("rendered YAML does not parse: %v\n%s", err, doc)
		}
		if o == nil {
			continue
		}
		key := str(o, "kind") + "/" + str(o, "metadata", "name")
		if _, dup := objs[key]; dup {
			t.Fatalf("%s rendered twice", key)
		}
		objs[key] = o
	}
	return objs, nil
}

// get walks o by map keys and list indexes (ints).
func get(o any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := o.(map[string]any)
			if !ok {
				return nil
			}
			o = m[k]
		case int:
			l, ok := o.([]any)
			if !ok || k >= len(l) {
				return nil
			}
			o = l[k]
		}
	}
	return o
}

func str(o any, path ...any) string {
	s, _ := get(o, path...).(string)
	return s
}

func list(o any, path ...any) []any {
	l, _ := get(o, path...).([]any)
	return l
}

func kinds(objs map[string]object) []string {
	var out []string
	for k := range objs {
		out = append(out, k)
	}
	return out
}

const (
	sqliteValues = "image: {digest: " + digest + "}\n"
	haValues     = `image: {digest: ` + digest + `}
replicas: 3
store:
  type: postgres
  postgres:
    url: postgres://rotor@db.ci.svc:5432/rotor?sslmode=verify-full
    passwordSecret: {name: rotor-db, key: password}
alerts:
  - {type: slack, urlKey: slack-webhook}
  - {type: webhook, urlKey: pager.url, secretKey: pager.secret}
serviceMonitor: {enabled: true, labels: {release: prometheus}}
networkPolicy:
  ingressFrom:
    - namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: monitoring}}
config:
  aws: {region: eu-west-1}
  credentials:
    - name: ci-app
      application: MyFirstPipeline
      source:
        type: github-app
        app_id: 123456
        installation_id: 7654321
        private_key_file: /run/rotor/secrets/app.pem
        repositories: [test-repo]
        permissions: {contents: read, metadata: read}
      targets:
        - type: codepipeline
          pipelines: [MyFirstPipeline]
`
)

func TestChart_Lint(t *testing.T) {
	for name, values := range map[string]string{"sqlite": sqliteValues, "ha": haValues} {
		t.Run(name, func(t *testing.T) {
			vf := filepath.Join(t.TempDir(), "values.yaml")
			if err := os.WriteFile(vf, []byte(values), 0o600); err != nil {
				t.Fatal(err)
			}
			if out, err := helm(t, "lint", "--strict", chartDir(t), "-f", vf); err != nil {
				t.Fatalf("helm lint --strict: %v\n%s", err, out)
			}
		})
	}
}

// assertDeployment checks the replicas and update strategy, and that the
// pods run as the manifests in deploy/k8s do: non-root 65532, seccomp
// RuntimeDefault, and each container without privilege escalation, with a
// read-only root and no capabilities; every image pinned by digest.
func assertDeployment(t *testing.T, dep object, replicas uint64, strategy string) {
	t.Helper()
	if got := get(dep, "spec", "replicas"); got != replicas {
		t.Errorf("replicas = %v, want %d", got, replicas)
	}
	if got := str(dep, "spec", "strategy", "type"); got != strategy {
		t.Errorf("strategy = %q, want %s", got, strategy)
	}
	pod := get(dep, "spec", "template", "spec")
	for field, want := range map[string]any{
		"runAsNonRoot": true, "runAsUser": uint64(65532), "runAsGroup": uint64(65532), "fsGroup": uint64(65532),
	} {
		if got := get(pod, "securityContext", field); got != want {
			t.Errorf("pod securityContext.%s = %v (%T), want %v", field, got, got, want)
		}
	}
	if got := str(pod, "securityContext", "seccompProfile", "type"); got != "RuntimeDefault" {
		t.Errorf("pod seccompProfile = %q, want RuntimeDefault", got)
	}
	containers := append(list(pod, "initContainers"), list(pod, "containers")...)
	if len(containers) != 2 {
		t.Fatalf("want an init container and rotor, got %d containers", len(containers))
	}
	for _, c := range containers {
		name := str(c, "name")
		sc := get(c, "securityContext")
		if get(sc, "allowPrivilegeEscalation") != false || get(sc, "readOnlyRootFilesystem") != true || get(sc, "runAsNonRoot") != true {
			t.Errorf("container %s securityContext = %v", name, sc)
		}
		if drop := list(sc, "capabilities", "drop"); len(drop) != 1 || drop[0] != "ALL" {
			t.Errorf("container %s drops capabilities %v, want [ALL]", name, drop)
		}
		image := str(c, "image")
		if !strings.Contains(image, "@sha256:") || strings.Contains(image, ":latest") {
			t.Errorf("container %s image %q: want one pinned by digest, not :latest", name, image)
		}
	}
}

func TestChart_SQLite(t *testing.T) {
	objs := render(t, sqliteValues)
	for _, want := range []string{"ConfigMap/rotor", "Deployment/rotor", "Service/rotor", "ServiceAccount/rotor", "PersistentVolumeClaim/rotor-state", "NetworkPolicy/rotor"} {
		if objs[want] == nil {
			t.Errorf("%s not rendered; got %v", want, kinds(objs))
		}
	}
	for _, unwanted := range []string{"PodDisruptionBudget/rotor", "ServiceMonitor/rotor"} {
		if objs[unwanted] != nil {
			t.Errorf("%s rendered with one replica and defaults", unwanted)
		}
	}
	dep := objs["Deployment/rotor"]
	assertDeployment(t, dep, 1, "Recreate") // SQLite on a ReadWriteOnce volume: never two pods
	if img := str(dep, "spec", "template", "spec", "containers", 0, "image"); img != "ghcr.io/rotor-ci/rotor:0.1.0@"+digest {
		t.Errorf("image = %q", img)
	}
	cfg := parseConfig(t, str(objs["ConfigMap/rotor"], "data", "rotor.yaml"))
	if cfg.Store != "sqlite:/var/lib/rotor/rotor.db" || cfg.Key != "file:/run/rotor/secrets/rotor.key" ||
		cfg.Server.AuthTokenFile != "/run/rotor/secrets/api.token" || cfg.Server.Listen != "0.0.0.0:8080" || !cfg.Server.InsecureListen {
		t.Errorf("rendered rotor.yaml: store %q, key %q, auth_token_file %q, listen %q, insecure_listen %v",
			cfg.Store, cfg.Key, cfg.Server.AuthTokenFile, cfg.Server.Listen, cfg.Server.InsecureListen)
	}
	if got := str(dep, "spec", "template", "spec", "containers", 0, "readinessProbe", "httpGet", "scheme"); got != "HTTP" {
		t.Errorf("readiness probe scheme = %q, want HTTP", got)
	}

	// With a certificate from the Secret, rotor serves HTTPS and the probes follow.
	objs = render(t, sqliteValues+"config: {server: {tls_cert_file: /run/rotor/secrets/tls.crt, tls_key_file: /run/rotor/secrets/tls.key}}\n")
	cfg = parseConfig(t, str(objs["ConfigMap/rotor"], "data", "rotor.yaml"))
	if cfg.Server.InsecureListen || !cfg.Server.TLS() {
		t.Errorf("with a certificate: insecure_listen %v, TLS %v", cfg.Server.InsecureListen, cfg.Server.TLS())
	}
	dep = objs["Deployment/rotor"]
	for _, probe := range []string{"livenessProbe", "readinessProbe"} {
		if got := str(dep, "spec", "template", "spec", "containers", 0, probe, "httpGet", "scheme"); got != "HTTPS" {
			t.Errorf("%s scheme = %q, want HTTPS", probe, got)
		}
	}
}

func TestChart_HighAvailability(t *testing.T) {
	objs := render(t, haValues)
	dep := objs["Deployment/rotor"]
	assertDeployment(t, dep, 3, "RollingUpdate")
	if objs["PersistentVolumeClaim/rotor-state"] != nil {
		t.Error("a PersistentVolumeClaim rendered with a PostgreSQL store")
	}

	// Secrets are referenced, never inlined: no Secret object, PGPASSWORD
	// from a secretKeyRef, the Secret mounted by name, and the alerts'
	// URLs and signing secret named by file.
	for k := range objs {
		if strings.HasPrefix(k, "Secret/") {
			t.Errorf("the chart renders %s: secrets must come from existing Secrets", k)
		}
	}
	env := list(dep, "spec", "template", "spec", "containers", 0, "env")
	if len(env) != 1 || str(env[0], "name") != "PGPASSWORD" ||
		str(env[0], "valueFrom", "secretKeyRef", "name") != "rotor-db" || str(env[0], "valueFrom", "secretKeyRef", "key") != "password" {
		t.Errorf("env = %v, want PGPASSWORD from secret rotor-db/password", env)
	}
	var secretVolume string
	for _, v := range list(dep, "spec", "template", "spec", "volumes") {
		if n := str(v, "secret", "secretName"); n != "" {
			secretVolume = n
		}
	}
	if secretVolume != "rotor" {
		t.Errorf("secret volume names %q, want the existing Secret rotor", secretVolume)
	}
	// rotor reads the ConfigMap's rotor.yaml as it is: each alert names its
	// URL, and the webhook its signing secret, as files the init container
	// copies from the Secret.
	if args := list(dep, "spec", "template", "spec", "containers", 0, "args"); len(args) < 2 || args[1] != "/etc/rotor/rotor.yaml" {
		t.Errorf("rotor's args = %v, want --config /etc/rotor/rotor.yaml (the ConfigMap)", args)
	}
	cfg := parseConfig(t, str(objs["ConfigMap/rotor"], "data", "rotor.yaml"))
	if cfg.Store != "postgres://rotor@db.ci.svc:5432/rotor?sslmode=verify-full" || len(cfg.Credentials) != 1 || cfg.AWS.Region != "eu-west-1" {
		t.Errorf("rendered rotor.yaml: store %q, %d credentials, region %q", cfg.Store, len(cfg.Credentials), cfg.AWS.Region)
	}
	wantAlerts := []config.Alert{
		{Type: "slack", URLFile: "/run/rotor/secrets/slack-webhook"},
		{Type: "webhook", URLFile: "/run/rotor/secrets/pager.url", SecretFile: "/run/rotor/secrets/pager.secret"},
	}
	if len(cfg.Server.Alerts) != len(wantAlerts) {
		t.Fatalf("rendered alerts = %+v, want %+v", cfg.Server.Alerts, wantAlerts)
	}
	for i, a := range cfg.Server.Alerts {
		w := wantAlerts[i]
		if a.Type != w.Type || a.URL != "" || a.URLFile != w.URLFile || a.SecretFile != w.SecretFile {
			t.Errorf("rendered alerts[%d] = %+v, want %+v", i, a, w)
		}
	}

	pdb := objs["PodDisruptionBudget/rotor"]
	if pdb == nil || get(pdb, "spec", "maxUnavailable") != uint64(1) {
		t.Errorf("PodDisruptionBudget = %v, want maxUnavailable 1", pdb)
	}
	sm := objs["ServiceMonitor/rotor"]
	if str(sm, "spec", "endpoints", 0, "path") != "/metrics" || str(sm, "spec", "endpoints", 0, "authorization", "credentials", "name") != "rotor" ||
		str(sm, "spec", "endpoints", 0, "authorization", "credentials", "key") != "api.token" || str(sm, "metadata", "labels", "release") != "prometheus" {
		t.Errorf("ServiceMonitor = %v", sm)
	}
	np := objs["NetworkPolicy/rotor"]
	if got := len(list(np, "spec", "ingress", 0, "from")); got != 2 {
		t.Errorf("NetworkPolicy ingress peers = %d, want this namespace and monitoring", got)
	}
	var egressPorts []any
	for _, rule := range list(np, "spec", "egress") {
		for _, p := range list(rule, "ports") {
			egressPorts = append(egressPorts, get(p, "port"))
		}
	}
	if want := []any{uint64(53), uint64(53), uint64(443), uint64(5432)}; !equal(egressPorts, want) {
		t.Errorf("NetworkPolicy egress ports = %v, want %v", egressPorts, want)
	}
}

func equal(a, b []any) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func parseConfig(t *testing.T, text string) *config.Config {
	t.Helper()
	cfg, err := config.Parse([]byte(text), "rotor.yaml")
	if err != nil {
		t.Fatalf("the rendered rotor.yaml is not a valid rotor config: %v\n%s", err, text)
	}
	return cfg
}

// The init container's script, run here with sh over a directory standing
// in for the Secret: the files come out 0600, byte for byte, and rotor loads
// the alerts' url_file and secret_file from them and signs a webhook
// delivery with the secret, while the ConfigMap never holds any of them. A
// key an alert names that is missing or empty stops the script, naming it.
func TestChart_InitScriptAndAlertFiles(t *testing.T) {
	for _, tool := range []string{"sh", "grep", "install"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("SKIP: %s not found: the init container's script was not run", tool)
		}
	}
	var got struct {
		sig  string
		body []byte
	}
	pager := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.sig = r.Header.Get(alert.SignatureHeader)
		got.body, _ = io.ReadAll(r.Body)
	}))
	defer pager.Close()

	objs := render(t, haValues)
	cm := objs["ConfigMap/rotor"]
	const slackURL = "https://hooks.slack.com/services/T000/B000/canary-it's#not-a-comment"
	const signingSecret = "canary-signing-secret-0123456789"
	pagerURL := pager.URL + "/hook?key=canary&x=1"
	for name, text := range map[string]string{"rotor.yaml": str(cm, "data", "rotor.yaml"), "init.sh": str(cm, "data", "init.sh")} {
		if text == "" || strings.Contains(text, "canary") {
			t.Fatalf("the ConfigMap's %s is empty or holds a secret:\n%s", name, text)
		}
	}

	dir := t.TempDir()
	secrets, etc, run := filepath.Join(dir, "secrets"), filepath.Join(dir, "etc"), filepath.Join(dir, "run")
	files := map[string]string{
		"rotor.key": "AGE-SECRET-KEY-1CANARY\n", "api.token": "canary-api-token", "app.pem": "-----BEGIN RSA PRIVATE KEY-----\ncanary\n",
		"slack-webhook": slackURL + "\n", "pager.url": pagerURL, "pager.secret": signingSecret + "\n",
	}
	for _, d := range []string{secrets, etc} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(secrets, name), []byte(body), 0o444); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(etc, "init.sh"), []byte(str(cm, "data", "init.sh")), 0o644); err != nil {
		t.Fatal(err)
	}
	runInit := func() (string, error) {
		cmd := exec.Command("sh", filepath.Join(etc, "init.sh"))
		cmd.Env = append(os.Environ(), "SECRETS_DIR="+secrets, "OUT_DIR="+run)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := runInit(); err != nil {
		t.Fatalf("init.sh: %v\n%s", err, out)
	}
	for name, body := range files {
		p := filepath.Join(run, "secrets", name)
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, want 0600", name, fi.Mode().Perm())
		}
		if got, _ := os.ReadFile(p); string(got) != body {
			t.Errorf("%s copied as %q", name, got)
		}
	}

	// rotor, given the rendered config with /run/rotor where the script
	// wrote, loads every alert's files (mode, URL, secret length all pass)
	// and signs the webhook's delivery with the secret from the Secret.
	text := strings.ReplaceAll(str(cm, "data", "rotor.yaml"), "/run/rotor/", run+"/")
	cfg := parseConfig(t, text)
	notifiers, err := alert.FromConfig(cfg.Server.Alerts)
	if err != nil {
		t.Fatalf("rotor cannot load the alerts' files: %v", err)
	}
	if len(notifiers) != 2 || notifiers[0].Name() != "slack:hooks.slack.com" || notifiers[1].Name() != "webhook:"+strings.TrimPrefix(pager.URL, "http://") {
		t.Fatalf("notifiers = %v", notifiers)
	}
	if err := notifiers[1].Notify(context.Background(), alert.Alert{Event: "rotation_failed", Credential: "ci-app", Severity: alert.Warning, Message: "test"}); err != nil {
		t.Fatalf("webhook delivery: %v", err)
	}
	if want := alert.Sign([]byte(signingSecret), got.body); got.sig != want || len(got.body) == 0 {
		t.Errorf("delivery signed %q over %q; want %q (HMAC-SHA256 under the Secret's pager.secret)", got.sig, got.body, want)
	}

	// A key an alert names that is missing, or holds only white space, stops
	// the pod from starting, naming the key and the value that names it.
	for _, tt := range []struct{ key, body, field string }{
		{"pager.secret", "", "alerts[1].secretKey"},
		{"pager.url", " \n", "alerts[1].urlKey"},
		{"slack-webhook", "", "alerts[0].urlKey"},
	} {
		p := filepath.Join(secrets, tt.key)
		put := func(body string) {
			if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
				t.Fatal(err)
			}
			if body != "" {
				if err := os.WriteFile(p, []byte(body), 0o444); err != nil {
					t.Fatal(err)
				}
			}
		}
		put(tt.body)
		if err := os.RemoveAll(run); err != nil {
			t.Fatal(err)
		}
		out, err := runInit()
		if err == nil || !strings.Contains(out, "Secret key "+tt.key+" ("+tt.field+") is missing or empty") {
			t.Errorf("init.sh with %s missing or blank: err %v, output %q; want a failure naming %s and %s", tt.key, err, out, tt.key, tt.field)
		}
		put(files[tt.key])
	}
}

// Values that would deploy something broken or unsafe stop the render with
// a message naming the value.
func TestChart_RefusesBadValues(t *testing.T) {
	tests := []struct {
		name, values, want string
	}{
		{"no digest", "{}", "image.digest"},
		{"tag instead of digest", "image: {tag: latest, digest: latest}", "image.digest \"latest\""},
		{"init image unpinned", "image: {digest: " + digest + "}\ninitImage: {digest: \"\"}", "initImage.digest"},
		{"replicas on SQLite", "image: {digest: " + digest + "}\nreplicas: 2", "replicas 2 needs store.type postgres"},
		{"postgres without a URL", "image: {digest: " + digest + "}\nstore: {type: postgres}", "store.postgres.url: required"},
		{"password in the URL", "image: {digest: " + digest + "}\nstore: {type: postgres, postgres: {url: 'postgres://rotor:hunter2@db/rotor'}}", "holds a password"},
		{"password parameter", "image: {digest: " + digest + "}\nstore: {type: postgres, postgres: {url: 'postgres://rotor@db/rotor?sslmode=require&password=hunter2'}}", "holds a password"},
		{"unknown store", "image: {digest: " + digest + "}\nstore: {type: mysql}", "store.type \"mysql\""},
		{"store in config", "image: {digest: " + digest + "}\nconfig: {store: 'sqlite:x.db'}", "config.store"},
		{"listen in config", "image: {digest: " + digest + "}\nconfig: {server: {listen: '0.0.0.0:9'}}", "config.server.listen"},
		{"alert URL as a value", "image: {digest: " + digest + "}\nalerts: [{type: slack, url: 'https://hooks.slack.com/x'}]", "urlKey"},
		{"signing secret as a path", "image: {digest: " + digest + "}\nalerts: [{type: webhook, urlKey: u, secretKey: ../x}]", "secretKey"},
		{"signed Slack alert", "image: {digest: " + digest + "}\nalerts: [{type: slack, urlKey: u, secretKey: s}]", "alerts[0].secretKey: only type webhook"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := renderErr(t, tt.values)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("helm template: err %v; want one containing %q", err, tt.want)
			}
			if err != nil && strings.Contains(err.Error(), "hunter2") {
				t.Errorf("the error repeats the password: %v", err)
			}
		})
	}
}

// The templates check the alerts' Secret keys themselves, so that a render
// that skips values.schema.json still refuses a key that is not a file name.
func TestChart_RefusesBadAlertKeysWithoutSchema(t *testing.T) {
	for values, want := range map[string]string{
		"alerts: [{type: webhook, urlKey: ../u}]":                                           `alerts[0].urlKey "../u": want the key in secrets.name`,
		"alerts: [{type: webhook, urlKey: u}, {type: webhook, urlKey: u, secretKey: ../x}]": `alerts[1].secretKey "../x": want the key in secrets.name`,
		"alerts: [{type: webhook, urlKey: u, secretKey: ''}]":                               `alerts[0].secretKey "": want the key in secrets.name`,
	} {
		_, err := renderErr(t, "image: {digest: "+digest+"}\n"+values, "--skip-schema-validation")
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("helm template --skip-schema-validation with %s: err %v; want one containing %q", values, err, want)
		}
	}
}
