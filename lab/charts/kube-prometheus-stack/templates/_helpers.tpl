{{/* Stand-in helpers; names and labels as kube-prometheus-stack 79.5.0 templates/_helpers.tpl
makes them: the full name is truncated to 26 characters, and every object of the chart itself
carries `release: <release name>` (the label its Prometheus selects monitors and rules by). */}}
{{- define "kps.standin.name" -}}{{ default .Chart.Name .Values.nameOverride | trunc 50 | trimSuffix "-" }}{{- end -}}
{{- define "kps.standin.fullname" -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if .Values.fullnameOverride -}}{{ .Values.fullnameOverride | trunc 26 | trimSuffix "-" }}
{{- else if contains $name .Release.Name -}}{{ .Release.Name | trunc 26 | trimSuffix "-" }}
{{- else -}}{{ printf "%s-%s" .Release.Name $name | trunc 26 | trimSuffix "-" }}{{- end -}}
{{- end -}}
{{- define "kps.standin.namespace" -}}{{ default .Release.Namespace .Values.namespaceOverride }}{{- end -}}
{{- define "kps.standin.operator.fullname" -}}
{{- if .Values.prometheusOperator.fullnameOverride -}}{{ .Values.prometheusOperator.fullnameOverride | trunc 35 | trimSuffix "-" }}
{{- else -}}{{ printf "%s-operator" (include "kps.standin.fullname" .) }}{{- end -}}
{{- end -}}
{{- define "kps.standin.prometheus.crname" -}}
{{- if .Values.cleanPrometheusOperatorObjectNames -}}{{ include "kps.standin.fullname" . }}{{- else -}}{{ include "kps.standin.fullname" . }}-prometheus{{- end -}}
{{- end -}}
{{- define "kps.standin.alertmanager.crname" -}}
{{- if .Values.cleanPrometheusOperatorObjectNames -}}{{ include "kps.standin.fullname" . }}{{- else -}}{{ include "kps.standin.fullname" . }}-alertmanager{{- end -}}
{{- end -}}
{{- define "kps.standin.labels" -}}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: "{{ replace "+" "_" .Chart.Version }}"
app.kubernetes.io/part-of: {{ include "kps.standin.name" . }}
chart: {{ printf "%s-%s" .Chart.Name (replace "+" "_" .Chart.Version) }}
release: {{ .Release.Name | quote }}
heritage: {{ .Release.Service | quote }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}
{{- define "kps.standin.operator.labels" -}}
{{ include "kps.standin.labels" . }}
app: {{ include "kps.standin.name" . }}-operator
app.kubernetes.io/name: {{ include "kps.standin.name" . }}-prometheus-operator
app.kubernetes.io/component: prometheus-operator
{{- end -}}
{{- define "kps.standin.webhook.labels" -}}
{{ include "kps.standin.labels" . }}
app.kubernetes.io/name: {{ include "kps.standin.name" . }}-prometheus-operator
app.kubernetes.io/component: prometheus-operator-webhook
{{- end -}}
{{/* "<registry>/<repository>:<tag>[@sha256:<sha>]" with global.imageRegistry first, as upstream */}}
{{- define "kps.standin.image" -}}
{{- $ctx := index . 0 -}}{{- $img := index . 1 -}}{{- $default := index . 2 -}}
{{- $reg := $ctx.Values.global.imageRegistry | default $img.registry -}}
{{- printf "%s/%s" $reg $img.repository -}}
{{- with (default $default $img.tag) }}:{{ . }}{{ end -}}
{{- with $img.sha }}@sha256:{{ . }}{{ end -}}
{{- end -}}
{{/* serviceAccountName of a component: (list . <component values> <default name>) */}}
{{- define "kps.standin.serviceAccountName" -}}
{{- $v := index . 1 -}}
{{- if $v.serviceAccount.create -}}{{ default (index . 2) $v.serviceAccount.name }}{{- else -}}{{ default "default" $v.serviceAccount.name }}{{- end -}}
{{- end -}}
{{/* A selector as prometheus.yaml writes it: the given one, else `release: <release>` when the
NilUsesHelmValues switch is on, else {} (or nothing when `emptyWhenNull` and the value is null). */}}
{{- define "kps.standin.selectorField" -}}
{{- $ctx := index . 0 -}}{{- $field := index . 1 -}}{{- $omitNull := index . 2 -}}
{{- $spec := $ctx.Values.prometheus.prometheusSpec -}}
{{- $sel := index $spec $field -}}
{{- if $sel }}
{{ $field }}:
  {{- tpl (toYaml $sel) $ctx | nindent 2 }}
{{- else if index $spec (printf "%sNilUsesHelmValues" $field) }}
{{ $field }}:
  matchLabels:
    release: {{ $ctx.Release.Name | quote }}
{{- else if or (not $omitNull) (not (kindIs "invalid" $sel)) }}
{{ $field }}: {}
{{- end }}
{{- end -}}
