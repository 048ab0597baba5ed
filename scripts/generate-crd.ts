/** Writes crds/jobmatchenvironments.jobmatch.io.yaml from the schema in src/api/crd.ts (`npm run crd`). */
import { writeFileSync } from 'node:fs';
import { renderCrdYaml } from '../src/api/crd-yaml.js';

const target = new URL('../crds/jobmatchenvironments.jobmatch.io.yaml', import.meta.url);
writeFileSync(target, renderCrdYaml());
console.log(`wrote ${target.pathname}`);
