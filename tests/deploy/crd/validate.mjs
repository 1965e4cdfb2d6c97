// Validate the custom resources in rendered manifests against their CRD schemas
// (the validators the kubernetes-models packages generate from each project's CRDs).
// usage: node validate.mjs FILE...   prints "ok|FAIL Kind/name", exits 1 on any failure.
import { readFileSync } from "node:fs";
import yaml from "js-yaml";
import { ScaledObject } from "@kubernetes-models/keda/keda.sh/v1alpha1/ScaledObject";
import { ServiceMonitor } from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor";
import { PodMonitor } from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PodMonitor";
import { PrometheusRule } from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PrometheusRule";
import { Certificate } from "@kubernetes-models/cert-manager/cert-manager.io/v1/Certificate";

const kinds = { ScaledObject, ServiceMonitor, PodMonitor, PrometheusRule, Certificate };
let failed = 0;
for (const file of process.argv.slice(2)) {
  for (const doc of yaml.loadAll(readFileSync(file, "utf8"))) {
    if (!doc || !(doc.kind in kinds)) continue;
    const id = `${doc.kind}/${doc.metadata.name}`;
    try {
      new kinds[doc.kind](doc).validate();
      console.log(`ok ${id}`);
    } catch (err) {
      failed++;
      console.log(`FAIL ${id}: ${err.message}`);
    }
  }
}
process.exit(failed ? 1 : 0);
