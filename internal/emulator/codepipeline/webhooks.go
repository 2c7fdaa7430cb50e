package codepipeline

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// Version 1 webhooks: what starts a GitHub (version 1) pipeline on a push
// when PollForSourceChanges is false (CodePipeline user guide, "Create a
// webhook for a GitHub source"; API PutWebhook, RegisterWebhookWithThirdParty,
// DeregisterWebhookWithThirdParty, DeleteWebhook, ListWebhooks).
// Registering creates a repository webhook on GitHub with the target
// action's OAuthToken (it needs admin:repo_hook); deregistering deletes it
// with the token the action holds then; DeleteWebhook alone leaves the
// GitHub hook behind, as on AWS. The emulated hooks deliver nothing: the
// repositories never change.

// maxWebhooks is the quota per account and region (CodePipeline quotas).
const maxWebhooks = 300

type webhook struct {
	Definition webhookDefinition `json:"definition"`
	URL        string            `json:"url"`
	Arn        string            `json:"arn"`
	Tags       []Tag             `json:"tags,omitempty"`
	// The repository hook RegisterWebhookWithThirdParty made, 0 if none.
	GitHubHookID int64  `json:"github_hook_id,omitempty"`
	GitHubRepo   string `json:"github_repo,omitempty"` // owner/repo
}

type webhookDefinition struct {
	Name           string          `json:"name"`
	TargetPipeline string          `json:"targetPipeline"`
	TargetAction   string          `json:"targetAction"`
	Filters        []webhookFilter `json:"filters"`
	Authentication string          `json:"authentication"`
	AuthConfig     webhookAuth     `json:"authenticationConfiguration"`
}

type webhookFilter struct {
	JSONPath    string `json:"jsonPath"`
	MatchEquals string `json:"matchEquals,omitempty"`
}

type webhookAuth struct {
	AllowedIPRange string `json:"AllowedIPRange,omitempty"`
	SecretToken    string `json:"SecretToken,omitempty"`
}

// webhookStore is one account and region's webhooks.
type webhookStore struct {
	mu    sync.Mutex
	hooks map[string]*webhook // by name
}

type webhookItem struct {
	Definition webhookDefinition `json:"definition"`
	URL        string            `json:"url"`
	Arn        string            `json:"arn"`
	Tags       []Tag             `json:"tags,omitempty"`
}

func (w *webhook) item() webhookItem {
	return webhookItem{Definition: w.Definition, URL: w.URL, Arn: w.Arn, Tags: slices.Clone(w.Tags)}
}

var (
	ruleWebhookName = stringRule{required: true, min: 1, max: 100, pattern: reName}
	ruleJSONPath    = stringRule{required: true, min: 1, max: 150}
	ruleMatchEquals = stringRule{min: 1, max: 150}
	ruleAuthType    = stringRule{required: true, enum: []string{"GITHUB_HMAC", "IP", "UNAUTHENTICATED"}}
	ruleSecretToken = stringRule{min: 1, max: 100}
	ruleIPRange     = stringRule{min: 1, max: 100}
	reCIDR          = regexp.MustCompile(`^[0-9]{1,3}(\.[0-9]{1,3}){3}/[0-9]{1,2}$`)
)

const (
	typeWebhookNotFound     = "WebhookNotFoundException"
	typeInvalidFilter       = "InvalidWebhookFilterPatternException"
	typeInvalidWebhookAuth  = "InvalidWebhookAuthenticationParametersException"
	webhookURLHost          = "webhooks.aws"
	errWebhookNotFoundWords = "The webhook %s was not found in account %s"
)

type putWebhookInput struct {
	Webhook *webhookDefinition `json:"webhook"`
	Tags    []Tag              `json:"tags"`
}

