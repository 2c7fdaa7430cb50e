// Package ghtoken is the emulators' own model of GitHub's token formats:
// kinds by prefix, the CRC32 checksum of the 40-character forms, generation
// of fresh values, and a redacting container for the values the emulators
// hand to tests.
//
// It is written from GitHub's published format (shared/reference/github.md:
// "Token formats"), deliberately without any code from rotor's
// internal/token: the emulators are the authority rotor is tested against,
// so a checksum bug shared by both would pass every test. The two
// implementations are cross-checked on GitHub's public test vectors and a
// fuzzed corpus (crosscheck_test.go), and internal/emulator's independence
// test fails if anything under internal/emulator imports rotor's
// client-side packages.
package ghtoken
