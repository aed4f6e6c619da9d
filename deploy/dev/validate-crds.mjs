// Validate custom resources (JSON, one object per file) against the CRD
// schemas of @kubernetes-models: ServiceMonitor, PodMonitor, PrometheusRule
// (prometheus-operator) and ScaledObject (KEDA).
//   node deploy/dev/validate-crds.mjs MODELS_DIR FILE.json...
import { readFileSync } from "node:fs";

const [models, ...files] = process.argv.slice(2);
const kinds = {
  "monitoring.coreos.com/v1/ServiceMonitor": "prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor.js",
  "monitoring.coreos.com/v1/PodMonitor": "prometheus-operator/monitoring.coreos.com/v1/PodMonitor.js",
  "monitoring.coreos.com/v1/PrometheusRule": "prometheus-operator/monitoring.coreos.com/v1/PrometheusRule.js",
  "keda.sh/v1alpha1/ScaledObject": "keda/keda.sh/v1alpha1/ScaledObject.js",
};
let failed = 0;
for (const file of files) {
  const object = JSON.parse(readFileSync(file, "utf8"));
  const key = `${object.apiVersion}/${object.kind}`;
  if (!kinds[key]) {
    console.log(`FAIL ${file}: no CRD schema for ${key}`);
    failed++;
    continue;
  }
  const module = await import(`${models}/${kinds[key]}`);
  try {
    new module[object.kind](object).validate();
    console.log(`ok   ${file}: ${key} ${object.metadata.name}`);
  } catch (e) {
    console.log(`FAIL ${file}: ${key}: ${e.message}`);
    failed++;
  }
}
process.exit(failed ? 1 : 0);
