// Package revoke revokes tokens by the route each kind needs, and confirms
// every revocation.
//
// Personal tokens (ghp_, github_pat_) and OAuth and GitHub App user tokens
// (gho_, ghu_) go through GitHub's credential revocation API, POST
// /credentials/revoke: unauthenticated, up to 1,000 tokens a call, but only
// 60 calls an hour. So they are queued in the store, shared by every run and
// every replica, and sent in batches as the hourly budget (also kept in the
// store) allows. After a call each token is tried with GET /user: GitHub
// must refuse it (401). One it still accepts is reported (an alert), and so
// is the case where GitHub accepted the revocation but the token lives on.
// A token that GitHub already refuses when its turn comes needs no call.
//
// Installation tokens (ghs_) revoke themselves (DELETE /installation/token,
// in source/githubapp). A fine-grained token's access to an organisation is
// also revoked, first, through the organisation's API when its credential
// names an app for it (Org, orgpat.go), and confirmed by the grant's
// absence from the organisation's list.
package revoke
