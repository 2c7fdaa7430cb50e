package github

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
)

// The JSON shapes below are GitHub's as its OpenAPI description states
// them (simple-user, public-user, private-user, repository,
// full-repository): every required member is there, named and typed as
// the description has it, so that the conformance check
// (internal/emulator/conformance) passes them. Counts the emulator does not
// model (followers, stars, forks, …) are 0 and optional text is null.

// userJSON is simple-user: a user where another object mentions one.
type userJSON struct {
	Login             string `json:"login"`
	ID                int64  `json:"id"`
	NodeID            string `json:"node_id"`
	AvatarURL         string `json:"avatar_url"`
	GravatarID        string `json:"gravatar_id"`
	URL               string `json:"url"`
	HTMLURL           string `json:"html_url"`
	FollowersURL      string `json:"followers_url"`
	FollowingURL      string `json:"following_url"`
	GistsURL          string `json:"gists_url"`
	StarredURL        string `json:"starred_url"`
	SubscriptionsURL  string `json:"subscriptions_url"`
	OrganizationsURL  string `json:"organizations_url"`
	ReposURL          string `json:"repos_url"`
	EventsURL         string `json:"events_url"`
	ReceivedEventsURL string `json:"received_events_url"`
	Type              string `json:"type"`
	UserViewType      string `json:"user_view_type"`
	SiteAdmin         bool   `json:"site_admin"`
}

// fullUserJSON is public-user (GET /users/{username}) and, with the
// private members set, private-user (GET /user: the authenticated user
// sees their own account).
type fullUserJSON struct {
	userJSON
	Name        *string `json:"name"`
	Company     *string `json:"company"`
	Blog        *string `json:"blog"`
	Location    *string `json:"location"`
	Email       *string `json:"email"`
	Hireable    *bool   `json:"hireable"`
	Bio         *string `json:"bio"`
	PublicRepos int     `json:"public_repos"`
	PublicGists int     `json:"public_gists"`
	Followers   int     `json:"followers"`
	Following   int     `json:"following"`
	CreatedAt   string  `json:"created_at"`
	UpdatedAt   string  `json:"updated_at"`

	PrivateGists            *int  `json:"private_gists,omitempty"`
	TotalPrivateRepos       *int  `json:"total_private_repos,omitempty"`
	OwnedPrivateRepos       *int  `json:"owned_private_repos,omitempty"`
	DiskUsage               *int  `json:"disk_usage,omitempty"`
	Collaborators           *int  `json:"collaborators,omitempty"`
	TwoFactorAuthentication *bool `json:"two_factor_authentication,omitempty"`
}

type repoPerms struct {
	Admin    bool `json:"admin"`
	Maintain bool `json:"maintain"`
	Push     bool `json:"push"`
	Triage   bool `json:"triage"`
	Pull     bool `json:"pull"`
}

