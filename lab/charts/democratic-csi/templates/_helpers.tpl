{{/* Stand-in helpers; names as democratic-csi chart 0.15.0 stable/democratic-csi/templates/_helpers.tpl
makes them. */}}
{{- define "standin.name" -}}{{ default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}{{- end -}}
{{- define "standin.fullname" -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if .Values.fullnameOverride -}}{{ .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else if contains $name .Release.Name -}}{{ .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else -}}{{ printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}{{- end -}}
{{- end -}}
{{- define "standin.labels" -}}
app.kubernetes.io/name: {{ include "standin.name" . }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}
{{/* the pod selector of a role ("controller" or "node") */}}
{{- define "standin.selector" -}}
{{- $ctx := index . 0 -}}{{- $role := index . 1 -}}
app.kubernetes.io/name: {{ include "standin.name" $ctx }}
app.kubernetes.io/instance: {{ $ctx.Release.Name }}
app.kubernetes.io/managed-by: {{ $ctx.Release.Service }}
app.kubernetes.io/csi-role: {{ $role | quote }}
app.kubernetes.io/component: {{ printf "%s-linux" $role | quote }}
{{- end -}}
{{/* iSCSI host paths are mounted when the driver's name contains "iscsi" (upstream mount-iscsi);
like upstream, a missing driver.config.driver is a render error. */}}
{{- define "standin.mountIscsi" -}}{{ contains "iscsi" .Values.driver.config.driver }}{{- end -}}
{{/* The CSI sidecars of the controller: in the controller Deployment with strategy "deployment",
in the node DaemonSet with strategy "node" (upstream includes them where the strategy says). */}}
{{- define "standin.controllerSidecars" -}}
{{- $c := .Values.controller -}}
{{- if $c.externalAttacher.enabled }}
- name: external-attacher
  image: "{{ $c.externalAttacher.image.registry }}:{{ $c.externalAttacher.image.tag }}"
  volumeMounts: [{mountPath: /csi-data, name: socket-dir}]
{{- end }}
{{- if and $c.enabled $c.externalProvisioner.enabled }}
- name: external-provisioner
  image: "{{ $c.externalProvisioner.image.registry }}:{{ $c.externalProvisioner.image.tag }}"
  volumeMounts: [{mountPath: /csi-data, name: socket-dir}]
{{- end }}
{{- if and $c.enabled $c.externalResizer.enabled }}
- name: external-resizer
  image: "{{ $c.externalResizer.image.registry }}:{{ $c.externalResizer.image.tag }}"
  volumeMounts: [{mountPath: /csi-data, name: socket-dir}]
{{- end }}
{{- if and $c.enabled $c.externalSnapshotter.enabled }}
- name: external-snapshotter
  image: "{{ $c.externalSnapshotter.image.registry }}:{{ $c.externalSnapshotter.image.tag }}"
  volumeMounts: [{mountPath: /csi-data, name: socket-dir}]
{{- end }}
{{- if $c.externalHealthMonitorController.enabled }}
- name: external-health-monitor-controller
  image: "{{ $c.externalHealthMonitorController.image.registry }}:{{ $c.externalHealthMonitorController.image.tag }}"
  volumeMounts: [{mountPath: /csi-data, name: socket-dir}]
{{- end }}
{{- end -}}
{{- define "standin.csiProxy" -}}
{{- if .Values.csiProxy.enabled }}
- name: csi-proxy
  image: "{{ .Values.csiProxy.image.registry }}:{{ .Values.csiProxy.image.tag }}"
  volumeMounts: [{mountPath: /csi-data, name: socket-dir}]
{{- end }}
{{- end -}}
