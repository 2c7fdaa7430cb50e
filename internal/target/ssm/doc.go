// Package ssm is the rotor target that keeps a token in an AWS Systems
// Manager Parameter Store SecureString parameter.
//
// Each write is PutParameter with Overwrite, Type SecureString and the KMS
// key: the configured one, or else the key the parameter already has (an
// overwrite without a key id would silently move it to aws/ssm). The
// parameter's description, allowed pattern, tier and data type are sent
// back as they are, so only the value changes. Apply is idempotent: a
// parameter that already holds the token is not written again, so a retry
// does not add a version. Verify reads the parameter back with decryption.
//
// rotor does not create parameters: one that does not exist, or that is not
// a SecureString, is an error naming it. Rollback is Apply with the
// previous token (a new version), which is how Parameter Store moves back.
package ssm
