#!/usr/bin/env bash
# Checks deploy/ with the real tools (installed by deploy/dev/tools.sh):
#   the Helm chart: helm lint; helm template of each ci/*.yaml values file;
#     every object against the Kubernetes schemas (kubernetes-validate,
#     strict) or its CRD schema (ServiceMonitor, PodMonitor, PrometheusRule,
#     ScaledObject); checkov; values.schema.json and the chart's own checks
#     reject wrong values; each rendered pipeline.yaml passes
#     `expressway validate --config`;
#   the rules: promtool check rules and test rules; the chart's copies of
#     the rules and the dashboard are the same files;
#   the image: hadolint, and its build steps into a staging root, whose
#     binary starts in a chroot as the image's user and serves /healthz;
#   a real Prometheus scraping a running `expressway run`
#     (deploy/prometheus/live_test.py).
# Needs the expressway binary (EXPRESSWAY_BIN; test.sh passes the one its
# cargo test built, default target/release/expressway) and, for
# the live test, the dev services (KAFKA_BROKERS, AWS_ENDPOINT_URL).
#   deploy/dev/check-deploy.sh [--no-live]
set -euo pipefail
cd "$(dirname "$0")/../.."
tool() { ./deploy/dev/tools.sh path "$1"; }
HELM=$(tool helm)
KV=$(tool kubernetes-validate)
CHECKOV=$(tool checkov)
HADOLINT=$(tool hadolint)
PROMTOOL=$(tool promtool)
CRDS=$(tool crds)
PY=$(dirname "$KV")/python
BIN=${EXPRESSWAY_BIN:-target/release/expressway}
CHART=deploy/helm/expressway
K8S_VERSION=1.33.0
work=$(mktemp -d)
cleanup() { rm -rf "$work"; }
trap cleanup EXIT
passed=0
ok() { passed=$((passed + 1)); echo "ok   $*"; }
fail() { echo "FAIL $*" >&2; exit 1; }

echo "== expressway --version"
version=$("$BIN" --version)
[[ $version =~ ^expressway\ [0-9]+\.[0-9]+\.[0-9]+\ \(commit\ [0-9a-f]{7,}\)$ ]] || fail "--version: '$version'"
ok "$version"

echo "== promtool"
"$PROMTOOL" check rules deploy/prometheus/expressway-rules.yaml
"$PROMTOOL" test rules deploy/prometheus/expressway-rules.test.yaml
ok "rules check and unit tests"
# Every alert has a unit test and a runbook.
for alert in $(sed -n 's/^ *- alert: //p' deploy/prometheus/expressway-rules.yaml); do
  grep -q "alertname: $alert\$" deploy/prometheus/expressway-rules.test.yaml || fail "$alert has no promtool test"
  grep -q "^### $alert\$" deploy/README.md || fail "$alert has no runbook (### $alert) in deploy/README.md"
done
ok "every alert has a unit test and a runbook"
cmp deploy/prometheus/expressway-rules.yaml "$CHART/files/expressway-rules.yaml" || fail "the chart's copy of the rules differs: cp deploy/prometheus/expressway-rules.yaml $CHART/files/"
cmp deploy/grafana/expressway.json "$CHART/files/expressway.json" || fail "the chart's copy of the dashboard differs: cp deploy/grafana/expressway.json $CHART/files/"
ok "the chart ships the same rules and dashboard"

