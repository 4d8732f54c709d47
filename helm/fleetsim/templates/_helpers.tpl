{{/* Chart name, shortened to the 63 characters a DNS label allows. */}}
{{- define "fleetsim.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Fully qualified app name: release-chart, or the release name when it holds the chart's. */}}
{{- define "fleetsim.fullname" -}}
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

{{- define "fleetsim.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "fleetsim.selectorLabels" -}}
app.kubernetes.io/name: {{ include "fleetsim.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "fleetsim.labels" -}}
helm.sh/chart: {{ include "fleetsim.chart" . }}
{{ include "fleetsim.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "fleetsim.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* Where the ConfigMap's fleetsim.yaml is mounted. */}}
{{- define "fleetsim.configDir" -}}
/etc/fleetsim
{{- end }}

{{/* The Secret with the API keys and the Kafka credentials: the chart's, or existingSecret. */}}
{{- define "fleetsim.secretName" -}}
{{- default (include "fleetsim.fullname" .) .Values.secret.existingSecret }}
{{- end }}

{{/* Where that Secret's entries are mounted, one file each. */}}
{{- define "fleetsim.secretDir" -}}
/etc/fleetsim-secret
{{- end }}

{{/*
The Kafka entries the mounted Secret holds, comma-separated: from secret.kafka
for the chart's Secret, from secret.existingSecretKafkaEntries for yours.
*/}}
{{- define "fleetsim.kafkaSecretEntries" -}}
{{- if .Values.secret.existingSecret }}
{{- join "," .Values.secret.existingSecretKafkaEntries }}
{{- else }}
{{- $k := .Values.secret.kafka }}
{{- $e := list }}
{{- if $k.saslPassword }}{{ $e = append $e "kafka-sasl-password" }}{{ end }}
{{- if $k.caCert }}{{ $e = append $e "kafka-ca.pem" }}{{ end }}
{{- if $k.clientCert }}{{ $e = append $e "kafka-client-cert.pem" }}{{ end }}
{{- if $k.clientKey }}{{ $e = append $e "kafka-client-key.pem" }}{{ end }}
{{- join "," $e }}
{{- end }}
{{- end }}

{{- define "fleetsim.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "fleetsim.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
The api-keys entry of the chart's Secret: the keys given in secret.apiKeys, one id:role:secret
a line, or else one generated operate key "admin", kept across upgrades (lookup; `helm template`
cannot look, so it makes a new one each time).
*/}}
{{- define "fleetsim.apiKeys" -}}
{{- if .Values.secret.apiKeys }}
{{- range .Values.secret.apiKeys }}
{{ printf "%s:%s:%s" .id .role .secret }}
{{- end }}
{{- else }}
{{- $existing := lookup "v1" "Secret" .Release.Namespace (include "fleetsim.fullname" .) }}
{{- if and $existing $existing.data (index $existing.data "api-keys") }}
{{ index $existing.data "api-keys" | b64dec | trim }}
{{- else }}
{{ printf "admin:operate:%s" (randAlphaNum 40) }}
{{- end }}
{{- end }}
{{- end }}
