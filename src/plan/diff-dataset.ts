/** Dataset drift: description, labels, default table expiration; location can only be replaced, which the operator never does. */
import type { ResolvedDataset } from '../api/defaults.js';
import type { DatasetObservation } from './observed.js';
import { labelChanges, ownershipOf, type OwnershipRule } from './ownership.js';
import type { Action, FieldChange } from './types.js';

const DAY_MS = 86_400_000;

export function diffDataset(
  project: string, rule: OwnershipRule, d: ResolvedDataset, labels: Record<string, string>,
  accessOnCreate: Record<string, unknown>[], o: DatasetObservation | undefined,
): Action {
  const base = { id: `Dataset/${d.datasetId}`, kind: 'Dataset' as const, name: d.datasetId };
  const expirationMs = d.defaultTableExpirationDays > 0 ? d.defaultTableExpirationDays * DAY_MS : undefined;
  if (!o) {
    const body: Record<string, unknown> = {
      location: d.location, description: d.description, labels,
      ...(expirationMs !== undefined ? { defaultTableExpirationMs: String(expirationMs) } : {}),
      ...(accessOnCreate.length > 0 ? { access: accessOnCreate } : {}),
    };
    const changes: FieldChange[] = [
      { field: 'location', before: null, after: d.location },
      { field: 'description', before: null, after: d.description },
      ...(expirationMs !== undefined ? [{ field: 'defaultTableExpirationMs', before: null, after: expirationMs }] : []),
      ...labelChanges({}, labels),
    ];
    return { ...base, verb: 'create', changes, steps: [{ op: 'dataset.create', project, datasetId: d.datasetId, body }] };
  }
  const owner = ownershipOf(o, rule);
  if (owner.kind === 'conflict') return { ...base, verb: 'conflict', changes: [], steps: [], message: owner.reason };
  if (o.location.toUpperCase() !== d.location.toUpperCase()) {
    return {
      ...base, verb: 'conflict', changes: [{ field: 'location', before: o.location, after: d.location }], steps: [],
      message: 'location is immutable: this requires replacement, which the operator never does (it would delete tables); copy the data to a new dataset by hand, or declare its current location',
    };
  }
  const changes: FieldChange[] = [];
  const patch: Record<string, unknown> = {};
  if (o.description !== d.description) {
    changes.push({ field: 'description', before: o.description, after: d.description });
    patch.description = d.description;
  }
  if (o.defaultTableExpirationMs !== expirationMs) {
    changes.push({ field: 'defaultTableExpirationMs', before: o.defaultTableExpirationMs ?? null, after: expirationMs ?? null });
    patch.defaultTableExpirationMs = expirationMs === undefined ? null : String(expirationMs);
  }
  const labelDiff = labelChanges(o.labels, labels);
  if (labelDiff.length > 0) {
    changes.push(...labelDiff);
    patch.labels = Object.fromEntries(labelDiff.map((c) => [c.field.slice('labels.'.length), c.after]));
  }
  if (changes.length === 0) return { ...base, verb: 'none', changes, steps: [] };
  return {
    ...base,
    verb: owner.kind === 'adopt' ? 'adopt' : 'update',
    changes,
    steps: [{ op: 'dataset.patch', project, datasetId: d.datasetId, patch, etag: o.etag }],
    ...(owner.kind === 'adopt' ? { message: 'existing unmanaged dataset: adopted (spec.policy.adoptExisting)' } : {}),
  };
}
