// Package github is a GitHub-compatible REST API for tests and rehearsals:
// users, repositories and who may read them; classic and fine-grained
// personal access tokens; GitHub Apps, their installations and installation
// tokens; credential revocation; rate limits; and an admin API that plays
// GitHub's web UI. go-github (v93) works against it unchanged, and it is
// strict where GitHub is strict.
//
// A Server is an http.Handler. Tests start it with httptest.NewServer;
// `rotor emulator` serves it on 127.0.0.1. Point go-github at it with
//
//	github.NewClient(github.WithAuthToken(tok), github.WithEnterpriseURLs(url+"/", url+"/"))
//
// (which puts the API under /api/v3/) or with WithURLs(url+"/", …) (API at
// /); the emulator answers on both.
//
// # World
//
// The emulator's section of a world file is World (YAML or JSON):
//
//	users: [{login: MyGitHubUserName}]
//	repos:
//	  - {owner: MyGitHubUserName, name: test-repo, private: true, branches: [master], collaborators: []}
//	tokens:
//	  - {user: MyGitHubUserName, kind: classic, note: codepipeline, scopes: [repo, "admin:repo_hook"], value: ghp_..., expires_in: 720h}
//	  - {user: MyGitHubUserName, kind: fine-grained, repositories: [MyGitHubUserName/test-repo], permissions: {contents: read}, expires_in: 30d}
//	apps:
//	  - {name: rotor-ci, owner: MyGitHubUserName, permissions: {contents: read},
//	     installations: [{account: MyGitHubUserName, repositories: [test-repo]}]}
//	rate_limit: 5000                 # per token (and per app JWT) per hour; default 5000
//	unauthenticated_rate_limit: 60   # per client IP per hour; default 60
//
// Every name must be declared before use: a repository's owner and
// collaborators, a token's user and repositories, an app's owner and its
// installations' accounts. Logins are unique ignoring case, as on GitHub.
//
//   - users: login only. Logins are letters, digits and single inner hyphens,
//     at most 39 characters.
//   - repos: owner, name, private (default false), branches (default
//     [main]; the first is the default branch), collaborators (logins who may
//     read a private repository besides its owner). Anyone, with or without
//     credentials, reads a public repository.
//   - tokens: user; kind "classic" (ghp_, the default) or "fine-grained"
//     (github_pat_); note; scopes (classic only; GitHub's scope names, checked;
//     "repo" is what private repositories need, parents imply children);
//     repositories ("owner/name", fine-grained only; the user must be able to
//     see them; none means public repositories only) and permissions
//     ({name: read|write|admin}, fine-grained only; contents:read is what a
//     fetch needs, metadata:read is implied); expires_in (a Go duration such
//     as 720h, or days such as 30d; absent means the token never expires);
//     value (optional: a well-formed value with a valid checksum, of the
//     declared kind; generated when absent). A generated value is never
//     shown again except in a Snapshot, so give a value for tokens a test
//     must use, or create them with CreateToken or the admin API.
//   - apps: name (unique; its slug is the lowercased name with dashes),
//     owner, permissions (default contents:read and metadata:read),
//     installations: account, repositories (names of the account's
//     repositories, "name" or "account/name"; none means all of them, now and
//     later: repository_selection "all"), permissions (default the app's; must
//     not exceed them). Each app gets a fresh RSA key (Options.KeyGen), an id,
//     a client id ("Iv23li…") and installation ids.
//
// # REST API
//
// Each route below is also the operation name fault rules match (service
// "github"); a HEAD request shares its GET route's name. The resource of a
// /repos/{owner}/{repo}/… request is "owner/repo" as written in the path;
// other routes have none.
//
//	GET    /user                                       the token's user; 403 "Resource not accessible by integration" for installation tokens
//	GET    /users/{login}                              any user's public profile
//	GET    /repos/{owner}/{repo}                       the repository with a permissions object; 404 when the caller cannot see it
//	GET    /repos/{owner}/{repo}/branches/{branch...}  a branch and its head commit
//	GET    /repos/{owner}/{repo}/tarball               the default branch as a gzip tar
//	GET    /repos/{owner}/{repo}/tarball/{ref...}      a branch (name, heads/…, refs/heads/…) or head commit SHA as a gzip tar
//	GET    /rate_limit                                 the caller's budget; not counted against it
//	POST   /credentials/revoke                         {"credentials": [...]}: unauthenticated only
//	GET    /installation/repositories                  an installation token's repositories (paginated: per_page, page, Link)
//	DELETE /installation/token                         revokes the installation token that authenticates the call → 204
//	GET    /app                                        the app of the JWT
//	GET    /app/installations                          its installations
//	GET    /app/installations/{id}                     one of them
//	POST   /app/installations/{id}/access_tokens       mint an installation token → 201
//
// Authentication: "Authorization: token X", "Bearer X", or Basic with the
// token as password. Personal tokens (ghp_, github_pat_) and installation
// tokens (ghs_) authenticate the routes above except /app…, which take an
// app JWT, and /credentials/revoke, which takes nothing. An unknown, revoked,
// expired, regenerated-away or deleted token gets 401
// {"message":"Bad credentials","documentation_url":"https://docs.github.com/rest"}.
// Each successful authentication records the personal token's last use.
//
// Who reads what: a public repository, anyone. A private repository: a
// classic token whose user is the owner or a collaborator and that has the
// repo scope; a fine-grained token whose user is owner or collaborator and
// that lists the repository (and, for the tarball, has contents:read); an
// installation token whose installation (and narrowing) covers it (and, for
// the tarball, has contents:read). Anything else is a 404 "Not Found", as
// GitHub hides private repositories. Authorize gives the same answer as the
// tarball route, with a reason.
//
// Headers: every authenticated or anonymous response from a route carries
// X-RateLimit-Limit, -Remaining, -Used, -Reset (epoch seconds) and -Resource
// ("core"). Classic tokens get X-OAuth-Scopes (sorted, ", "-separated) and
// X-Accepted-OAuth-Scopes; fine-grained and installation tokens get
// X-Accepted-GitHub-Permissions where a route needs one. A credential that
// expires gets GitHub-Authentication-Token-Expiration ("2006-01-02 15:04:05
// UTC"), which go-github parses into Response.TokenExpiration. Every
// response has an X-GitHub-Request-Id.
//
// Rate limits: each personal token, installation token and app has its own
// hourly budget (World.RateLimit), counted from its first request; requests
// without credentials share a budget per client IP
// (World.UnauthenticatedRateLimit). Beyond it: 403, X-RateLimit-Remaining 0
// and "API rate limit exceeded for user ID n." (go-github: *RateLimitError).
// Windows restart with the process.
//
// Installation tokens: the JWT must be RS256, signed with the app's key,
// with iss the app id (number or string) or client id, iat no more than 60 s
// in the future, exp not passed and at most 10 minutes after iat (messages
// word for word GitHub's, 401). The body may narrow the token:
// "repositories" (names) and/or "repository_ids" (≤500) must lie within the
// installation, "permissions" within its grant, else 422. The 201 answer is
// {token, expires_at, permissions, repository_selection, repositories}; the
// token lives an hour; metadata:read is always granted.
//
// Credential revocation: POST /credentials/revoke with no Authorization
// header and {"credentials": [1..1000 strings]} → 202 {} (go-github reports
// it as *AcceptedError). Known ghp_ and github_pat_ values are revoked at
// once (state "revoked", for good); unknown values and ghs_ tokens are
// ignored, as GitHub does. An Authorization header → 403. Missing, empty,
// oversized or mistyped lists → 422; malformed JSON → 400 "Problems parsing
// JSON".
//
// The tarball is a real gzip tar as GitHub lays it out: a pax global header
// with the commit SHA, then owner-repo-sha7/ with README.md and
// buildspec.yml. It is answered directly with 200 (GitHub redirects to
// codeload with 302; go-github's GetArchiveLink therefore gets no URL here:
// fetch the tarball URL with a plain HTTP client). Commit SHAs are stable:
// derived from owner, name and branch.
//
// Strictness: bodies over 1 MiB → 413; a wrong type in a JSON body → 422;
// an unknown route, a wrong method, a trailing slash or an unclean path → 404
// {"message":"Not Found"} as GitHub answers. A panic in a handler becomes a
// 500 JSON answer; nothing blocks except an injected latency, which ends
// with the request's context. Serve it with read timeouts of your own.
//
// # Faults
//
// Every REST request (not the admin API) asks Options.Faults.Decide(ctx,
// "github", route, resource) first. Throttle → 403 with Retry-After: 1,
// "You have exceeded a secondary rate limit…" and a documentation URL ending
// in "secondary-rate-limits" (go-github: *AbuseRateLimitError); the primary
// budget is neither spent nor shown as exhausted. ServerError → 502.
// Fail → 500. Latency delays the answer.
//
// # Admin API
//
// Under /_emulator/, JSON in and out, no authentication (the emulator
// listens on 127.0.0.1), never faulted. Unknown fields in a body are 400;
// missing things 404, duplicates 409, invalid values 422, as
// {"message": "…"}.
//
//	POST   /_emulator/users                  {login} → 201
//	POST   /_emulator/repos                  {owner, name, private, branches, collaborators} → 201
//	POST   /_emulator/tokens                 {user, kind, note, scopes, repositories, permissions, expires_in}
//	                                         → 201 TokenInfo + "value": the only time the value is shown
//	GET    /_emulator/tokens                 → [TokenInfo]: id, user, kind, note, scopes, repositories,
//	                                           permissions, fingerprint, state (active|revoked|expired),
//	                                           created_at, expires_at, last_used_at; never a value
//	POST   /_emulator/tokens/{id}/regenerate → 200 TokenInfo + "value"; the old value is dead at once,
//	                                           an expiring token gets its lifetime again from now;
//	                                           409 for a revoked token
//	DELETE /_emulator/tokens/{id}            → 204; the value is dead at once and the token unlisted
//	POST   /_emulator/apps                   {name, owner, permissions, installations} → 201 AppInfo +
//	                                           "installation_ids" + "private_key_pem" (PKCS#1): the only
//	                                           time the key is shown over HTTP
//	GET    /_emulator/apps/{name}            → AppInfo (id, slug, name, client_id, owner, permissions,
//	                                           installations), no key
//	GET|PUT /_emulator/faults/rules          fault rules of service "github" (fault.AdminHandler)
//	GET|DELETE /_emulator/faults/counts      requests, throttled, server errors, failures per route
//
// The Go methods behind them (CreateUser, CreateRepo, CreateToken,
// Regenerate, DeleteToken, Tokens, CreateApp, DescribeApp) are for tests and
// the other emulator, with App and AppPrivateKeyPEM to sign JWTs and
// Authorize to decide whether a CodePipeline source fetch works.
//
// # State
//
// Snapshot returns the whole state as JSON and Restore replaces the state
// with one; `rotor emulator --state FILE` keeps it across runs. That file is
// the emulated GitHub's database: it holds token values and app private
// keys in the clear, so it is written 0600 and never committed. Rate-limit
// windows and fault rules are not part of it; dead installation tokens are
// dropped.
package github
