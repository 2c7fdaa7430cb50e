package codepipeline

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"

	token "github.com/rotor-ci/rotor/internal/emulator/ghtoken" // the emulators' own token code, not rotor's
)

// The GitHub (version 2) source action: CodeStarSourceConnection, which
// reads through a CodeConnections connection instead of a token
// (CodePipeline user guide, "CodeStarSourceConnection for Bitbucket Cloud,
// GitHub, GitHub Enterprise Server, GitLab.com, and GitLab self-managed
// actions").
const (
	propConnectionArn = "ConnectionArn"
	propFullRepoID    = "FullRepositoryId"
	propBranchName    = "BranchName"
	propOutputFormat  = "OutputArtifactFormat"
	propDetectChanges = "DetectChanges"
)

// connectionProperties are the action's configuration properties, in the
// order AWS checks them.
var connectionProperties = []property{{propConnectionArn, true}, {propFullRepoID, true}, {propBranchName, true}, {propOutputFormat, false}, {propDetectChanges, false}}

// isConnectionSource reports whether an action is the GitHub (version 2)
// source action.
func (a *Action) isConnectionSource() bool {
	t := a.ActionTypeID
	return t.Category == "Source" && t.Owner == "AWS" && t.Provider == "CodeStarSourceConnection" && t.Version == "1"
}

// validateConnectionSource checks the action's configuration and artifacts.
func validateConnectionSource(a *Action) *apiError {
	for _, p := range connectionProperties {
		if _, ok := a.Configuration[p.name]; p.required && !ok {
			return actionError("Action configuration for action '%s' is missing required configuration '%s'", a.Name, p.name)
		}
	}
	for _, k := range sortedKeys(a.Configuration) {
		if !slices.ContainsFunc(connectionProperties, func(p property) bool { return p.name == k }) {
			return actionError("Action configuration for action '%s' contains unknown configuration '%s'", a.Name, clip(k))
		}
	}
	c := a.Configuration
	if owner, repo, ok := strings.Cut(c[propFullRepoID], "/"); !ok || owner == "" || repo == "" || strings.Contains(repo, "/") {
		return actionError("Action configuration for action '%s' has an invalid value for configuration '%s': use owner/repository", a.Name, propFullRepoID)
	}
	if v, ok := c[propOutputFormat]; ok && v != "CODE_ZIP" && v != "CODEBUILD_CLONE_REF" {
		return actionError("Action configuration for action '%s' has an invalid value for configuration '%s': use CODE_ZIP or CODEBUILD_CLONE_REF", a.Name, propOutputFormat)
	}
	if v, ok := c[propDetectChanges]; ok && v != "true" && v != "false" {
		return actionError("Action configuration for action '%s' has an invalid value for configuration '%s': use true or false", a.Name, propDetectChanges)
	}
	if !reConnectionArn.MatchString(c[propConnectionArn]) {
		return actionError("Action configuration for action '%s' has an invalid value for configuration '%s': not a connection ARN", a.Name, propConnectionArn)
	}
	if n := len(a.InputArtifacts); n != 0 {
		return actionError("Action '%s' declares %d input artifacts; a source action takes none", a.Name, n)
	}
	if n := len(a.OutputArtifacts); n != 1 {
		return actionError("Action '%s' declares %d output artifacts; a source action must declare exactly 1", a.Name, n)
	}
	return nil
}

var reConnectionArn = regexp.MustCompile(`^arn:aws(-[\w]+)*:(codestar-connections|codeconnections):[a-z0-9-]+:[0-9]{12}:connection/.+$`)

// Connections is what the action asks of CodeConnections;
// *codeconnections.Server is one.
type Connections interface {
	// ConnectionStatus reports a connection's status (PENDING, AVAILABLE,
	// ERROR) and where it lives; ok is false when it does not exist.
	ConnectionStatus(arn string) (status, account, region string, ok bool)
	// InstallationToken is a token of the connection's GitHub App
	// installation, for fetching.
	InstallationToken(ctx context.Context, arn string) (token.Token, error)
}

// useConnectionAction is the IAM action a role needs on a connection: the
// connection ARN's own service prefix ("When specifying a resource in the
// IAM policy, the service prefix needs to match that of the resource",
// Developer Tools console user guide, "Connections rename - Summary of
// changes").
func useConnectionAction(arn string) string {
	if strings.HasPrefix(strings.TrimPrefix(arn, "arn:aws:"), "codeconnections:") {
		return "codeconnections:UseConnection"
	}
	return "codestar-connections:UseConnection"
}

