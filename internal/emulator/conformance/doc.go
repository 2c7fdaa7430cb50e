// Package conformance holds the emulators to the official descriptions of
// the APIs they stand in for, written by AWS and GitHub rather than here:
//
//   - AWS: botocore's service models (data/<service>/<date>/service-2.json,
//     shipped with the AWS CLI). Every CodePipeline exchange is checked by
//     its X-Amz-Target operation: the operation exists, the input validates
//     against its input shape (required members, types, enums, lengths,
//     ranges, patterns), the output against its output shape, and an
//     error's __type is one the operation declares or a common AWS error.
//   - GitHub: the REST API's OpenAPI description (npm @octokit/openapi,
//     api.github.com.json). Every exchange: the method and path exist, the
//     status is documented for the operation (or is one GitHub documents
//     for every endpoint: 401, 403/429 rate limits, 404 for what the
//     credential may not see, 5xx), the JSON body validates against the
//     documented schema (kin-openapi), and the headers rotor reads have the
//     documented form. Recorded exchanges (npm @octokit/fixtures) are
//     replayed against the emulator by this package's tests.
//
// A Check is middleware: tests wrap the emulators' handlers with it
// (emulator.Config.Check, or conformance.Wrap for a bare handler), and each
// violation fails the test that caused it with the operation, the field
// path and what is wrong. When a description is not installed the check
// says so on a line starting "SKIP:" and lets exchanges through unchecked;
// .ci/run installs both, so CI never skips. Where the descriptions are:
// see Locate.
package conformance
