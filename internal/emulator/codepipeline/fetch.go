package codepipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Fetch is one attempt by a GitHub source action to download its repository,
// made by polling or by an execution.
type Fetch struct {
	Time             time.Time `json:"time"` // when the token was read and the request sent
	Pipeline         string    `json:"pipeline"`
	Action           string    `json:"action"`
	Trigger          string    `json:"trigger"`           // TriggerPoll or TriggerExecution
	TokenFingerprint string    `json:"token_fingerprint"` // of the token sent
	OK               bool      `json:"ok"`
	Status           int       `json:"status"`           // HTTP status; 0 when no answer came
	Reason           string    `json:"reason,omitempty"` // why it failed
}

// FetchSummary counts fetches since the last reset. Unlike the record it
// never drops anything.
type FetchSummary struct {
	Total   int64 `json:"total"`
	Failed  int64 `json:"failed"`
	Dropped int64 `json:"dropped"` // oldest entries dropped from the record to bound memory
}

// fetchLog is the fetch record.
type fetchLog struct {
	mu      sync.Mutex
	max     int
	entries []Fetch
	sum     FetchSummary
}

func newFetchLog(max int) *fetchLog {
	if max <= 0 {
		max = 1_000_000
	}
	return &fetchLog{max: max}
}

func (l *fetchLog) add(f Fetch) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.entries) >= l.max {
		// Drop a tenth at once so that appending stays amortised O(1).
		n := max(l.max/10, 1)
		l.entries = append(l.entries[:0], l.entries[n:]...)
		l.sum.Dropped += int64(n)
	}
	l.entries = append(l.entries, f)
	l.sum.Total++
	if !f.OK {
		l.sum.Failed++
	}
}

// Fetches returns a copy of the fetch record, oldest first.
func (s *Server) Fetches() []Fetch {
	s.fetches.mu.Lock()
	defer s.fetches.mu.Unlock()
	return append([]Fetch(nil), s.fetches.entries...)
}

// FetchSummary returns the counts since the last ResetFetches.
func (s *Server) FetchSummary() FetchSummary {
	s.fetches.mu.Lock()
	defer s.fetches.mu.Unlock()
	return s.fetches.sum
}

// ResetFetches empties the record and its counts.
func (s *Server) ResetFetches() {
	s.fetches.mu.Lock()
	defer s.fetches.mu.Unlock()
	s.fetches.entries = nil
	s.fetches.sum = FetchSummary{}
}

// fetch downloads a source action's repository tarball from the GitHub
// emulator with the stored token, as the GitHub (version 1) action does, and
// records the attempt. A fetch cut short by Close is not recorded: it says
// nothing about the token.
func (s *Server) fetch(ctx context.Context, pipeline string, src *source, trigger string) Fetch {
	f := Fetch{Time: s.now(), Pipeline: pipeline, Action: src.action, Trigger: trigger, TokenFingerprint: src.token.Fingerprint()}
	f.Status, f.Reason = s.download(ctx, src)
	f.OK = f.Status == http.StatusOK
	if ctx.Err() != nil {
		return f
	}
	if !f.OK {
		s.log.Debug("codepipeline emulator: GitHub fetch failed", "pipeline", pipeline, "action", src.action,
			"token", f.TokenFingerprint, "status", f.Status, "reason", f.Reason)
	}
	s.fetches.add(f)
	return f
}

// download returns the HTTP status and, when it is not 200, a reason.
func (s *Server) download(ctx context.Context, src *source) (int, string) {
	if s.githubURL == "" {
		return 0, "no GitHub URL is configured"
	}
	u := s.githubURL + "/repos/" + url.PathEscape(src.owner) + "/" + url.PathEscape(src.repo) + "/tarball/" + escapeRef(src.branch)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, "bad repository URL"
	}
	req.Header.Set("Authorization", "token "+src.token.Reveal())
	req.Header.Set("Accept", "application/vnd.github+json")
	req.Header.Set("User-Agent", "CodePipeline-emulator")
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, transportReason(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<20))
		return resp.StatusCode, ""
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var msg struct {
		Message string `json:"message"`
	}
	_ = json.Unmarshal(body, &msg)
	reason := fmt.Sprintf("GitHub answered %d", resp.StatusCode)
	if msg.Message != "" {
		reason += ": " + clip(msg.Message)
	}
	return resp.StatusCode, reason
}

// escapeRef escapes each segment of a branch name (which may contain "/").
func escapeRef(ref string) string {
	parts := strings.Split(ref, "/")
	for i, p := range parts {
		parts[i] = url.PathEscape(p)
	}
	return strings.Join(parts, "/")
}

// transportReason describes a failed request without its URL's query or any
// header (the token travels in a header, never in the URL).
func transportReason(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "GitHub did not answer in time"
	}
	return "no answer from GitHub: " + clip(err.Error())
}

// pollLoop fetches every polling source action once per interval: one
// goroutine for all pipelines, fetches bounded by the semaphore, and a source
// whose previous fetch is still running skips a tick instead of piling up.
func (s *Server) pollLoop() {
	defer s.wg.Done()
	t := time.NewTicker(s.pollInterval)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
			s.pollOnce()
		}
	}
}

func (s *Server) pollOnce() {
	for _, p := range s.all() {
		for _, src := range p.cur.Load().sources {
			if !src.poll || !src.busy.CompareAndSwap(false, true) {
				continue
			}
			select {
			case s.sem <- struct{}{}:
			case <-s.ctx.Done():
				src.busy.Store(false)
				return
			}
			s.wg.Add(1) // safe: pollLoop itself holds a count
			go func() {
				defer s.wg.Done()
				defer func() { <-s.sem }()
				defer src.busy.Store(false)
				s.fetch(s.ctx, p.name, src, TriggerPoll)
			}()
		}
	}
}
