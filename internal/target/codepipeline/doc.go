// Package codepipeline is the rotation target for AWS CodePipeline GitHub
// (version 1) source actions: the seed procedure (get-pipeline, replace the
// OAuthToken, drop metadata, update-pipeline) done safely for every matching
// action in an account and region.
//
// What it adds to the procedure:
//   - Discovery: named pipelines and/or every GitHub v1 action matching an
//     owner/repo/branch, with ListPipelines paging (a thousand a page).
//     Binding IDs name the account and region. What a run can know it will
//     refuse is found before any token is minted or written: by Discover
//     (other_actions: refuse) and by Vet (a CloudFormation-managed pipeline
//     whose template does not read the token from a secret or parameter the
//     same credential rotates, without allow_cloudformation_drift).
//   - Minimal change (I4): GetPipeline reads every token back as "****",
//     and AWS keeps the stored token of an action sent back exactly as read
//     ("Edit a pipeline (AWS CLI)"). So each update sets the token of the
//     bound actions only and sends every other action back as read, mask
//     included. The request body is checked against the raw GetPipeline
//     response before it leaves the process (only the bound tokens differ),
//     so a member the SDK does not know can never be dropped silently; the
//     response is checked against the request (version + 1, nothing else
//     changed).
//   - No deployment stopped (I8): UpdatePipeline stops the execution in
//     progress, so each update reads the pipeline's executions right
//     before it goes out (inflight.go) and a busy pipeline waits, is
//     skipped or is interrupted as in_flight says (waiting.go); a waiting
//     pipeline holds no worker.
//   - One GetPipeline and one UpdatePipeline per pipeline per Apply; Verify
//     after Apply in the same process uses that readback and calls nothing
//     (or, with verify: execution, runs the pipeline's source stage).
//   - Discovery reads only pipelines it does not know at their listed
//     version: the inventory (inventory.go; nothing secret, kept in memory
//     and in rotor's store, shared by replicas) holds what it learned of each, so a
//     rotation costs one GetPipeline per pipeline, not two, and discovery
//     does not hold up the updates for N/R seconds before they start. The
//     CloudFormation stack tag (which changes without a new version) is
//     still read once per pipeline per rotation: by Apply, inside the
//     fan-out, for pipelines discovery did not read.
//   - Many accounts and regions (fleet.go): one Target per account ×
//     region, each with its own limiter and inventory, in one fan-out.
//   - Fan-out with bounded concurrency, an adaptive per-operation limiter
//     (package ratelimit) and the SDK's standard retryer.
//
// Tokens and declarations never reach logs or errors: errors are sanitised
// (awsx.Sanitize) and name only the pipeline, stage and action.
package codepipeline
