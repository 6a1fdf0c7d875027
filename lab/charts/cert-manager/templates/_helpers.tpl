{{/* Stand-in helpers; names and labels as cert-manager v1.19.1
deploy/charts/cert-manager/templates/_helpers.tpl makes them. */}}
{{- define "standin.name" -}}{{ default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}{{- end -}}
{{- define "standin.fullname" -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if .Values.fullnameOverride -}}{{ .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else if contains $name .Release.Name -}}{{ .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else -}}{{ printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}{{- end -}}
{{- end -}}
{{- define "standin.namespace" -}}{{ default .Release.Namespace .Values.namespace }}{{- end -}}
{{/* component names: controller keeps the chart's name; the others are their own */}}
{{- define "standin.componentName" -}}
{{- $ctx := index . 0 -}}{{- $c := index . 1 -}}
{{- if eq $c "controller" -}}{{ include "standin.name" $ctx }}{{- else -}}{{ $c }}{{- end -}}
{{- end -}}
{{- define "standin.componentFullname" -}}
{{- $ctx := index . 0 -}}{{- $c := index . 1 -}}
{{- if eq $c "controller" -}}{{ include "standin.fullname" $ctx }}
{{- else -}}{{ printf "%s-%s" (include "standin.fullname" $ctx | trunc (int (sub 62 (len $c))) | trimSuffix "-") $c | trunc 63 | trimSuffix "-" }}{{- end -}}
{{- end -}}
{{- define "standin.labels" -}}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- if eq .Values.creator "helm" }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end }}
{{- end -}}
{{/* the labels of one component ("controller", "webhook", "cainjector", "startupapicheck") */}}
{{- define "standin.componentLabels" -}}
{{- $ctx := index . 0 -}}{{- $c := index . 1 -}}
app: {{ include "standin.componentName" (list $ctx $c) }}
app.kubernetes.io/name: {{ include "standin.componentName" (list $ctx $c) }}
app.kubernetes.io/instance: {{ $ctx.Release.Name }}
app.kubernetes.io/component: {{ $c | quote }}
{{ include "standin.labels" $ctx }}
{{- end -}}
{{- define "standin.componentSelector" -}}
{{- $ctx := index . 0 -}}{{- $c := index . 1 -}}
app.kubernetes.io/name: {{ include "standin.componentName" (list $ctx $c) }}
app.kubernetes.io/instance: {{ $ctx.Release.Name }}
app.kubernetes.io/component: {{ $c | quote }}
{{- end -}}
{{- define "standin.image" -}}
{{- $img := index . 0 -}}{{- $default := index . 1 -}}
{{- if $img.registry -}}{{ printf "%s/%s" $img.registry $img.repository }}{{- else -}}{{ $img.repository }}{{- end -}}
{{- if $img.digest -}}{{ printf "@%s" $img.digest }}{{- else -}}{{ printf ":%s" (default $default $img.tag) }}{{- end -}}
{{- end -}}
{{/* The values of one component: the controller's are the top level. */}}
{{- define "standin.componentValues" -}}
{{- $ctx := index . 0 -}}{{- $c := index . 1 -}}
{{- if eq $c "controller" }}{{ toYaml $ctx.Values }}{{ else }}{{ toYaml (index $ctx.Values $c) }}{{ end -}}
{{- end -}}
{{- define "standin.serviceAccountName" -}}
{{- $ctx := index . 0 -}}{{- $c := index . 1 -}}
{{- $v := include "standin.componentValues" (list $ctx $c) | fromYaml -}}
{{- if $v.serviceAccount.create -}}{{ default (include "standin.componentFullname" (list $ctx $c)) $v.serviceAccount.name }}
{{- else -}}{{ default "default" $v.serviceAccount.name }}{{- end -}}
{{- end -}}
