package alert

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/rotor-ci/rotor/internal/config"
	"github.com/rotor-ci/rotor/internal/secretfile"
)

// DeliveryError is a failed delivery. Temporary errors (network, 408, 429,
// 5xx) are retried; others (a 404 webhook, a 400 payload) are not.
type DeliveryError struct {
	Dest      string
	Status    int // 0 for network errors
	Temporary bool
	Err       error
}

func (e *DeliveryError) Error() string {
	if e.Status != 0 {
		return fmt.Sprintf("alert to %s: HTTP %d", e.Dest, e.Status)
	}
	return fmt.Sprintf("alert to %s: %v", e.Dest, e.Err)
}
func (e *DeliveryError) Unwrap() error { return e.Err }

// Webhook posts the alert as JSON: {event, credential, severity, message,
// run_id, time}. With a signing secret, every delivery carries
// SignatureHeader: "sha256=" and the hex HMAC-SHA256 of the body under the
// secret, so that the receiver can tell rotor's alerts from anyone's.
type Webhook struct {
	URL string
	// URLFile, if set, holds the URL instead of the config (webhook URLs
	// are secrets); Load reads it, at start and on SIGHUP.
	URLFile string
	// SecretFile, if set, holds the shared signing secret; Load reads it.
	SecretFile string
	Client     *http.Client // nil: a client with a 10 s timeout
	files      loaded
}

// Slack posts {"text": …} to a Slack (or Slack-compatible: Mattermost,
// Rocket.Chat, Teams workflows) incoming webhook.
type Slack struct {
	URL     string
	URLFile string // as for Webhook
	Client  *http.Client
	files   loaded
}

// SignatureHeader carries a webhook delivery's signature.
const SignatureHeader = "X-Rotor-Signature-256"

// Sign is the SignatureHeader value for body under secret.
func Sign(secret, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

var (
	_ Notifier = (*Webhook)(nil)
	_ Notifier = (*Slack)(nil)
	_ Loader   = (*Webhook)(nil)
	_ Loader   = (*Slack)(nil)
)

// Loader is a notifier whose URL or secret lives in files.
type Loader interface {
	// Load reads the files again. On error the values loaded before stay
	// in use.
	Load() error
}

// loaded is what a notifier read from its files, guarded for Load running
// while deliveries are in flight.
type loaded struct {
	mu     sync.Mutex
	url    string
	secret []byte
}

func (l *loaded) get(configured string) (string, []byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.url == "" {
		return configured, l.secret
	}
	return l.url, l.secret
}

// load reads urlFile and secretFile (either may be empty) and swaps in what
// they hold, or nothing if either is unusable. Errors name the file, never
// its contents.
func (l *loaded) load(urlFile, secretFile string) error {
	var u string
	var secret []byte
	if urlFile != "" {
		b, err := secretfile.Read(urlFile)
		if err != nil {
			return fmt.Errorf("url_file: %w", err)
		}
		u = strings.TrimSpace(string(b))
		if p, err := url.Parse(u); err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			return fmt.Errorf("url_file: %s does not hold an http(s) URL", urlFile)
		}
	}
	if secretFile != "" {
		b, err := secretfile.Read(secretFile)
		if err != nil {
			return fmt.Errorf("secret_file: %w", err)
		}
		if secret = bytes.TrimSpace(b); len(secret) < 16 {
			return fmt.Errorf("secret_file: %s holds %d bytes; use at least 16 random ones", secretFile, len(secret))
		}
	}
	l.mu.Lock()
	l.url, l.secret = u, secret
	l.mu.Unlock()
	return nil
}

func (w *Webhook) Load() error { return w.files.load(w.URLFile, w.SecretFile) }
func (s *Slack) Load() error   { return s.files.load(s.URLFile, "") }

func (w *Webhook) Name() string { u, _ := w.files.get(w.URL); return "webhook:" + hostOf(u) }
func (s *Slack) Name() string   { u, _ := s.files.get(s.URL); return "slack:" + hostOf(u) }

func (w *Webhook) Notify(ctx context.Context, a Alert) error {
	u, secret := w.files.get(w.URL)
	return post(ctx, w.Client, w.Name(), u, secret, a)
}

func (s *Slack) Notify(ctx context.Context, a Alert) error {
	u, _ := s.files.get(s.URL)
	return post(ctx, s.Client, s.Name(), u, nil, map[string]string{"text": SlackText(a)})
}

// SlackText is the one-message form of an alert.
func SlackText(a Alert) string {
	icon := map[Severity]string{Info: ":information_source:", Warning: ":warning:", Critical: ":rotating_light:"}[a.Severity]
	s := fmt.Sprintf("%s *rotor: %s* `%s` — %s", icon, a.Event, a.Credential, a.Message)
	if a.RunID != 0 {
		s += fmt.Sprintf(" (run %d)", a.RunID)
	}
	return s
}

var defaultClient = &http.Client{Timeout: 10 * time.Second}

func post(ctx context.Context, c *http.Client, dest, u string, secret []byte, body any) error {
	if c == nil {
		c = defaultClient
	}
	b, err := json.Marshal(body)
	if err != nil {
		return &DeliveryError{Dest: dest, Err: err}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(b))
	if err != nil {
		return &DeliveryError{Dest: dest, Err: errors.New("bad URL")}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "rotor-alert")
	if len(secret) > 0 {
		req.Header.Set(SignatureHeader, Sign(secret, b))
	}
	resp, err := c.Do(req)
	if err != nil {
		// A *url.Error names the URL, which may be a secret: keep only the cause.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return &DeliveryError{Dest: dest, Temporary: true, Err: err}
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	temp := resp.StatusCode == http.StatusRequestTimeout || resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500
	return &DeliveryError{Dest: dest, Status: resp.StatusCode, Temporary: temp}
}

func hostOf(u string) string {
	p, err := url.Parse(u)
	if err != nil || p.Host == "" {
		return "invalid-url"
	}
	return p.Host
}

// FromConfig builds a notifier for each of server.alerts and loads the
// files they name.
func FromConfig(alerts []config.Alert) ([]Notifier, error) {
	var out []Notifier
	for i, a := range alerts {
		var n interface {
			Notifier
			Loader
		}
		switch a.Type {
		case config.AlertWebhook:
			n = &Webhook{URL: a.URL, URLFile: a.URLFile, SecretFile: a.SecretFile}
		case config.AlertSlack:
			n = &Slack{URL: a.URL, URLFile: a.URLFile}
		default:
			return nil, fmt.Errorf("server.alerts[%d]: unknown type %q: want webhook or slack", i, a.Type)
		}
		if err := n.Load(); err != nil {
			return nil, fmt.Errorf("server.alerts[%d]: %w", i, err)
		}
		out = append(out, n)
	}
	return out, nil
}

// Reload reads the files of every notifier that has some (on SIGHUP). A
// notifier whose files fail to load keeps what it had; the error names
// each.
func Reload(ns []Notifier) error {
	var errs []error
	for _, n := range ns {
		if l, ok := n.(Loader); ok {
			if err := l.Load(); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", n.Name(), err))
			}
		}
	}
	return errors.Join(errs...)
}
