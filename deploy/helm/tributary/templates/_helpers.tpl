{{/* The release's name for every object: the release name, with the chart's name unless it holds it already. */}}
{{- define "tributary.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 52 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 52 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "tributary.headless" -}}
{{- printf "%s-headless" (include "tributary.fullname" .) -}}
{{- end -}}

{{/* Labels that select the release's pods. */}}
{{- define "tributary.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "tributary.labels" -}}
{{ include "tributary.selectorLabels" . }}
app.kubernetes.io/component: broker
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* A broker's stable DNS name: pod name, headless Service, namespace. */}}
{{- define "tributary.podHost" -}}
{{- printf "%s.%s.$(POD_NAMESPACE).svc.%s" .pod (include "tributary.headless" .root) .root.Values.clusterDomain -}}
{{- end -}}

{{/* controller.quorum.voters: every broker, node.id its ordinal. */}}
{{- define "tributary.voters" -}}
{{- $root := . -}}
{{- $voters := list -}}
{{- range $i := until (int .Values.replicas) -}}
{{- $host := include "tributary.podHost" (dict "root" $root "pod" (printf "%s-%d" (include "tributary.fullname" $root) $i)) -}}
{{- $voters = append $voters (printf "%d@%s:%d" $i $host (int $root.Values.ports.controller)) -}}
{{- end -}}
{{- join "," $voters -}}
{{- end -}}
