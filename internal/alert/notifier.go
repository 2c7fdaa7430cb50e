package alert

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/rotor-ci/rotor/internal/config"
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
// run_id, time}.
type Webhook struct {
	URL    string
	Client *http.Client // nil: a client with a 10 s timeout
}

// Slack posts {"text": …} to a Slack (or Slack-compatible: Mattermost,
// Rocket.Chat, Teams workflows) incoming webhook.
type Slack struct {
	URL    string
	Client *http.Client
}

var (
	_ Notifier = (*Webhook)(nil)
	_ Notifier = (*Slack)(nil)
)

func (w *Webhook) Name() string { return "webhook:" + hostOf(w.URL) }
func (s *Slack) Name() string   { return "slack:" + hostOf(s.URL) }

func (w *Webhook) Notify(ctx context.Context, a Alert) error {
	return post(ctx, w.Client, w.Name(), w.URL, a)
}

func (s *Slack) Notify(ctx context.Context, a Alert) error {
	return post(ctx, s.Client, s.Name(), s.URL, map[string]string{"text": SlackText(a)})
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

func post(ctx context.Context, c *http.Client, dest, u string, body any) error {
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

// FromConfig builds a notifier for each of server.alerts.
func FromConfig(alerts []config.Alert) ([]Notifier, error) {
	var out []Notifier
	for i, a := range alerts {
		switch a.Type {
		case config.AlertWebhook:
			out = append(out, &Webhook{URL: a.URL})
		case config.AlertSlack:
			out = append(out, &Slack{URL: a.URL})
		default:
			return nil, fmt.Errorf("server.alerts[%d]: unknown type %q: want webhook or slack", i, a.Type)
		}
	}
	return out, nil
}
