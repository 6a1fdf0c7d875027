{{/* Stand-in helpers; names and labels as prometheus-node-exporter 4.49.1 templates/_helpers.tpl
makes them (`release: <release>` with releaseLabel, which kube-prometheus-stack turns on). */}}
{{- define "prometheus-node-exporter.standin.name" -}}{{ default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}{{- end -}}
{{- define "prometheus-node-exporter.standin.fullname" -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if .Values.fullnameOverride -}}{{ .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else if contains $name .Release.Name -}}{{ .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else -}}{{ printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}{{- end -}}
{{- end -}}
{{- define "prometheus-node-exporter.standin.namespace" -}}{{ default .Release.Namespace .Values.namespaceOverride }}{{- end -}}
{{- define "prometheus-node-exporter.standin.selector" -}}
app.kubernetes.io/name: {{ include "prometheus-node-exporter.standin.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}
{{- define "prometheus-node-exporter.standin.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/component: metrics
app.kubernetes.io/part-of: {{ include "prometheus-node-exporter.standin.name" . }}
{{ include "prometheus-node-exporter.standin.selector" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- with .Values.commonLabels }}
{{ tpl (toYaml .) $ }}
{{- end }}
{{- if .Values.releaseLabel }}
release: {{ .Release.Name }}
{{- end }}
{{- end -}}
{{- define "prometheus-node-exporter.standin.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}{{ default (include "prometheus-node-exporter.standin.fullname" .) .Values.serviceAccount.name }}
{{- else -}}{{ default "default" .Values.serviceAccount.name }}{{- end -}}
{{- end -}}
