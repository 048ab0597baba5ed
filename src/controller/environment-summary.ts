/**
 * What the other environments need to know about one environment: the resources it claims, the bindings it wants
 * present or absent (its inventory's revocations included), the audit-log names of its resources, its environment
 * name, project and parity reference. A few hundred bytes, where the object with its status is tens of kilobytes:
 * a replica keeps full objects only for its own shards, and this for every other.
 */
import { claimKeys } from '../api/claims.js';
import { tenancyRequest, type TenancyRequest } from '../api/tenancy.js';
import { bindingKey } from '../plan/contested-bindings.js';
import { desiredBindings } from '../plan/desired.js';
import type { KindPlanner } from '../plan/kind-planner.js';
import { auditRefs } from './audit-index.js';
import { annotation, type EnvironmentObject, type loadObject } from './environment-object.js';
import { REDEPLOY_AT_ANNOTATION } from '../api/naming.js';
import { withRevocations } from './inventory.js';

export interface EnvironmentSummary {
  /** creationTimestamp: of two objects claiming a resource, the later one is in conflict. */
  order: string;
  /** What it was drawn from: the same stamp, the same summary (a status write alone changes nothing here). */
  stamp: string;
  /** Only for a valid object not being deleted (the others take no part in claims, bindings or parity). */
  live?: {
    environment: string;
    project: string;
    reference?: string;
    /** What tenancy decides this environment on (its namespace may lose or gain the right to it). */
    tenancy: TenancyRequest;
    claims: string[];
    bindings: { key: string; ensure: 'present' | 'absent' }[];
    auditRefs: string[];
  };
}

/** The generation, the redeploy annotation, the deletion mark and the inventory: everything a summary depends on. */
export function summaryStamp(o: EnvironmentObject): string {
  const m = o.manifest.metadata;
  return JSON.stringify([m.generation ?? null, annotation(o, REDEPLOY_AT_ANNOTATION) ?? null, m.deletionTimestamp ?? null, o.status?.inventory ?? null]);
}

export function summarize(o: EnvironmentObject, loaded: ReturnType<typeof loadObject>, kinds: readonly KindPlanner[], stamp = summaryStamp(o)): EnvironmentSummary {
  const order = o.manifest.metadata.creationTimestamp ?? '';
  if (!('env' in loaded) || o.manifest.metadata.deletionTimestamp) return { order, stamp };
  const declared = loaded.env.spec;
  const inventory = o.status?.inventory;
  const spec = withRevocations(declared, inventory);
  return {
    order, stamp,
    live: {
      environment: declared.environment, project: declared.gcp.projectId,
      ...(declared.parity?.reference ? { reference: declared.parity.reference } : {}),
      tenancy: tenancyRequest(declared),
      claims: claimKeys(declared),
      bindings: desiredBindings(spec, kinds).map((b) => ({ key: bindingKey(b), ensure: b.ensure })),
      auditRefs: auditRefs(declared, inventory),
    },
  };
}
