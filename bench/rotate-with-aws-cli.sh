#!/usr/bin/env bash
# The seed procedure (the AWS guide "Use GitHub and the CodePipeline CLI to
# ... rotate your GitHub personal access token"), scripted as a user would:
# for each pipeline, get-pipeline into pipeline.json, put the new token into
# the GitHub action and drop "metadata", update-pipeline --cli-input-json
# file://pipeline.json, then delete the file. Sequential, one pipeline after
# the other.
#
#   GITHUB_TOKEN=... ./rotate-with-aws-cli.sh PIPELINE...
#
# The token comes from the environment, not argv, and python (on every
# machine that has the AWS CLI v1, unlike jq) writes it into the JSON. Note
# the irony the guide builds in: the token sits in plaintext in
# pipeline.json on disk between the edit and the rm.
set -euo pipefail
: "${GITHUB_TOKEN:?set GITHUB_TOKEN to the new token}"

for p in "$@"; do
  aws codepipeline get-pipeline --name "$p" >pipeline.json
  python3 - pipeline.json <<'PY'
import json, os, sys
path = sys.argv[1]
with open(path) as f:
    doc = json.load(f)
doc.pop("metadata", None)  # update-pipeline refuses it
for stage in doc["pipeline"]["stages"]:
    for action in stage["actions"]:
        t = action["actionTypeId"]
        if (t["owner"], t["provider"], t["version"]) == ("ThirdParty", "GitHub", "1"):
            action["configuration"]["OAuthToken"] = os.environ["GITHUB_TOKEN"]
with open(path, "w") as f:
    json.dump(doc, f)
PY
  aws codepipeline update-pipeline --cli-input-json file://pipeline.json >/dev/null
  rm -f pipeline.json
done
