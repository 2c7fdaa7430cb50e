package rotorbin

import (
	"slices"
	"testing"
)

func TestBuildEnv(t *testing.T) {
	tests := []struct {
		name    string
		env     []string
		running string
		want    string // the GOTOOLCHAIN the child sees, "" for none
	}{
		{"the test's own toolchain", []string{"PATH=/usr/bin"}, "go1.27.3", "go1.27.3"},
		{"an explicit choice wins", []string{"GOTOOLCHAIN=go1.27.4"}, "go1.27.3", "go1.27.4"},
		{"an empty setting is no choice", []string{"GOTOOLCHAIN="}, "go1.27.3", "go1.27.3"},
		{"a development build is left alone", nil, "devel go1.28-abcdef Tue Dec 1 2026", ""},
		{"an experiment build is left alone", nil, "go1.27.3 X:jsonv2", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := buildEnv(slices.Clone(tt.env), tt.running)
			got := ""
			for _, kv := range env {
				if len(kv) > len("GOTOOLCHAIN=") && kv[:len("GOTOOLCHAIN=")] == "GOTOOLCHAIN=" {
					got = kv[len("GOTOOLCHAIN="):] // the last one wins, as in exec
				}
			}
			if got != tt.want {
				t.Errorf("GOTOOLCHAIN = %q, want %q (env %v)", got, tt.want, env)
			}
		})
	}
}