// repoJSON is repository and full-repository (the latter adds
// has_discussions, network_count and subscribers_count; both allow the
// other's members).
type repoJSON struct {
	ID               int64      `json:"id"`
	NodeID           string     `json:"node_id"`
	Name             string     `json:"name"`
	FullName         string     `json:"full_name"`
	Private          bool       `json:"private"`
	Visibility       string     `json:"visibility"`
	Owner            userJSON   `json:"owner"`
	HTMLURL          string     `json:"html_url"`
	Description      *string    `json:"description"`
	Fork             bool       `json:"fork"`
	URL              string     `json:"url"`
	ArchiveURL       string     `json:"archive_url"`
	AssigneesURL     string     `json:"assignees_url"`
	BlobsURL         string     `json:"blobs_url"`
	BranchesURL      string     `json:"branches_url"`
	CollaboratorsURL string     `json:"collaborators_url"`
	CommentsURL      string     `json:"comments_url"`
	CommitsURL       string     `json:"commits_url"`
	CompareURL       string     `json:"compare_url"`
	ContentsURL      string     `json:"contents_url"`
	ContributorsURL  string     `json:"contributors_url"`
	DeploymentsURL   string     `json:"deployments_url"`
	DownloadsURL     string     `json:"downloads_url"`
	EventsURL        string     `json:"events_url"`
	ForksURL         string     `json:"forks_url"`
	GitCommitsURL    string     `json:"git_commits_url"`
	GitRefsURL       string     `json:"git_refs_url"`
	GitTagsURL       string     `json:"git_tags_url"`
	GitURL           string     `json:"git_url"`
	IssueCommentURL  string     `json:"issue_comment_url"`
	IssueEventsURL   string     `json:"issue_events_url"`
	IssuesURL        string     `json:"issues_url"`
	KeysURL          string     `json:"keys_url"`
	LabelsURL        string     `json:"labels_url"`
	LanguagesURL     string     `json:"languages_url"`
	MergesURL        string     `json:"merges_url"`
	MilestonesURL    string     `json:"milestones_url"`
	NotificationsURL string     `json:"notifications_url"`
	PullsURL         string     `json:"pulls_url"`
	ReleasesURL      string     `json:"releases_url"`
	SSHURL           string     `json:"ssh_url"`
	StargazersURL    string     `json:"stargazers_url"`
	StatusesURL      string     `json:"statuses_url"`
	SubscribersURL   string     `json:"subscribers_url"`
	SubscriptionURL  string     `json:"subscription_url"`
	TagsURL          string     `json:"tags_url"`
	TeamsURL         string     `json:"teams_url"`
	TreesURL         string     `json:"trees_url"`
	CloneURL         string     `json:"clone_url"`
	MirrorURL        *string    `json:"mirror_url"`
	HooksURL         string     `json:"hooks_url"`
	SVNURL           string     `json:"svn_url"`
	Homepage         *string    `json:"homepage"`
	Language         *string    `json:"language"`
	License          *struct{}  `json:"license"`
	ForksCount       int        `json:"forks_count"`
	Forks            int        `json:"forks"`
	StargazersCount  int        `json:"stargazers_count"`
	WatchersCount    int        `json:"watchers_count"`
	Watchers         int        `json:"watchers"`
	SubscribersCount int        `json:"subscribers_count"`
	NetworkCount     int        `json:"network_count"`
	Size             int        `json:"size"`
	DefaultBranch    string     `json:"default_branch"`
	OpenIssuesCount  int        `json:"open_issues_count"`
	OpenIssues       int        `json:"open_issues"`
	IsTemplate       bool       `json:"is_template"`
	Topics           []string   `json:"topics"`
	HasIssues        bool       `json:"has_issues"`
	HasProjects      bool       `json:"has_projects"`
	HasWiki          bool       `json:"has_wiki"`
	HasPages         bool       `json:"has_pages"`
	HasDownloads     bool       `json:"has_downloads"`
	HasDiscussions   bool       `json:"has_discussions"`
	Archived         bool       `json:"archived"`
	Disabled         bool       `json:"disabled"`
	PushedAt         string     `json:"pushed_at"`
	CreatedAt        string     `json:"created_at"`
	UpdatedAt        string     `json:"updated_at"`
	Permissions      *repoPerms `json:"permissions,omitempty"`
	// Settings and the organization, as the recorded get-repository
	// exchange has them (the emulator models neither: GitHub's defaults).
	Organization              *userJSON `json:"organization"`
	TempCloneToken            string    `json:"temp_clone_token"`
	AllowForking              bool      `json:"allow_forking"`
	AllowMergeCommit          bool      `json:"allow_merge_commit"`
	AllowSquashMerge          bool      `json:"allow_squash_merge"`
	AllowRebaseMerge          bool      `json:"allow_rebase_merge"`
	AllowAutoMerge            bool      `json:"allow_auto_merge"`
	AllowUpdateBranch         bool      `json:"allow_update_branch"`
	DeleteBranchOnMerge       bool      `json:"delete_branch_on_merge"`
	UseSquashPRTitleAsDefault bool      `json:"use_squash_pr_title_as_default"`
	WebCommitSignoffRequired  bool      `json:"web_commit_signoff_required"`
}

func nodeID(prefix string, id int64) string {
	return prefix + "_" + base64.RawURLEncoding.EncodeToString([]byte(fmt.Sprint(id)))
}

func htmlURL(r *http.Request, path string) string {
	return strings.TrimSuffix(apiURL(r, ""), "/api/v3") + path
}

func renderUser(r *http.Request, u *user) userJSON {
	api := apiURL(r, "/users/"+u.Login)
	return userJSON{
		Login: u.Login, ID: u.ID, NodeID: nodeID("U", u.ID),
		AvatarURL: htmlURL(r, "/"+u.Login+".png"), URL: api, HTMLURL: htmlURL(r, "/"+u.Login),
		FollowersURL: api + "/followers", FollowingURL: api + "/following{/other_user}", GistsURL: api + "/gists{/gist_id}",
		StarredURL: api + "/starred{/owner}{/repo}", SubscriptionsURL: api + "/subscriptions", OrganizationsURL: api + "/orgs",
		ReposURL: api + "/repos", EventsURL: api + "/events{/privacy}", ReceivedEventsURL: api + "/received_events",
		Type: u.typeName(), UserViewType: "public",
	}
}

