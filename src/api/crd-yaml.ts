/** The CRD as the YAML file committed in crds/ (a test keeps the two identical). */
import { stringify } from 'yaml';
import { CRD } from './crd.js';

export function renderCrdYaml(): string {
  const header = '# Generated from src/api/crd.ts by `npm run crd`: edit the TypeScript, not this file.\n';
  return header + stringify(CRD, { lineWidth: 0, aliasDuplicateObjects: false });
}
