{{/* The chart's name, or nameOverride. */}}
{{- define "expressway.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The release's full name: objects are named after it. */}}
{{- define "expressway.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "expressway.selectorLabels" -}}
app.kubernetes.io/name: {{ include "expressway.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "expressway.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "expressway.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/component: pipelines
{{- end }}

{{- define "expressway.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "expressway.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "expressway.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag }}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository $tag }}
{{- end }}
{{- end }}

{{/* The pipelines whose source is of type $type (a list). */}}
{{- define "expressway.sourcesOfType" -}}
{{- $type := index . 1 }}
{{- $found := list }}
{{- range (index . 0).Values.config.pipelines | default list }}
{{- if eq (toString (dig "source" "type" "" .)) $type }}
{{- $found = append $found . }}
{{- end }}
{{- end }}
{{- toJson $found }}
{{- end }}

{{/* StatefulSet or Deployment. */}}
{{- define "expressway.workloadKind" -}}
{{- if eq .Values.workload "auto" }}
{{- $kafka := include "expressway.sourcesOfType" (list . "kafka") | fromJsonArray }}
{{- if and (not .Values.existingConfig.configMap) (not .Values.existingConfig.secret) $kafka }}StatefulSet{{ else }}Deployment{{ end }}
{{- else }}
{{- .Values.workload }}
{{- end }}
{{- end }}

{{/*
A human duration of the configuration (`25s`, `1m30s`, `500ms`, `2h`) in
whole seconds, rounded up.
*/}}
{{- define "expressway.durationSeconds" -}}
{{- $ms := 0 }}
{{- range regexFindAll "[0-9]+(ms|h|m|s)" (toString .) -1 }}
{{- $n := regexFind "^[0-9]+" . | atoi }}
{{- if hasSuffix "ms" . }}{{ $ms = add $ms $n }}
{{- else if hasSuffix "h" . }}{{ $ms = add $ms (mul $n 3600000) }}
{{- else if hasSuffix "m" . }}{{ $ms = add $ms (mul $n 60000) }}
{{- else }}{{ $ms = add $ms (mul $n 1000) }}
{{- end }}
{{- end }}
{{- div (add $ms 999) 1000 }}
{{- end }}

{{/* The pod's grace period: drain_timeout + 15 s, unless set. */}}
{{- define "expressway.terminationGracePeriodSeconds" -}}
{{- if not (kindIs "invalid" .Values.terminationGracePeriodSeconds) }}
{{- .Values.terminationGracePeriodSeconds }}
{{- else }}
{{- $drain := dig "runtime" "drain_timeout" "25s" .Values.config }}
{{- add (include "expressway.durationSeconds" $drain | atoi) 15 }}
{{- end }}
{{- end }}

{{/* The configuration file the chart renders: `config` plus metrics and api. */}}
{{- define "expressway.configFile" -}}
{{- $config := deepCopy .Values.config }}
{{- if not $config.pipelines }}
{{- $_ := unset $config "pipelines" }}
{{- end }}
{{- $_ := set $config "metrics" (dict "address" (printf "0.0.0.0:%v" .Values.metrics.port)) }}
{{- if .Values.api.enabled }}
{{- $_ := set $config "api" (merge (dict "address" (printf "0.0.0.0:%v" .Values.api.port)) .Values.api.settings) }}
{{- end }}
{{- toYaml $config }}
{{- end }}

{{/*
Kafka gives each partition to one member of a group: more members than
partitions only adds idle members and rebalances. Each replica is as many
members as its pipeline's `consumers` (the most of any Kafka pipeline).
(list $ maxReplicas)
*/}}
{{- define "expressway.checkReplicasWithinPartitions" -}}
{{- $root := index . 0 }}
{{- $max := index . 1 }}
{{- $kafka := include "expressway.sourcesOfType" (list $root "kafka") | fromJsonArray }}
{{- if $kafka }}
{{- $partitions := $root.Values.autoscaling.keda.kafka.partitions }}
{{- if kindIs "invalid" $partitions }}
{{- fail "autoscaling.keda.kafka.partitions: give the partition count of the topics read, which bounds the replicas" }}
{{- end }}
{{- $consumers := 1 }}
{{- range $kafka }}
{{- $c := dig "source" "consumers" 1 . }}
{{- if and (kindIs "string" $c) (not (regexMatch "^[0-9]+$" $c)) }}
{{- fail (printf "config.pipelines: consumers %q: give a number here (the chart checks replicas × consumers against the partitions)" $c) }}
{{- end }}
{{- $consumers = max $consumers (int $c) }}
{{- end }}
{{- if gt (mul (int $max) $consumers) (int $partitions) }}
{{- fail (printf "autoscaling: maxReplicas %v × %v consumers is above the %v partitions: the extra members would sit idle" $max $consumers $partitions) }}
{{- end }}
{{- end }}
{{- end }}

{{/*
The checkov checks this chart does not follow, each with its reason (read by
checkov from the object's annotations; deploy/dev/check-deploy.sh runs it).
*/}}
{{- define "expressway.checkovSkips" -}}
checkov.io/skip1: CKV_K8S_15=IfNotPresent is right for immutable tags; pin image.digest (or set image.pullPolicy) for more
checkov.io/skip2: CKV_K8S_43=image.digest pins the image by digest; a tag is the default so that the chart works out of the box
checkov.io/skip3: CKV_K8S_35=the configuration reads ${VAR} from the environment; which variables come from Secrets is the user's choice (env, envFrom)
{{- end }}
