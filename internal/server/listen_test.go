package server

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rotor-ci/rotor/internal/config"
	"github.com/rotor-ci/rotor/internal/rotation"
	"github.com/rotor-ci/rotor/internal/token"
)

// writeCert writes a self-signed certificate for 127.0.0.1 named cn, its
// key (0600), and returns a pool that trusts it.
func writeCert(t *testing.T, certFile, keyFile, cn string) *x509.CertPool {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, IsCA: true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return pool
}

// Attack 5: server.listen: 0.0.0.0:8080 passed validation for a plain-HTTP
// API guarded by a bearer token. Now the config refuses it, and so does the
// server for --listen, unless TLS is set or insecure_listen says TLS ends
// in front of rotor.
func TestConfig_listenBeyondLoopback(t *testing.T) {
	tests := []struct {
		name, server string
		wantErr      string
	}{
		{name: "all interfaces, plain HTTP", server: "listen: 0.0.0.0:8080", wantErr: "server.listen: \"0.0.0.0:8080\" can be reached from other machines"},
		{name: "empty host, plain HTTP", server: "listen: \":8080\"", wantErr: "can be reached from other machines"},
		{name: "a LAN address", server: "listen: 10.0.0.5:8080", wantErr: "insecure_listen: true"},
		{name: "IPv6 any", server: "listen: \"[::]:8080\"", wantErr: "tls_cert_file"},
		{name: "loopback", server: "listen: 127.0.0.1:8080"},
		{name: "IPv6 loopback", server: "listen: \"[::1]:8080\""},
		{name: "localhost", server: "listen: localhost:8080"},
		{name: "all interfaces with TLS", server: "listen: 0.0.0.0:8443\n  tls_cert_file: c.pem\n  tls_key_file: k.pem"},
		{name: "all interfaces, TLS in front", server: "listen: 0.0.0.0:8080\n  insecure_listen: true"},
		{name: "half a TLS pair", server: "listen: 127.0.0.1:8443\n  tls_cert_file: c.pem", wantErr: "set both or neither"},
		{name: "TLS and insecure", server: "listen: 127.0.0.1:8443\n  tls_cert_file: c.pem\n  tls_key_file: k.pem\n  insecure_listen: true", wantErr: "not needed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := config.Parse([]byte("server:\n  "+tt.server+"\n"), "rotor.yaml")
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Parse = %v, want an error saying %q", err, tt.wantErr)
			}
		})
	}
}

func TestNew_listenFlagBeyondLoopback(t *testing.T) {
	h := newHarness(t)
	_, err := New(Deps{Config: h.cfg, Store: h.st, Engine: h.eng, Credential: h.credFn}, Options{Listen: "0.0.0.0:0"})
	if !errors.Is(err, ErrInsecureListen) || !strings.Contains(err.Error(), "0.0.0.0:0") {
		t.Fatalf("New(--listen 0.0.0.0:0) = %v, want ErrInsecureListen naming the address", err)
	}
	h.cfg.Server.InsecureListen = true
	if _, err := New(Deps{Config: h.cfg, Store: h.st, Engine: h.eng, Credential: h.credFn}, Options{Listen: "0.0.0.0:0"}); err != nil {
		t.Fatalf("with insecure_listen: %v", err)
	}
}

// insecure_listen is allowed, and says at start what it means.
func TestNew_insecureListenWarns(t *testing.T) {
	h := newHarness(t)
	h.cfg.Server.InsecureListen = true
	var logs syncBuffer
	if _, err := New(Deps{Config: h.cfg, Store: h.st, Engine: h.eng, Credential: h.credFn, Log: slog.New(slog.NewTextHandler(&logs, nil))},
		Options{Listen: "0.0.0.0:0"}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "serving plain HTTP beyond loopback") {
		t.Errorf("no warning at start:\n%s", logs.String())
	}
}

