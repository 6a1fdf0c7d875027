{{/* Stand-in helpers; names and labels as grafana 10.1.4 templates/_helpers.tpl makes them (no
managed-by and no `release` label). */}}
{{- define "grafana.standin.name" -}}{{ default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}{{- end -}}
{{- define "grafana.standin.fullname" -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if .Values.fullnameOverride -}}{{ .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else if contains $name .Release.Name -}}{{ .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else -}}{{ printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}{{- end -}}
{{- end -}}
{{- define "grafana.standin.namespace" -}}{{ default .Release.Namespace .Values.namespaceOverride }}{{- end -}}
{{- define "grafana.standin.selector" -}}
app.kubernetes.io/name: {{ include "grafana.standin.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}
{{- define "grafana.standin.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{ include "grafana.standin.selector" . }}
app.kubernetes.io/version: {{ default .Chart.AppVersion .Values.image.tag | quote }}
{{- end -}}
{{- define "grafana.standin.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}{{ default (include "grafana.standin.fullname" .) .Values.serviceAccount.name }}
{{- else -}}{{ default "default" .Values.serviceAccount.name }}{{- end -}}
{{- end -}}
{{- define "grafana.standin.image" -}}
{{- $img := index . 0 -}}{{- $default := index . 1 -}}
{{- printf "%s/%s:%s" $img.registry $img.repository (default $default $img.tag) -}}{{- with $img.sha }}@sha256:{{ . }}{{ end -}}
{{- end -}}
{{/* The pod: the shape Pod Security sees. With persistence, init-chown-data runs as root with CHOWN
(baseline allows it); sidecars and grafana drop ALL with seccomp RuntimeDefault. */}}
{{- define "grafana.standin.pod" -}}
serviceAccountName: {{ include "grafana.standin.serviceAccountName" . }}
automountServiceAccountToken: {{ .Values.automountServiceAccountToken }}
{{- with .Values.securityContext }}
securityContext:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- if or (and .Values.persistence.enabled .Values.initChownData.enabled) .Values.extraInitContainers }}
initContainers:
  {{- if and .Values.persistence.enabled .Values.initChownData.enabled }}
  - name: init-chown-data
    image: {{ include "grafana.standin.image" (list .Values.initChownData.image "") | quote }}
    {{- with .Values.initChownData.securityContext }}
    securityContext:
      {{- toYaml . | nindent 6 }}
    {{- end }}
    command: [chown, -R, "{{ .Values.securityContext.runAsUser }}:{{ .Values.securityContext.runAsGroup }}", /var/lib/grafana]
    volumeMounts:
      - {name: storage, mountPath: /var/lib/grafana}
  {{- end }}
  {{- with .Values.extraInitContainers }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- end }}
enableServiceLinks: {{ .Values.enableServiceLinks }}
containers:
  {{- if .Values.sidecar.dashboards.enabled }}
  - name: {{ include "grafana.standin.name" . }}-sc-dashboard
    image: {{ include "grafana.standin.image" (list .Values.sidecar.image "") | quote }}
    env:
      - {name: LABEL, value: {{ .Values.sidecar.dashboards.label | quote }}}
      {{- with .Values.sidecar.dashboards.labelValue }}
      - {name: LABEL_VALUE, value: {{ . | quote }}}
      {{- end }}
      - {name: FOLDER, value: {{ .Values.sidecar.dashboards.folder | quote }}}
      {{- with .Values.sidecar.dashboards.searchNamespace }}
      - {name: NAMESPACE, value: {{ . | quote }}}
      {{- end }}
    {{- with .Values.sidecar.securityContext }}
    securityContext:
      {{- toYaml . | nindent 6 }}
    {{- end }}
    volumeMounts:
      - {name: sc-dashboard-volume, mountPath: {{ .Values.sidecar.dashboards.folder | quote }}}
  {{- end }}
  {{- if and .Values.sidecar.datasources.enabled (not .Values.sidecar.datasources.initDatasources) }}
  - name: {{ include "grafana.standin.name" . }}-sc-datasources
    image: {{ include "grafana.standin.image" (list .Values.sidecar.image "") | quote }}
    env:
      - {name: LABEL, value: {{ .Values.sidecar.datasources.label | quote }}}
      {{- with .Values.sidecar.datasources.labelValue }}
      - {name: LABEL_VALUE, value: {{ . | quote }}}
      {{- end }}
    {{- with .Values.sidecar.securityContext }}
    securityContext:
      {{- toYaml . | nindent 6 }}
    {{- end }}
    volumeMounts:
      - {name: sc-datasources-volume, mountPath: /etc/grafana/provisioning/datasources}
  {{- end }}
  - name: {{ .Chart.Name }}
    image: {{ include "grafana.standin.image" (list .Values.image .Chart.AppVersion) | quote }}
    {{- with .Values.containerSecurityContext }}
    securityContext:
      {{- toYaml . | nindent 6 }}
    {{- end }}
    ports:
      - {name: {{ .Values.podPortName }}, containerPort: {{ .Values.service.targetPort }}, protocol: TCP}
      - {name: gossip-tcp, containerPort: 9094, protocol: TCP}
      - {name: gossip-udp, containerPort: 9094, protocol: UDP}
      - {name: profiling, containerPort: 6060, protocol: TCP}
    env:
      {{- if and (not .Values.env.GF_SECURITY_ADMIN_USER) (not .Values.env.GF_SECURITY_ADMIN_USER__FILE) (not .Values.env.GF_SECURITY_DISABLE_INITIAL_ADMIN_CREATION) }}
      - name: GF_SECURITY_ADMIN_USER
        valueFrom:
          secretKeyRef:
            name: {{ (tpl .Values.admin.existingSecret .) | default (include "grafana.standin.fullname" .) }}
            key: {{ .Values.admin.userKey | default "admin-user" }}
      {{- end }}
      {{- if and (not .Values.env.GF_SECURITY_ADMIN_PASSWORD) (not .Values.env.GF_SECURITY_ADMIN_PASSWORD__FILE) (not .Values.env.GF_SECURITY_DISABLE_INITIAL_ADMIN_CREATION) }}
      - name: GF_SECURITY_ADMIN_PASSWORD
        valueFrom:
          secretKeyRef:
            name: {{ (tpl .Values.admin.existingSecret .) | default (include "grafana.standin.fullname" .) }}
            key: {{ .Values.admin.passwordKey | default "admin-password" }}
      {{- end }}
    volumeMounts:
      - {name: config, mountPath: /etc/grafana/grafana.ini, subPath: grafana.ini}
      - {name: storage, mountPath: /var/lib/grafana}
      {{- if .Values.sidecar.dashboards.enabled }}
      - {name: sc-dashboard-volume, mountPath: {{ .Values.sidecar.dashboards.folder | quote }}}
      - {name: sc-dashboard-provider, mountPath: /etc/grafana/provisioning/dashboards/sc-dashboardproviders.yaml, subPath: provider.yaml}
      {{- end }}
      {{- if .Values.sidecar.datasources.enabled }}
      - {name: sc-datasources-volume, mountPath: /etc/grafana/provisioning/datasources}
      {{- end }}
{{- with .Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
volumes:
  - name: config
    configMap:
      name: {{ include "grafana.standin.fullname" . }}
  {{- if and .Values.persistence.enabled (eq .Values.persistence.type "pvc") }}
  - name: storage
    persistentVolumeClaim:
      claimName: {{ tpl (.Values.persistence.existingClaim | default (include "grafana.standin.fullname" .)) . }}
  {{- else if and .Values.persistence.enabled (has .Values.persistence.type (list "sts" "statefulset" "StatefulSet")) }}
  {{- /* the StatefulSet's volumeClaimTemplates provide "storage" */}}
  {{- else }}
  - name: storage
    emptyDir: {}
  {{- end }}
  {{- if .Values.sidecar.dashboards.enabled }}
  - {name: sc-dashboard-volume, emptyDir: {}}
  - name: sc-dashboard-provider
    configMap:
      name: {{ include "grafana.standin.fullname" . }}-config-dashboards
  {{- end }}
  {{- if .Values.sidecar.datasources.enabled }}
  - {name: sc-datasources-volume, emptyDir: {}}
  {{- end }}
{{- end -}}
