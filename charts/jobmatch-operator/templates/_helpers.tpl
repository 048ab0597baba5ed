{{/*
Names are fixed, as in manifests/install: the ClusterRole, the CRD and the leader-election Lease are
cluster-wide or named by the operator, so one release of this chart runs per cluster.
*/}}

{{/* The selector of the operator pods: the two labels manifests/install selects by (no instance label). */}}
{{- define "jobmatch-operator.selectorLabels" -}}
app.kubernetes.io/name: jobmatch-operator
app.kubernetes.io/component: controller
{{- end }}

{{/* Labels of every object: manifests/install's app.kubernetes.io/name, and Helm's own. */}}
{{- define "jobmatch-operator.labels" -}}
app.kubernetes.io/name: jobmatch-operator
app.kubernetes.io/part-of: jobmatch-operator
app.kubernetes.io/instance: {{ .Release.Name | quote }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service | quote }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" | quote }}
{{- end }}

{{/* Labels of the controller's objects (Deployment, Service): the above and the component. */}}
{{- define "jobmatch-operator.controllerLabels" -}}
{{ include "jobmatch-operator.labels" . }}
app.kubernetes.io/component: controller
{{- end }}

{{/* The image: repository@digest when a digest is set, else repository:tag (tag defaults to appVersion). */}}
{{- define "jobmatch-operator.image" -}}
{{- if .Values.image.digest -}}
{{ .Values.image.repository }}@{{ .Values.image.digest }}
{{- else -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}
{{- end }}

{{/* The operator's ServiceAccount. */}}
{{- define "jobmatch-operator.serviceAccountName" -}}
{{ .Values.serviceAccount.name }}
{{- end }}

{{/* `jobmatch-operator run`'s arguments: the config file, drift events, then extraArgs. */}}
{{- define "jobmatch-operator.args" -}}
- run
- --config
- /etc/jobmatch-operator/config.yaml
{{- with .Values.driftEvents.subscription }}
- --drift-events
- {{ . | quote }}
{{- end }}
{{- range .Values.driftEvents.principals }}
- --drift-events-principal
- {{ . | quote }}
{{- end }}
{{- if gt (int .Values.sharding.shards) 1 }}
- --shards
- {{ .Values.sharding.shards | quote }}
{{- end }}
{{- range .Values.extraArgs }}
- {{ . | quote }}
{{- end }}
{{- end }}
