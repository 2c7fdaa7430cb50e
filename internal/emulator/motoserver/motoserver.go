// Package motoserver starts moto_server (the Python moto project's AWS
// emulator) for tests, so that rotor's AWS calls can be checked against an
// implementation nobody here wrote. Tests skip, loudly, where moto_server is
// not installed.
package motoserver

import (
	"encoding/xml"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Binary is the command Start runs.
const Binary = "moto_server"

// startTimeout bounds moto_server's start (Python imports take a few seconds
// on a busy machine).
const startTimeout = 60 * time.Second

// Start runs moto_server on a free loopback port for the rest of the test
// and returns its endpoint ("http://127.0.0.1:PORT"). It skips the test when
// moto_server is not on PATH and stops the server (its process group) at
// cleanup. Any dummy credentials work against it.
func Start(t testing.TB) string {
	t.Helper()
	bin, err := exec.LookPath(Binary)
	if err != nil {
		t.Skip("SKIP: moto_server not on PATH (pip install 'moto[server]'); the differential test against moto did not run")
	}
	var lastErr error
	for range 3 { // a free port can be taken between probe and use
		endpoint, err := start(t, bin)
		if err == nil {
			return endpoint
		}
		lastErr = err
	}
	t.Fatalf("moto_server: %v", lastErr)
	return ""
}

func start(t testing.TB, bin string) (string, error) {
	port, err := freePort()
	if err != nil {
		return "", err
	}
	cmd := exec.Command(bin, "-H", "127.0.0.1", "-p", port)
	cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID=x", "AWS_SECRET_ACCESS_KEY=x", "AWS_DEFAULT_REGION=us-east-1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	logs := &logBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("start: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stop := func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
	}
	endpoint := "http://127.0.0.1:" + port
	deadline := time.Now().Add(startTimeout)
	for {
		select {
		case err := <-exited:
			return "", fmt.Errorf("exited before serving (%v): %s", err, tail(logs.String()))
		default:
		}
		if resp, err := http.Get(endpoint + "/moto-api/"); err == nil {
			resp.Body.Close()
			t.Cleanup(stop)
			return endpoint, nil
		}
		if time.Now().After(deadline) {
			stop()
			return "", fmt.Errorf("not serving after %v: %s", startTimeout, tail(logs.String()))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func freePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("free port: %w", err)
	}
	defer l.Close()
	_, port, _ := net.SplitHostPort(l.Addr().String())
	return port, nil
}

// Reset forgets everything moto holds, between tests sharing one server.
func Reset(t testing.TB, endpoint string) {
	t.Helper()
	resp, err := http.Post(endpoint+"/moto-api/reset", "application/json", nil)
	if err != nil {
		t.Fatalf("moto reset: %v", err)
	}
	resp.Body.Close()
}

// TrustPolicy lets CodePipeline assume a role; moto refuses CreatePipeline
// with a role that lacks it.
const TrustPolicy = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"codepipeline.amazonaws.com"},"Action":"sts:AssumeRole"}]}`

// CreateRole creates an IAM role in moto with a trust policy and returns its
// ARN. It speaks the IAM query API directly so that tests need no IAM client.
func CreateRole(t testing.TB, endpoint, name, trustPolicy string) string {
	t.Helper()
	return CreateRoleAs(t, endpoint, "x", name, trustPolicy)
}

// CreateRoleAs is CreateRole signed with accessKeyID: moto keeps the role
// in the account that key belongs to (an unknown key: the default account
// 123456789012; a key from sts:AssumeRole: the account of the role
// assumed), which is how a test puts roles into several accounts.
func CreateRoleAs(t testing.TB, endpoint, accessKeyID, name, trustPolicy string) string {
	t.Helper()
	form := url.Values{"Action": {"CreateRole"}, "Version": {"2010-05-08"}, "RoleName": {name}, "AssumeRolePolicyDocument": {trustPolicy}}
	req, _ := http.NewRequest(http.MethodPost, endpoint+"/", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	// moto routes by the service named in the credential scope and finds
	// the account by the access key.
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential="+accessKeyID+"/20260101/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=0")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("moto CreateRole: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var out struct {
		Arn string `xml:"CreateRoleResult>Role>Arn"`
	}
	if err := xml.Unmarshal(body, &out); err != nil || resp.StatusCode != http.StatusOK || out.Arn == "" {
		t.Fatalf("moto CreateRole %s: %d %s", name, resp.StatusCode, tail(string(body)))
	}
	return out.Arn
}

func tail(s string) string {
	if len(s) > 2000 {
		return "…" + s[len(s)-2000:]
	}
	return s
}
