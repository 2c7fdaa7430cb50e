package config

import (
	"io/fs"
	"strings"
	"testing"
)

func TestParse_fileTargetFields(t *testing.T) {
	const head = "credentials:\n  - name: app\n    source: {type: personal-token}\n    targets:\n      - type: file\n        path: /etc/ci/token\n"
	tests := []struct {
		name     string
		extra    string
		wantMode fs.FileMode
		wantErr  string
	}{
		{name: "defaults", wantMode: 0o600},
		{name: "group may read", extra: "        mode: \"0640\"\n        owner: rotor\n        group: ci\n        create: true\n", wantMode: 0o640},
		{name: "owner read-only, numeric ids", extra: "        mode: \"400\"\n        owner: \"1000\"\n        group: \"1000\"\n", wantMode: 0o400},
		{name: "others may read", extra: "        mode: \"0644\"\n", wantErr: `mode: "0644": want one of 0600, 0400, 0640, 0440`},
		{name: "executable", extra: "        mode: \"0700\"\n", wantErr: "nobody runs it"},
		{name: "not octal", extra: "        mode: \"rw-------\"\n", wantErr: "want one of"},
		{name: "unquoted mode", extra: "        mode: 0600\n", wantErr: "quote it"},
		{name: "odd owner", extra: "        owner: \"root; rm -rf /\"\n", wantErr: "want a user or group name"},
		{name: "not for other targets", extra: "      - {type: ssm, name: /x, create: true}\n", wantErr: "create: not a field of ssm targets"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte(head+tt.extra), "rotor.yaml")
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Parse = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := c.Credentials[0].Targets[0].FileMode(); got != tt.wantMode {
				t.Errorf("FileMode() = %04o, want %04o", got, tt.wantMode)
			}
		})
	}
}
