{{/* Chart name, truncated to the 63-char DNS label limit. */}}
{{- define "guichet.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Fully qualified app name; used as the prefix of every object name. */}}
{{- define "guichet.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "guichet.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Common labels. */}}
{{- define "guichet.labels" -}}
helm.sh/chart: {{ include "guichet.chart" . }}
{{ include "guichet.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: guichet
{{- end }}

{{- define "guichet.selectorLabels" -}}
app.kubernetes.io/name: {{ include "guichet.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Labels / selector labels of one component: (dict "root" $ "component" "web"). */}}
{{- define "guichet.componentLabels" -}}
{{ include "guichet.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "guichet.componentSelectorLabels" -}}
{{ include "guichet.selectorLabels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "guichet.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}
{{- end }}

{{- define "guichet.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "guichet.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "guichet.configMapName" -}}
{{- include "guichet.fullname" . }}
{{- end }}

{{- define "guichet.secretName" -}}
{{- default (include "guichet.fullname" .) .Values.secrets.existingSecret }}
{{- end }}

{{/* Hook-scoped copies used by the migration Job (names must differ). */}}
{{- define "guichet.migrationsConfigName" -}}
{{- printf "%s-migrations" (include "guichet.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "guichet.migrationsSecretName" -}}
{{- if .Values.secrets.existingSecret }}
{{- .Values.secrets.existingSecret }}
{{- else }}
{{- printf "%s-migrations" (include "guichet.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{- define "guichet.filesClaimName" -}}
{{- default (printf "%s-files" (include "guichet.fullname" .)) .Values.persistence.existingClaim }}
{{- end }}

{{/* ConfigMap data: non-secret GUICHET_* variables; empty values are omitted. */}}
{{- define "guichet.configData" -}}
{{- $c := .Values.config }}
{{- $vars := dict
  "GUICHET_MODE" $c.mode
  "GUICHET_PUBLIC_URL" $c.publicUrl
  "GUICHET_LOG_LEVEL" $c.logLevel
  "GUICHET_TRUSTED_PROXIES" $c.trustedProxies
  "GUICHET_SMTP_HOST" $c.smtpHost
  "GUICHET_SMTP_PORT" (toString $c.smtpPort)
  "GUICHET_SMTP_USER" $c.smtpUser
  "GUICHET_SMTP_FROM" $c.smtpFrom
  "GUICHET_FILES_BACKEND" $c.filesBackend
  "GUICHET_S3_ENDPOINT_URL" $c.s3EndpointUrl
  "GUICHET_S3_BUCKET" $c.s3Bucket
  "GUICHET_FILES_DIR" $c.filesDir
}}
{{- $vars = mergeOverwrite $vars $c.extra }}
{{- range $k, $v := $vars }}
{{- if $v }}
{{ $k }}: {{ $v | quote }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Generated GUICHET_SECRET_KEY: reused from the live Secret (lookup), else
generated once per render and memoised on the root values map so that the
release Secret and the migrations hook Secret get the same key.
*/}}
{{- define "guichet.generatedSecretKey" -}}
{{- $memoKey := "__guichetGeneratedSecretKey" }}
{{- if not (hasKey .Values $memoKey) }}
{{- $key := randAlphaNum 64 }}
{{- $live := lookup "v1" "Secret" .Release.Namespace (include "guichet.fullname" .) }}
{{- if and $live $live.data (hasKey $live.data "GUICHET_SECRET_KEY") }}
{{- $key = index $live.data "GUICHET_SECRET_KEY" | b64dec }}
{{- end }}
{{- $_ := set .Values $memoKey $key }}
{{- end }}
{{- index .Values $memoKey }}
{{- end }}

{{/* Secret data (base64); empty values are omitted. */}}
{{- define "guichet.secretData" -}}
{{- $s := .Values.secrets }}
{{- $secretKey := $s.secretKey }}
{{- if not $secretKey }}
{{- $secretKey = include "guichet.generatedSecretKey" . }}
{{- end }}
{{- $vars := dict
  "GUICHET_DATABASE_URL" $s.databaseUrl
  "GUICHET_REDIS_URL" $s.redisUrl
  "GUICHET_BROKER_URL" $s.brokerUrl
  "GUICHET_SECRET_KEY" $secretKey
  "GUICHET_SMTP_PASSWORD" $s.smtpPassword
  "GUICHET_S3_ACCESS_KEY" $s.s3AccessKey
  "GUICHET_S3_SECRET_KEY" $s.s3SecretKey
  "GUICHET_METRICS_TOKEN" $s.metricsToken
}}
{{- $vars = mergeOverwrite $vars $s.extra }}
{{- range $k, $v := $vars }}
{{- if $v }}
{{ $k }}: {{ $v | b64enc | quote }}
{{- end }}
{{- end }}
{{- end }}

{{/* Fail early on inconsistent settings. */}}
{{- define "guichet.validate" -}}
{{- if and (eq .Values.config.filesBackend "local") (not .Values.persistence.enabled) }}
{{- fail "config.filesBackend=local needs persistence.enabled=true (files would be lost with the pod)" }}
{{- end }}
{{- end }}

{{/* Pod annotations; checksums roll the pods when configuration changes. */}}
{{- define "guichet.podAnnotations" -}}
checksum/config: {{ include "guichet.configData" .root | sha256sum }}
checksum/secrets: {{ toJson .root.Values.secrets | sha256sum }}
{{- with .root.Values.podAnnotations }}
{{ toYaml . }}
{{- end }}
{{- with .extra }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* envFrom + env shared by every container: (dict "root" $ "hook" bool). */}}
{{- define "guichet.envFrom" -}}
- configMapRef:
    name: {{ if .hook }}{{ include "guichet.migrationsConfigName" .root }}{{ else }}{{ include "guichet.configMapName" .root }}{{ end }}
- secretRef:
    name: {{ if .hook }}{{ include "guichet.migrationsSecretName" .root }}{{ else }}{{ include "guichet.secretName" .root }}{{ end }}
{{- end }}

{{/* Volumes: /tmp emptyDir, plus the files volume when persistence is on. */}}
{{- define "guichet.volumes" -}}
- name: tmp
  emptyDir:
    sizeLimit: {{ .root.Values.tmpVolume.sizeLimit }}
{{- if and .files .root.Values.persistence.enabled }}
- name: files
  persistentVolumeClaim:
    claimName: {{ include "guichet.filesClaimName" .root }}
{{- end }}
{{- end }}

{{- define "guichet.volumeMounts" -}}
- name: tmp
  mountPath: /tmp
{{- if and .files .root.Values.persistence.enabled }}
- name: files
  mountPath: {{ .root.Values.config.filesDir }}
{{- end }}
{{- end }}

{{/* Egress rules: DNS first, then networkPolicy.egress. */}}
{{- define "guichet.networkPolicyEgress" -}}
- ports:
    - port: 53
      protocol: UDP
    - port: 53
      protocol: TCP
{{ toYaml .Values.networkPolicy.egress }}
{{- end }}