echo "== helm lint and template"
"$HELM" lint --strict "$CHART" -f "$CHART/ci/everything.yaml" >/dev/null
for values in "$CHART"/ci/*.yaml; do
  name=$(basename "$values" .yaml)
  "$HELM" lint --strict "$CHART" -f "$values" >/dev/null || fail "helm lint -f $values"
  "$HELM" template expressway "$CHART" --namespace streaming -f "$values" > "$work/$name.yaml"
  ok "helm lint and template: $name"
done

echo "== each object against its schema"
"$PY" - "$work" "$CHART/ci" <<'EOF'
import json, os, sys, yaml
work, ci = sys.argv[1], sys.argv[2]
crd_groups = ("monitoring.coreos.com/", "keda.sh/")
expected = {
    "kafka-statefulset-keda": {"StatefulSet", "ScaledObject", "Service", "ConfigMap", "PodDisruptionBudget", "ServiceAccount"},
    "sqs-deployment-hpa": {"Deployment", "HorizontalPodAutoscaler", "Service", "ConfigMap", "ServiceAccount"},
    "api-only": {"Deployment", "Service", "ConfigMap"},
    "everything": {"StatefulSet", "ScaledObject", "ServiceMonitor", "PodMonitor", "PrometheusRule", "ConfigMap", "Service"},
}
for name in sorted(os.listdir(ci)):
    name = name.removesuffix(".yaml")
    docs = [d for d in yaml.safe_load_all(open(f"{work}/{name}.yaml")) if d]
    kinds = {d["kind"] for d in docs}
    missing = expected.get(name, set()) - kinds
    assert not missing, f"{name}: no {missing} rendered (got {sorted(kinds)})"
    for i, d in enumerate(docs):
        sub = "crd" if d["apiVersion"].startswith(crd_groups) else "k8s"
        os.makedirs(f"{work}/{name}/{sub}", exist_ok=True)
        with open(f"{work}/{name}/{sub}/{i:02d}-{d['kind']}.json", "w") as f:
            json.dump(d, f)
        if d["kind"] == "ConfigMap" and "pipeline.yaml" in d.get("data", {}):
            os.makedirs(f"{work}/{name}/etc", exist_ok=True)
            for file, text in d["data"].items():
                open(f"{work}/{name}/etc/{file}", "w").write(text)
    print(f"{name}: {len(docs)} objects: {', '.join(sorted(kinds))}")
EOF
for values in "$CHART"/ci/*.yaml; do
  name=$(basename "$values" .yaml)
  "$KV" --strict --quiet -k "$K8S_VERSION" "$work/$name"/k8s/*.json || fail "kubernetes-validate: $name"
  if compgen -G "$work/$name/crd/*.json" >/dev/null; then
    node deploy/dev/validate-crds.mjs "$CRDS" "$work/$name"/crd/*.json || fail "CRD schemas: $name"
  fi
  ok "Kubernetes $K8S_VERSION and CRD schemas: $name"
done
# The CRD validator is not a rubber stamp: a ScaledObject with a wrong type.
"$PY" -c 'import json,sys; o=json.load(open(sys.argv[1])); o["spec"]["maxReplicaCount"]="many"; json.dump(o,open(sys.argv[2],"w"))' \
  "$(ls "$work"/kafka-statefulset-keda/crd/*ScaledObject.json)" "$work/bad-scaledobject.json"
if node deploy/dev/validate-crds.mjs "$CRDS" "$work/bad-scaledobject.json" >/dev/null; then
  fail "the CRD validator accepted a ScaledObject with maxReplicaCount: \"many\""
fi
ok "the CRD validator rejects a wrong ScaledObject"

echo "== each rendered pipeline.yaml is a valid configuration"
for dir in "$work"/*/etc; do
  name=$(basename "$(dirname "$dir")")
  if grep -q '^api:' "$dir/pipeline.yaml" && ! "$BIN" --help | grep -q '^  serve'; then
    echo "skip $name: this binary has no Step Functions API yet (api: section)"
    continue
  fi
  # Machines from a ConfigMap of the user's own (existingStateMachines): a stand-in.
  for machine in $(sed -n 's/^ *state_machine: //p' "$dir/pipeline.yaml"); do
    [ -e "$dir/$machine" ] || echo '{"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}' > "$dir/$machine"
  done
  KAFKA_BROKERS=kafka:9092 REDIS_URL=redis://redis:6379/ POD_NAME=expressway-0 \
    "$BIN" validate --config "$dir/pipeline.yaml" >/dev/null || fail "expressway validate --config: $name"
  ok "expressway validate --config: $name"
done

echo "== wrong values are rejected"
reject() { # reject NAME EXPECTED-MESSAGE YAML
  printf '%s\n' "$3" > "$work/wrong.yaml"
  if out=$("$HELM" template expressway "$CHART" -f "$CHART/ci/kafka-statefulset-keda.yaml" -f "$work/wrong.yaml" 2>&1); then
    fail "values accepted: $1"
  fi
  grep -qF -- "$2" <<<"$out" || fail "$1: expected '$2' in: $out"
  ok "rejected: $1"
}
reject "a string replica count" "got string, want integer" "replicaCount: three"
reject "an unknown key" "additional properties 'replicas' not allowed" "replicas: 3"
reject "an unknown pull policy" "value must be one of" "image: { pullPolicy: Sometimes }"
reject "metrics set in config" "/config/metrics" "config: { metrics: { address: '0.0.0.0:1' } }"
reject "a bad drain_timeout" "/config/runtime/drain_timeout" "config: { runtime: { drain_timeout: soon } }"
reject "more replicas than partitions" "above the 6 partitions" "autoscaling: { keda: { maxReplicas: 12 } }"
reject "more consumers than partitions" "maxReplicas 4 × 2 consumers is above the 6 partitions" \
  '{config: {pipelines: [{name: p, state_machine: iot-fanout.asl.json, source: {type: kafka, brokers: b, group: g, topics: [t], consumers: 2}, sink: {type: "null"}, dead_letter: {type: "null"}}]}, autoscaling: {keda: {maxReplicas: 4}}}'
reject "consumers from a variable" "give a number here" \
  '{config: {pipelines: [{name: p, state_machine: iot-fanout.asl.json, source: {type: kafka, brokers: b, group: g, topics: [t], consumers: "${N}"}, sink: {type: "null"}, dead_letter: {type: "null"}}]}}'
reject "KEDA and HPA together" "enable keda or hpa, not both" "autoscaling: { hpa: { enabled: true } }"
reject "no pipeline to run" "config.pipelines is empty" "config: { pipelines: [] }"

echo "== checkov (every skip is justified in the chart: checkov.io/skip annotations)"
mkdir -p "$work/checkov"
for values in "$CHART"/ci/*.yaml; do cp "$work/$(basename "$values")" "$work/checkov/"; done
"$CHECKOV" --quiet --compact --framework kubernetes -d "$work/checkov" > "$work/checkov.out" 2>&1 \
  || { cat "$work/checkov.out"; fail "checkov"; }
ok "checkov, every rendering: $(grep -o 'Passed checks: [0-9]*, Failed checks: [0-9]*, Skipped checks: [0-9]*' "$work/checkov.out")"

echo "== the container image"
"$HADOLINT" deploy/Containerfile
ok "hadolint deploy/Containerfile"
./deploy/dev/stage-image.sh "$BIN"
ok "the staged image's binary starts as its user and serves /healthz"

if [ "${1:-}" != "--no-live" ]; then
  echo "== a real Prometheus scraping expressway run"
  python3 deploy/prometheus/live_test.py --bin "$BIN" --prometheus "$(tool prometheus)"
  ok "live Prometheus test"
fi
echo "check-deploy: $passed passed, 0 failed"
