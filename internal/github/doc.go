// Package github is what rotor asks GitHub: who a token belongs to, its
// scopes and expiry, whether it can read a repository, installation tokens
// for GitHub Apps, and revocation. It speaks GitHub's REST API through
// go-github and works against github.com, GitHub Enterprise Server and the
// emulator alike (any base URL).
//
// Every token travels as a token.Token and reaches the wire only in the
// Authorization header (or, for revocation, in the request body GitHub
// requires). Errors never hold a header or a token value.
//
// Requests are retried inside a bound: server errors and network failures
// with exponential backoff, rate limits by waiting as GitHub says
// (retry-after, x-ratelimit-reset) when that wait is short enough. 401, 404
// and 422 are answers, never retried. A Client is safe for concurrent use.
package github
