{{/* Stand-in helpers; names and labels as argo-helm argo-cd-9.1.3 charts/argo-cd/templates/_helpers.tpl
and _common.tpl make them (nameOverride "argocd": workloads are "<release>-argocd-<component>"). */}}
{{- define "standin.name" -}}{{ default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}{{- end -}}
{{- define "standin.fullname" -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if .Values.fullnameOverride -}}{{ .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else if contains $name .Release.Name -}}{{ .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else -}}{{ printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}{{- end -}}
{{- end -}}
{{- define "standin.namespace" -}}{{ default .Release.Namespace .Values.namespaceOverride | trunc 63 | trimSuffix "-" }}{{- end -}}
{{/* labels (dict "context" . "component" <c> "name" <n>) */}}
{{- define "standin.selector" -}}
{{- if .name -}}
app.kubernetes.io/name: {{ include "standin.name" .context }}-{{ .name }}
{{ end -}}
app.kubernetes.io/instance: {{ .context.Release.Name }}
{{- with .component }}
app.kubernetes.io/component: {{ . }}
{{- end }}
{{- end -}}
{{- define "standin.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .context.Chart.Name .context.Chart.Version }}
{{ include "standin.selector" . }}
app.kubernetes.io/managed-by: {{ .context.Release.Service }}
app.kubernetes.io/part-of: argocd
app.kubernetes.io/version: {{ default .context.Chart.AppVersion .context.Values.global.image.tag }}
{{- with .context.Values.global.additionalLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}
{{- define "standin.componentFullname" -}}
{{- $ctx := index . 0 -}}{{- $v := index . 1 -}}
{{- printf "%s-%s" (include "standin.fullname" $ctx) $v.name | trunc (ternary 52 63 (eq $v.name $ctx.Values.controller.name)) | trimSuffix "-" -}}
{{- end -}}
{{- define "standin.serviceAccountName" -}}
{{- $ctx := index . 0 -}}{{- $v := index . 1 -}}
{{- if $v.serviceAccount.create -}}{{ default (include "standin.componentFullname" (list $ctx $v)) $v.serviceAccount.name }}
{{- else -}}{{ default "default" $v.serviceAccount.name }}{{- end -}}
{{- end -}}
{{- define "standin.argocdImage" -}}
{{- $ctx := index . 0 -}}{{- $v := index . 1 -}}
{{- $img := default dict $v.image -}}
{{- printf "%s:%s" (default $ctx.Values.global.image.repository $img.repository) (default (default $ctx.Chart.AppVersion $ctx.Values.global.image.tag) $img.tag) -}}
{{- end -}}
