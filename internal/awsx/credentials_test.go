package awsx

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
)

// With no credentials anywhere, every call fails with ErrNoCredentials:
// one line saying what to set, not the SDK's paragraph about instance
// metadata; and the SDK asks the (here local) metadata service, as on a
// real machine without a role.
func TestLoad_noCredentialsSaysWhatToSet(t *testing.T) {
	var imds atomic.Int32
	meta := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		imds.Add(1)
		http.Error(w, "forbidden", http.StatusForbidden)
	}))
	defer meta.Close()
	for k, v := range map[string]string{
		"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "", "AWS_SESSION_TOKEN": "", "AWS_PROFILE": "",
		"AWS_CONFIG_FILE": os.DevNull, "AWS_SHARED_CREDENTIALS_FILE": os.DevNull,
		"AWS_CONTAINER_CREDENTIALS_FULL_URI": "", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "", "AWS_WEB_IDENTITY_TOKEN_FILE": "",
		"AWS_EC2_METADATA_SERVICE_ENDPOINT": meta.URL, "AWS_EC2_METADATA_DISABLED": "",
	} {
		t.Setenv(k, v)
	}
	cfg, err := Load(context.Background(), Config{Region: "us-east-1", EndpointURL: "http://127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = cfg.Credentials.Retrieve(context.Background())
	if !errors.Is(err, ErrNoCredentials) {
		t.Fatalf("Retrieve: %v, want ErrNoCredentials", err)
	}
	if imds.Load() == 0 {
		t.Error("the chain never reached the metadata service: the test did not exercise the mapping")
	}
	msg := Sanitize(err).Error()
	if strings.Contains(msg, "IMDS") || strings.Contains(msg, "\n") || !strings.Contains(msg, "AWS_ACCESS_KEY_ID") {
		t.Errorf("sanitized: %q: want one line naming what to set", msg)
	}
	if !errors.Is(Sanitize(err), ErrNoCredentials) {
		t.Error("Sanitize drops ErrNoCredentials")
	}
}

// Credentials that the chain does find are untouched.
func TestLoad_credentialsFromEnvironment(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	t.Setenv("AWS_CONFIG_FILE", os.DevNull)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", os.DevNull)
	cfg, err := Load(context.Background(), Config{Region: "us-east-1"})
	if err != nil {
		t.Fatal(err)
	}
	c, err := cfg.Credentials.Retrieve(context.Background())
	if err != nil || c.AccessKeyID != "AKIDEXAMPLE" {
		t.Fatalf("Retrieve: %+v, %v", c, err)
	}
}
