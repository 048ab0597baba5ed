/**
 * Writes the CRD from the schema in src/api/crd.ts (`npm run crd`): crds/ and the copy in manifests/install/crd, the
 * CRD's own install step (kustomize refuses files outside its directory). Both carry the annotations that keep
 * GitOps tools from pruning it (CRD_KEEP_ANNOTATIONS).
 */
import { writeFileSync } from 'node:fs';
import { renderCrdYaml } from '../src/api/crd-yaml.js';

const yaml = renderCrdYaml();
for (const path of ['../crds/jobmatchenvironments.jobmatch.io.yaml', '../manifests/install/crd/jobmatchenvironments.jobmatch.io.yaml']) {
  const target = new URL(path, import.meta.url);
  writeFileSync(target, yaml);
  console.log(`wrote ${target.pathname}`);
}
