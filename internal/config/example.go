package config

// Example is the commented rotor.yaml that 'rotor init' writes. It parses
// as is; every value shown is either the default or a placeholder to change.
func Example() string { return example }

const example = `# rotor.yaml — which GitHub tokens rotor keeps fresh, and where they live.
# Check it with 'rotor validate'; see what a rotation would touch with 'rotor plan'.
# Relative paths are relative to this file's directory.
# Never put a token here: rotor keeps tokens sealed in its store.

# Where rotor keeps credentials, versions, runs and the audit trail.
# sqlite:PATH (one process) or postgres://user@host/rotor (several replicas).
store: sqlite:rotor.db

# The age identity that seals every token at rest ('rotor init' made it, mode 0600).
# Back it up: without it the stored tokens cannot be read. To seal with AWS KMS
# instead: key: awskms:arn:aws:kms:REGION:ACCOUNT:key/ID (docs/kms.md).
key: file:rotor.key

github:
  # https://api.github.com, or https://HOST/api/v3 for GitHub Enterprise Server.
  api_url: https://api.github.com

aws:
  # Credentials come from the standard AWS chain (environment, profile, SSO, role).
  region: us-east-1
  # profile: my-profile

# rotor serve: scheduler, HTTP API, /metrics and dashboard.
server:
  listen: 127.0.0.1:8080
  watch_every: 5m
  # auth_token_file: rotor-api.token     # bearer token for the API (mode 0600)
  # alerts:
  #   - {type: slack, url: https://hooks.slack.com/services/…}

credentials:
  # One credential is one token with one purpose. Give every application its
  # own token: 'rotor plan' warns when one token is shared.
  - name: codepipeline-test-repo
    application: MyFirstPipeline
    source:
      # A person creates each new token in GitHub (Settings → Developer
      # settings → Personal access tokens → Generate new token) and gives it
      # to 'rotor rotate codepipeline-test-repo'. rotor checks it, switches every
      # target to it, verifies them, and only then revokes the old one.
      type: personal-token
      scopes: [repo, admin:repo_hook]    # what the CodePipeline GitHub action needs
      # max_lifetime: 90d   # the organisation's maximum token lifetime, if it sets one
    rotate:
      every: 30d            # rotate this often
      renew_before: 7d      # or this long before the token expires, if sooner
      grace: 10m            # the old token stays valid this long after the switch
    targets:
      - type: codepipeline
        pipelines: [MyFirstPipeline]
        # match: {owner: my-org, repo: my-repo, branch: main}   # every action reading it
        verify: readback    # or execution: run the source stage and see it succeed
        # An update stops the pipeline's execution in progress (AWS does that):
        # wait for it to finish (at most max_wait), skip it for now, or interrupt it.
        in_flight: wait
        max_wait: 30m
        # other_actions: carry   # actions this credential does not rotate go back as read
      # - type: file
      #   path: /etc/ci/github-token     # written 0600, replaced atomically; no link in the path
      #   create: false                  # true: rotor may create it (else a missing file is an error)
      #   # owner: ci, group: ci, mode: "0640"   # who reads it (default: rotor's user, 0600)
      # - type: secretsmanager
      #   secret_id: ci/github-token
      # - type: ssm
      #   name: /ci/github-token

  # A GitHub App installation token: minted by rotor, fully automatic, 1 hour.
  # - name: ci-app-token
  #   source:
  #     type: github-app
  #     app_id: 12345                    # or client_id: Iv1.…
  #     installation_id: 678
  #     private_key_file: rotor-ci.pem   # mode 0600
  #     repositories: [my-repo]
  #     permissions: {contents: read, metadata: read}
  #   targets:
  #     - type: secretsmanager
  #       secret_id: ci/github-app-token
`
