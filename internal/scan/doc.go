// Package scan finds GitHub tokens left in files, and the two kinds of file
// the seed procedure leaves behind: get-pipeline JSON holding a real
// OAuthToken, and CloudFormation templates with a literal OAuthToken instead
// of a dynamic reference.
//
// A found token is matched against rotor's store by fingerprint only, so the
// scan can say whether it is a version rotor holds now (current), one it
// replaced (previous) or one it revoked (retired). Token values live in
// memory only while their file is being scanned; findings carry a redacted
// form (prefix and last four characters) and the fingerprint, never the
// value, and every output format (table, JSON, SARIF) is built from
// findings alone.
//
// The walk is parallel, respects .gitignore inside a git work tree, skips
// binary files, special files and files over a size limit, and follows no
// symbolic link it finds (a link named on the command line is followed, as
// the person asked for it).
package scan
