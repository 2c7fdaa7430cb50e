// Package cfnref finds where a CloudFormation stack gets the OAuthToken of a
// CodePipeline GitHub (v1) source action it declares.
//
// Teams that define pipelines in CloudFormation or the CDK rarely write the
// token into the template; they point OAuthToken at a Secrets Manager secret
// or an SSM SecureString with a dynamic reference
// ({{resolve:secretsmanager:…}}, {{resolve:ssm-secure:…}}). CloudFormation
// reads the reference only when the stack is updated, so rotating the secret
// alone leaves the pipeline on the old token, and updating the pipeline alone
// makes the stack drift. When rotor rotates the secret first and then the
// pipeline's action, the next stack update resolves to the very token the
// pipeline already holds, and the drift is harmless. This package tells
// rotor plan which case a pipeline is in (Find) and whether the credential's
// targets cover it (Assess).
//
// Templates are read with GetTemplate: JSON (CDK-synthesised ones included)
// or YAML with the short-form intrinsic tags (!Sub, !Ref, !Join, …). The few
// intrinsics a reference is built from (Ref, Fn::Sub, Fn::Join) are
// evaluated against the stack's parameters, pseudo parameters and physical
// resource ids; anything else is reported, not guessed.
//
// No token value ever leaves this package: a literal OAuthToken is reported
// by fingerprint only, and errors name constructs, never values.
package cfnref
