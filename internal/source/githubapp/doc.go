// Package githubapp is the github-app source: GitHub App installation tokens
// (ghs_, one hour), minted by rotor itself with the app's private key and
// narrowed to the configured repositories and permissions. Fully automatic:
// no person is involved in a rotation, and rotor revokes what it minted.
package githubapp
