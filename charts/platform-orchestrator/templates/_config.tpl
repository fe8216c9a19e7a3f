{{/*
The operator settings file (orchestrator run --config), as a dict: the chart's values first, then
.Values.operator.settings merged over them. Volume mounts read the writable paths from the same dict, so a
settings override of catalog.cacheDir or terraform.workDir moves the emptyDir with it.
*/}}
{{- define "platform-orchestrator.settings" -}}
{{- $base := dict
  "namespace" .Release.Namespace
  "watchNamespaces" .Values.operator.watchNamespaces
  "clusterName" .Values.operator.clusterName
  "environmentsConfigmap" .Values.environments.configMapName
  "probeHost" "0.0.0.0"
  "probePort" (.Values.operator.probePort | int)
  "catalog" (dict "cacheDir" "/var/cache/orchestrator")
  "terraform" (dict
    "workDir" "/var/lib/orchestrator/terraform"
    "pluginCacheDir" "/var/cache/orchestrator/terraform-plugins"
    "jobImage" (include "platform-orchestrator.image" .)
    "jobServiceAccount" (include "platform-orchestrator.terraformJobServiceAccountName" .))
}}
{{- if .Values.operator.peering }}
{{- $_ := set $base "peering" .Values.operator.peering }}
{{- end }}
{{- toYaml (mustMergeOverwrite $base (deepCopy .Values.operator.settings)) }}
{{- end }}

{{/* Whether the git-sync sidecar runs: enabled and a repository given. */}}
{{- define "platform-orchestrator.gitSyncOn" -}}
{{- if and .Values.gitSync.enabled .Values.gitSync.repo }}true{{ end }}
{{- end }}
