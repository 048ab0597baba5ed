/** Isolation across manifests: no two environments may claim the same GCP resource. */
import { describeSource, fieldError, joinPath, type FieldError, type SourceRef } from './field-error.js';
import type { ResolvedSpec } from './defaults.js';
import { secretId } from './naming.js';

export interface Claimant {
  spec: ResolvedSpec;
  name: string;
  namespace: string;
  source: SourceRef;
}

interface Claim {
  key: string;
  what: string;
  path: (string | number)[];
}

/** The resources a spec claims (its environment name in its project, buckets, datasets, secrets, VM). */
function specClaims(spec: ResolvedSpec): Claim[] {
  const project = spec.gcp.projectId;
  const claims: Claim[] = [
    { key: `environment ${project}/${spec.environment}`, what: `environment "${spec.environment}" in project ${project}`, path: ['spec', 'environment'] },
    ...spec.buckets.map((b, i) => ({ key: `bucket ${b.name}`, what: `bucket ${b.name}`, path: ['spec', 'buckets', i, 'name'] })),
    ...spec.datasets.map((d, i) => ({
      key: `dataset ${project}.${d.datasetId}`, what: `dataset ${project}.${d.datasetId}`, path: ['spec', 'datasets', i, 'datasetId'],
    })),
    ...spec.secrets.map((s, i) => {
      const id = secretId(spec.environment, s.name);
      return { key: `secret ${project}/${id}`, what: `secret ${id}`, path: ['spec', 'secrets', i, 'name'] };
    }),
  ];
  if (spec.vm) {
    claims.push({ key: `vm ${project}/${spec.vm.zone}/${spec.vm.name}`, what: `VM ${spec.vm.name}`, path: ['spec', 'vm', 'name'] });
  }
  return claims;
}

/** What two specs must never share: one key per claimed resource. */
export const claimKeys = (spec: ResolvedSpec): string[] => specClaims(spec).map((c) => c.key);

function claimsOf(c: Claimant): Claim[] {
  return [{ key: `object ${c.namespace}/${c.name}`, what: `JobMatchEnvironment ${c.namespace}/${c.name}`, path: ['metadata', 'name'] }, ...specClaims(c.spec)];
}

function duplicateClaim(claim: Claim, owner: Pick<Claimant, 'name' | 'namespace' | 'source'>, source: SourceRef): FieldError {
  return {
    ...fieldError('claim.duplicate', joinPath(claim.path),
      `${claim.what} is already claimed by ${owner.namespace}/${owner.name} (${describeSource(owner.source)})`,
      'environments never share a resource: give each its own name'),
    source,
  };
}

/** The claims `c` loses to the objects holding them (claim key → holder), without needing the holders' specs. */
export function claimConflicts(c: Claimant, heldBy: ReadonlyMap<string, Pick<Claimant, 'name' | 'namespace' | 'source'>>): FieldError[] {
  return specClaims(c.spec).flatMap((claim) => {
    const owner = heldBy.get(claim.key);
    return owner ? [duplicateClaim(claim, owner, c.source)] : [];
  });
}

/** Errors for every resource claimed by more than one manifest; the later manifest gets the error. */
export function checkClaims(claimants: Claimant[]): FieldError[] {
  const owners = new Map<string, Claimant>();
  const errors: FieldError[] = [];
  for (const c of claimants) {
    for (const claim of claimsOf(c)) {
      const owner = owners.get(claim.key);
      if (!owner) {
        owners.set(claim.key, c);
        continue;
      }
      errors.push(duplicateClaim(claim, owner, c.source));
    }
  }
  return errors;
}
