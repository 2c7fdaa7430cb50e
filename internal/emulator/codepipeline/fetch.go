package codepipeline

import (
	"archive/tar"
	"compress/gzip"
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

	token "github.com/rotor-ci/rotor/internal/emulator/ghtoken" // the emulators' own token code, not rotor's
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
	// Connection is a GitHub (version 2) action's connection ARN; its
	// token is then the connection's installation token.
	Connection string `json:"connection,omitempty"`
	// Revision is the commit fetched (the tarball's), when one was.
	Revision string `json:"revision,omitempty"`
	// message is what the action shows when the fetch failed.
	message string
	// committed is the commit's time, as the archive carries it.
	committed time.Time
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
// emulator, as the action does: version 1 with its stored token, version 2
// through its connection (role, connection and installation checked
// first; see fetchThroughConnection), and records the attempt. role is the
// pipeline's role, for version 2. A fetch cut short by Close is not
// recorded: it says nothing about the token.
func (s *Server) fetch(ctx context.Context, pipeline string, src *source, trigger, role string) Fetch {
	f := Fetch{Time: s.now(), Pipeline: pipeline, Action: src.action, Trigger: trigger, Connection: src.connection}
	tok := src.token
	if src.v2() {
		if src.roleArn != "" {
			role = src.roleArn
		}
		tok, f.Status, f.Reason, f.message = s.fetchThroughConnection(ctx, src, role)
	}
	if f.message == "" {
		f.Status, f.Reason, f.Revision, f.committed = s.download(ctx, src, tok)
		switch {
		case f.Status == http.StatusOK:
		case src.v2() && f.Status == http.StatusNotFound:
			f.message = errBranchNotFound(src.owner+"/"+src.repo, src.branch)
		case src.v2():
			f.message = errRepositoryNotVisible(src.owner + "/" + src.repo)
		default:
			f.message = ErrGitHubAccess
		}
	}
	if tok.Reveal() != "" {
		f.TokenFingerprint = tok.Fingerprint()
	}
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

// download returns the HTTP status, a reason when it is not 200, and the
// commit fetched and its time when it is.
func (s *Server) download(ctx context.Context, src *source, tok token.Token) (status int, reason, rev string, committed time.Time) {
	if s.githubURL == "" {
		return 0, "no GitHub URL is configured", "", time.Time{}
	}
	u := s.githubURL + "/repos/" + url.PathEscape(src.owner) + "/" + url.PathEscape(src.repo) + "/tarball/" + escapeRef(src.branch)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, "bad repository URL", "", time.Time{}
	}
	req.Header.Set("Authorization", "token "+tok.Reveal())
	req.Header.Set("Accept", "application/vnd.github+json")
	req.Header.Set("User-Agent", "CodePipeline-emulator")
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, transportReason(err), "", time.Time{}
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		status, reason := answerReason(resp)
		return status, reason, "", time.Time{}
	}
	body := io.LimitReader(resp.Body, 64<<20)
	rev, committed, err = readArchive(body)
	_, _ = io.Copy(io.Discard, body)
	if err != nil || rev == "" {
		rev, _ = revisionOf(resp)
	}
	return resp.StatusCode, "", rev, committed
}

// readArchive reads the commit and its time from the head of a tarball as
// GitHub makes it (git archive): a pax global header whose comment is the
// commit id, then entries whose modification time is the commit's time.
func readArchive(r io.Reader) (string, time.Time, error) {
	gz, err := gzip.NewReader(r)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("tarball: %w", err)
	}
	tr := tar.NewReader(gz)
	h, err := tr.Next()
	if err != nil {
		return "", time.Time{}, fmt.Errorf("tarball: %w", err)
	}
	// archive/tar folds a pax global header into the next entry's
	// PAXRecords unless it is returned on its own, as here.
	commit := h.PAXRecords["comment"]
	if h.Typeflag == tar.TypeXGlobalHeader {
		if h, err = tr.Next(); err != nil {
			return commit, time.Time{}, fmt.Errorf("tarball: %w", err)
		}
	}
	return commit, h.ModTime.UTC(), nil
}

// answerReason describes a GitHub answer that is not 200 by its status and
// message.
func answerReason(resp *http.Response) (int, string) {
	if resp.StatusCode == http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
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
				s.fetch(s.ctx, p.name, src, TriggerPoll, "")
			}()
		}
	}
}
