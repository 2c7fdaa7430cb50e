// Package seal keeps token material encrypted at rest (invariant I6).
//
// A Key seals each token version; its spec comes from the config's `key:`:
//
//   - file:PATH (the embedded default, file:rotor.key): an age identity in a
//     key file that only its owner may read; each version is an age file
//     encrypted to its recipient.
//   - awskms:ARN: envelope encryption with AWS KMS. Each version gets its
//     own AES-256 data key from GenerateDataKey; the token is encrypted
//     locally with it and only the KMS-encrypted copy of the data key is
//     kept beside the ciphertext. The plaintext data key is zeroed after use.
//
// Every sealed blob begins with its scheme's header (SchemeOf), so a blob
// says what opens it. A Keyring seals with the configured key and opens with
// it and with the keys listed under previous_keys: versions sealed before a
// key migration, and a mix of both during one, stay readable.
//
// Sealing binds each blob to the credential and version (by fingerprint) it
// belongs to (rotation.SealContext): with KMS through the encryption
// context, which KMS checks on Decrypt and CloudTrail records; with both
// schemes by checking the opened token's fingerprint. A blob copied to
// another credential's or version's row does not open.
package seal
