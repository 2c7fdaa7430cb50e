package github

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	gh "github.com/google/go-github/v93/github"

	"github.com/rotor-ci/rotor/internal/token"
)

// WorkflowRun is what rotor needs of a run: where it is and how it ended.
type WorkflowRun struct {
	ID         int64
	Status     string // queued, in_progress, completed, …
	Conclusion string // success, failure, … once completed
	HTMLURL    string
}

// Completed reports whether the run has finished.
func (r WorkflowRun) Completed() bool { return r.Status == "completed" }

// DispatchWorkflow starts a workflow_dispatch run of workflow (a file name
// such as check.yml) on ref and returns its id. It asks GitHub for the
// run's details; a GitHub that does not give them (older Enterprise
// Server) is asked for the newest workflow_dispatch run of that workflow
// created since the dispatch, by GitHub's own clock (the answer's Date).
func (c *Client) DispatchWorkflow(ctx context.Context, auth token.Token, owner, repo, workflow, ref string) (int64, error) {
	if auth.IsZero() {
		return 0, errEmptyToken
	}
	api := c.api(auth.Reveal())
	details, resp, err := api.Actions.CreateWorkflowDispatchEventByFileName(ctx, owner, repo, workflow,
		gh.CreateWorkflowDispatchEventRequest{Ref: ref, ReturnRunDetails: new(true)})
	if err != nil {
		return 0, fmt.Errorf("dispatch workflow %s of %s/%s on %s: %w", workflow, owner, repo, ref, secretError(err))
	}
	if id := details.GetWorkflowRunID(); id != 0 {
		return id, nil
	}
	since, err := http.ParseTime(resp.Header.Get("Date"))
	if err != nil {
		return 0, fmt.Errorf("dispatch workflow %s of %s/%s: GitHub named no run and sent no Date to find it by", workflow, owner, repo)
	}
	// The run appears shortly after the dispatch; look a few times.
	for range 10 {
		runs, _, err := api.Actions.ListWorkflowRunsByFileName(ctx, owner, repo, workflow, &gh.ListWorkflowRunsOptions{
			Event: "workflow_dispatch", Created: ">=" + since.Add(-time.Second).UTC().Format(time.RFC3339),
		})
		if err != nil {
			return 0, fmt.Errorf("find the run of workflow %s of %s/%s: %w", workflow, owner, repo, secretError(err))
		}
		if len(runs.WorkflowRuns) > 0 {
			return runs.WorkflowRuns[0].GetID(), nil // newest first
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(time.Second):
		}
	}
	return 0, fmt.Errorf("dispatch workflow %s of %s/%s: no run appeared", workflow, owner, repo)
}

// GetWorkflowRun reads one run.
func (c *Client) GetWorkflowRun(ctx context.Context, auth token.Token, owner, repo string, id int64) (WorkflowRun, error) {
	if auth.IsZero() {
		return WorkflowRun{}, errEmptyToken
	}
	run, _, err := c.api(auth.Reveal()).Actions.GetWorkflowRunByID(ctx, owner, repo, id)
	if err != nil {
		return WorkflowRun{}, fmt.Errorf("read workflow run %d of %s/%s: %w", id, owner, repo, secretError(err))
	}
	return WorkflowRun{ID: run.GetID(), Status: run.GetStatus(), Conclusion: run.GetConclusion(), HTMLURL: run.GetHTMLURL()}, nil
}

// ErrRunFailed: a workflow run finished with another conclusion than
// success.
var ErrRunFailed = errors.New("workflow run did not succeed")

// WaitWorkflowRun polls the run until it completes or ctx ends, and
// returns it; a run that completes without success is ErrRunFailed, naming
// its conclusion and URL. Polls start a quarter second apart and double up
// to interval: a short run is seen soon, a long one costs few requests.
func (c *Client) WaitWorkflowRun(ctx context.Context, auth token.Token, owner, repo string, id int64, interval time.Duration) (WorkflowRun, error) {
	wait := min(250*time.Millisecond, interval)
	for {
		run, err := c.GetWorkflowRun(ctx, auth, owner, repo, id)
		if err != nil {
			return run, err
		}
		if run.Completed() {
			if !strings.EqualFold(run.Conclusion, "success") {
				return run, fmt.Errorf("%w: run %d of %s/%s concluded %q (%s)", ErrRunFailed, id, owner, repo, run.Conclusion, run.HTMLURL)
			}
			return run, nil
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return run, fmt.Errorf("run %d of %s/%s still %s: %w", id, owner, repo, run.Status, ctx.Err())
		case <-t.C:
		}
		wait = min(2*wait, interval)
	}
}
