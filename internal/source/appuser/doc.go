// Package appuser is the github-app-user source: a GitHub App user token
// (ghu_, 8 hours) that rotor renews with its refresh token (ghr_, about six
// months, usable once).
//
// A refresh ends the used refresh token and its user token at once, and its
// answer holds the only copy of the next refresh token. So the source
// records, in the store, that a refresh is under way before sending it, and
// seals and records the answer before anything else happens. A process that
// dies between the two leaves the grant "refreshing"; the next Mint tries
// the same refresh token again: GitHub either answers (the first request
// never reached it) or refuses it (it was used), and then the grant is
// "lost" and the run fails with ErrPersonNeeded and the exact command to
// run: rotor authorize NAME, the device flow, which gives a new pair.
package appuser
