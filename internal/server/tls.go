package server

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/rotor-ci/rotor/internal/secretfile"
)

// ErrTLS marks TLS files that cannot be used (exit 2 at start).
var ErrTLS = errors.New("server TLS")

// ErrInsecureListen refuses plain HTTP on an address beyond loopback.
var ErrInsecureListen = errors.New("plain HTTP beyond loopback")

// reloadCheck is how often, at most, a handshake looks whether the
// certificate or key file changed.
const reloadCheck = time.Second

// certReloader serves the certificate in server.tls_cert_file and
// tls_key_file and loads them again when either file changes (a renewal by
// cert-manager or certbot), without a restart. A pair that fails to load
// keeps the previous one in service, and says so in the log.
type certReloader struct {
	certFile, keyFile string
	log               *slog.Logger

	mu      sync.Mutex
	cert    *tls.Certificate
	stamp   [2]fileStamp
	checked time.Time
}

// fileStamp identifies a version of a file without reading it.
type fileStamp struct {
	mod  time.Time
	size int64
}

func stampOf(fi fs.FileInfo) fileStamp { return fileStamp{mod: fi.ModTime(), size: fi.Size()} }

func newCertReloader(certFile, keyFile string, log *slog.Logger) (*certReloader, error) {
	c := &certReloader{certFile: certFile, keyFile: keyFile, log: log}
	if err := c.load(); err != nil {
		return nil, err
	}
	return c, nil
}

// load reads both files and swaps the pair in if it is valid.
func (c *certReloader) load() error {
	var st [2]fileStamp
	for i, p := range []string{c.certFile, c.keyFile} {
		fi, err := os.Stat(p)
		if err != nil {
			return fmt.Errorf("%w: %w", ErrTLS, err)
		}
		st[i] = stampOf(fi)
	}
	certPEM, err := os.ReadFile(c.certFile)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrTLS, err)
	}
	keyPEM, err := secretfile.Read(c.keyFile) // a private key: owner only
	if err != nil {
		return fmt.Errorf("%w: tls_key_file: %w", ErrTLS, err)
	}
	defer clear(keyPEM)
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return fmt.Errorf("%w: %s and %s: %w", ErrTLS, c.certFile, c.keyFile, err)
	}
	c.mu.Lock()
	c.cert, c.stamp = &pair, st
	c.mu.Unlock()
	return nil
}

// changed reports whether either file differs from what was loaded.
func (c *certReloader) changed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, p := range []string{c.certFile, c.keyFile} {
		fi, err := os.Stat(p)
		if err != nil || stampOf(fi) != c.stamp[i] {
			return true
		}
	}
	return false
}

// getCertificate is tls.Config.GetCertificate.
func (c *certReloader) getCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	c.mu.Lock()
	due := time.Since(c.checked) >= reloadCheck
	if due {
		c.checked = time.Now()
	}
	c.mu.Unlock()
	if due && c.changed() {
		if err := c.load(); err != nil {
			c.log.Error("TLS certificate changed but does not load; serving the previous one", "err", err)
		} else {
			c.log.Info("TLS certificate reloaded", "cert", c.certFile)
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cert, nil
}

func (c *certReloader) config() *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: c.getCertificate}
}
