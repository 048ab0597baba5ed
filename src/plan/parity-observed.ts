/**
 * `diff-env --observed`: an environment as GCP holds it, rebuilt from its plan (the same observe and diff as
 * `plan`): each declared field is replaced by the value observed (a change's `before`), and what GCP does not
 * hold is left out. Then plan/parity.ts compares two of these as it compares two manifests. Pure.
 */
import type { ResolvedSpec } from '../api/defaults.js';
import { secretId } from '../api/naming.js';
import type { Action, Plan } from './types.js';

const DAY_MS = 86_400_000;

/** Labels after the changes a plan would make to them: `before` is what GCP holds (null: absent). */
function observedLabels(labels: Record<string, string>, action: Action): Record<string, string> {
  const out = { ...labels };
  for (const c of action.changes) {
    if (!c.field.startsWith('labels.')) continue;
    const key = c.field.slice('labels.'.length);
    if (typeof c.before === 'string') out[key] = c.before;
    else delete out[key];
  }
  return out;
}

const before = (action: Action | undefined, field: string): { value: unknown } | undefined => {
  const change = action?.changes.find((c) => c.field === field);
  return change ? { value: change.before } : undefined;
};

/** The spec as GCP holds it, from the plan made against what was observed (a resource to create is absent). */
export function observedSpec(spec: ResolvedSpec, plan: Plan): ResolvedSpec {
  const byId = new Map(plan.actions.map((a) => [a.id, a]));
  const missing = (a: Action | undefined) => a?.verb === 'create';
  const buckets = spec.buckets.flatMap((b) => {
    const action = byId.get(`Bucket/${b.name}`);
    if (missing(action)) return [];
    const lifecycle = before(action, 'lifecycle.deleteAfterDays');
    const storageClass = before(action, 'storageClass');
    const versioning = before(action, 'versioning');
    const location = before(action, 'location');
    const { lifecycle: declared, ...rest } = b;
    const observedLifecycle = lifecycle === undefined ? declared
      : typeof lifecycle.value === 'number' ? { deleteAfterDays: lifecycle.value } : undefined;
    return [{
      ...rest,
      ...(observedLifecycle ? { lifecycle: observedLifecycle } : {}),
      ...(storageClass ? { storageClass: storageClass.value as typeof b.storageClass } : {}),
      ...(typeof versioning?.value === 'boolean' ? { versioning: versioning.value } : {}),
      ...(typeof location?.value === 'string' ? { location: location.value } : {}),
      labels: action ? observedLabels(b.labels, action) : b.labels,
    }];
  });
  const datasets = spec.datasets.flatMap((d) => {
    const action = byId.get(`Dataset/${d.datasetId}`);
    if (missing(action)) return [];
    const expiration = before(action, 'defaultTableExpirationMs');
    const location = before(action, 'location');
    return [{
      ...d,
      ...(expiration ? { defaultTableExpirationDays: typeof expiration.value === 'number' ? expiration.value / DAY_MS : 0 } : {}),
      ...(typeof location?.value === 'string' ? { location: location.value } : {}),
      labels: action ? observedLabels(d.labels, action) : d.labels,
    }];
  });
  const secrets = spec.secrets.filter((s) => !missing(byId.get(`Secret/${secretId(spec.environment, s.name)}`)));
  // A binding the plan would create is not granted now; one the plan would remove (ensure: absent) is.
  const iam = spec.iam.flatMap((i) => {
    const verb = byId.get(`IAMBinding/${i.resource} ${i.role} ${i.member}`)?.verb;
    if (i.ensure === 'present' && verb === 'create') return [];
    return [i.ensure === 'absent' && verb === 'delete' ? { ...i, ensure: 'present' as const } : i];
  });
  return { ...spec, buckets, datasets, secrets, iam };
}
