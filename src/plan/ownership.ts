/** Isolation by label: whose a resource is decides whether the environment may touch it. */
import { ENVIRONMENT_LABEL } from '../api/naming.js';

export type Ownership = { kind: 'own' } | { kind: 'adopt' } | { kind: 'conflict'; owner: string };

export function ownershipOf(labels: Record<string, string>, environment: string): Ownership {
  const owner = labels[ENVIRONMENT_LABEL];
  if (owner === undefined) return { kind: 'adopt' };
  return owner === environment ? { kind: 'own' } : { kind: 'conflict', owner };
}

export const conflictMessage = (owner: string) =>
  `labelled ${ENVIRONMENT_LABEL}=${owner}: it belongs to another environment and is never modified`;

/** The label changes that bring observed labels to the desired ones; labels others added are left alone. */
export function labelChanges(observed: Record<string, string>, desired: Record<string, string>) {
  return Object.entries(desired)
    .filter(([k, v]) => observed[k] !== v)
    .map(([k, v]) => ({ field: `labels.${k}`, before: observed[k] ?? null, after: v }));
}
