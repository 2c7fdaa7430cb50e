// Package codepipeline is the rotation target for AWS CodePipeline GitHub
// (version 1) source actions: the seed procedure (get-pipeline, replace the
// OAuthToken, drop metadata, update-pipeline) done safely for every matching
// action in an account and region.
//
// What it adds to the procedure:
//   - Discovery: named pipelines and/or every GitHub v1 action matching an
//     owner/repo/branch, with ListPipelines paging (a thousand a page). A binding that cannot be
//     rotated safely (a CloudFormation-managed pipeline, another GitHub
//     action in the same pipeline whose token rotor does not hold) is a
//     Discover error, before anything changes.
//   - Minimal change (I4): GetPipeline reads every token back as "****" and
//     UpdatePipeline stores whatever it is sent, so each update re-sends the
//     real token of every GitHub action in the pipeline (this credential's,
//     or another credential's through Config.OtherTokens) and refuses the
//     pipeline when one is not held. The request body is checked against the
//     raw GetPipeline response before it leaves the process, so a member the
//     SDK does not know can never be dropped silently; the response is
//     checked against the request (version + 1, nothing else changed).
//   - One GetPipeline and one UpdatePipeline per pipeline per Apply; Verify
//     after Apply in the same process uses that readback and calls nothing
//     (or, with verify: execution, runs the pipeline's source stage).
//   - Discovery reads only pipelines it does not know at their listed
//     version: the inventory (inventory.go; nothing secret, kept in memory
//     and in the user's cache directory) holds what it learned of each, so a
//     rotation costs one GetPipeline per pipeline, not two, and discovery
//     does not hold up the updates for N/R seconds before they start. The
//     CloudFormation stack tag (which changes without a new version) is
//     still read once per pipeline per rotation: by Apply, inside the
//     fan-out, for pipelines discovery did not read.
//   - Fan-out with bounded concurrency, an adaptive per-operation limiter
//     (package ratelimit) and the SDK's standard retryer.
//
// Tokens and declarations never reach logs or errors: errors are sanitised
// (awsx.Sanitize) and name only the pipeline, stage and action.
package codepipeline
