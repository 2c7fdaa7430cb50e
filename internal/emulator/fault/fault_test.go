package fault

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func TestInjector_Decide(t *testing.T) {
	tests := []struct {
		name  string
		rules []Rule
		svc   string
		op    string
		res   string
		want  Outcome
	}{
		{"no rules", nil, "codepipeline", "UpdatePipeline", "p", Pass},
		{"fail named resource", []Rule{{Service: "codepipeline", Operation: "UpdatePipeline", Resource: "p", Fail: true}}, "codepipeline", "UpdatePipeline", "p", Fail},
		{"other resource passes", []Rule{{Operation: "UpdatePipeline", Resource: "p", Fail: true}}, "codepipeline", "UpdatePipeline", "q", Pass},
		{"other service passes", []Rule{{Service: "github", Fail: true}}, "codepipeline", "GetPipeline", "", Pass},
		{"error rate 1", []Rule{{ErrorRate: 1}}, "github", "GET /user", "", ServerError},
		{"expired rule", []Rule{{Fail: true, Until: time.Now().Add(-time.Second)}}, "github", "GET /user", "", Pass},
		{"wildcard op", []Rule{{Operation: "*", Fail: true}}, "github", "GET /user", "", Fail},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			i := New(tt.rules...)
			if got := i.Decide(context.Background(), tt.svc, tt.op, tt.res); got != tt.want {
				t.Fatalf("Decide = %v, want %v", got, tt.want)
			}
			if c := i.Counts()[tt.svc+" "+tt.op]; c.Requests != 1 {
				t.Fatalf("requests counted = %d, want 1", c.Requests)
			}
		})
	}
}

func TestInjector_Throttle(t *testing.T) {
	i := New(Rule{Service: "codepipeline", RatePerSecond: 0.001, Burst: 3})
	var throttled int
	for range 10 {
		if i.Decide(context.Background(), "codepipeline", "GetPipeline", "") == Throttle {
			throttled++
		}
	}
	if throttled != 7 {
		t.Fatalf("throttled %d of 10 with burst 3, want 7", throttled)
	}
	// Each operation has its own bucket.
	if got := i.Decide(context.Background(), "codepipeline", "UpdatePipeline", ""); got != Pass {
		t.Fatalf("UpdatePipeline shares GetPipeline's bucket: %v", got)
	}
	if c := i.Counts()["codepipeline GetPipeline"]; c.Throttled != 7 || c.Requests != 10 {
		t.Fatalf("counts = %+v", c)
	}
}

func TestInjector_LatencyHonoursContext(t *testing.T) {
	i := New(Rule{Latency: Duration{time.Hour}})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if got := i.Decide(ctx, "github", "GET /user", ""); got != Pass {
		t.Fatalf("Decide = %v", got)
	}
}

func TestInjector_AdminHandler(t *testing.T) {
	i := New(Rule{Service: "github", Fail: true})
	srv := httptest.NewServer(http.StripPrefix("/_emulator/faults", i.AdminHandler("codepipeline")))
	defer srv.Close()

	body, _ := json.Marshal([]Rule{{Operation: "UpdatePipeline", Latency: Duration{20 * time.Millisecond}}})
	req, _ := http.NewRequest(http.MethodPut, srv.URL+"/_emulator/faults/rules", bytes.NewReader(body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("PUT rules: %v %v", err, resp.Status)
	}
	rules := i.Rules()
	if len(rules) != 2 || rules[0].Service != "github" || rules[1].Service != "codepipeline" || rules[1].Latency.Duration != 20*time.Millisecond {
		t.Fatalf("rules after PUT = %+v", rules)
	}

	bad, _ := http.NewRequest(http.MethodPut, srv.URL+"/_emulator/faults/rules", bytes.NewReader([]byte(`[{"error_rate": 2}]`)))
	resp, _ = http.DefaultClient.Do(bad)
	if resp.StatusCode != 400 || len(i.Rules()) != 2 {
		t.Fatalf("bad rule: %v, rules %d", resp.Status, len(i.Rules()))
	}

	i.Decide(context.Background(), "codepipeline", "GetPipeline", "")
	resp, _ = http.Get(srv.URL + "/_emulator/faults/counts")
	var counts map[string]Count
	_ = json.NewDecoder(resp.Body).Decode(&counts)
	if counts["GetPipeline"].Requests != 1 {
		t.Fatalf("counts = %+v", counts)
	}
}
