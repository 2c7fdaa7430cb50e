// Package github is a GitHub-compatible REST API for tests and rehearsals:
// users, organisations, repositories and who may read them; classic and
// fine-grained personal access tokens and organisations' policy on them;
// GitHub Apps, their installations, installation tokens and user tokens
// (the device flow and single-use refresh tokens, on github.com's /login/
// paths); Actions and Dependabot secrets sealed for real public keys;
// workflows whose runs use a secret; credential revocation by each
// token's route; rate limits; and an admin API that plays GitHub's web UI
// and the person at the keyboard. go-github (v93) works against it
// unchanged, and it is strict where GitHub is strict. docs/emulator.md
// names the GitHub documentation page each behaviour follows.
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
//	credentials_revoke_rate_limit: 60 # POST /credentials/revoke's own, per client IP per hour
//	orgs:
//	  - {login: acme, owners: [MyGitHubUserName], members: [bob], fine_grained_max_lifetime: 90d}
//	repos:  # (continued) environments and workflows
//	  - owner: acme
//	    name: deploy
//	    environments: [production]
//	    workflows:
//	      - {file: check.yml, job: {secret: GH_TOKEN, reads: MyGitHubUserName/test-repo}, queue_time: 2s, run_time: 5s}
//	apps:   # (continued) user tokens
//	  - {name: rotor-user, owner: MyGitHubUserName, device_flow: true, client_secret: <40 hex>, installations: [...]}
//
// Every name must be declared before use: a repository's owner and
// collaborators, a token's user and repositories, an app's owner and its
// installations' accounts. Logins are unique ignoring case, as on GitHub.
//
//   - users: login only. Logins are letters, digits and single inner hyphens,
//     at most 39 characters.
//   - orgs: login (shared with users), owners (at least one; admin of the
//     organisation and its repositories), members (read on its
//     repositories: GitHub's default base permission),
//     fine_grained_max_lifetime (whole days 1d–366d, or off; absent means
//     GitHub's default, 366 days).
//   - repos: owner (a user or an organisation), name, private (default
//     false), branches (default [main]; the first is the default branch),
//     collaborators (users with write access besides the owner),
//     environments (names; each has secrets of its own), workflows (see
//     WorkflowSpec: file, name, on (default [workflow_dispatch]), inputs,
//     environment, job {secret, reads}, queue_time, run_time). Anyone, with
//     or without credentials, reads a public repository.
//   - tokens: user; kind "classic" (ghp_, the default) or "fine-grained"
//     (github_pat_); note; scopes (classic only; GitHub's scope names, checked;
//     "repo" is what private repositories need, parents imply children);
//     repositories ("owner/name", fine-grained only; the user must be able to
//     see them; none means public repositories only) and permissions
//     ({name: read|write|admin}, fine-grained only; contents:read is what a
//     fetch needs, metadata:read is implied; organisation permissions such
//     as organization_secrets too); resource_owner (fine-grained only: the
//     user or an organisation the user belongs to; default the owner of the
//     first repository; an organisation grants it at once, and its token
//     API lists that grant); expires_in (a Go duration such
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
//     not exceed them); device_flow (the "Enable Device Flow" setting, off by
//     default as on GitHub); client_secret (optional, 40 lower-case hex
//     digits). Each app gets a fresh RSA key (Options.KeyGen), an id, a
//     client id ("Iv23li…") and installation ids. Accounts may be
//     organisations.
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
//	GET    /user/repos                                 repositories the token's user has a role on and the token sees (filters not modelled)
//	GET    /orgs/{org}/repos                           the organisation's repositories the caller can see; 404 unknown organisation
//	GET    /repos/{owner}/{repo}/tarball/{ref...}      302 to a short-lived download URL (under /_codeload/, standing
//	                                                   for codeload.github.com) of a branch (name, heads/…, refs/heads/…)
//	                                                   or head commit SHA as a gzip tar
//	GET    /rate_limit                                 the caller's budget; not counted against it
//	POST   /credentials/revoke                         {"credentials": [...]}: unauthenticated only
//	GET    /installation/repositories                  an installation token's repositories (paginated: per_page, page, Link)
//	DELETE /installation/token                         revokes the installation token that authenticates the call → 204
//	GET    /app                                        the app of the JWT
//	GET    /app/installations                          its installations
//	GET    /app/installations/{id}                     one of them
//	POST   /app/installations/{id}/access_tokens       mint an installation token → 201
//
//	GET|PUT|DELETE and list, for S in actions and dependabot:
//	GET    /repos/{owner}/{repo}/S/secrets/public-key  {key_id, key}: the scope's Curve25519 key
//	GET    /repos/{owner}/{repo}/S/secrets             {total_count, secrets} (paginated)
//	GET    /repos/{owner}/{repo}/S/secrets/{name}      {name, created_at, updated_at}
//	PUT    /repos/{owner}/{repo}/S/secrets/{name}      {encrypted_value, key_id} → 201 created, 204 updated
//	DELETE /repos/{owner}/{repo}/S/secrets/{name}      → 204
//	…/orgs/{org}/S/secrets…                            the same, plus visibility and selected repositories:
//	GET|PUT /orgs/{org}/S/secrets/{name}/repositories, PUT|DELETE …/repositories/{repository_id}
//	…/repos/{owner}/{repo}/environments/{env}/secrets… Actions only
//	GET    /repos/{owner}/{repo}/environments          {total_count, environments}: the declared ones (paginated)
//	GET    /repos/{owner}/{repo}/actions/organization-secrets   the organisation's secrets the repository may use
//	POST   /repos/{owner}/{repo}/actions/workflows/{id or file}/dispatches  {ref, inputs, return_run_details}
//	                                                   → 204 (200 {workflow_run_id, run_url, html_url} when asked)
//	GET    /repos/{owner}/{repo}/actions/runs          event, status (or conclusion), created, branch, actor,
//	                                                   head_sha; newest first, paginated
//	GET    /repos/{owner}/{repo}/actions/runs/{id}     the run: queued, in_progress, completed and its conclusion
//	GET    /orgs/{org}/personal-access-tokens          the organisation's fine-grained token grants (an app's
//	                                                   installation token with organization_personal_access_tokens)
//	POST   /orgs/{org}/personal-access-tokens          {action: revoke, pat_ids} → 202
//	POST   /orgs/{org}/personal-access-tokens/{pat_id} {action: revoke} → 204
//	POST   /login/device/code                          github.com's: {client_id} → device_code, user_code, …
//	POST   /login/oauth/access_token                   github.com's: the device flow's poll and the refresh grant
//
// Authentication: "Authorization: token X", "Bearer X", or Basic with the
// token as password. Personal tokens (ghp_, github_pat_), GitHub App user
// tokens (ghu_) and installation tokens (ghs_) authenticate the routes
// above except /app…, which take an app JWT, /credentials/revoke, which
// takes nothing, and /login/…, which take the app's client id (and
// secret) as parameters. A refresh token (ghr_) is no API credential (401). An unknown, revoked,
// expired, regenerated-away or deleted token gets 401
// {"message":"Bad credentials","documentation_url":"https://docs.github.com/rest"}.
// Each successful authentication records the personal token's last use.
//
// Who reads what: a public repository, anyone. A private repository: a
// classic token whose user has a role on it (owner, collaborator, or owner
// or member of its organisation) and that has the repo scope; a
// fine-grained token whose user has a role and that lists the repository
// (whose organisation has not revoked its grant; for the tarball,
// contents:read); an installation token whose installation (and
// narrowing) covers it (for the tarball, contents:read); a user token
// whose user has a role and whose app is installed for it (for the
// tarball, contents:read). Anything else is a 404 "Not Found", as GitHub
// hides private repositories. Authorize gives the same answer as the
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
// it as *AcceptedError). Known ghp_, github_pat_, ghu_ and ghr_ values are
// revoked at once, for good (a ghu_ and its ghr_ are one grant: revoking
// either ends both); unknown values, gho_ (OAuth apps are not modelled) and
// ghs_ tokens are ignored, as GitHub does. An Authorization header → 403.
// Missing, empty, oversized or mistyped lists → 422; malformed JSON → 400
// "Problems parsing JSON". The route has its own budget, 60 calls an hour
// per client address (World.CredentialsRevokeRateLimit), shown with
// X-RateLimit-Resource "credentials_revoke" (GitHub documents the limit,
// not a name) and refused beyond with 403 and X-RateLimit-Remaining 0,
// revoking nothing. (go-github files the route under core and, once the
// budget is spent, stops that client's further requests by itself until
// the reset.)
//
// Secrets: each repository, environment and organisation has an Actions
// and a Dependabot key pair (Curve25519, made when first asked for, new
// after RotateSecretKey). PUT opens the sealed box with the private half
// (x/crypto/nacl/box OpenAnonymous, libsodium's crypto_box_seal): a key_id
// that is not the current one, another key's box or bytes that are no box
// → 422 "Bad request - validation failed due to an improperly encrypted
// secret"; encrypted_value not base64 → 422 (the value is not echoed);
// missing key_id or encrypted_value → 422; names are GitHub's (letters,
// digits, _, not a digit first, not GITHUB_…), kept upper-case; values up
// to 48 KB. The decrypted value stays in the state; no answer carries it
// (the admin API shows a fingerprint). Organisation secrets take
// visibility all|private|selected (required) and selected_repository_ids
// (numbers or numeric strings; only with selected; the organisation's
// repositories), and may change access without a new value. Who may:
// repository and environment secrets — a classic token with repo of a
// user with write access (the public key: read access), a fine-grained
// token listing the repository with secrets (Dependabot:
// dependabot_secrets) read or write, an installation or user token whose
// app has it (environment secrets: environments too, at the same level);
// organisation secrets — a classic token with admin:org of an
// owner, a fine-grained token of the organisation with
// organization_secrets (organization_dependabot_secrets), an app
// installed on the organisation with it. Refusals: 404 where the caller
// cannot see the resource or a classic token lacks the scope; 403
// "Resource not accessible by personal access token" / "… by integration"
// for a missing permission; 403 "Must have admin rights to Repository."
// (Organization.) for a user whose role falls short.
//
// Workflows: a run of a dispatched workflow is queued for queue_time, in
// progress for run_time (both default 0), then completed. Its job runs
// when the run leaves the queue, with the state of that instant (every
// request and Go-level change first runs the jobs that are due): it
// resolves the secret (environment, then repository, then an organisation
// secret the repository may use) and fetches job.reads with its value as
// Authorize does, so a revoked, expired, regenerated-away, under-scoped or
// policy-blocked token, or a missing secret, fails the run (conclusion
// failure; the admin API says why, never with the token). Dispatch needs
// write access (classic repo, actions:write); runs of a public repository
// are anyone's to read. Refusals: unknown workflow 404, no
// workflow_dispatch trigger, unknown ref, unexpected or missing inputs 422
// with GitHub's messages.
//
// User tokens (github.com): POST /login/device/code {client_id} answers
// device_code, user_code, verification_uri (…/login/device), expires_in
// 900 and interval 5, form-encoded unless Accept asks for JSON; an app
// without device flow → 400 device_flow_disabled; an unknown client → 404.
// POST /login/oauth/access_token answers errors with status 200, as
// GitHub does: grant_type urn:ietf:params:oauth:grant-type:device_code
// polls (authorization_pending; slow_down with the new interval, 5 s
// more, when polled within the interval; expired_token after 900 s;
// access_denied; incorrect_device_code; then the tokens once);
// grant_type refresh_token with client_id, client_secret (optional for a
// grant that began with the device flow) and refresh_token rotates the
// pair: the used ghr_ and its ghu_ die at once and the answer holds the
// only copy of the next ghr_; a used, expired, revoked or unknown refresh
// token → bad_refresh_token, which changes nothing; a wrong secret →
// incorrect_client_credentials. Tokens: access_token (ghu_, expires_in
// 28800), refresh_token (ghr_, refresh_token_expires_in 15811200),
// scope "", token_type bearer. A ghu_ acts as its user, within what the
// app's installation on the resource's account is granted.
//
// Organisations' fine-grained tokens: GET /orgs/{org}/personal-access-tokens
// lists the grants of live tokens (organization-programmatic-access-grant:
// token_id, token_name, token_expired, token_expires_at,
// token_last_used_at, …; filters owner[], repository, permission,
// last_used_before/after, token_id[], direction); POST revokes some (all or
// none, 404 for an id that is not a live grant) → 202, or one → 204. Only
// an installation token of an app installed on the organisation with
// organization_personal_access_tokens (read to list, write to revoke).
// Revoking ends the token's access to the organisation's resources, not
// the token: GET /user still answers 200.
//
// Token policy: an organisation's fine_grained_max_lifetime refuses, with
// 403 and GitHub's message ("The 'acme' organization forbids access via a
// fine-grained personal access tokens if the token's lifetime is greater
// than 90 days. Please adjust your token's lifetime at the following URL:
// …/settings/personal-access-tokens/ID"), a fine-grained token of one of
// its members whose lifetime (expiry minus creation; none means longer
// than any) exceeds it, on every route under /repos/{org}/… and
// /orgs/{org}/…, public repositories included, and in Authorize. The token
// is not revoked and works elsewhere.
//
// Time: Options.Clock, plus whatever Advance (POST /_emulator/clock) has
// added: token, device code and user token expiry, rate-limit windows,
// runs and JWT checks all follow it.
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
//	POST   /_emulator/tokens[?output=value]  {user, kind, note, scopes, repositories, permissions, expires_in}
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
//	POST   /_emulator/orgs                   {login, owners, members, fine_grained_max_lifetime} → 201
//	GET    /_emulator/org-grants             every organisation grant, revoked ones too
//	GET    /_emulator/secrets                [SecretInfo]: scope, name, times, visibility, fingerprint of the
//	                                           value; never the value
//	POST   /_emulator/secrets/rotate-key     {service, level, account, repo, environment} → {key_id}: a new key;
//	                                           boxes for the old one are refused from now on
//	GET    /_emulator/runs                   [RunInfo]: workflow runs with status, conclusion and why a job failed
//	POST   /_emulator/device/approve         {user_code, login}: the person enters the code and authorizes the app
//	POST   /_emulator/device/deny            {user_code}: the person cancels
//	POST   /_emulator/apps/{name}/client-secrets → 201 {client_secret}: shown once
//	POST   /_emulator/user-tokens            {app, login} → 201 a ghu_/ghr_ pair as the web flow would give (refreshed
//	                                           with the client secret); the only time the values are shown
//	GET    /_emulator/user-tokens            [UserTokenInfo]: fingerprints and state (active, expired,
//	                                           refresh_expired, refreshed, revoked)
//	GET    /_emulator/clock                  {now}
//	POST   /_emulator/clock                  {advance: "8h"|"183d"} → {now}: forward only
//	GET|PUT /_emulator/faults/rules          fault rules of service "github" (fault.AdminHandler)
//	GET|DELETE /_emulator/faults/counts      requests, throttled, server errors, failures per route
//
// The Go methods behind them (CreateUser, CreateOrg, CreateRepo,
// CreateToken, Regenerate, DeleteToken, Tokens, CreateApp, DescribeApp,
// Secrets, RotateSecretKey, Runs, ApproveDevice, DenyDevice,
// CreateClientSecret, CreateUserToken, UserTokens, OrgGrants, Advance) are
// for tests and the other emulator, with App and AppPrivateKeyPEM to sign
// JWTs and Authorize to decide whether a CodePipeline source fetch works.
//
// # State
//
// Snapshot returns the whole state as JSON and Restore replaces the state
// with one; `rotor emulator --state FILE` keeps it across runs. That file is
// the emulated GitHub's database: it holds token values and app private
// keys, secret values, Actions key pairs and user tokens in the clear, so
// it is written 0600 and never committed (format version 2; version 1
// files load). Rate-limit windows, fault rules and the clock's Advance are
// not part of it; dead installation tokens are dropped.
package github
