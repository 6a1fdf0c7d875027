{{/* Stand-in helpers; names and labels as traefik-helm-chart v37.3.0 traefik/templates/_helpers.tpl
makes them (the instance label is "<release>-<namespace>"). */}}
{{- define "standin.name" -}}{{ default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}{{- end -}}
{{- define "standin.fullname" -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if .Values.fullnameOverride -}}{{ .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else if contains $name .Release.Name -}}{{ .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else -}}{{ printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}{{- end -}}
{{- end -}}
{{- define "standin.namespace" -}}{{ default .Release.Namespace .Values.namespaceOverride }}{{- end -}}
{{- define "standin.selector" -}}
app.kubernetes.io/name: {{ include "standin.name" . }}
app.kubernetes.io/instance: {{ default (printf "%s-%s" .Release.Name (include "standin.namespace" .)) .Values.instanceLabelOverride | trunc 63 | trimSuffix "-" }}
{{- end -}}
{{- define "standin.labels" -}}
{{ include "standin.selector" . }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}
{{- define "standin.portname" -}}{{ . | lower | trimPrefix "-" | trunc 15 | trimSuffix "-" }}{{- end -}}

{{/* The pod template: the shape Pod Security sees (hostNetwork, host ports, hostPath plugins,
the pod and container security contexts, volumes) and the scheduling constraints. */}}
{{- define "standin.pod" -}}
metadata:
  labels:
    {{- include "standin.labels" . | nindent 4 }}
    {{- with .Values.deployment.podLabels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  serviceAccountName: {{ default (include "standin.fullname" .) .Values.serviceAccount.name }}
  automountServiceAccountToken: true
  terminationGracePeriodSeconds: 60
  hostNetwork: {{ .Values.hostNetwork }}
  {{- with .Values.podSecurityContext }}
  securityContext:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  containers:
    - name: {{ include "standin.fullname" . }}
      image: {{ printf "%s/%s:%s" .Values.image.registry .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
      imagePullPolicy: {{ .Values.image.pullPolicy }}
      args:
        {{- range $name, $config := .Values.ports }}
        {{- if $config }}
        - "--entryPoints.{{ $name }}.address={{ $config.hostIP }}:{{ $config.port }}/{{ default "tcp" $config.protocol | lower }}"
        {{- with ($config.redirections).entryPoint }}
        {{- $to := index $.Values.ports .to }}
        - "--entryPoints.{{ $name }}.http.redirections.entryPoint.to=:{{ $to.exposedPort }}"
        {{- with .scheme }}
        - "--entryPoints.{{ $name }}.http.redirections.entryPoint.scheme={{ . }}"
        {{- end }}
        {{- end }}
        {{- end }}
        {{- end }}
      ports:
        {{- range $name, $config := .Values.ports }}
        {{- if $config }}
        - name: {{ include "standin.portname" $name }}
          containerPort: {{ default $config.port $config.containerPort }}
          {{- with $config.hostPort }}
          hostPort: {{ . }}
          {{- end }}
          {{- with $config.hostIP }}
          hostIP: {{ . }}
          {{- end }}
          protocol: {{ default "TCP" $config.protocol }}
        {{- if ($config.http3).enabled }}
        - name: {{ printf "%s-http3" $name | include "standin.portname" }}
          containerPort: {{ $config.port }}
          {{- with $config.hostPort }}
          hostPort: {{ default . $config.http3.advertisedPort }}
          {{- end }}
          protocol: UDP
        {{- end }}
        {{- end }}
        {{- end }}
      {{- with .Values.securityContext }}
      securityContext:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      volumeMounts:
        - {name: {{ .Values.persistence.name }}, mountPath: {{ .Values.persistence.path }}}
        - {name: tmp, mountPath: /tmp}
        {{- range $pluginName, $plugin := .Values.experimental.localPlugins }}
        - {name: {{ $pluginName | replace "." "-" }}, mountPath: {{ $plugin.mountPath | quote }}}
        {{- end }}
  volumes:
    - name: {{ .Values.persistence.name }}
      {{- if .Values.persistence.enabled }}
      persistentVolumeClaim:
        claimName: {{ default (include "standin.fullname" .) .Values.persistence.existingClaim }}
      {{- else }}
      emptyDir: {}
      {{- end }}
    - {name: tmp, emptyDir: {}}
    {{- range $pluginName, $plugin := .Values.experimental.localPlugins }}
    - name: {{ $pluginName | replace "." "-" }}
      hostPath:
        path: {{ $plugin.hostPath | quote }}
    {{- end }}
  {{- with .Values.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.priorityClassName }}
  priorityClassName: {{ . }}
  {{- end }}
{{- end -}}
