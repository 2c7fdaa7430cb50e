// Package codeconnections emulates AWS CodeConnections, the service behind
// CodePipeline's GitHub (version 2) source action, under both of its API
// names: codeconnections (X-Amz-Target
// com.amazonaws.codeconnections.CodeConnections_20231201.*) and the older
// codestar-connections (com.amazonaws.codestar.connections.CodeStar_connections_20191201.*),
// AWS JSON 1.0 as botocore's models describe them.
//
// A connection is created PENDING, as by the API on AWS: only a person in
// AWS's console can finish it, by installing the "AWS Connector for
// GitHub" app on a GitHub account or organisation. The admin API plays
// that handshake against the GitHub emulator, over HTTP: it creates the
// connector app there once (POST /_emulator/apps), installs it on the
// account (POST /_emulator/apps/{name}/installations) and makes the
// connection AVAILABLE. A source action then uses the connection through
// Server.InstallationToken, which mints an installation token of the
// connector app through GitHub's REST API (an app JWT, then
// POST /app/installations/{id}/access_tokens), as AWS does on its side.
//
// Connections live in an account and a region, the caller's (package
// awsaccounts resolves them from the request's credentials); a connection
// created under one API name has that name's ARN
// (arn:aws:codeconnections:… or arn:aws:codestar-connections:…) and both
// APIs see it.
package codeconnections
