// Package actionssecret is the rotor target that keeps a token in GitHub
// Actions secrets (repository, environment and organisation secrets) or,
// as an option, in Dependabot secrets.
//
// Each write reads the place's public key, seals the token for it with a
// libsodium sealed box (nacl/box's anonymous sealing, which GitHub opens)
// and sends it with the key's id; when GitHub cannot open the box because
// the key changed between the read and the write, the key is read again and
// the write retried (a bounded number of times). An organisation secret is
// written with the visibility and, for "selected", the repositories it has
// at that moment, read just before the write, so its access stays as it is.
//
// GitHub never shows a secret's value, so a secret cannot be read back.
// Verify checks instead that the secret's updated_at is the one GitHub gave
// rotor's own write (by GitHub's clock, never rotor's): a later one means
// someone else wrote the secret since. Where the target is configured with
// verify: workflow, Verify also dispatches a workflow (workflow_dispatch)
// whose job uses the secret, and waits, within a bound, for its run to
// succeed: that proves the token works from Actions. Rollback is Apply with
// the previous token.
//
// Discovery finds named secrets (repositories, an environment of each, an
// organisation) and, with match, every secret of the name in the
// repositories of an owner that the target's token can see. rotor does not
// create secrets unless create is set: a named secret that is missing is an
// error naming it.
//
// The target writes with its own token (a file the config names, or the
// installation tokens of a GitHub App it writes as, narrowed to the
// permissions and repositories it needs), not the token it rotates: writing secrets needs rights on the repositories
// (repo scope, or the secrets permission) that the rotated token should not
// need. Neither token appears in a log line or an error.
package actionssecret
