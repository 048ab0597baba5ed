/** Secret containers and versions: generated values appear and rotate; external ones are waited for. No value is ever read or planned. */
import type { ResolvedSecret } from '../api/defaults.js';
import type { SecretObservation } from './observed.js';
import { labelChanges, ownershipOf, type OwnershipRule } from './ownership.js';
import type { Action, FieldChange, Step } from './types.js';

const DAY_MS = 86_400_000;

/** The command a person runs to give an external secret a value. */
export function addValueCommand(project: string, id: string): string {
  return `printf '%s' "$VALUE" | gcloud secrets versions add ${id} --data-file=- --project=${project}`;
}

function versionSteps(
  project: string, id: string, secret: ResolvedSecret, o: SecretObservation | undefined, now: number,
): { steps: Step[]; changes: FieldChange[]; pending?: string } {
  const enabled = (o?.versions ?? []).filter((v) => v.state === 'ENABLED');
  if (secret.source === 'external') {
    return enabled.length > 0 ? { steps: [], changes: [] } : { steps: [], changes: [], pending: addValueCommand(project, id) };
  }
  const length = secret.generate?.length ?? 32;
  const add: Step = { op: 'secret.addGeneratedVersion', project, secretId: id, length };
  if (enabled.length === 0) {
    const before = o && o.versions.length > 0 ? `no enabled version (${o.versions.length} disabled or destroyed)` : 'no version';
    return { steps: [add], changes: [{ field: 'versions', before, after: `a generated version (${length} characters)` }] };
  }
  const newest = enabled[0]!;
  const ageDays = (now - Date.parse(newest.createTime)) / DAY_MS;
  if (secret.rotationDays === undefined || ageDays <= secret.rotationDays) return { steps: [], changes: [] };
  const older = enabled.slice(1).map((v) => v.number);
  const steps: Step[] = [add, ...(older.length > 0 ? [{ op: 'secret.disableVersions' as const, project, secretId: id, versions: older }] : [])];
  return {
    steps,
    changes: [{
      field: 'rotation',
      before: `newest enabled version ${newest.number} is ${Math.floor(ageDays)} days old (rotationDays ${secret.rotationDays})`,
      after: `a new generated version; version ${newest.number} stays enabled${older.length > 0 ? `; versions ${older.join(', ')} disabled` : ''}`,
    }],
  };
}

export function diffSecret(
  project: string, rule: OwnershipRule, id: string, secret: ResolvedSecret, labels: Record<string, string>,
  o: SecretObservation | undefined, now: number,
): Action {
  const base = { id: `Secret/${id}`, kind: 'Secret' as const, name: id };
  if (o) {
    const owner = ownershipOf(o, rule);
    if (owner.kind === 'conflict') return { ...base, verb: 'conflict', changes: [], steps: [], message: owner.reason };
  }
  const versions = versionSteps(project, id, secret, o, now);
  const pending = versions.pending ? { pending: versions.pending } : {};
  if (!o) {
    return {
      ...base, verb: 'create', ...pending,
      changes: [{ field: 'replication', before: null, after: 'automatic' }, ...labelChanges({}, labels), ...versions.changes],
      steps: [{ op: 'secret.create', project, secretId: id, labels }, ...versions.steps],
    };
  }
  const labelDiff = labelChanges(o.labels, labels);
  const labelSteps: Step[] = labelDiff.length > 0 ? [{ op: 'secret.patchLabels', project, secretId: id, labels: { ...o.labels, ...labels }, etag: o.etag }] : [];
  const steps = [...labelSteps, ...versions.steps];
  const adopt = ownershipOf(o, rule).kind === 'adopt';
  if (steps.length === 0) return { ...base, verb: versions.pending ? 'pending' : 'none', changes: [], steps, ...pending };
  return {
    ...base, verb: adopt ? 'adopt' : 'update', changes: [...labelDiff, ...versions.changes], steps, ...pending,
    ...(adopt ? { message: 'existing unmanaged secret: adopted (spec.policy.adoptExisting)' } : {}),
  };
}
