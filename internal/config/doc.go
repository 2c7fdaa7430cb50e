// Package config reads rotor.yaml into typed, validated structs.
//
// Parsing is strict: an unknown key, a value of the wrong type, a duration
// that does not parse or a missing required field is an error, and every
// error names the file, the line and the field path
// ("rotor.yaml:14: credentials[0].rotate.every: …"). All errors of a file are
// reported together, sorted by line, so a person fixes them in one pass.
//
// Load fills in defaults and resolves every relative path (the store, the
// sealing key, private keys, file targets, the API token file) against the
// config file's directory, so callers never depend on the working directory.
//
// The config never holds a secret: a value that looks like a GitHub token is
// an error, and no error message ever quotes such a value.
package config
