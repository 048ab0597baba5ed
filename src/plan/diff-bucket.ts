/** Bucket drift: declared fields that differ; location can only be replaced, which the operator never does. */
import type { ResolvedBucket } from '../api/defaults.js';
import type { BucketObservation } from './observed.js';
import { labelChanges, ownershipOf, type OwnershipRule } from './ownership.js';
import type { Action, DesiredBucketFields, FieldChange } from './types.js';

export function desiredBucket(bucket: ResolvedBucket, labels: Record<string, string>): DesiredBucketFields {
  return {
    name: bucket.name,
    location: bucket.location.toUpperCase(),
    storageClass: bucket.storageClass,
    versioning: bucket.versioning,
    labels,
    ...(bucket.lifecycle ? { lifecycleDeleteAfterDays: bucket.lifecycle.deleteAfterDays } : {}),
  };
}

function fieldChanges(d: DesiredBucketFields, o: BucketObservation): FieldChange[] {
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

function patchFor(d: DesiredBucketFields, changes: FieldChange[]): Record<string, unknown> {
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

export function diffBucket(project: string, rule: OwnershipRule, d: DesiredBucketFields, o: BucketObservation | undefined): Action {
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
    return { ...base, verb: 'create', changes, steps: [{ op: 'bucket.create', project, bucket: d }] };
  }
  const owner = ownershipOf(o, rule);
  if (owner.kind === 'conflict') return { ...base, verb: 'conflict', changes: [], steps: [], message: owner.reason };
  if (o.location !== d.location) {
    return {
      ...base, verb: 'conflict', changes: [{ field: 'location', before: o.location, after: d.location }], steps: [],
      message: 'location is immutable: this requires replacement, which the operator never does (it would delete data); move the data and recreate the bucket by hand, or declare its current location',
    };
  }
  const changes = fieldChanges(d, o);
  if (changes.length === 0) return { ...base, verb: 'none', changes, steps: [] };
  return {
    ...base,
    verb: owner.kind === 'adopt' ? 'adopt' : 'update',
    changes,
    steps: [{ op: 'bucket.patch', bucket: d.name, patch: patchFor(d, changes), metageneration: o.metageneration }],
    ...(owner.kind === 'adopt' ? { message: 'existing unmanaged bucket of this project: adopted (spec.policy.adoptExisting)' } : {}),
  };
}
