/**
 * Writes the CRD from the schema in src/api/crd.ts (`npm run crd`): crds/, the copy in manifests/install/crd (the
 * CRD's own install step: kustomize refuses files outside its directory) and the copy in the Helm chart's crds/
 * (Helm installs a chart's CRDs only from there). All carry the annotations that keep GitOps tools from pruning it
 * (CRD_KEEP_ANNOTATIONS). It also writes the OperatorConfig schema (src/api/operator-config.ts) into the chart's
 * values.schema.json (definitions.operatorConfig), so that Helm refuses a `config` value the operator would refuse.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { renderCrdYaml } from '../src/api/crd-yaml.js';
import { OPERATOR_CONFIG_SCHEMA } from '../src/api/operator-config.js';

const CRD_COPIES = [
  '../crds/jobmatchenvironments.jobmatch.io.yaml',
  '../manifests/install/crd/jobmatchenvironments.jobmatch.io.yaml',
  '../charts/jobmatch-operator/crds/jobmatchenvironments.jobmatch.io.yaml',
];
const VALUES_SCHEMA = '../charts/jobmatch-operator/values.schema.json';

/** values.schema.json with definitions.operatorConfig set to the operator's own schema of its config file. */
function valuesSchemaJson(current: string): string {
  const schema = JSON.parse(current) as { definitions?: Record<string, unknown> };
  schema.definitions = { ...schema.definitions, operatorConfig: OPERATOR_CONFIG_SCHEMA };
  return `${JSON.stringify(schema, null, 2)}\n`;
}

const yaml = renderCrdYaml();
for (const path of CRD_COPIES) {
  const target = new URL(path, import.meta.url);
  writeFileSync(target, yaml);
  console.log(`wrote ${target.pathname}`);
}
const schemaFile = new URL(VALUES_SCHEMA, import.meta.url);
writeFileSync(schemaFile, valuesSchemaJson(readFileSync(schemaFile, 'utf8')));
console.log(`wrote ${schemaFile.pathname} (definitions.operatorConfig)`);
