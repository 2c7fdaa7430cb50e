//go:build unix

package cli

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rotor-ci/rotor/internal/alert"
	"github.com/rotor-ci/rotor/internal/config"
)

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// SIGHUP reads url_file again: the next alert goes to the new URL.
func TestServe_reloadAlertsOnHangup(t *testing.T) {
	dir := t.TempDir()
	first, second := newAlertSink(t, "s"), newAlertSink(t, "s")
	urlFile := filepath.Join(dir, "alert.url")
	if err := os.WriteFile(urlFile, []byte(first.srv.URL), 0o600); err != nil {
		t.Fatal(err)
	}
	var logs strings.Builder
	var mu sync.Mutex
	app := &App{Log: slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return logs.Write(p)
	}), nil))}
	ns, err := alert.FromConfig([]config.Alert{{Type: config.AlertWebhook, URLFile: urlFile}})
	if err != nil {
		t.Fatal(err)
	}
	stop := app.reloadAlertsOnHangup(ns)
	defer stop()
	if err := os.WriteFile(urlFile, []byte(second.srv.URL), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		done := strings.Contains(logs.String(), "alert destinations reloaded")
		mu.Unlock()
		if done {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no reload logged after SIGHUP")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := ns[0].Notify(t.Context(), alert.Alert{Event: alert.EventRotationFailed, Credential: "x"}); err != nil {
		t.Fatal(err)
	}
	first.mu.Lock()
	defer first.mu.Unlock()
	second.mu.Lock()
	defer second.mu.Unlock()
	if len(first.got) != 0 || len(second.got) != 1 {
		t.Fatalf("first %d, second %d: the reload did not take", len(first.got), len(second.got))
	}
}
