{{/* Names and labels, as `helm create` makes them. */}}
{{- define "rotor.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "rotor.fullname" -}}
{{- if contains .Chart.Name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{- define "rotor.selectorLabels" -}}
app.kubernetes.io/name: {{ include "rotor.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "rotor.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "rotor.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "rotor.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "rotor.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name: name an existing ServiceAccount when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* An image reference pinned by digest: REPO:TAG@sha256:… */}}
{{- define "rotor.image" -}}
{{- $img := .image -}}
{{- if not (regexMatch "^sha256:[0-9a-f]{64}$" (toString (default "" $img.digest))) }}
{{- fail (printf "%s.digest %q: want the image's digest, sha256: and 64 hex digits (images run pinned by digest; see docs/release.md, \"Container image\")" .field (toString (default "" $img.digest))) }}
{{- end }}
{{- printf "%s:%s@%s" $img.repository (toString (default .tag $img.tag)) $img.digest }}
{{- end }}

{{/* Checks that stop a render before it produces something unsafe. */}}
{{- define "rotor.validate" -}}
{{- $store := .Values.store.type }}
{{- if not (has $store (list "sqlite" "postgres")) }}
{{- fail (printf "store.type %q: want sqlite or postgres" $store) }}
{{- end }}
{{- if and (eq $store "sqlite") (gt (int .Values.replicas) 1) }}
{{- fail (printf "replicas %d needs store.type postgres: SQLite on a ReadWriteOnce volume serves one replica (docs/ha.md)" (int .Values.replicas)) }}
{{- end }}
{{- if eq $store "postgres" }}
{{- $url := required "store.postgres.url: required with store.type postgres (postgres://USER@HOST:5432/DB?sslmode=verify-full)" .Values.store.postgres.url }}
{{- if not (regexMatch "^postgres(ql)?://" $url) }}
{{- fail (printf "store.postgres.url: want postgres://USER@HOST:5432/DB") }}
{{- end }}
{{- if regexMatch "^postgres(ql)?://[^/@?]*:[^/@?]*@" $url }}
{{- fail "store.postgres.url holds a password: move it to a Secret and name it in store.postgres.passwordSecret" }}
{{- end }}
{{- if regexMatch "(^|[?&])password=" $url }}
{{- fail "store.postgres.url holds a password: move it to a Secret and name it in store.postgres.passwordSecret" }}
{{- end }}
{{- end }}
{{- if hasKey (default dict .Values.config) "store" }}
{{- fail "config.store: set by the chart from store.type and store.postgres.url (remove it from config)" }}
{{- end }}
{{- range $i, $a := .Values.alerts }}
{{- if not (regexMatch "^[-._A-Za-z0-9]+$" (toString (default "" $a.urlKey))) }}
{{- fail (printf "alerts[%d].urlKey %q: want the key in secrets.name that holds the URL" $i (toString (default "" $a.urlKey))) }}
{{- end }}
{{- if hasKey $a "secretKey" }}
{{- if not (regexMatch "^[-._A-Za-z0-9]+$" (toString (default "" $a.secretKey))) }}
{{- fail (printf "alerts[%d].secretKey %q: want the key in secrets.name that holds the signing secret (or no secretKey)" $i (toString (default "" $a.secretKey))) }}
{{- end }}
{{- if ne (toString $a.type) "webhook" }}
{{- fail (printf "alerts[%d].secretKey: only type webhook deliveries are signed (Slack does not check signatures); remove secretKey or use type webhook" $i) }}
{{- end }}
{{- end }}
{{- end }}
{{- with .Values.config.server }}
{{- range $k := list "listen" "auth_token_file" "alerts" }}
{{- if hasKey $.Values.config.server $k }}
{{- fail (printf "config.server.%s: set by the chart (see values.yaml: service, secrets.apiToken, alerts)" $k) }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}

{{/* The store URL rotor.yaml names. */}}
{{- define "rotor.store" -}}
{{- if eq .Values.store.type "postgres" }}
{{- .Values.store.postgres.url }}
{{- else }}
{{- print "sqlite:/var/lib/rotor/rotor.db" }}
{{- end }}
{{- end }}

{{/*
rotor.yaml as the ConfigMap holds it, final: alerts name their URL (and
signing secret) by file, /run/rotor/secrets/KEY, which rotor reads at start
and on SIGHUP; no secret passes through the ConfigMap or the init container's
script.
*/}}
{{- define "rotor.config" -}}
{{- $cfg := deepCopy (default dict .Values.config) }}
{{- $_ := set $cfg "store" (include "rotor.store" .) }}
{{- if not (hasKey $cfg "key") }}
{{- $_ := set $cfg "key" (printf "file:/run/rotor/secrets/%s" .Values.secrets.sealingKey) }}
{{- end }}
{{- $server := deepCopy (default dict $cfg.server) }}
{{- $_ := set $server "listen" (printf "0.0.0.0:%d" (int .Values.service.port)) }}
{{- $_ := set $server "auth_token_file" (printf "/run/rotor/secrets/%s" .Values.secrets.apiToken) }}
{{- if not (include "rotor.tls" .) }}
{{- /* Plain HTTP inside the cluster, TLS ending at the Ingress or mesh; with
       config.server.tls_cert_file and tls_key_file rotor serves HTTPS. */}}
{{- $_ := set $server "insecure_listen" true }}
{{- end }}
{{- $alerts := list }}
{{- range $i, $a := .Values.alerts }}
{{- $alert := dict "type" $a.type "url_file" (printf "/run/rotor/secrets/%s" $a.urlKey) }}
{{- if $a.secretKey }}
{{- $_ := set $alert "secret_file" (printf "/run/rotor/secrets/%s" $a.secretKey) }}
{{- end }}
{{- $alerts = append $alerts $alert }}
{{- end }}
{{- if $alerts }}
{{- $_ := set $server "alerts" $alerts }}
{{- end }}
{{- $_ := set $cfg "server" $server }}
{{- toYaml $cfg }}
{{- end }}

{{/* Every container: no privilege escalation, read-only root, no capabilities. */}}
{{- define "rotor.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
capabilities: {drop: [ALL]}
{{- end }}

{{/* "true" when rotor serves HTTPS itself (config.server.tls_cert_file set). */}}
{{- define "rotor.tls" -}}
{{- if (default dict (default dict .Values.config).server).tls_cert_file }}true{{ end }}
{{- end }}


{{/* The Secret keys the alerts name, as words for init.sh's loop: 'KEY
     FIELD', KEY checked against [-._A-Za-z0-9]+ by rotor.validate. */}}
{{- define "rotor.alertKeys" -}}
{{- $words := list }}
{{- range $i, $a := .Values.alerts }}
{{- $words = append $words (printf "'%s alerts[%d].urlKey'" $a.urlKey $i) }}
{{- if $a.secretKey }}
{{- $words = append $words (printf "'%s alerts[%d].secretKey'" $a.secretKey $i) }}
{{- end }}
{{- end }}
{{- join " " $words }}
{{- end }}
