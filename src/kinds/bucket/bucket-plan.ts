/** Bucket drift: declared fields that differ; location can only be replaced, which the operator never does. Pure. */
import type { ResolvedBucket, ResolvedSpec } from '../../api/defaults.js';
import { desiredLabels } from '../../plan/desired.js';
import type { PlanContext } from '../../plan/kind-planner.js';
import type { Observation } from '../../plan/observed.js';
import { labelChanges } from '../../plan/ownership.js';
import type { Action, FieldChange } from '../../plan/types.js';

/** The bucket fields the operator declares, whether wanted or seen. */
export interface BucketFields {
  name: string;
  location: string;
  storageClass: string;
  versioning: boolean;
  labels: Record<string, string>;
  /** The age of the single Delete rule the operator manages, if the bucket has exactly that. */
  lifecycleDeleteAfterDays?: number;
}

export interface BucketObservation extends BucketFields, Observation {
  lifecycleRuleCount: number;
  uniformAccess: boolean;
  publicAccessPrevention: string;
  /** version is the metageneration. */
}

export type BucketStep =
  | { kind: 'Bucket'; op: 'create'; bucket: BucketFields }
  | { kind: 'Bucket'; op: 'patch'; bucket: string; patch: Record<string, unknown>; metageneration: string }
  | { kind: 'Bucket'; op: 'delete'; bucket: string; metageneration: string };

export function desiredBuckets(spec: ResolvedSpec): BucketFields[] {
  return spec.buckets.map((b: ResolvedBucket) => ({
    name: b.name,
    location: b.location.toUpperCase(),
    storageClass: b.storageClass,
    versioning: b.versioning,
    labels: desiredLabels(spec, b.labels, b.deletionPolicy),
    ...(b.lifecycle ? { lifecycleDeleteAfterDays: b.lifecycle.deleteAfterDays } : {}),
  }));
}

function fieldChanges(d: BucketFields, o: BucketObservation): FieldChange[] {
  const changes: FieldChange[] = [];
  const compare = (field: string, before: unknown, after: unknown) => {
    if (before !== after) changes.push({ field, before, after });
  };
  compare('storageClass', o.storageClass, d.storageClass);
  compare('versioning', o.versioning, d.versioning);
  if (d.lifecycleDeleteAfterDays !== undefined && (o.lifecycleDeleteAfterDays !== d.lifecycleDeleteAfterDays || o.lifecycleRuleCount !== 1)) {
    changes.push({ field: 'lifecycle.deleteAfterDays', before: o.lifecycleDeleteAfterDays ?? (o.lifecycleRuleCount > 0 ? `${o.lifecycleRuleCount} other rules` : null), after: d.lifecycleDeleteAfterDays });
  }
  compare('uniformBucketLevelAccess', o.uniformAccess, true);
  compare('publicAccessPrevention', o.publicAccessPrevention, 'enforced');
  return [...changes, ...labelChanges(o.labels, d.labels)];
}

/** The PATCH body of exactly the changed fields (labels: only the ones that change; others' labels stay). */
function patchFor(d: BucketFields, changes: FieldChange[]): Record<string, unknown> {
  const patch: Record<string, unknown> = {};
  const labels: Record<string, string> = {};
  for (const c of changes) {
    if (c.field === 'storageClass') patch.storageClass = d.storageClass;
    else if (c.field === 'versioning') patch.versioning = { enabled: d.versioning };
    else if (c.field === 'lifecycle.deleteAfterDays') patch.lifecycle = { rule: [{ action: { type: 'Delete' }, condition: { age: d.lifecycleDeleteAfterDays } }] };
    else if (c.field === 'uniformBucketLevelAccess' || c.field === 'publicAccessPrevention') {
      patch.iamConfiguration = { uniformBucketLevelAccess: { enabled: true }, publicAccessPrevention: 'enforced' };
    } else if (c.field.startsWith('labels.')) labels[c.field.slice('labels.'.length)] = String(c.after);
  }
  if (Object.keys(labels).length > 0) patch.labels = labels;
  return patch;
}

export function diffBucket(d: BucketFields, o: BucketObservation | undefined, _ctx: PlanContext): Action {
  const base = { id: `Bucket/${d.name}`, kind: 'Bucket' as const, name: d.name };
  if (!o) {
    const changes: FieldChange[] = [
      { field: 'location', before: null, after: d.location },
      { field: 'storageClass', before: null, after: d.storageClass },
      { field: 'versioning', before: null, after: d.versioning },
      ...(d.lifecycleDeleteAfterDays !== undefined ? [{ field: 'lifecycle.deleteAfterDays', before: null, after: d.lifecycleDeleteAfterDays }] : []),
      { field: 'uniformBucketLevelAccess', before: null, after: true },
      { field: 'publicAccessPrevention', before: null, after: 'enforced' },
      ...labelChanges({}, d.labels),
    ];
    return { ...base, verb: 'create', changes, steps: [{ kind: 'Bucket', op: 'create', bucket: d } satisfies BucketStep] };
  }
  if (o.location !== d.location) {
    return {
      ...base, verb: 'conflict', changes: [{ field: 'location', before: o.location, after: d.location }], steps: [],
      message: 'location is immutable: this requires replacement, which the operator never does (it would delete data); move the data and recreate the bucket by hand, or declare its current location',
    };
  }
  const changes = fieldChanges(d, o);
  if (changes.length === 0) return { ...base, verb: 'none', changes, steps: [] };
  const step: BucketStep = { kind: 'Bucket', op: 'patch', bucket: d.name, patch: patchFor(d, changes), metageneration: o.version };
  return { ...base, verb: 'update', changes, steps: [step] };
}
