// Package personal is the personal-token source: classic (ghp_) and
// fine-grained (github_pat_) personal access tokens that a person creates in
// GitHub, since GitHub has no API to create them. rotor reads each new token
// from a hidden prompt or stdin (never argv), checks it against what every
// target needs, and revokes the old one through GitHub's credential
// revocation API, or, where GitHub has none, tells the person exactly which
// token to delete.
package personal
