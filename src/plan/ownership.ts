/**
 * Who may write a resource. It is ours only with both managed labels for this environment and, for a
 * bucket (names are global), in the manifest's project; anything else is a conflict unless the spec
 * opts in to adopting unlabelled resources of its own project.
 */
import { DELETION_POLICY_LABEL, ENVIRONMENT_LABEL, MANAGED_BY_LABEL, MANAGED_BY_VALUE } from '../api/naming.js';

export type Ownership = { kind: 'own' } | { kind: 'adopt' } | { kind: 'conflict'; reason: string };

export interface OwnershipRule {
  environment: string;
  adoptExisting: boolean;
  /** The manifest project's number; buckets are checked against it. */
  projectNumber?: string;
}

/** What ownership is decided from: labels, and a bucket's project number. */
export interface Owned {
  labels: Record<string, string>;
  projectNumber?: string;
}

export const ADOPT_HINT = 'set spec.policy.adoptExisting: true to adopt it';

export function ownershipOf(o: Owned, rule: OwnershipRule): Ownership {
  const owner = o.labels[ENVIRONMENT_LABEL];
  if (owner !== undefined && owner !== rule.environment) {
    return { kind: 'conflict', reason: `labelled ${ENVIRONMENT_LABEL}=${owner}: it belongs to another environment and is never modified` };
  }
  if (o.projectNumber !== undefined && o.projectNumber !== rule.projectNumber) {
    return {
      kind: 'conflict',
      reason: rule.projectNumber === undefined
        ? "the manifest project's number could not be read, so the resource's project cannot be verified: nothing is written to it"
        : `it is in project number ${o.projectNumber}, not this manifest's project (${rule.projectNumber}): its name is global; choose another name`,
    };
  }
  if (owner === rule.environment && o.labels[MANAGED_BY_LABEL] === MANAGED_BY_VALUE) return { kind: 'own' };
  if (!rule.adoptExisting) return { kind: 'conflict', reason: `exists, not managed by this operator: ${ADOPT_HINT}` };
  return { kind: 'adopt' };
}

/** The deletion policy recorded on a resource; anything but "delete" retains. */
export const recordedDeletionPolicy = (labels: Record<string, string>): 'delete' | 'retain' =>
  labels[DELETION_POLICY_LABEL] === 'delete' ? 'delete' : 'retain';

/** The label changes that bring observed labels to the desired ones; labels others added are left alone. */
export function labelChanges(observed: Record<string, string>, desired: Record<string, string>) {
  return Object.entries(desired)
    .filter(([k, v]) => observed[k] !== v)
    .map(([k, v]) => ({ field: `labels.${k}`, before: observed[k] ?? null, after: v }));
}
