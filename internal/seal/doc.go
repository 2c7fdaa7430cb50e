// Package seal keeps token material encrypted at rest (invariant I6). A
// Sealer encrypts each token version to an age recipient; the matching
// identity lives in a key file that only its owner may read.
//
// Key specs come from the config's `key:` field. Today the one form is
// `file:PATH`, an age identity file as written by Generate (or age-keygen).
package seal
