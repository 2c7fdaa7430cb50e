package torture

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"

	"github.com/rotor-ci/rotor/internal/installyaml"
)

// alertSink is the webhook rotor's alerts go to during a torture run. It
// appends every body to alerts.jsonl in the run's directory, which the
// canary grep reads with everything else: what left rotor by alert is
// searched for token values too.
type alertSink struct {
	srv *httptest.Server
	mu  sync.Mutex
	f   *os.File
}

func startAlertSink(dir string) (*alertSink, error) {
	f, err := os.OpenFile(filepath.Join(dir, "alerts.jsonl"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	s := &alertSink{f: f}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		s.mu.Lock()
		_, _ = s.f.Write(append(b, '\n'))
		s.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	return s, nil
}

// alert is the config's alert destination: the sink.
func (s *alertSink) alert() installyaml.Alert {
	return installyaml.Alert{Type: "webhook", URL: s.srv.URL}
}

func (s *alertSink) Close() {
	s.srv.Close()
	s.mu.Lock()
	s.f.Close()
	s.mu.Unlock()
}
