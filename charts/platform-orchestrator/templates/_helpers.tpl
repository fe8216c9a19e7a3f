{{/*
Names and labels shared by every template (and by the generated templates/rbac.yaml).
*/}}

{{/* The chart name, overridable with nameOverride. */}}
{{- define "platform-orchestrator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The fully qualified app name: the release name, suffixed with the chart name unless the release name contains it.
Truncated to 63 characters (DNS label limit).
*/}}
{{- define "platform-orchestrator.fullname" -}}
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

{{/* chart label value: name-version */}}
{{- define "platform-orchestrator.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Selector labels. app.kubernetes.io/name is always platform-orchestrator: devctl health finds the operator's pods by it.
*/}}
{{- define "platform-orchestrator.selectorLabels" -}}
app.kubernetes.io/name: platform-orchestrator
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Common labels of every object the chart owns. */}}
{{- define "platform-orchestrator.labels" -}}
helm.sh/chart: {{ include "platform-orchestrator.chart" . }}
{{ include "platform-orchestrator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: platform-orchestrator
{{- end }}

{{/* The ServiceAccount the operator runs as. */}}
{{- define "platform-orchestrator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "platform-orchestrator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
The ServiceAccount of the Terraform job runner's pods (runner: job): terraform.jobServiceAccount.name, default
<fullname>-terraform. The operator's settings (terraform.jobServiceAccount) and templates/rbac.yaml both use it.
*/}}
{{- define "platform-orchestrator.terraformJobServiceAccountName" -}}
{{- default (printf "%s-terraform" (include "platform-orchestrator.fullname" .) | trunc 63 | trimSuffix "-") .Values.terraform.jobServiceAccount.name }}
{{- end }}

{{/* The operator image reference (tag defaults to the chart's appVersion). */}}
{{- define "platform-orchestrator.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* The operator's probe/metrics port (also the git-sync webhook's target). */}}
{{- define "platform-orchestrator.probePort" -}}
{{- .Values.operator.probePort | int }}
{{- end }}

{{/* Name of the operator settings ConfigMap. */}}
{{- define "platform-orchestrator.configName" -}}
{{- printf "%s-config" (include "platform-orchestrator.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The restricted Pod Security container securityContext, merged with .Values.containerSecurityContext (which may add
but the template re-asserts the restricted fields last, so values cannot weaken them).
*/}}
{{- define "platform-orchestrator.containerSecurityContext" -}}
{{- $restricted := dict "runAsNonRoot" true "readOnlyRootFilesystem" true "allowPrivilegeEscalation" false "privileged" false "capabilities" (dict "drop" (list "ALL")) "seccompProfile" (dict "type" "RuntimeDefault") }}
{{- toYaml (merge $restricted (deepCopy (default (dict) .extra))) }}
{{- end }}