func (s *Server) putWebhook(_ context.Context, in *putWebhookInput) (any, *apiError) {
	var v violations
	d := in.Webhook
	if d == nil {
		v.add(nil, "webhook", "Member must not be null")
		return nil, v.err()
	}
	v.check(d.Name, "webhook.name", ruleWebhookName)
	v.check(d.TargetPipeline, "webhook.targetPipeline", ruleName)
	v.check(d.TargetAction, "webhook.targetAction", ruleName)
	v.check(d.Authentication, "webhook.authentication", ruleAuthType)
	if d.Filters == nil {
		v.add(nil, "webhook.filters", "Member must not be null")
	}
	if len(d.Filters) > 5 {
		v.addHidden("webhook.filters", "Member must have length less than or equal to 5")
	}
	for i, f := range d.Filters {
		v.check(f.JSONPath, fmt.Sprintf("webhook.filters.%d.member.jsonPath", i+1), ruleJSONPath)
		v.check(f.MatchEquals, fmt.Sprintf("webhook.filters.%d.member.matchEquals", i+1), ruleMatchEquals)
	}
	v.check(d.AuthConfig.SecretToken, "webhook.authenticationConfiguration.SecretToken", ruleSecretToken)
	v.check(d.AuthConfig.AllowedIPRange, "webhook.authenticationConfiguration.AllowedIPRange", ruleIPRange)
	if err := v.err(); err != nil {
		return nil, err
	}
	if err := validateTags(in.Tags, "tags"); err != nil {
		return nil, err
	}
	for _, f := range d.Filters {
		if !strings.HasPrefix(f.JSONPath, "$") {
			return nil, newError(http.StatusBadRequest, typeInvalidFilter, "JsonPath %s is not a valid JSONPath expression", clip(f.JSONPath))
		}
	}
	switch d.Authentication {
	case "GITHUB_HMAC":
		if d.AuthConfig.SecretToken == "" {
			return nil, newError(http.StatusBadRequest, typeInvalidWebhookAuth, "SecretToken is required for GITHUB_HMAC authentication")
		}
	case "IP":
		if !reCIDR.MatchString(d.AuthConfig.AllowedIPRange) {
			return nil, newError(http.StatusBadRequest, typeInvalidWebhookAuth, "AllowedIPRange must be a CIDR range for IP authentication")
		}
	}
	p := s.lookup(d.TargetPipeline)
	if p == nil {
		return nil, errPipelineNotFound(s.account, d.TargetPipeline)
	}
	if p.cur.Load().decl.actionNamed(d.TargetAction) == nil {
		return nil, newError(http.StatusBadRequest, typeValidation, "Pipeline '%s' has no action named '%s'", d.TargetPipeline, d.TargetAction)
	}
	s.webhooks.mu.Lock()
	defer s.webhooks.mu.Unlock()
	if s.webhooks.hooks == nil {
		s.webhooks.hooks = map[string]*webhook{}
	}
	w := s.webhooks.hooks[d.Name]
	if w == nil {
		if len(s.webhooks.hooks) >= maxWebhooks {
			return nil, newError(http.StatusBadRequest, typeLimitExceeded, "Account '%s' already has %d webhooks in region '%s', the most allowed", s.account, maxWebhooks, s.region)
		}
		w = &webhook{Arn: fmt.Sprintf("arn:aws:codepipeline:%s:%s:webhook:%s", s.region, s.account, d.Name),
			URL: fmt.Sprintf("https://%s.%s/trigger?t=%s&v=1", s.region, webhookURLHost, url.QueryEscape(newUUID()))}
		s.webhooks.hooks[d.Name] = w
	}
	w.Definition = *d
	w.Definition.Filters = slices.Clone(d.Filters)
	w.Tags = mergeTags(w.Tags, in.Tags)
	return struct {
		Webhook webhookItem `json:"webhook"`
	}{w.item()}, nil
}

// actionNamed finds an action by name in any stage, or nil.
func (d *Declaration) actionNamed(name string) *Action {
	for i := range d.Stages {
		if a := d.action(d.Stages[i].Name, name); a != nil {
			return a
		}
	}
	return nil
}

type listWebhooksInput struct {
	NextToken  string `json:"NextToken"`
	MaxResults *int   `json:"MaxResults"`
}