// Messages of a GitHub (version 2) source action that cannot fetch. The
// first follows what AWS shows for a role without UseConnection; the
// others are the emulator's wording of the documented causes (a connection
// not AVAILABLE; a repository the installation cannot see; a branch that
// does not exist).
func errNoUseConnection(arn string) string {
	return "Unable to use Connection: " + arn + ". The provided role does not have sufficient permissions."
}

func errConnectionNotAvailable(arn, status string) string {
	return "Connection " + arn + " is not available: its status is " + status + ". Complete the connection in the console (Settings > Connections) first."
}

func errConnectionNotFound(arn string) string {
	return "Connection " + arn + " does not exist in this account and region."
}

func errRepositoryNotVisible(repo string) string {
	return "Could not access the repository " + repo + ": the repository does not exist, or the connection's GitHub App installation cannot see it."
}

func errBranchNotFound(repo, branch string) string {
	return "No Branch [" + branch + "] found for FullRepositoryName [" + repo + "]"
}

// fetchThroughConnection is the version 2 action's fetch: the pipeline's
// role must be allowed UseConnection on the connection, the connection
// must be AVAILABLE and in the pipeline's account and region, and the
// connection's installation must see the repository and its branch.
func (s *Server) fetchThroughConnection(ctx context.Context, src *source, role string) (tok token.Token, status int, reason, message string) {
	if s.accounts != nil && !s.accounts.Allowed(role, useConnectionAction(src.connection), src.connection) {
		return token.Token{}, 0, "the role " + role + " is not allowed " + useConnectionAction(src.connection), errNoUseConnection(src.connection)
	}
	conns := s.opts.Connections
	if conns == nil {
		return token.Token{}, 0, "no CodeConnections emulator is wired", errConnectionNotFound(src.connection)
	}
	st, acct, region, ok := conns.ConnectionStatus(src.connection)
	if !ok || acct != s.account || region != s.region {
		return token.Token{}, 0, "no such connection in " + s.account + "/" + s.region, errConnectionNotFound(src.connection)
	}
	if st != "AVAILABLE" {
		return token.Token{}, 0, "the connection is " + st, errConnectionNotAvailable(src.connection, st)
	}
	tok, err := conns.InstallationToken(ctx, src.connection)
	if err != nil {
		return token.Token{}, 0, clip(err.Error()), errConnectionNotAvailable(src.connection, "unusable")
	}
	full := src.owner + "/" + src.repo
	status, reason = s.get(ctx, tok, "/repos/"+url.PathEscape(src.owner)+"/"+url.PathEscape(src.repo))
	if status != http.StatusOK {
		return tok, status, reason, errRepositoryNotVisible(full)
	}
	return tok, 0, "", ""
}

// get is a GET on the GitHub API with a token; the body is dropped.
func (s *Server) get(ctx context.Context, tok token.Token, path string) (int, string) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.githubURL+path, nil)
	if err != nil {
		return 0, "bad URL"
	}
	req.Header.Set("Authorization", "token "+tok.Reveal())
	req.Header.Set("Accept", "application/vnd.github+json")
	req.Header.Set("User-Agent", "CodePipeline-emulator")
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, transportReason(err)
	}
	defer resp.Body.Close()
	_, reason := answerReason(resp)
	return resp.StatusCode, reason
}

var errNoRevision = errors.New("no revision")

// revisionOf reads the commit a tarball download came from: GitHub's
// download URL (and the emulator's) ends in the commit SHA, and the ETag
// carries it too.
func revisionOf(resp *http.Response) (string, error) {
	if etag := strings.Trim(resp.Header.Get("ETag"), `"`); len(etag) >= 7 && !strings.ContainsAny(etag, "/ ") {
		return etag, nil
	}
	if resp.Request != nil && resp.Request.URL != nil {
		p := resp.Request.URL.Path
		if i := strings.LastIndexByte(p, '/'); i >= 0 && len(p)-i > 8 {
			return p[i+1:], nil
		}
	}
	return "", fmt.Errorf("tarball: %w", errNoRevision)
}
