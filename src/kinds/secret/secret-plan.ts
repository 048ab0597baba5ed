/** Secret containers and versions: generated values appear and rotate; external ones are waited for. No value is ever read or planned. Pure. */
import type { ResolvedSecret, ResolvedSpec } from '../../api/defaults.js';
import { DEPLOY_KEY_LENGTH, DEPLOY_KEY_NAME } from '../../api/config-hash.js';
import { secretId } from '../../api/naming.js';
import { desiredLabels } from '../../plan/desired.js';
import type { DesiredResource, PlanContext } from '../../plan/kind-planner.js';
import type { Observation } from '../../plan/observed.js';
import { labelChanges } from '../../plan/ownership.js';
import type { Action, FieldChange } from '../../plan/types.js';

const DAY_MS = 86_400_000;

export interface DesiredSecret extends DesiredResource {
  secret: ResolvedSecret;
}

export interface SecretVersionObservation {
  /** The version number, as in .../versions/N. */
  number: string;
  state: 'ENABLED' | 'DISABLED' | 'DESTROYED';
  createTime: string;
}

export interface SecretObservation extends Observation {
  secretId: string;
  /** Newest first. */
  versions: SecretVersionObservation[];
  /** version is the etag. */
}

export type SecretStep =
  | { kind: 'Secret'; op: 'create'; secretId: string; labels: Record<string, string> }
  | { kind: 'Secret'; op: 'patchLabels'; secretId: string; labels: Record<string, string>; etag: string }
  /** The value is generated at execution, never in the plan; `newestVersion` is what it was planned against ('' = none). */
  | { kind: 'Secret'; op: 'addGeneratedVersion'; secretId: string; length: number; newestVersion: string }
  | { kind: 'Secret'; op: 'disableVersions'; secretId: string; versions: string[] }
  | { kind: 'Secret'; op: 'delete'; secretId: string; etag: string };

/** The command a person runs to give an external secret a value. */
export function addValueCommand(project: string, id: string): string {
  return `printf '%s' "$VALUE" | gcloud secrets versions add ${id} --data-file=- --project=${project}`;
}

/** The environment's VM deploy key, when it has a VM: a generated secret like the others, never in the .env. */
export function deployKeySecret(spec: ResolvedSpec): ResolvedSecret | undefined {
  return spec.vm && spec.app?.compose ? { name: DEPLOY_KEY_NAME, source: 'generate', generate: { length: DEPLOY_KEY_LENGTH }, deletionPolicy: 'Retain' } : undefined;
}

export function desiredSecrets(spec: ResolvedSpec): DesiredSecret[] {
  const deployKey = deployKeySecret(spec);
  return [...spec.secrets, ...(deployKey ? [deployKey] : [])]
    .map((s) => ({ name: secretId(spec.environment, s.name), labels: desiredLabels(spec, {}, s.deletionPolicy), secret: s }));
}

function versionSteps(d: DesiredSecret, o: SecretObservation | undefined, ctx: PlanContext): { steps: SecretStep[]; changes: FieldChange[]; pending?: string } {
  const { secret, name: id } = d;
  const enabled = (o?.versions ?? []).filter((v) => v.state === 'ENABLED');
  if (secret.source === 'external') {
    return enabled.length > 0 ? { steps: [], changes: [] } : { steps: [], changes: [], pending: addValueCommand(ctx.project, id) };
  }
  const length = secret.generate?.length ?? 32;
  const add: SecretStep = { kind: 'Secret', op: 'addGeneratedVersion', secretId: id, length, newestVersion: o?.versions[0]?.number ?? '' };
  if (enabled.length === 0) {
    const before = o && o.versions.length > 0 ? `no enabled version (${o.versions.length} disabled or destroyed)` : 'no version';
    return { steps: [add], changes: [{ field: 'versions', before, after: `a generated version (${length} characters)` }] };
  }
  const newest = enabled[0]!;
  const ageDays = (ctx.now - Date.parse(newest.createTime)) / DAY_MS;
  if (secret.rotationDays === undefined || ageDays <= secret.rotationDays) return { steps: [], changes: [] };
  const older = enabled.slice(1).map((v) => v.number);
  const steps: SecretStep[] = [add, ...(older.length > 0 ? [{ kind: 'Secret' as const, op: 'disableVersions' as const, secretId: id, versions: older }] : [])];
  return {
    steps,
    changes: [{
      field: 'rotation',
      before: `newest enabled version ${newest.number} is ${Math.floor(ageDays)} days old (rotationDays ${secret.rotationDays})`,
      after: `a new generated version; version ${newest.number} stays enabled${older.length > 0 ? `; versions ${older.join(', ')} disabled` : ''}`,
    }],
  };
}

export function diffSecret(d: DesiredSecret, o: SecretObservation | undefined, ctx: PlanContext): Action {
  const base = { id: `Secret/${d.name}`, kind: 'Secret' as const, name: d.name };
  const versions = versionSteps(d, o, ctx);
  const pending = versions.pending ? { pending: versions.pending } : {};
  if (!o) {
    return {
      ...base, verb: 'create', ...pending,
      changes: [{ field: 'replication', before: null, after: 'automatic' }, ...labelChanges({}, d.labels), ...versions.changes],
      steps: [{ kind: 'Secret', op: 'create', secretId: d.name, labels: d.labels } satisfies SecretStep, ...versions.steps],
    };
  }
  const labelDiff = labelChanges(o.labels, d.labels);
  // The API replaces the whole label map: keep the labels others added.
  const labelSteps: SecretStep[] = labelDiff.length > 0 ? [{ kind: 'Secret', op: 'patchLabels', secretId: d.name, labels: { ...o.labels, ...d.labels }, etag: o.version }] : [];
  const steps = [...labelSteps, ...versions.steps];
  if (steps.length === 0) return { ...base, verb: versions.pending ? 'pending' : 'none', changes: [], steps, ...pending };
  return { ...base, verb: 'update', changes: [...labelDiff, ...versions.changes], steps, ...pending };
}