func (s *Server) listWebhooks(_ context.Context, in *listWebhooksInput) (any, *apiError) {
	var v violations
	v.check(in.NextToken, "nextToken", ruleNextToken)
	v.checkRange(in.MaxResults, "maxResults", 1, 100)
	if err := v.err(); err != nil {
		return nil, err
	}
	after := ""
	if in.NextToken != "" {
		b, err := base64.RawURLEncoding.DecodeString(in.NextToken)
		if err != nil || len(b) == 0 {
			return nil, newError(http.StatusBadRequest, typeInvalidNextToken, "The next token is not valid: use the NextToken of the previous ListWebhooks response")
		}
		after = string(b)
	}
	limit := 100
	if in.MaxResults != nil {
		limit = *in.MaxResults
	}
	s.webhooks.mu.Lock()
	defer s.webhooks.mu.Unlock()
	names := make([]string, 0, len(s.webhooks.hooks))
	for n := range s.webhooks.hooks {
		if n > after {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	out := struct {
		Webhooks  []webhookItem `json:"webhooks"`
		NextToken string        `json:"NextToken,omitempty"`
	}{Webhooks: []webhookItem{}}
	for i, n := range names {
		if i == limit {
			out.NextToken = base64.RawURLEncoding.EncodeToString([]byte(names[i-1]))
			break
		}
		out.Webhooks = append(out.Webhooks, s.webhooks.hooks[n].item())
	}
	return out, nil
}

type webhookNameInput struct {
	WebhookName string `json:"webhookName"`
	Name        string `json:"name"` // DeleteWebhook's member
}

// registration is what Register and Deregister need of a webhook: its
// GitHub repository and the target action's stored token.
func (s *Server) registration(name string) (*webhook, *source, *apiError) {
	var v violations
	v.check(name, "webhookName", ruleWebhookName)
	if err := v.err(); err != nil {
		return nil, nil, err
	}
	s.webhooks.mu.Lock()
	w := s.webhooks.hooks[name]
	s.webhooks.mu.Unlock()
	if w == nil {
		return nil, nil, newError(http.StatusBadRequest, typeWebhookNotFound, errWebhookNotFoundWords, name, s.account)
	}
	p := s.lookup(w.Definition.TargetPipeline)
	if p == nil {
		return nil, nil, errPipelineNotFound(s.account, w.Definition.TargetPipeline)
	}
	for _, src := range p.cur.Load().sources {
		if src.action == w.Definition.TargetAction && !src.v2() {
			return w, src, nil
		}
	}
	return nil, nil, newError(http.StatusBadRequest, typeValidation, "The target action '%s' of webhook %s is not a GitHub (version 1) source action", w.Definition.TargetAction, name)
}

func (s *Server) registerWebhook(ctx context.Context, in *webhookNameInput) (any, *apiError) {
	w, src, aerr := s.registration(in.WebhookName)
	if aerr != nil {
		return nil, aerr
	}
	s.webhooks.mu.Lock()
	done := w.GitHubHookID != 0
	s.webhooks.mu.Unlock()
	if done {
		return struct{}{}, nil
	}
	secret := ""
	if w.Definition.Authentication == "GITHUB_HMAC" {
		secret = w.Definition.AuthConfig.SecretToken
	}
	body, _ := json.Marshal(map[string]any{"name": "web", "active": true, "events": []string{"push"},
		"config": map[string]string{"url": w.URL, "content_type": "json", "secret": secret, "insecure_ssl": "0"}})
	repo := src.owner + "/" + src.repo
	status, out, reason := s.githubCall(ctx, http.MethodPost, "/repos/"+url.PathEscape(src.owner)+"/"+url.PathEscape(src.repo)+"/hooks", src, body)
	if status != http.StatusCreated {
		return nil, newError(http.StatusBadRequest, typeValidation, "Webhook could not be registered with GitHub. Error cause: %s", reason)
	}
	var hook struct {
		ID int64 `json:"id"`
	}
	if err := json.Unmarshal(out, &hook); err != nil || hook.ID == 0 {
		return nil, newError(http.StatusBadRequest, typeValidation, "Webhook could not be registered with GitHub. Error cause: unreadable answer")
	}
	s.webhooks.mu.Lock()
	w.GitHubHookID, w.GitHubRepo = hook.ID, repo
	s.webhooks.mu.Unlock()
	return struct{}{}, nil
}

func (s *Server) deregisterWebhook(ctx context.Context, in *webhookNameInput) (any, *apiError) {
	w, src, aerr := s.registration(in.WebhookName)
	if aerr != nil {
		return nil, aerr
	}
	s.webhooks.mu.Lock()
	id, repo := w.GitHubHookID, w.GitHubRepo
	s.webhooks.mu.Unlock()
	if id == 0 {
		return struct{}{}, nil // not registered: nothing to remove
	}
	owner, name, _ := strings.Cut(repo, "/")
	status, _, reason := s.githubCall(ctx, http.MethodDelete, "/repos/"+url.PathEscape(owner)+"/"+url.PathEscape(name)+"/hooks/"+strconv.FormatInt(id, 10), src, nil)
	if status != http.StatusNoContent && status != http.StatusNotFound {
		return nil, newError(http.StatusBadRequest, typeValidation, "Webhook could not be deregistered with GitHub. Error cause: %s", reason)
	}
	if status == http.StatusNotFound && !s.hookGone(ctx, owner, name, id, src) {
		// GitHub's 404 is the same for a hook already gone and for a token
		// that may not delete it.
		return nil, newError(http.StatusBadRequest, typeValidation, "Webhook could not be deregistered with GitHub. Error cause: %s", reason)
	}
	s.webhooks.mu.Lock()
	w.GitHubHookID, w.GitHubRepo = 0, ""
	s.webhooks.mu.Unlock()
	return struct{}{}, nil
}

// hookGone reports whether the token can list the repository's hooks and
// the hook is not among them.
func (s *Server) hookGone(ctx context.Context, owner, repo string, id int64, src *source) bool {
	status, body, _ := s.githubCall(ctx, http.MethodGet, "/repos/"+url.PathEscape(owner)+"/"+url.PathEscape(repo)+"/hooks", src, nil)
	var hooks []struct {
		ID int64 `json:"id"`
	}
	if status != http.StatusOK || json.Unmarshal(body, &hooks) != nil {
		return false
	}
	return !slices.ContainsFunc(hooks, func(h struct {
		ID int64 `json:"id"`
	}) bool {
		return h.ID == id
	})
}

func (s *Server) deleteWebhook(_ context.Context, in *webhookNameInput) (any, *apiError) {
	var v violations
	v.check(in.Name, "name", ruleWebhookName)
	if err := v.err(); err != nil {
		return nil, err
	}
	s.webhooks.mu.Lock()
	delete(s.webhooks.hooks, in.Name) // a missing webhook is not an error: the model declares none
	s.webhooks.mu.Unlock()
	return struct{}{}, nil
}

// githubCall calls GitHub's REST API with a version 1 action's token. The
// reason is empty on a 2xx answer.
func (s *Server) githubCall(ctx context.Context, method, path string, src *source, body []byte) (int, []byte, string) {
	req, err := http.NewRequestWithContext(ctx, method, s.githubURL+path, bytes.NewReader(body))
	if err != nil {
		return 0, nil, "bad URL"
	}
	req.Header.Set("Authorization", "token "+src.token.Reveal())
	req.Header.Set("Accept", "application/vnd.github+json")
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "CodePipeline-emulator")
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, nil, transportReason(err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	_, _ = buf.ReadFrom(resp.Body)
	if resp.StatusCode/100 == 2 {
		return resp.StatusCode, buf.Bytes(), ""
	}
	var msg struct {
		Message string `json:"message"`
	}
	_ = json.Unmarshal(buf.Bytes(), &msg)
	return resp.StatusCode, buf.Bytes(), fmt.Sprintf("%s [StatusCode: %d]", clip(msg.Message), resp.StatusCode)
}

// Webhook is a webhook as the Go API shows it.
type Webhook struct {
	Name, Pipeline, Action string
	// GitHubHookID is the repository hook RegisterWebhookWithThirdParty
	// made (0: not registered).
	GitHubHookID int64
}

// Webhooks lists this account and region's webhooks by name.
func (s *Server) Webhooks() []Webhook {
	s.webhooks.mu.Lock()
	defer s.webhooks.mu.Unlock()
	out := make([]Webhook, 0, len(s.webhooks.hooks))
	for _, w := range s.webhooks.hooks {
		out = append(out, Webhook{Name: w.Definition.Name, Pipeline: w.Definition.TargetPipeline, Action: w.Definition.TargetAction, GitHubHookID: w.GitHubHookID})
	}
	slices.SortFunc(out, func(a, b Webhook) int { return strings.Compare(a.Name, b.Name) })
	return out
}
