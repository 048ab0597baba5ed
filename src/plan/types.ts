/** The plan: pure data a reader can print, test and diff; apply executes exactly its steps. */
import type { ResourceKind } from '../api/types.js';
import type { BucketFields } from './observed.js';

export type Verb = 'create' | 'update' | 'adopt' | 'delete' | 'none' | 'conflict' | 'pending' | 'orphan' | 'error';

export interface FieldChange {
  field: string;
  before: unknown;
  after: unknown;
}

/** Where an IAM binding lives. */
export type PolicyTarget =
  | { type: 'project'; project: string }
  | { type: 'bucket'; bucket: string }
  | { type: 'secret'; project: string; secretId: string }
  | { type: 'dataset'; project: string; datasetId: string };

export interface BindingRef {
  role: string;
  member: string;
}

export type DesiredBucketFields = BucketFields;

/** One write the executor makes; the order inside an action is the dependency order. */
export type Step =
  | { op: 'bucket.create'; project: string; bucket: DesiredBucketFields }
  | { op: 'bucket.patch'; bucket: string; patch: Record<string, unknown>; metageneration: string }
  | { op: 'bucket.delete'; bucket: string; metageneration: string }
  | { op: 'dataset.create'; project: string; datasetId: string; body: Record<string, unknown> }
  | { op: 'dataset.patch'; project: string; datasetId: string; patch: Record<string, unknown>; etag: string }
  | { op: 'dataset.delete'; project: string; datasetId: string; etag: string }
  | { op: 'secret.create'; project: string; secretId: string; labels: Record<string, string> }
  | { op: 'secret.patchLabels'; project: string; secretId: string; labels: Record<string, string>; etag: string }
  | { op: 'secret.delete'; project: string; secretId: string; etag: string }
  /** The value is generated at execution, never in the plan. */
  | { op: 'secret.addGeneratedVersion'; project: string; secretId: string; length: number }
  | { op: 'secret.disableVersions'; project: string; secretId: string; versions: string[] }
  | { op: 'iam.modify'; target: PolicyTarget; add: BindingRef[]; remove: BindingRef[] };

export interface Action {
  /** Stable id: kind/name. */
  id: string;
  kind: ResourceKind;
  name: string;
  verb: Verb;
  changes: FieldChange[];
  /** Why a conflict, or a note on the change; never a secret value. */
  message?: string;
  /** What a person must do first (an external secret without a value): the command to run. */
  pending?: string;
  steps: Step[];
  /** Id of the action that must succeed first (the container of an IAM binding). */
  dependsOn?: string;
}

export interface PlanSummary {
  create: number;
  update: number;
  adopt: number;
  delete: number;
  conflict: number;
  pending: number;
  orphan: number;
  error: number;
  inSync: number;
}

export interface Plan {
  environment: string;
  project: string;
  /** policy.drift: Report — the plan is shown, never executed. */
  reportOnly: boolean;
  suspended: boolean;
  actions: Action[];
  summary: PlanSummary;
}

/** Verbs whose steps apply would execute. */
export const CHANGING_VERBS: readonly Verb[] = ['create', 'update', 'adopt', 'delete'];

export function hasChanges(plan: Plan): boolean {
  return plan.actions.some((a) => CHANGING_VERBS.includes(a.verb));
}

/** Nothing to change, nothing in conflict, nothing that could not be read. */
export function isInSync(plan: Plan): boolean {
  return !hasChanges(plan) && plan.summary.error === 0 && plan.summary.conflict === 0;
}

/** In sync and nothing waiting for a person: every declared secret has an enabled version. */
export function isReady(plan: Plan): boolean {
  return !plan.suspended && isInSync(plan) && plan.summary.pending === 0;
}
