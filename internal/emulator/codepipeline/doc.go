// Package codepipeline is a CodePipeline-compatible API (AWS JSON 1.1) served
// as an http.Handler, faithful enough that the AWS CLI, botocore and
// aws-sdk-go-v2's codepipeline client work against it unchanged.
//
// What it does beyond storing declarations is what rotor's claims rest on:
//   - GitHub (version 1) source actions keep their OAuthToken secret: it reads
//     back as "****". An action sent back exactly as read, "****" included,
//     keeps the token it holds; an edited action's "****" is stored
//     literally (CodePipeline user guide, "Edit a pipeline (AWS CLI)").
//   - Every declaration carries a version that UpdatePipeline bumps by exactly
//     one; the version a caller sends is ignored, as AWS ignores it.
//   - Executions really run the GitHub source action: the emulator downloads
//     the repository's tarball from the GitHub emulator with the stored token
//     and fails with "Could not access the GitHub repository" when it cannot.
//   - UpdatePipeline stops the execution in progress, as the same page
//     says: Superseded in SUPERSEDED mode, Stopped otherwise, the stage
//     Cancelled. Stages can be given a run time (World.RunTimes) and a
//     manual approval action holds an execution until PutApprovalResult,
//     so that a test can hold executions in progress through the real API.
//     Every update is recorded with what it stopped and when the
//     pipeline's executions were last read (Server.Updates).
//   - Pipelines that poll (PollForSourceChanges absent or "true") fetch on a
//     timer. Every fetch, polled or executed, is appended to a record
//     (Server.Fetches, GET /_emulator/fetches): that record is how zero
//     downtime during a rotation is measured.
//
// Every operation passes through the shared fault injector (package fault):
// Throttle answers 400 ThrottlingException "Rate exceeded", ServerError 500
// InternalFailure (both retried by the SDKs), Fail a 400 ValidationException
// that names the injected fault.
//
// Server.StoredToken returns the real stored token of an action. It exists
// for tests and the demo, never for rotor: rotor must learn nothing from a
// pipeline that the real service would not tell it.
package codepipeline
