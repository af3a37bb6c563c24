{{/* The API services, in the order the gateway lists them. */}}
{{- define "amdb.apiServices" -}}
{{- list "auth" "rbac" "storage" "scheduler" | toJson -}}
{{- end -}}

{{- define "amdb.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* (list $ "auth"): the name of one component's objects. */}}
{{- define "amdb.componentName" -}}
{{- $ctx := index . 0 -}}
{{- printf "%s-%s" (include "amdb.fullname" $ctx | trunc 50 | trimSuffix "-") (index . 1) -}}
{{- end -}}

{{- define "amdb.selectorLabels" -}}
{{- $ctx := index . 0 -}}
app.kubernetes.io/name: {{ $ctx.Chart.Name }}
app.kubernetes.io/instance: {{ $ctx.Release.Name }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end -}}

{{- define "amdb.labels" -}}
{{- $ctx := index . 0 -}}
{{ include "amdb.selectorLabels" . }}
app.kubernetes.io/version: {{ $ctx.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ $ctx.Release.Service }}
helm.sh/chart: {{ printf "%s-%s" $ctx.Chart.Name $ctx.Chart.Version }}
{{- end -}}

{{/* (list $ "auth"): the image built from docker/Dockerfile with PACKAGE=auth. */}}
{{- define "amdb.image" -}}
{{- $ctx := index . 0 -}}
{{- $image := $ctx.Values.image -}}
{{- $repository := printf "%s/%s" $image.repository (index . 1) -}}
{{- if $image.registry }}{{ $repository = printf "%s/%s" $image.registry $repository }}{{ end -}}
{{- printf "%s:%s" $repository (default $ctx.Chart.AppVersion $image.tag) -}}
{{- end -}}

{{- define "amdb.secretName" -}}
{{- default (include "amdb.fullname" .) .Values.secrets.existingSecret -}}
{{- end -}}

{{/* (list $ "NAME" ref): an environment variable read from a Secret key. */}}
{{- define "amdb.secretEnv" -}}
{{- $ctx := index . 0 -}}
{{- $ref := index . 2 -}}
- name: {{ index . 1 }}
  valueFrom:
    secretKeyRef:
      name: {{ default (include "amdb.secretName" $ctx) $ref.secretName }}
      key: {{ required (printf "a Secret key for %s" (index . 1)) $ref.key }}
{{- end -}}

{{/* (list $ "auth"): a service's in-cluster URL, what the gateway's {{ env "AUTH_URL" }} names. */}}
{{- define "amdb.serviceURL" -}}
{{- $ctx := index . 0 -}}
{{- printf "http://%s.%s.svc.%s:8000" (include "amdb.componentName" .) $ctx.Release.Namespace $ctx.Values.clusterDomain -}}
{{- end -}}

{{/* Environment every process has (docs/processes.md: shared variables). */}}
{{- define "amdb.commonEnv" -}}
- name: ENVIRONMENT
  value: {{ .Values.environment | quote }}
- name: LOG_LEVEL
  value: {{ .Values.logLevel | quote }}
- name: LOG_JSON
  value: "true"
{{ include "amdb.secretEnv" (list . "REDIS_URL" .Values.redis.url) }}
- name: AUTH_JWKS_URL
  value: {{ printf "%s/.well-known/jwks.json" (include "amdb.serviceURL" (list . "auth")) | quote }}
# rbac's own address, for services that ask it directly (compose sets it in every service).
- name: RBAC_URL
  value: {{ include "amdb.serviceURL" (list . "rbac") | quote }}
{{- with .Values.jwt.issuer }}
- name: JWT_ISSUER
  value: {{ . | quote }}
{{- end }}
{{- with .Values.jwt.audience }}
- name: JWT_AUDIENCE
  value: {{ . | quote }}
{{- end }}
{{- range $name, $value := .Values.extraEnv }}
- name: {{ $name }}
  value: {{ $value | quote }}
{{- end }}
{{- end -}}

{{- define "amdb.mongoEnv" -}}
{{ include "amdb.secretEnv" (list . "MONGO_URL" .Values.mongo.url) }}
{{- end -}}

{{- define "amdb.s3Env" -}}
- name: S3_ENDPOINT
  value: {{ .Values.s3.endpoint | quote }}
- name: S3_PUBLIC_ENDPOINT
  value: {{ default .Values.s3.endpoint .Values.s3.publicEndpoint | quote }}
- name: S3_REGION
  value: {{ .Values.s3.region | quote }}
- name: STORAGE_BUCKET
  value: {{ .Values.s3.bucket | quote }}
{{ include "amdb.secretEnv" (list . "S3_ACCESS_KEY" .Values.s3.accessKey) }}
{{ include "amdb.secretEnv" (list . "S3_SECRET_KEY" .Values.s3.secretKey) }}
{{- end -}}

{{/* (list $ "auth"): the variables of one package's processes beyond the common ones. */}}
{{- define "amdb.packageEnv" -}}
{{- $ctx := index . 0 -}}
{{- $package := index . 1 -}}
{{- if eq $package "auth" }}
{{ include "amdb.secretEnv" (list $ctx "AUTH_DATABASE_URL" $ctx.Values.postgres.auth) }}
- name: AUTH_SQL_POOL_SIZE
  value: {{ $ctx.Values.postgres.sqlPoolSize | quote }}
- name: AUTH_PRIVATE_KEY_FILE
  value: /run/secrets/auth/private-key.pem
{{- else if eq $package "rbac" }}
{{ include "amdb.secretEnv" (list $ctx "RBAC_DATABASE_URL" $ctx.Values.postgres.rbac) }}
{{- else if eq $package "storage" }}
{{ include "amdb.mongoEnv" $ctx }}
{{ include "amdb.s3Env" $ctx }}
{{- else if eq $package "scheduler" }}
{{ include "amdb.secretEnv" (list $ctx "SCHEDULER_DATABASE_URL" $ctx.Values.postgres.scheduler) }}
- name: SCHEDULER_SQL_POOL_SIZE
  value: {{ $ctx.Values.postgres.sqlPoolSize | quote }}
{{ include "amdb.mongoEnv" $ctx }}
{{- end }}
{{- end -}}

{{/* The auth signing key as a file (AUTH_PRIVATE_KEY_FILE). */}}
{{- define "amdb.authKeyVolume" -}}
- name: auth-private-key
  secret:
    secretName: {{ default (include "amdb.secretName" .) .Values.auth.privateKey.secretName }}
    defaultMode: 0440
    items:
      - key: {{ .Values.auth.privateKey.key }}
        path: private-key.pem
{{- end -}}

{{- define "amdb.authKeyMount" -}}
- name: auth-private-key
  mountPath: /run/secrets/auth
  readOnly: true
{{- end -}}

{{/* (list $ "auth"): pod-level settings every workload shares. */}}
{{- define "amdb.podSettings" -}}
{{- $ctx := index . 0 -}}
automountServiceAccountToken: false
# No <SERVICE>_PORT variables for every Service of the namespace in our environment.
enableServiceLinks: false
securityContext:
  {{- toYaml $ctx.Values.podSecurityContext | nindent 2 }}
{{- with $ctx.Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $ctx.Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $ctx.Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- if $ctx.Values.topologySpread }}
topologySpreadConstraints:
  - maxSkew: 1
    topologyKey: kubernetes.io/hostname
    whenUnsatisfiable: ScheduleAnyway
    labelSelector:
      matchLabels:
        {{- include "amdb.selectorLabels" . | nindent 8 }}
{{- end }}
{{- end -}}