// With tls_cert_file and tls_key_file the API is HTTPS only, and a renewed
// certificate is served without a restart.
func TestServer_Run_TLSAndReload(t *testing.T) {
	h := newHarness(t)
	certFile, keyFile := filepath.Join(h.dir, "tls.crt"), filepath.Join(h.dir, "tls.key")
	pool := writeCert(t, certFile, keyFile, "first")
	h.cfg.Server.TLSCertFile, h.cfg.Server.TLSKeyFile = certFile, keyFile
	s, err := New(Deps{Config: h.cfg, Store: h.st, Engine: h.eng, Credential: h.credFn}, Options{Listen: "127.0.0.1:0", Tick: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	h.start(s)
	get := func(pool *x509.CertPool) (string, error) {
		c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, DisableKeepAlives: true}}
		resp, err := c.Get("https://" + s.Addr() + "/healthz")
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		io.Copy(io.Discard, resp.Body)
		return resp.TLS.PeerCertificates[0].Subject.CommonName, nil
	}
	if cn, err := get(pool); err != nil || cn != "first" {
		t.Fatalf("HTTPS: %q, %v", cn, err)
	}
	if resp, err := http.Get("http://" + s.Addr() + "/healthz"); err == nil && resp.StatusCode == 200 {
		resp.Body.Close()
		t.Fatal("plain HTTP answered 200 on a TLS listener")
	}
	pool2 := writeCert(t, certFile, keyFile, "second")
	eventually(t, "the renewed certificate is served", func() bool {
		cn, err := get(pool2)
		return err == nil && cn == "second"
	})
	// A broken renewal keeps the working pair in service.
	if err := os.WriteFile(certFile, []byte("not a certificate"), 0o644); err != nil {
		t.Fatal(err)
	}
	time.Sleep(reloadCheck + 100*time.Millisecond)
	if cn, err := get(pool2); err != nil || cn != "second" {
		t.Fatalf("after a broken renewal: %q, %v", cn, err)
	}
}

func TestNew_TLSFilesRefused(t *testing.T) {
	h := newHarness(t)
	certFile, keyFile := filepath.Join(h.dir, "tls.crt"), filepath.Join(h.dir, "tls.key")
	writeCert(t, certFile, keyFile, "x")
	if err := os.Chmod(keyFile, 0o644); err != nil {
		t.Fatal(err)
	}
	h.cfg.Server.TLSCertFile, h.cfg.Server.TLSKeyFile = certFile, keyFile
	_, err := New(Deps{Config: h.cfg, Store: h.st, Engine: h.eng, Credential: h.credFn}, Options{})
	if !errors.Is(err, ErrTLS) || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("New with a world-readable key = %v, want ErrTLS saying chmod 600", err)
	}
}

// brokenStore fails every read with an error whose text is nobody's
// business outside (here: it even holds a token-shaped canary).
type brokenStore struct {
	Store
	err error
}

func (b brokenStore) Credentials(context.Context) ([]rotation.CredentialRecord, error) {
	return nil, b.err
}

// /readyz is unauthenticated: it answered the store's error text. Now a
// fixed text, the error in the log only.
func TestServer_readyz_fixedText(t *testing.T) {
	h := newHarness(t)
	canary := token.Generate(token.KindClassicPAT)
	var logs syncBuffer
	s, err := New(Deps{Config: h.cfg, Store: brokenStore{Store: h.st, err: errors.New("dial postgres://rotor@db.internal:5432 as " + canary.Reveal())},
		Engine: h.eng, Credential: h.credFn, Log: slog.New(slog.NewTextHandler(&logs, nil))}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.ready.Store(true)
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 503 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if want := "{\n  \"reason\": \"store unreachable\",\n  \"status\": \"not ready\"\n}\n"; string(b) != want {
		t.Errorf("/readyz = %q, want exactly %q", b, want)
	}
	if !strings.Contains(logs.String(), "db.internal") {
		t.Errorf("the log lacks the store's error:\n%s", logs.String())
	}
}