// renderFullUser is public-user, or private-user when own is set (the
// token's own account: GET /user). Callers hold s.mu.
func (s *Server) renderFullUser(r *http.Request, u *user, own bool) fullUserJSON {
	j := fullUserJSON{userJSON: renderUser(r, u), CreatedAt: ts(u.CreatedAt), UpdatedAt: ts(u.CreatedAt)}
	private := 0
	for _, rp := range s.st.repos {
		if strings.EqualFold(rp.Owner, u.Login) {
			if rp.Private {
				private++
			} else {
				j.PublicRepos++
			}
		}
	}
	if own {
		zero, no := 0, false
		j.UserViewType = "private"
		j.PrivateGists, j.DiskUsage, j.Collaborators = &zero, &zero, &zero
		j.TotalPrivateRepos, j.OwnedPrivateRepos = &private, &private
		j.TwoFactorAuthentication = &no
	}
	return j
}

// renderRepo renders rp as p sees it. Callers hold s.mu.
func (s *Server) renderRepo(r *http.Request, rp *repo, p *principal) repoJSON {
	owner := s.st.user(rp.Owner)
	if owner == nil {
		owner = &user{Login: rp.Owner}
	}
	vis := "public"
	if rp.Private {
		vis = "private"
	}
	full := rp.fullName()
	api := apiURL(r, "/repos/"+full)
	html := htmlURL(r, "/"+full)
	j := repoJSON{
		ID: rp.ID, NodeID: nodeID("R", rp.ID), Name: rp.Name, FullName: full, Private: rp.Private, Visibility: vis,
		Owner: renderUser(r, owner), HTMLURL: html, URL: api,
		ArchiveURL: api + "/{archive_format}{/ref}", AssigneesURL: api + "/assignees{/user}", BlobsURL: api + "/git/blobs{/sha}",
		BranchesURL: api + "/branches{/branch}", CollaboratorsURL: api + "/collaborators{/collaborator}",
		CommentsURL: api + "/comments{/number}", CommitsURL: api + "/commits{/sha}", CompareURL: api + "/compare/{base}...{head}",
		ContentsURL: api + "/contents/{+path}", ContributorsURL: api + "/contributors", DeploymentsURL: api + "/deployments",
		DownloadsURL: api + "/downloads", EventsURL: api + "/events", ForksURL: api + "/forks",
		GitCommitsURL: api + "/git/commits{/sha}", GitRefsURL: api + "/git/refs{/sha}", GitTagsURL: api + "/git/tags{/sha}",
		GitURL:          "git:" + strings.TrimPrefix(strings.TrimPrefix(html, "http:"), "https:") + ".git",
		IssueCommentURL: api + "/issues/comments{/number}", IssueEventsURL: api + "/issues/events{/number}",
		IssuesURL: api + "/issues{/number}", KeysURL: api + "/keys{/key_id}", LabelsURL: api + "/labels{/name}",
		LanguagesURL: api + "/languages", MergesURL: api + "/merges", MilestonesURL: api + "/milestones{/number}",
		NotificationsURL: api + "/notifications{?since,all,participating}", PullsURL: api + "/pulls{/number}",
		ReleasesURL: api + "/releases{/id}", SSHURL: "git@" + r.Host + ":" + full + ".git", StargazersURL: api + "/stargazers",
		StatusesURL: api + "/statuses/{sha}", SubscribersURL: api + "/subscribers", SubscriptionURL: api + "/subscription",
		TagsURL: api + "/tags", TeamsURL: api + "/teams", TreesURL: api + "/git/trees{/sha}", CloneURL: html + ".git",
		HooksURL: api + "/hooks", SVNURL: html, DefaultBranch: rp.defaultBranch(), Topics: []string{},
		HasIssues: true, HasProjects: true, HasWiki: true, HasDownloads: true,
		AllowForking: true, AllowMergeCommit: true, AllowSquashMerge: true, AllowRebaseMerge: true,
		CreatedAt: ts(rp.CreatedAt), UpdatedAt: ts(rp.CreatedAt), PushedAt: ts(rp.CreatedAt),
	}
	if p != nil {
		j.Permissions = s.repoPermissions(rp, p)
	}
	return j
}

// repoPermissions is the permissions object of a repository for p: the
// user's role for a personal token, the token's grants for an installation.
func (s *Server) repoPermissions(rp *repo, p *principal) *repoPerms {
	switch p.kind {
	case byPAT, byUserToken:
		switch s.st.role(rp, p.user) {
		case roleAdmin:
			return &repoPerms{Admin: true, Maintain: true, Push: true, Triage: true, Pull: true}
		case roleWrite:
			return &repoPerms{Push: true, Triage: true, Pull: true}
		}
		return &repoPerms{Pull: true}
	case byInstallation:
		return &repoPerms{
			Admin: grants(p.perms, "administration", "write"), Push: grants(p.perms, "contents", "write"),
			Triage: grants(p.perms, "issues", "write"), Pull: true,
		}
	}
	return nil
}
