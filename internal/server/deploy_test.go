package server

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"
	"github.com/rotor-ci/rotor/internal/config"
)

// The deploy/ files are part of the product: the config they ship must
// parse, and the hardening they promise must be there.
func TestDeployFiles(t *testing.T) {
	root := filepath.Join("..", "..", "deploy")
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(root, name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}

	var cm struct {
		Data map[string]string `yaml:"data"`
	}
	if err := yaml.Unmarshal([]byte(read("k8s/configmap.yaml")), &cm); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse([]byte(cm.Data["rotor.yaml"]), "/etc/rotor/rotor.yaml")
	if err != nil {
		t.Fatalf("the ConfigMap's rotor.yaml does not validate:\n%v", err)
	}
	if cfg.Server.AuthTokenFile == "" || !strings.HasPrefix(cfg.Server.Listen, "0.0.0.0:") {
		t.Errorf("server = %+v", cfg.Server)
	}

	for _, tt := range []struct {
		file string
		want []string
	}{
		{"k8s/deployment.yaml", []string{"readOnlyRootFilesystem: true", "runAsNonRoot: true", "allowPrivilegeEscalation: false", "drop: [ALL]",
			"secretName: rotor", "configMap: {name: rotor}", "path: /healthz", "path: /readyz", "terminationGracePeriodSeconds"}},
		// The image holds the release binary, which scripts/release builds static.
		{"Dockerfile", []string{"USER 65532", "nonroot", "rotor_${VERSION}_${TARGETOS}_${TARGETARCH}.tar.gz"}},
		{"../scripts/release", []string{"CGO_ENABLED=0", "-trimpath", "./cmd/rotor"}},
		{"rotor.service", []string{"User=rotor", "NoNewPrivileges=yes", "ProtectSystem=strict", "KillSignal=SIGTERM", "serve"}},
	} {
		body := read(tt.file)
		for _, w := range tt.want {
			if !strings.Contains(body, w) {
				t.Errorf("%s lacks %q", tt.file, w)
			}
		}
	}

	// Every image is pinned by digest: a tag can move, a digest cannot.
	for _, file := range []string{"Dockerfile", "k8s/deployment.yaml"} {
		for _, line := range strings.Split(read(file), "\n") {
			line = strings.TrimSpace(line)
			if (strings.HasPrefix(line, "FROM ") || strings.HasPrefix(line, "image:")) && !strings.Contains(line, "@sha256:") {
				t.Errorf("%s: %q is not pinned by digest", file, line)
			}
		}
	}
}
