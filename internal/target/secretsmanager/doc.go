// Package secretsmanager is the rotor target that keeps a token in an AWS
// Secrets Manager secret, either as the whole SecretString or as one key of
// a JSON SecretString (the other keys kept as they are).
//
// It follows Secrets Manager's own rotation protocol and labels: the new
// value is written as a new version staged AWSPENDING, then AWSCURRENT moves
// to it (Secrets Manager moves AWSPREVIOUS to the version it left) and
// AWSPENDING is removed, as a managed rotation leaves a secret. The version
// id (ClientRequestToken) is derived from the secret id, the JSON key and the
// token's fingerprint, so a retried or resumed Apply finds its own version
// instead of writing another one.
//
// rotor does not create secrets: a secret that does not exist is an error
// naming it (create it, with the KMS key you want, first). A configured KMS
// key is an assertion that the secret is encrypted with that key; rotor never
// changes a secret's key.
//
// Rollback moves AWSCURRENT back to the version that holds the previous
// token, found by fingerprint, so it survives a crash between apply and
// rollback without any state of its own.
package secretsmanager
