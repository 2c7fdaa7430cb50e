package github

import (
	"cmp"
	"fmt"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// GitHub Actions workflows, as far as a client that rotates a token kept in
// a secret needs them ("REST API endpoints for workflows", "… for workflow
// runs"): a workflow declared in the world file runs when dispatched, and
// its one job uses a named secret as a token to read a named repository
// through the emulator itself, so a dead, revoked or under-scoped token in
// the secret fails the run.

// WorkflowSpec declares a workflow of a repository.
type WorkflowSpec struct {
	// File is the workflow's file name under .github/workflows ("check.yml");
	// the dispatch route accepts it in place of the id.
	File string `yaml:"file" json:"file"`
	// Name defaults to File.
	Name string `yaml:"name,omitempty" json:"name,omitempty"`
	// On lists the events that trigger it; default [workflow_dispatch].
	On []string `yaml:"on,omitempty" json:"on,omitempty"`
	// Inputs of workflow_dispatch.
	Inputs map[string]InputSpec `yaml:"inputs,omitempty" json:"inputs,omitempty"`
	// Environment, when set, is the job's deployment environment: its
	// secrets come before the repository's, which come before the
	// organisation's, as in GitHub Actions.
	Environment string `yaml:"environment,omitempty" json:"environment,omitempty"`
	// Job is what the run does.
	Job JobSpec `yaml:"job,omitempty" json:"job,omitzero"`
	// QueueTime is how long a run stays queued, RunTime how long it is in
	// progress; both default to 0 (a run completes as it is dispatched).
	// The job runs, with the state of that instant, when the run leaves the
	// queue.
	QueueTime Duration `yaml:"queue_time,omitempty" json:"queue_time,omitzero"`
	RunTime   Duration `yaml:"run_time,omitempty" json:"run_time,omitzero"`
}

// InputSpec is a workflow_dispatch input.
type InputSpec struct {
	Required bool   `yaml:"required,omitempty" json:"required,omitempty"`
	Default  string `yaml:"default,omitempty" json:"default,omitempty"`
}

// JobSpec is a workflow's job: it fetches the repository Reads (as
// actions/checkout would) with the value of the secret Secret as its
// token. No secret: an unauthenticated fetch. Nothing to read: the job
// succeeds.
type JobSpec struct {
	Secret string `yaml:"secret,omitempty" json:"secret,omitempty"`
	Reads  string `yaml:"reads,omitempty" json:"reads,omitempty"` // "owner/name"
}

// IsZero lets omitzero drop an empty job.
func (j JobSpec) IsZero() bool { return j == JobSpec{} }

type workflow struct {
	ID          int64                `json:"id"`
	Owner       string               `json:"owner"`
	Repo        string               `json:"repo"`
	File        string               `json:"file"`
	Name        string               `json:"name"`
	On          []string             `json:"on"`
	Inputs      map[string]InputSpec `json:"inputs,omitempty"`
	Environment string               `json:"environment,omitempty"`
	Job         JobSpec              `json:"job,omitzero"`
	QueueTime   time.Duration        `json:"queue_time,omitempty"`
	RunTime     time.Duration        `json:"run_time,omitempty"`
	CreatedAt   time.Time            `json:"created_at"`
}

// run is a workflow run. Its status follows from the clock: queued until
// StartedAt, in progress until CompletedAt, then completed with the
// conclusion its job reached at StartedAt.
type run struct {
	ID          int64             `json:"id"`
	WorkflowID  int64             `json:"workflow_id"`
	Owner       string            `json:"owner"`
	Repo        string            `json:"repo"`
	Number      int               `json:"run_number"`
	Event       string            `json:"event"`
	Branch      string            `json:"head_branch"`
	SHA         string            `json:"head_sha"`
	Actor       string            `json:"actor"`                  // a login, or an app's "slug[bot]"
	ActorAppID  int64             `json:"actor_app_id,omitempty"` // set when an app dispatched it
	Inputs      map[string]string `json:"inputs,omitempty"`
	CreatedAt   time.Time         `json:"created_at"`
	StartedAt   time.Time         `json:"started_at"`
	CompletedAt time.Time         `json:"completed_at"`
	Ran         bool              `json:"ran"`
	Conclusion  string            `json:"conclusion,omitempty"` // success or failure, once Ran
	Reason      string            `json:"reason,omitempty"`     // why the job failed; never a token
}

func (rn *run) status(now time.Time) string {
	switch {
	case now.Before(rn.StartedAt):
		return "queued"
	case now.Before(rn.CompletedAt):
		return "in_progress"
	}
	return "completed"
}

// updatedAt is when the run last changed status.
func (rn *run) updatedAt(now time.Time) time.Time {
	switch rn.status(now) {
	case "queued":
		return rn.CreatedAt
	case "in_progress":
		return rn.StartedAt
	}
	return rn.CompletedAt
}

var workflowFileRe = regexp.MustCompile(`^[A-Za-z0-9._-]+\.ya?ml$`)

// addWorkflows checks a repository's workflows and stores them. Callers
// hold s.mu; rp is stored already.
func (s *Server) addWorkflows(rp *repo, specs []WorkflowSpec) error {
	var files []string
	var made []*workflow
	for n, w := range specs {
		at := fmt.Sprintf("repo %q: workflows[%d]", rp.fullName(), n)
		if !workflowFileRe.MatchString(w.File) {
			return fmt.Errorf("%s: file %q: %w: a file name ending .yml or .yaml", at, w.File, ErrInvalid)
		}
		if slices.ContainsFunc(files, func(f string) bool { return strings.EqualFold(f, w.File) }) {
			return fmt.Errorf("%s: file %q: %w", at, w.File, ErrExists)
		}
		files = append(files, w.File)
		on := w.On
		if len(on) == 0 {
			on = []string{"workflow_dispatch"}
		}
		for _, ev := range on {
			if ev == "" || strings.Trim(ev, "abcdefghijklmnopqrstuvwxyz_") != "" {
				return fmt.Errorf("%s: event %q: %w: GitHub's event names are lower snake case", at, ev, ErrInvalid)
			}
		}
		env := ""
		if w.Environment != "" {
			if env = rp.environment(w.Environment); env == "" {
				return fmt.Errorf("%s: environment %q: %w: declare it in the repository's environments", at, w.Environment, ErrNotFound)
			}
		}
		if w.Job.Secret != "" && checkSecretName(w.Job.Secret) != nil {
			return fmt.Errorf("%s: job secret %q: %w: not a secret name GitHub allows", at, w.Job.Secret, ErrInvalid)
		}
		if w.Job.Reads != "" {
			if o, r, ok := strings.Cut(w.Job.Reads, "/"); !ok || o == "" || r == "" || strings.Contains(r, "/") {
				return fmt.Errorf("%s: job reads %q: %w: want owner/name", at, w.Job.Reads, ErrInvalid)
			}
		}
		for name := range w.Inputs {
			if name == "" || strings.ContainsAny(name, " \t\n") {
				return fmt.Errorf("%s: input %q: %w", at, name, ErrInvalid)
			}
		}
		s.st.next.Workflow++
		made = append(made, &workflow{
			ID: s.st.next.Workflow, Owner: rp.Owner, Repo: rp.Name, File: w.File, Name: cmp.Or(w.Name, w.File),
			On: slices.Clone(on), Inputs: maps.Clone(w.Inputs), Environment: env, Job: w.Job,
			QueueTime: w.QueueTime.Duration, RunTime: w.RunTime.Duration, CreatedAt: s.now(),
		})
	}
	for _, wf := range made {
		s.st.workflows[wf.ID] = wf
		rp.Workflows = append(rp.Workflows, wf.ID)
	}
	return nil
}

// workflowOf finds a repository's workflow by id or file name. Callers hold
// s.mu.
func (st *state) workflowOf(rp *repo, idOrFile string) *workflow {
	for _, id := range rp.Workflows {
		wf := st.workflows[id]
		if wf != nil && (strconv.FormatInt(wf.ID, 10) == idOrFile || strings.EqualFold(wf.File, idOrFile)) {
			return wf
		}
	}
	return nil
}

const (
	docDispatch     = "https://docs.github.com/rest/actions/workflows#create-a-workflow-dispatch-event"
	docWorkflowRuns = "https://docs.github.com/rest/actions/workflow-runs"
	msgWriteAccess  = "Must have write access to repository."
)

func (s *Server) workflowRoutes() {
	dispatch := op{perm: "actions", level: "write", scope: "repo", role: roleWrite, denied: msgWriteAccess}
	read := op{perm: "actions", level: "read", role: roleRead}
	s.handle("POST /repos/{owner}/{repo}/actions/workflows/{workflow_id}/dispatches", route{mode: authToken, acceptedScopes: "repo", acceptedPerms: "actions=write"},
		func(w http.ResponseWriter, r *http.Request, p *principal) { s.dispatch(w, r, p, dispatch) })
	s.handle("GET /repos/{owner}/{repo}/actions/runs", route{acceptedScopes: "repo", acceptedPerms: "actions=read"},
		func(w http.ResponseWriter, r *http.Request, p *principal) { s.listRuns(w, r, p, read) })
	s.handle("GET /repos/{owner}/{repo}/actions/runs/{run_id}", route{acceptedScopes: "repo", acceptedPerms: "actions=read"},
		func(w http.ResponseWriter, r *http.Request, p *principal) { s.getRun(w, r, p, read) })
}

type dispatchRequest struct {
	Ref              *string        `json:"ref"`
	Inputs           map[string]any `json:"inputs"`
	ReturnRunDetails bool           `json:"return_run_details"`
}

func (s *Server) dispatch(w http.ResponseWriter, r *http.Request, p *principal, o op) {
	var in dispatchRequest
	herr := decodeJSON(r, &in)
	s.mu.Lock()
	rp, aerr := s.authorizeRepo(r, p, o)
	var rn *run
	if aerr != nil {
		herr = aerr
	} else if herr == nil {
		rn, herr = s.startRun(rp, r.PathValue("workflow_id"), in, p)
	}
	s.mu.Unlock()
	if herr != nil {
		writeError(w, herr.status, herr.message, docDispatch)
		return
	}
	if in.ReturnRunDetails {
		writeJSON(w, http.StatusOK, map[string]any{
			"workflow_run_id": rn.ID,
			"run_url":         apiURL(r, fmt.Sprintf("/repos/%s/%s/actions/runs/%d", rn.Owner, rn.Repo, rn.ID)),
			"html_url":        htmlURL(r, fmt.Sprintf("/%s/%s/actions/runs/%d", rn.Owner, rn.Repo, rn.ID)),
		})
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// startRun checks a dispatch against the workflow and creates its run.
// Callers hold s.mu.
func (s *Server) startRun(rp *repo, idOrFile string, in dispatchRequest, p *principal) (*run, *httpError) {
	wf := s.st.workflowOf(rp, idOrFile)
	if wf == nil {
		return nil, &httpError{http.StatusNotFound, msgNotFound}
	}
	if in.Ref == nil {
		return nil, &httpError{http.StatusUnprocessableEntity, "Invalid request.\n\n\"ref\" wasn't supplied."}
	}
	if !slices.Contains(wf.On, "workflow_dispatch") {
		return nil, &httpError{http.StatusUnprocessableEntity, "Workflow does not have 'workflow_dispatch' trigger"}
	}
	branch, sha := resolveRef(rp, *in.Ref)
	if branch == "" {
		return nil, &httpError{http.StatusUnprocessableEntity, "No ref found for: " + *in.Ref}
	}
	if len(in.Inputs) > 25 {
		return nil, &httpError{http.StatusUnprocessableEntity, "Invalid request.\n\nFor 'properties/inputs', the object must have at most 25 properties."}
	}
	var unexpected []string
	inputs := map[string]string{}
	for k, v := range in.Inputs {
		if _, ok := wf.Inputs[k]; !ok {
			unexpected = append(unexpected, strconv.Quote(k))
			continue
		}
		inputs[k] = fmt.Sprint(v)
	}
	if len(unexpected) > 0 {
		slices.Sort(unexpected)
		return nil, &httpError{http.StatusUnprocessableEntity, "Unexpected inputs provided: [" + strings.Join(unexpected, ", ") + "]"}
	}
	for _, k := range slices.Sorted(maps.Keys(wf.Inputs)) {
		spec := wf.Inputs[k]
		if _, ok := inputs[k]; ok {
			continue
		}
		if spec.Required && spec.Default == "" {
			return nil, &httpError{http.StatusUnprocessableEntity, fmt.Sprintf("Required input '%s' not provided", k)}
		}
		if spec.Default != "" {
			inputs[k] = spec.Default
		}
	}
	now := s.now()
	number := 1
	for _, other := range s.st.runs {
		if other.WorkflowID == wf.ID {
			number = max(number, other.Number+1)
		}
	}
	s.st.next.Run++
	rn := &run{
		ID: s.st.next.Run, WorkflowID: wf.ID, Owner: rp.Owner, Repo: rp.Name, Number: number, Event: "workflow_dispatch",
		Branch: branch, SHA: sha, Inputs: inputs, CreatedAt: now,
		StartedAt: now.Add(wf.QueueTime), CompletedAt: now.Add(wf.QueueTime + wf.RunTime),
	}
	rn.Actor, rn.ActorAppID = s.actor(p)
	s.st.runs[rn.ID] = rn
	s.advanceRuns()
	return rn, nil
}

// actor names who dispatched: the token's user, or the app's bot. Callers
// hold s.mu.
func (s *Server) actor(p *principal) (string, int64) {
	if p.kind == byInstallation {
		if in := s.st.insts[p.instID]; in != nil {
			if a := s.st.apps[in.AppID]; a != nil {
				return a.Slug + "[bot]", a.ID
			}
		}
	}
	return p.user, 0
}

// advanceRuns runs the job of every run whose start has come, as of its
// start. Every request and every Go-level change calls it first, so a job
// sees the state as it was when its run left the queue even when nobody
// looked at that moment. Callers hold s.mu.
func (s *Server) advanceRuns() {
	now := s.now()
	for _, rn := range s.st.runs {
		if !rn.Ran && !now.Before(rn.StartedAt) {
			s.runJob(rn)
		}
	}
}

// runJob does what the run's workflow job does, at the run's start.
// Callers hold s.mu.
func (s *Server) runJob(rn *run) {
	rn.Ran, rn.Conclusion = true, "success"
	wf := s.st.workflows[rn.WorkflowID]
	rp := s.st.repo(rn.Owner, rn.Repo)
	if wf == nil || rp == nil || wf.Job.Reads == "" {
		return
	}
	tok := ""
	if wf.Job.Secret != "" {
		sec := s.st.secretFor(rp, wf.Environment, wf.Job.Secret)
		if sec == nil {
			rn.Conclusion, rn.Reason = "failure", fmt.Sprintf("the job's secret %s is not set for %s", wf.Job.Secret, rp.fullName())
			return
		}
		tok = strings.TrimSpace(sec.Value)
	}
	owner, name, _ := strings.Cut(wf.Job.Reads, "/")
	if ok, reason := s.authorize(tok, owner, name, rn.StartedAt); !ok {
		rn.Conclusion, rn.Reason = "failure", fmt.Sprintf("reading %s with secret %s: %s", wf.Job.Reads, cmp.Or(wf.Job.Secret, "(none)"), reason)
	}
}

// secretFor resolves an Actions secret for a job of rp: the environment's,
// then the repository's, then the organisation's (if rp may use it), as
// GitHub Actions does. Callers hold s.mu.
func (st *state) secretFor(rp *repo, env, name string) *secret {
	name = strings.ToUpper(name)
	scopes := []SecretScope{}
	if env != "" {
		scopes = append(scopes, SecretScope{Service: ServiceActions, Level: LevelEnvironment, Account: rp.Owner, Repo: rp.Name, Environment: env})
	}
	scopes = append(scopes, SecretScope{Service: ServiceActions, Level: LevelRepo, Account: rp.Owner, Repo: rp.Name})
	for _, sc := range scopes {
		if ss := st.secrets[sc.key()]; ss != nil && ss.Secrets[name] != nil {
			return ss.Secrets[name]
		}
	}
	for _, sec := range st.orgSecretsFor(rp) {
		if sec.Name == name {
			return sec
		}
	}
	return nil
}

// runJSON is workflow-run.
type runJSON struct {
	ID                 int64      `json:"id"`
	Name               string     `json:"name"`
	NodeID             string     `json:"node_id"`
	CheckSuiteID       int64      `json:"check_suite_id"`
	CheckSuiteNodeID   string     `json:"check_suite_node_id"`
	HeadBranch         string     `json:"head_branch"`
	HeadSHA            string     `json:"head_sha"`
	Path               string     `json:"path"`
	DisplayTitle       string     `json:"display_title"`
	RunNumber          int        `json:"run_number"`
	RunAttempt         int        `json:"run_attempt"`
	Event              string     `json:"event"`
	Status             string     `json:"status"`
	Conclusion         *string    `json:"conclusion"`
	WorkflowID         int64      `json:"workflow_id"`
	URL                string     `json:"url"`
	HTMLURL            string     `json:"html_url"`
	PullRequests       []struct{} `json:"pull_requests"`
	CreatedAt          string     `json:"created_at"`
	UpdatedAt          string     `json:"updated_at"`
	RunStartedAt       string     `json:"run_started_at"`
	Actor              *userJSON  `json:"actor,omitempty"`
	TriggeringActor    *userJSON  `json:"triggering_actor,omitempty"`
	JobsURL            string     `json:"jobs_url"`
	LogsURL            string     `json:"logs_url"`
	CheckSuiteURL      string     `json:"check_suite_url"`
	ArtifactsURL       string     `json:"artifacts_url"`
	CancelURL          string     `json:"cancel_url"`
	RerunURL           string     `json:"rerun_url"`
	PreviousAttemptURL *string    `json:"previous_attempt_url"`
	WorkflowURL        string     `json:"workflow_url"`
	HeadCommit         *struct{}  `json:"head_commit"`
	Repository         repoJSON   `json:"repository"`
	HeadRepository     repoJSON   `json:"head_repository"`
	HeadRepositoryID   int64      `json:"head_repository_id"`
}

// renderRun; callers hold s.mu.
func (s *Server) renderRun(r *http.Request, rp *repo, rn *run, now time.Time) runJSON {
	wf := s.st.workflows[rn.WorkflowID]
	name, file := "", ""
	if wf != nil {
		name, file = wf.Name, wf.File
	}
	api := apiURL(r, fmt.Sprintf("/repos/%s/actions/runs/%d", rp.fullName(), rn.ID))
	status := rn.status(now)
	var conclusion *string
	if status == "completed" {
		c := rn.Conclusion
		conclusion = &c
	}
	repoJ := s.renderRepo(r, rp, nil)
	j := runJSON{
		ID: rn.ID, Name: name, NodeID: nodeID("WFR", rn.ID), CheckSuiteID: rn.ID + 1000000000, CheckSuiteNodeID: nodeID("CS", rn.ID+1000000000),
		HeadBranch: rn.Branch, HeadSHA: rn.SHA, Path: ".github/workflows/" + file, DisplayTitle: name,
		RunNumber: rn.Number, RunAttempt: 1, Event: rn.Event, Status: status, Conclusion: conclusion, WorkflowID: rn.WorkflowID,
		URL: api, HTMLURL: htmlURL(r, fmt.Sprintf("/%s/actions/runs/%d", rp.fullName(), rn.ID)), PullRequests: []struct{}{},
		CreatedAt: ts(rn.CreatedAt), UpdatedAt: ts(rn.updatedAt(now)), RunStartedAt: ts(rn.StartedAt),
		JobsURL: api + "/jobs", LogsURL: api + "/logs", CheckSuiteURL: apiURL(r, fmt.Sprintf("/repos/%s/check-suites/%d", rp.fullName(), rn.ID+1000000000)),
		ArtifactsURL: api + "/artifacts", CancelURL: api + "/cancel", RerunURL: api + "/rerun",
		WorkflowURL: apiURL(r, fmt.Sprintf("/repos/%s/actions/workflows/%d", rp.fullName(), rn.WorkflowID)),
		Repository:  repoJ, HeadRepository: repoJ, HeadRepositoryID: rp.ID,
	}
	actor := &user{Login: rn.Actor}
	if rn.ActorAppID != 0 {
		actor.ID, actor.Type = rn.ActorAppID, "Bot"
	} else if u := s.st.user(rn.Actor); u != nil {
		actor = u
	}
	a := renderUser(r, actor)
	j.Actor, j.TriggeringActor = &a, &a
	return j
}

// runsRepo finds the path's repository for reading runs: anyone reads
// the runs of a public repository. Callers hold s.mu.
func (s *Server) runsRepo(r *http.Request, p *principal, o op) (*repo, *httpError) {
	if rp := s.visibleRepo(r, p, needMetadata); rp != nil && !rp.Private {
		return rp, nil
	}
	return s.authorizeRepo(r, p, o)
}

func (s *Server) getRun(w http.ResponseWriter, r *http.Request, p *principal, o op) {
	id, err := strconv.ParseInt(r.PathValue("run_id"), 10, 64)
	s.mu.Lock()
	s.advanceRuns()
	rp, herr := s.runsRepo(r, p, o)
	var j runJSON
	if herr == nil {
		rn := s.st.runs[id]
		if err != nil || rn == nil || key(rn.Owner, rn.Repo) != key(rp.Owner, rp.Name) {
			herr = &httpError{http.StatusNotFound, msgNotFound}
		} else {
			j = s.renderRun(r, rp, rn, s.now())
		}
	}
	s.mu.Unlock()
	if herr != nil {
		writeError(w, herr.status, herr.message, docWorkflowRuns)
		return
	}
	writeJSON(w, http.StatusOK, j)
}

func (s *Server) listRuns(w http.ResponseWriter, r *http.Request, p *principal, o op) {
	q := r.URL.Query()
	perPage, page := pagination(q)
	created, cerr := parseCreated(q.Get("created"))
	s.mu.Lock()
	s.advanceRuns()
	now := s.now()
	rp, herr := s.runsRepo(r, p, o)
	var all []runJSON
	if herr == nil && cerr == nil {
		var runs []*run
		for _, rn := range s.st.runs {
			if key(rn.Owner, rn.Repo) != key(rp.Owner, rp.Name) {
				continue
			}
			st := rn.status(now)
			switch {
			case q.Get("event") != "" && q.Get("event") != rn.Event,
				q.Get("branch") != "" && q.Get("branch") != rn.Branch,
				q.Get("head_sha") != "" && q.Get("head_sha") != rn.SHA,
				q.Get("actor") != "" && !strings.EqualFold(q.Get("actor"), rn.Actor),
				q.Get("status") != "" && q.Get("status") != st && (st != "completed" || q.Get("status") != rn.Conclusion),
				!created(rn.CreatedAt):
				continue
			}
			runs = append(runs, rn)
		}
		slices.SortFunc(runs, func(a, b *run) int { return cmp.Compare(b.ID, a.ID) }) // newest first
		for _, rn := range runs {
			all = append(all, s.renderRun(r, rp, rn, now))
		}
	}
	s.mu.Unlock()
	if herr == nil && cerr != nil {
		herr = cerr
	}
	if herr != nil {
		writeError(w, herr.status, herr.message, docWorkflowRuns)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"total_count": len(all), "workflow_runs": pageOf(w, r, all, perPage, page)})
}

// parseCreated reads the created filter in GitHub's search syntax for
// dates ("Understanding the search syntax"): a date or a date-time, after
// >, >=, < or <=, or a range A..B where either end may be *. A bare date
// covers its whole day (UTC).
func parseCreated(v string) (func(time.Time) bool, *httpError) {
	if v == "" {
		return func(time.Time) bool { return true }, nil
	}
	bad := &httpError{http.StatusUnprocessableEntity, "Invalid request.\n\ncreated " + strconv.Quote(v) + " is not a date, a date-time or a range of them."}
	// bound parses one end: its instant and, for a bare date, the next day.
	bound := func(s string) (time.Time, time.Time, bool) {
		if t, err := time.Parse(time.RFC3339, s); err == nil {
			return t, t, true
		}
		if t, err := time.Parse("2006-01-02T15:04:05", s); err == nil {
			return t, t, true
		}
		if t, err := time.Parse("2006-01-02", s); err == nil {
			return t, t.Add(24 * time.Hour), true
		}
		return time.Time{}, time.Time{}, false
	}
	if a, b, ok := strings.Cut(v, ".."); ok {
		lo, hi := time.Time{}, time.Time{}
		if a != "*" {
			t, _, ok := bound(a)
			if !ok {
				return nil, bad
			}
			lo = t
		}
		if b != "*" {
			t, end, ok := bound(b)
			if !ok {
				return nil, bad
			}
			hi = t
			if !end.Equal(t) {
				hi = end.Add(-time.Nanosecond)
			}
		}
		return func(t time.Time) bool {
			return (lo.IsZero() || !t.Before(lo)) && (hi.IsZero() || !t.After(hi))
		}, nil
	}
	for _, opr := range []string{">=", "<=", ">", "<", ""} {
		rest, ok := strings.CutPrefix(v, opr)
		if !ok {
			continue
		}
		t, end, ok := bound(rest)
		if !ok {
			return nil, bad
		}
		day := !end.Equal(t)
		switch opr {
		case ">=":
			return func(x time.Time) bool { return !x.Before(t) }, nil
		case ">":
			if day {
				return func(x time.Time) bool { return !x.Before(end) }, nil
			}
			return func(x time.Time) bool { return x.After(t) }, nil
		case "<=":
			if day {
				return func(x time.Time) bool { return x.Before(end) }, nil
			}
			return func(x time.Time) bool { return !x.After(t) }, nil
		case "<":
			return func(x time.Time) bool { return x.Before(t) }, nil
		}
		if day {
			return func(x time.Time) bool { return !x.Before(t) && x.Before(end) }, nil
		}
		return func(x time.Time) bool { return x.Equal(t) }, nil
	}
	return nil, bad
}

// RunInfo is a workflow run as the admin API shows it, with why its job
// failed (never a token).
type RunInfo struct {
	ID         int64     `json:"id"`
	Repository string    `json:"repository"`
	Workflow   string    `json:"workflow"` // the file
	Number     int       `json:"run_number"`
	Actor      string    `json:"actor"`
	Status     string    `json:"status"`
	Conclusion string    `json:"conclusion,omitempty"`
	Reason     string    `json:"reason,omitempty"`
	CreatedAt  time.Time `json:"created_at"`
}

// Runs lists every workflow run, newest first.
func (s *Server) Runs() []RunInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advanceRuns()
	now := s.now()
	out := []RunInfo{}
	for _, rn := range s.st.runs {
		info := RunInfo{ID: rn.ID, Repository: rn.Owner + "/" + rn.Repo, Number: rn.Number, Actor: rn.Actor, Status: rn.status(now), CreatedAt: rn.CreatedAt}
		if wf := s.st.workflows[rn.WorkflowID]; wf != nil {
			info.Workflow = wf.File
		}
		if info.Status == "completed" {
			info.Conclusion, info.Reason = rn.Conclusion, rn.Reason
		}
		out = append(out, info)
	}
	slices.SortFunc(out, func(a, b RunInfo) int { return cmp.Compare(b.ID, a.ID) })
	return out
}
