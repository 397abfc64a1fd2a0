{{/*
_helpers.tpl owns every object name and the app.kubernetes.io/* labels of the chart. Templates
call these helpers; none spells a name or a label set itself.
*/}}

{{/* The chart name, or nameOverride. */}}
{{- define "iscsi-csi.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* "<release>-<name>", or the release name when it already contains the name, or fullnameOverride.
Kept to 40 characters so that the longest suffix ("-controller-metrics") still fits in 63. */}}
{{- define "iscsi-csi.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- $name := include "iscsi-csi.name" . -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Object names, one per role. */}}
{{- define "iscsi-csi.controllerName" -}}{{ include "iscsi-csi.fullname" . }}-controller{{- end -}}
{{- define "iscsi-csi.nodeName" -}}{{ include "iscsi-csi.fullname" . }}-node{{- end -}}
{{- define "iscsi-csi.portalServiceName" -}}{{ include "iscsi-csi.fullname" . }}-portal{{- end -}}
{{- define "iscsi-csi.controllerMetricsServiceName" -}}{{ include "iscsi-csi.fullname" . }}-controller-metrics{{- end -}}
{{- define "iscsi-csi.nodeMetricsServiceName" -}}{{ include "iscsi-csi.fullname" . }}-node-metrics{{- end -}}
{{/* Cluster-wide RBAC object of a sidecar: (list $ "provisioner"). */}}
{{- define "iscsi-csi.clusterRbacName" -}}
{{- printf "%s-%s" (include "iscsi-csi.fullname" (index . 0)) (index . 1) -}}
{{- end -}}

{{/* The environment variable Kubernetes injects with the portal Service's cluster IP
(service links: <SERVICE_NAME>_SERVICE_HOST, upper case, '-' -> '_'). */}}
{{- define "iscsi-csi.portalServiceHostEnv" -}}
{{- include "iscsi-csi.portalServiceName" . | upper | replace "-" "_" -}}_SERVICE_HOST
{{- end -}}

{{/* helm.sh/chart label value. */}}
{{- define "iscsi-csi.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Selector labels of a component: (list $ "controller"). Immutable once deployed. */}}
{{- define "iscsi-csi.selectorLabels" -}}
{{- $ctx := index . 0 -}}{{- $component := index . 1 -}}
app.kubernetes.io/name: {{ include "iscsi-csi.name" $ctx }}
app.kubernetes.io/instance: {{ $ctx.Release.Name }}
app.kubernetes.io/component: {{ $component }}
{{- end -}}

{{/* All labels of an object of a component: (list $ "controller"). */}}
{{- define "iscsi-csi.labels" -}}
{{- $ctx := index . 0 -}}
{{ include "iscsi-csi.selectorLabels" . }}
app.kubernetes.io/part-of: iscsi-csi
app.kubernetes.io/version: {{ include "iscsi-csi.imageTag" $ctx | trunc 63 | trimSuffix "-" | quote }}
app.kubernetes.io/managed-by: {{ $ctx.Release.Service }}
helm.sh/chart: {{ include "iscsi-csi.chart" $ctx }}
{{- with $ctx.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Labels of a component's pods: (list $ "node"). No chart or app version, so that a chart
bump alone never restarts the controller (a restart pauses every volume's I/O). */}}
{{- define "iscsi-csi.podLabels" -}}
{{- $ctx := index . 0 -}}
{{ include "iscsi-csi.selectorLabels" . }}
app.kubernetes.io/part-of: iscsi-csi
{{- with $ctx.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* The iscsi-csi image tag: image.tag or the chart's appVersion. */}}
{{- define "iscsi-csi.imageTag" -}}
{{- default .Chart.AppVersion .Values.image.tag -}}
{{- end -}}

{{/* An image reference from {repository, tag, digest}: repository@digest when a digest is set. */}}
{{- define "iscsi-csi.imageRef" -}}
{{- $image := index . 0 -}}{{- $defaultTag := index . 1 -}}
{{- if $image.digest -}}
{{- printf "%s@%s" $image.repository $image.digest -}}
{{- else -}}
{{- printf "%s:%s" $image.repository (default $defaultTag $image.tag) -}}
{{- end -}}
{{- end -}}

{{/* The iscsi-csi image. */}}
{{- define "iscsi-csi.image" -}}
{{- include "iscsi-csi.imageRef" (list .Values.image .Chart.AppVersion) -}}
{{- end -}}

{{/* The plugin directory of the driver under the kubelet's root (node socket lives there). */}}
{{- define "iscsi-csi.pluginDir" -}}
{{- printf "%s/plugins/%s" (trimSuffix "/" .Values.kubeletPath) .Values.driverName -}}
{{- end -}}

{{/* Whether the snapshotter sidecar is rendered: enabled and the cluster serves the API. */}}
{{- define "iscsi-csi.snapshotterEnabled" -}}
{{- if and .Values.sidecars.snapshotter.enabled (.Capabilities.APIVersions.Has "snapshot.storage.k8s.io/v1") -}}true{{- end -}}
{{- end -}}

{{/* Whether the controller pod has a Role (leases for leader election, capacity objects). */}}
{{- define "iscsi-csi.controllerRoleNeeded" -}}
{{- if or .Values.controller.leaderElection.enabled .Values.sidecars.provisioner.capacity.enabled -}}true{{- end -}}
{{- end -}}

{{/* Leader-election arguments of a controller sidecar. */}}
{{- define "iscsi-csi.leaderElectionArgs" -}}
{{- if .Values.controller.leaderElection.enabled }}
- --leader-election=true
- --leader-election-namespace=$(NAMESPACE)
{{- end }}
{{- end -}}

{{/* Log level argument of an iscsi-csi container. */}}
{{- define "iscsi-csi.logLevelArg" -}}
--log-level={{ . }}
{{- end -}}
