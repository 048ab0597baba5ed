/**
 * Resources labelled for the environment but no longer declared. Their recorded deletion policy decides:
 * retain → left exactly as they are (information); delete → deleted, when the kind requires it only empty.
 */
import { DELETION_POLICY_LABEL, ENVIRONMENT_LABEL, MANAGED_BY_LABEL } from '../api/naming.js';

/** The labels that make a resource the operator's. */
export const MANAGED_KEYS = [ENVIRONMENT_LABEL, MANAGED_BY_LABEL, DELETION_POLICY_LABEL];
import type { KindPlanner } from './kind-planner.js';
import type { LabelledResource } from './observed.js';
import { ownershipOf, recordedDeletionPolicy, type OwnershipRule } from './ownership.js';
import type { Action } from './types.js';

/**
 * `release`: the environment itself is being deleted — a retained resource is released (the operator's
 * labels removed) so it is no longer anyone's until adopted explicitly.
 */
export function diffOrphan(kind: KindPlanner, project: string, rule: OwnershipRule, r: LabelledResource, readError?: string, release = false): Action {
  const base = { id: `${r.kind}/${r.name}`, kind: r.kind, name: r.name, changes: [], steps: [] };
  const owner = ownershipOf(r, { ...rule, adoptExisting: false });
  if (owner.kind !== 'own') {
    return { ...base, verb: 'orphan', message: `labelled for this environment but not declared, and not ours by the full ownership rule (${owner.kind === 'conflict' ? owner.reason : 'unmanaged'}): left alone` };
  }
  if (recordedDeletionPolicy(r.labels) === 'retain') {
    if (release) {
      const changes = MANAGED_KEYS.filter((k) => r.labels[k] !== undefined).map((k) => ({ field: `labels.${k}`, before: r.labels[k], after: null }));
      return { ...base, verb: 'update', message: 'environment deleted, deletionPolicy retain: released (the operator\'s labels removed)', changes, steps: [kind.releaseStep(r)] };
    }
    return { ...base, verb: 'orphan', message: 'orphan, retained: no longer declared; left exactly as it is (deletionPolicy retain). Declare it again to re-manage it.' };
  }
  if (readError) return { ...base, verb: 'error', message: `cannot tell whether it is empty: ${readError}` };
  const held = r.contents?.count ?? 0;
  if (kind.contentsNoun && held > 0) {
    return {
      ...base, verb: 'conflict',
      message: `orphan with deletionPolicy delete, but it holds ${held}${r.contents?.more ? '+' : ''} ${kind.contentsNoun}: empty it, or keep it by labelling it ${DELETION_POLICY_LABEL}=retain (or declaring it again)`,
    };
  }
  return {
    ...base, verb: 'delete', message: 'orphan, deletionPolicy delete: no longer declared',
    changes: [{ field: 'exists', before: true, after: false }], steps: [kind.deleteStep(r, project)],
  };
}
