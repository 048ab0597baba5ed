/**
 * Resources labelled for the environment but no longer declared. Their recorded deletion policy decides:
 * retain → left exactly as they are (information); delete → deleted, a bucket or dataset only when empty.
 */
import { DELETION_POLICY_LABEL } from '../api/naming.js';
import type { LabelledResource } from './observed.js';
import { ownershipOf, recordedDeletionPolicy, type OwnershipRule } from './ownership.js';
import type { Action, Step } from './types.js';

const CONTENTS: Record<LabelledResource['kind'], string> = { Bucket: 'objects', Dataset: 'tables', Secret: 'versions' };

function deleteStep(project: string, r: LabelledResource): Step {
  const version = r.version ?? '';
  switch (r.kind) {
    case 'Bucket': return { op: 'bucket.delete', bucket: r.name, metageneration: version };
    case 'Dataset': return { op: 'dataset.delete', project, datasetId: r.name, etag: version };
    case 'Secret': return { op: 'secret.delete', project, secretId: r.name, etag: version };
  }
}

export function diffOrphan(project: string, rule: OwnershipRule, r: LabelledResource, readError?: string): Action {
  const base = { id: `${r.kind}/${r.name}`, kind: r.kind, name: r.name, changes: [], steps: [] };
  const owner = ownershipOf(r, { ...rule, adoptExisting: false });
  if (owner.kind !== 'own') {
    return { ...base, verb: 'orphan', message: `labelled for this environment but not declared, and not ours by the full ownership rule (${owner.kind === 'conflict' ? owner.reason : 'unmanaged'}): left alone` };
  }
  if (recordedDeletionPolicy(r.labels) === 'retain') {
    return { ...base, verb: 'orphan', message: 'orphan, retained: no longer declared; left exactly as it is (deletionPolicy retain). Declare it again to re-manage it.' };
  }
  if (readError) return { ...base, verb: 'error', message: `cannot tell whether it is empty: ${readError}` };
  const held = r.contents?.count ?? 0;
  if (r.kind !== 'Secret' && held > 0) {
    return {
      ...base, verb: 'conflict',
      message: `orphan with deletionPolicy delete, but it holds ${held}${r.contents?.more ? '+' : ''} ${CONTENTS[r.kind]}: empty it, or keep it by labelling it ${DELETION_POLICY_LABEL}=retain (or declaring it again)`,
    };
  }
  return {
    ...base, verb: 'delete', message: 'orphan, deletionPolicy delete: no longer declared',
    changes: [{ field: 'exists', before: true, after: false }] as Action['changes'], steps: [deleteStep(project, r)],
  };
}
