/** The plan: pure data a reader can print, test, diff and save; apply executes exactly its steps. */
import type { ResourceKind } from '../api/types.js';
import type { PolicyObservation } from './observed.js';

export type Verb = 'create' | 'update' | 'adopt' | 'delete' | 'none' | 'conflict' | 'pending' | 'orphan' | 'error';

export interface FieldChange {
  field: string;
  before: unknown;
  after: unknown;
}

/** Where an IAM binding lives: the project, or one resource of a kind (by its GCP name). */
export interface PolicyTarget {
  kind: ResourceKind | 'Project';
  name: string;
  project: string;
}

export interface BindingRef {
  role: string;
  member: string;
}

/**
 * One write of a kind, executed by that kind (src/kinds/<kind>). It carries everything it relies on
 * (the etag or metageneration it was planned against), so a saved plan applies exactly or refuses.
 */
export interface KindStep {
  kind: ResourceKind;
  op: string;
  [field: string]: unknown;
}

/** An IAM edit, generic over kinds; `base` is the policy it was planned against, when nothing changes its resource first. */
export interface IamStep {
  kind: 'IAM';
  op: 'modify';
  target: PolicyTarget;
  add: BindingRef[];
  remove: BindingRef[];
  base?: PolicyObservation;
}

export type Step = KindStep | IamStep;

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
  /** Ids of resource actions whose steps must all succeed before this one's start (a rollout after its secrets' versions). */
  after?: string[];
  /** What may go wrong later though nothing is wrong in GCP now (a VM that cannot read a secret): said, never blocking. */
  warnings?: string[];
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

/** In sync and nothing waiting: every declared secret has an enabled version, every rollout acknowledged. */
export function isReady(plan: Plan): boolean {
  return !plan.suspended && isInSync(plan) && plan.summary.pending === 0 && !plan.actions.some((a) => a.verb === 'pending');
}
