/** Dataset drift: description, labels, default table expiration; location can only be replaced, which the operator never does. Pure. */
import type { ResolvedSpec } from '../../api/defaults.js';
import { desiredLabels } from '../../plan/desired.js';
import type { DesiredResource, PlanContext } from '../../plan/kind-planner.js';
import type { Observation } from '../../plan/observed.js';
import { labelChanges } from '../../plan/ownership.js';
import type { Action, BindingRef, FieldChange } from '../../plan/types.js';
import { toAccessEntry } from './access.js';

const DAY_MS = 86_400_000;

export interface DesiredDataset extends DesiredResource {
  location: string;
  description: string;
  /** undefined: tables never expire. */
  defaultTableExpirationMs?: number;
}

export interface DatasetObservation extends Observation {
  datasetId: string;
  location: string;
  description: string;
  defaultTableExpirationMs?: number;
  /** Access entries as IAM role + member; entries of other shapes kept only in rawAccess. */
  access: BindingRef[];
  rawAccess: Record<string, unknown>[];
  /** version is the etag. */
}

export type DatasetStep =
  | { kind: 'Dataset'; op: 'create'; datasetId: string; body: Record<string, unknown> }
  | { kind: 'Dataset'; op: 'patch'; datasetId: string; patch: Record<string, unknown>; etag: string }
  | { kind: 'Dataset'; op: 'delete'; datasetId: string; etag: string };

export function desiredDatasets(spec: ResolvedSpec): DesiredDataset[] {
  return spec.datasets.map((d) => ({
    name: d.datasetId,
    labels: desiredLabels(spec, d.labels, d.deletionPolicy),
    location: d.location,
    description: d.description,
    ...(d.defaultTableExpirationDays > 0 ? { defaultTableExpirationMs: d.defaultTableExpirationDays * DAY_MS } : {}),
  }));
}

export function diffDataset(d: DesiredDataset, o: DatasetObservation | undefined, ctx: PlanContext): Action {
  const base = { id: `Dataset/${d.name}`, kind: 'Dataset' as const, name: d.name };
  const expirationMs = d.defaultTableExpirationMs;
  if (!o) {
    const access = ctx.grants.map((g) => toAccessEntry(g.role, g.member));
    const body: Record<string, unknown> = {
      location: d.location, description: d.description, labels: d.labels,
      ...(expirationMs !== undefined ? { defaultTableExpirationMs: String(expirationMs) } : {}),
      ...(access.length > 0 ? { access } : {}),
    };
    const changes: FieldChange[] = [
      { field: 'location', before: null, after: d.location },
      { field: 'description', before: null, after: d.description },
      ...(expirationMs !== undefined ? [{ field: 'defaultTableExpirationMs', before: null, after: expirationMs }] : []),
      ...labelChanges({}, d.labels),
    ];
    const step: DatasetStep = { kind: 'Dataset', op: 'create', datasetId: d.name, body };
    return { ...base, verb: 'create', changes, steps: [step] };
  }
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
  const labelDiff = labelChanges(o.labels, d.labels);
  if (labelDiff.length > 0) {
    changes.push(...labelDiff);
    patch.labels = Object.fromEntries(labelDiff.map((c) => [c.field.slice('labels.'.length), c.after]));
  }
  if (changes.length === 0) return { ...base, verb: 'none', changes, steps: [] };
  const step: DatasetStep = { kind: 'Dataset', op: 'patch', datasetId: d.name, patch, etag: o.version };
  return { ...base, verb: 'update', changes, steps: [step] };
}
