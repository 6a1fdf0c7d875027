{{/* Stand-in helpers; names as metallb v0.15.2 charts/metallb/templates/_helpers.tpl makes them. */}}
{{- define "standin.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "standin.fullname" -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if .Values.fullnameOverride -}}{{ .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else if contains $name .Release.Name -}}{{ .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else -}}{{ printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end -}}
{{- end -}}

{{- define "standin.selector" -}}
app.kubernetes.io/name: {{ include "standin.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "standin.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{ include "standin.selector" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "standin.controllerSA" -}}
{{- if .Values.controller.serviceAccount.create -}}{{ default (printf "%s-controller" (include "standin.fullname" .)) .Values.controller.serviceAccount.name }}
{{- else -}}{{ default "default" .Values.controller.serviceAccount.name }}{{- end -}}
{{- end -}}

{{- define "standin.speakerSA" -}}
{{- if .Values.speaker.serviceAccount.create -}}{{ default (printf "%s-speaker" (include "standin.fullname" .)) .Values.speaker.serviceAccount.name }}
{{- else -}}{{ default "default" .Values.speaker.serviceAccount.name }}{{- end -}}
{{- end -}}

{{/* image "<repository>" "<tag or empty>" with the appVersion as the default tag */}}
{{- define "standin.image" -}}
{{- $ctx := index . 0 -}}{{- $img := index . 1 -}}
{{- printf "%s:%s" $img.repository (default $ctx.Chart.AppVersion $img.tag) -}}
{{- end -}}
