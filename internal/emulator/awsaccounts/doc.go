// Package awsaccounts is the emulators' AWS identity: accounts, the access
// keys that reach them, IAM roles with their trust and permission
// policies, the temporary credentials STS hands out, and the organisation
// the accounts belong to. It serves two APIs:
//
//   - STS (Query protocol: POST / with Action=AssumeRole&Version=2011-06-15,
//     XML answers): AssumeRole, checked against the role's trust policy
//     (principals, sts:ExternalId) and answered AccessDenied with AWS's
//     message otherwise, and GetCallerIdentity;
//   - Organizations (AWS JSON 1.1, X-Amz-Target AWSOrganizationsV20161128.*):
//     ListRoots, ListOrganizationalUnitsForParent, ListAccounts,
//     ListAccountsForParent, for discovering accounts.
//
// Every AWS emulator asks the Directory who a request comes from, the way
// AWS does: the region from the SigV4 credential scope
// ("Credential=AKID/20260101/eu-west-1/codepipeline/aws4_request"), the
// account from the access key id (a key the world declares, or one
// AssumeRole issued; any other key is the default account's, so that dummy
// credentials keep working). Signatures are not checked.
//
// Roles' permission policies answer Directory.Allowed, which the
// CodePipeline emulator asks before a source action uses a connection
// (codestar-connections:UseConnection).
package awsaccounts
