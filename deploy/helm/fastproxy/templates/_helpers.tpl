{{/*
Chart name, truncated to the DNS label limit.
*/}}
{{- define "fastproxy.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Fully qualified app name. If the release name contains the chart name it is used as is.
*/}}
{{- define "fastproxy.fullname" -}}
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

{{- define "fastproxy.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "fastproxy.selectorLabels" -}}
app.kubernetes.io/name: {{ include "fastproxy.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "fastproxy.labels" -}}
helm.sh/chart: {{ include "fastproxy.chart" . }}
{{ include "fastproxy.selectorLabels" . }}
app.kubernetes.io/version: {{ include "fastproxy.imageTag" . | quote }}
app.kubernetes.io/component: proxy
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "fastproxy.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "fastproxy.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "fastproxy.imageTag" -}}
{{- .Values.image.tag | default .Chart.AppVersion | toString | trunc 63 }}
{{- end }}

{{- define "fastproxy.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion | toString) }}
{{- end }}
{{- end }}

{{/*
identityType, trimmed and lower-cased: aad-auth-proxy's chart compared the raw value and broke
on "userassigned"; here any casing works.
*/}}
{{- define "fastproxy.identityType" -}}
{{- .Values.identityType | default "" | toString | trim | lower }}
{{- end }}

{{/*
A value as an environment-variable string, or "" when unset. Numbers arrive from YAML as
float64; print integral ones without a decimal point or exponent.
*/}}
{{- define "fastproxy.str" -}}
{{- $v := . -}}
{{- if kindIs "invalid" $v }}
{{- else if kindIs "float64" $v }}
{{- if eq $v (floor $v) }}{{ $v | int64 }}{{ else }}{{ $v }}{{ end }}
{{- else }}
{{- $v | toString | trim }}
{{- end }}
{{- end }}

{{/*
The certificate path for aadapplication: aadClientCertificatePath, else the mounted file.
*/}}
{{- define "fastproxy.certificatePath" -}}
{{- if .Values.aadClientCertificatePath }}
{{- .Values.aadClientCertificatePath | toString | trim }}
{{- else if and (include "fastproxy.certificateMounted" .) .Values.certificate.fileName }}
{{- printf "%s/%s" (.Values.certificate.mountPath | trimSuffix "/") (.Values.certificate.fileName | toString | trim) }}
{{- end }}
{{- end }}

{{- define "fastproxy.certificateMounted" -}}
{{- if or .Values.certificate.secretName .Values.certificate.csi.secretProviderClass }}true{{ end }}
{{- end }}

{{/*
TLS on the listening port: a kubernetes.io/tls Secret mounted as a directory.
*/}}
{{- define "fastproxy.tlsEnabled" -}}
{{- if .Values.tls.secretName }}true{{ end }}
{{- end }}

{{/*
The listening port's name on the container and the Service: "https" with TLS, else "http".
*/}}
{{- define "fastproxy.listenerPortName" -}}
{{- if include "fastproxy.tlsEnabled" . }}https{{ else }}http{{ end }}
{{- end }}

{{/*
The client CA bundle's path: inside the TLS Secret's directory when it is the same Secret (one
volume), else in its own mount.
*/}}
{{- define "fastproxy.clientCaPath" -}}
{{- if .Values.tls.clientCaSecretName }}
{{- $dir := .Values.tls.clientCaMountPath }}
{{- if eq .Values.tls.clientCaSecretName .Values.tls.secretName }}{{ $dir = .Values.tls.mountPath }}{{ end }}
{{- printf "%s/%s" ($dir | trimSuffix "/") (.Values.tls.clientCaKey | default "ca.crt" | toString | trim) }}
{{- end }}
{{- end }}

{{- define "fastproxy.clientCaOwnVolume" -}}
{{- if and .Values.tls.clientCaSecretName (ne .Values.tls.clientCaSecretName .Values.tls.secretName) }}true{{ end }}
{{- end }}

{{/*
ALLOWED_SOURCE_CIDRS from a list or a comma-separated string.
*/}}
{{- define "fastproxy.allowedSourceCidrs" -}}
{{- $v := .Values.allowedSourceCidrs }}
{{- if kindIs "slice" $v }}{{ join "," $v }}{{ else if $v }}{{ $v | toString | trim }}{{ end }}
{{- end }}

{{/*
Whether the chart itself mounts a volume (certificate, TLS, client CA, key password, inbound token, routes).
*/}}
{{- define "fastproxy.hasVolumes" -}}
{{- if or (include "fastproxy.certificateMounted" .) .Values.tls.secretName .Values.tls.clientCaSecretName .Values.tls.keyPasswordSecretName .Values.inboundToken.secretName .Values.routes }}true{{ end }}
{{- end }}

{{/*
Checks that fail the install with one clear message, instead of a pod that exits 2.
*/}}
{{- define "fastproxy.validate" -}}
{{- $identity := include "fastproxy.identityType" . -}}
{{- $known := list "systemassigned" "userassigned" "aadapplication" "workloadidentity" -}}
{{- if not (has $identity $known) }}
{{- fail (printf "identityType %q is not one of systemassigned, userassigned, aadapplication, workloadidentity (any casing)" (.Values.identityType | default "" | toString)) }}
{{- end }}
{{- if and (not .Values.targetHost) (not .Values.ingestionUrl) (not .Values.routes) }}
{{- fail "set targetHost (aad-auth-proxy's form: the workspace's ingestion or query host), ingestionUrl (the remote-write sidecar's form: the full Metrics ingestion endpoint URL) or routes (several targets)" }}
{{- end }}
{{- if and .Values.routes (not (kindIs "slice" .Values.routes)) }}
{{- fail "routes must be a list of routes (name, pathPrefix or path, target, and optionally audience and identity); see the README's Routes file section" }}
{{- end }}
{{- if and .Values.routes (or .Values.targetHost .Values.ingestionUrl .Values.audience) }}
{{- fail "routes replaces targetHost, ingestionUrl and audience (FastProxy refuses ROUTES_FILE with any of them): give each route its target and, if needed, its audience, and unset the others" }}
{{- end }}
{{- if and .Values.targetHost .Values.ingestionUrl }}
{{- fail "set targetHost or ingestionUrl, not both (FastProxy refuses both: TARGET_HOST is aad-auth-proxy's form, INGESTION_URL the remote-write sidecar's)" }}
{{- end }}
{{- if and (eq $identity "userassigned") (not .Values.aadClientId) }}
{{- fail "identityType userassigned needs aadClientId (the managed identity's client id)" }}
{{- end }}
{{- if eq $identity "aadapplication" }}
{{- if not .Values.aadClientId }}
{{- fail "identityType aadapplication needs aadClientId (the application's client id)" }}
{{- end }}
{{- if not .Values.aadTenantId }}
{{- fail "identityType aadapplication needs aadTenantId" }}
{{- end }}
{{- if not (include "fastproxy.certificatePath" .) }}
{{- fail "identityType aadapplication needs a certificate: set aadClientCertificatePath, or certificate.secretName / certificate.csi.secretProviderClass with certificate.fileName" }}
{{- end }}
{{- end }}
{{- if and .Values.certificate.secretName .Values.certificate.csi.secretProviderClass }}
{{- fail "set certificate.secretName or certificate.csi.secretProviderClass, not both" }}
{{- end }}
{{- if and (eq $identity "workloadidentity") .Values.serviceAccount.create (not .Values.aadClientId) }}
{{- fail "identityType workloadidentity needs aadClientId: it becomes the service account annotation azure.workload.identity/client-id (or set serviceAccount.create=false and annotate your own service account)" }}
{{- end }}
{{- $port := .Values.listeningPort | int }}
{{- if or (lt $port 1) (gt $port 65535) }}
{{- fail (printf "listeningPort %v is not a port number" .Values.listeningPort) }}
{{- end }}
{{- if .Values.h2cPort }}
{{- if eq (.Values.h2cPort | int) $port }}
{{- fail "h2cPort must differ from listeningPort" }}
{{- end }}
{{- end }}
{{- if .Values.metricsPort }}
{{- $metrics := .Values.metricsPort | int }}
{{- if or (lt $metrics 1) (gt $metrics 65535) }}
{{- fail (printf "metricsPort %v is not a port number" .Values.metricsPort) }}
{{- end }}
{{- if or (eq $metrics $port) (and .Values.h2cPort (eq $metrics (.Values.h2cPort | int))) }}
{{- fail "metricsPort must differ from listeningPort and h2cPort" }}
{{- end }}
{{- end }}
{{- if and .Values.h2cPort .Values.tls.secretName }}
{{- fail "h2cPort cannot be combined with tls.secretName: FastProxy refuses H2C_PORT with TLS (the TLS listening port already offers HTTP/2 by ALPN). Unset h2cPort." }}
{{- end }}
{{- if and .Values.tls.clientCaSecretName (not .Values.tls.secretName) }}
{{- fail "tls.clientCaSecretName (client certificates) needs tls.secretName: mTLS runs on the TLS listener" }}
{{- end }}
{{- if and .Values.tls.keyPasswordSecretName (not .Values.tls.secretName) }}
{{- fail "tls.keyPasswordSecretName needs tls.secretName (it is the password of tls.key)" }}
{{- end }}
{{- if and .Values.tls.clientCaSecretName (not .Values.metricsPort) }}
{{- fail "tls.clientCaSecretName (mTLS) needs metricsPort: kubelet probes carry no client certificate, so /health and /ready must be served on the plain-HTTP metrics port (e.g. --set metricsPort=9090)" }}
{{- end }}
{{- if and .Values.inboundToken.secretName (not .Values.inboundToken.key) }}
{{- fail "inboundToken.secretName needs inboundToken.key (the Secret's key holding the token)" }}
{{- end }}
{{- $headers := .Values.overrideRequestHeaders }}
{{- if and $headers (not (kindIs "map" $headers)) (not (kindIs "string" $headers)) }}
{{- fail "overrideRequestHeaders must be a map of header names to values, or a JSON object string (on the command line use --set-json; --set reads braces as a list)" }}
{{- end }}
{{- $drain := .Values.shutdownDrainTimeoutSeconds | default 25 | int }}
{{- $sleep := .Values.preStopSleepSeconds | default 0 | int }}
{{- if le (.Values.terminationGracePeriodSeconds | int) (add $drain $sleep) }}
{{- fail (printf "terminationGracePeriodSeconds (%v) must exceed shutdownDrainTimeoutSeconds (%d) + preStopSleepSeconds (%d), or in-flight requests are killed" .Values.terminationGracePeriodSeconds $drain $sleep) }}
{{- end }}
{{- if and .Values.podDisruptionBudget.enabled (not (kindIs "invalid" .Values.podDisruptionBudget.minAvailable)) (not (kindIs "invalid" .Values.podDisruptionBudget.maxUnavailable)) }}
{{- fail "podDisruptionBudget: set minAvailable or maxUnavailable, not both (set the other to null)" }}
{{- end }}
{{- end }}
