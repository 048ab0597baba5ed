/**
 * The status of a JobMatchEnvironment from a reconcile report. Pure. Condition times move only when a
 * condition's status changes, and lastReconcileTime is written only along with another change, so an
 * in-sync resync computes exactly the status already stored and writes nothing.
 */
import { canonical } from '../api/canonical-json.js';
import type { ResolvedSpec } from '../api/defaults.js';
import { configHash, resourceExports } from '../api/env-file.js';
import type { Condition, ConditionStatus, ConditionType, ResourceState, ResourceStatus } from '../api/types.js';
import type { EnvironmentStatus as JobMatchEnvironmentStatus } from './inventory.js';
import type { ReconcileReport } from '../engine/reconcile.js';
import { compareEnvironments, type ParityReport } from '../plan/parity.js';
import { hasChanges, isInSync, isReady, type Action, type Plan } from '../plan/types.js';

export type ConditionValue = Pick<Condition, 'status' | 'reason' | 'message'>;

const EXECUTED: Partial<Record<Action['verb'], ResourceState>> = { create: 'Created', update: 'Updated', adopt: 'Adopted' };
const PLANNED: Partial<Record<Action['verb'], ResourceState>> = {
  none: 'InSync', create: 'Drifted', update: 'Drifted', adopt: 'Drifted', delete: 'Drifted',
  conflict: 'Conflict', error: 'Error', pending: 'Pending', orphan: 'Orphaned',
};

function resourceState(a: Action, report: ReconcileReport): { state: ResourceState; message?: string } | undefined {
  const result = report.results?.[a.id];
  if (result?.outcome === 'ok') return a.verb === 'delete' ? undefined : { state: EXECUTED[a.verb] ?? 'InSync', ...(a.pending ? { message: `needs a value: ${a.pending}` } : {}) };
  if (result && result.outcome !== 'skipped') return { state: result.outcome === 'conflict' ? 'Conflict' : 'Error', message: result.error ?? result.outcome };
  // Done as part of another action (a dataset's access granted as it is created).
  if (a.steps.length === 0 && a.dependsOn && report.results?.[a.dependsOn]?.outcome === 'ok' && EXECUTED[a.verb]) return { state: EXECUTED[a.verb]!, ...(a.message ? { message: a.message } : {}) };
  const state = a.pending && a.verb !== 'conflict' ? 'Pending' : PLANNED[a.verb] ?? 'InSync';
  const message = a.pending ? `needs a value: ${a.pending}` : a.message ?? (a.changes.length > 0 ? a.changes.map((c) => c.field).join(', ') : undefined);
  return { state, ...(message && state !== 'InSync' ? { message } : {}) };
}

export function resourceStatuses(report: ReconcileReport): ResourceStatus[] {
  return report.plan.actions.flatMap((a) => {
    const s = resourceState(a, report);
    return s ? [{ kind: a.kind, name: a.name, state: s.state, ...(s.message ? { message: s.message.slice(0, 1024) } : {}) }] : [];
  });
}

function readyCondition(report: ReconcileReport, final: Plan, paused: boolean): ConditionValue {
  if (paused) return { status: 'False', reason: 'Paused', message: 'jobmatch.io/paused is "true": observed, nothing written' };
  if (final.suspended) return { status: 'Unknown', reason: 'Suspended', message: 'spec.policy.suspend: nothing observed, nothing changed' };
  if (isReady(final)) return { status: 'True', reason: 'Ready', message: 'every resource matches the manifest and every secret has a value' };
  const s = final.summary;
  if (s.conflict > 0) return { status: 'False', reason: 'Conflict', message: `${s.conflict} resource(s) in conflict: see status.resources` };
  if (s.error > 0 || Object.values(report.results ?? {}).some((r) => r.outcome === 'error')) return { status: 'False', reason: 'ReconcileError', message: 'some reads or writes failed: see status.resources' };
  if (hasChanges(final)) return { status: 'False', reason: final.reportOnly ? 'DriftReported' : 'Progressing', message: final.reportOnly ? 'policy.drift is Report: drift is reported, never healed' : 'changes are still to be applied' };
  if (s.pending > 0) return { status: 'False', reason: 'SecretsMissing', message: `${s.pending} secret(s) still need a value: the apps cannot start until then` };
  const waiting = final.actions.filter((a) => a.verb === 'pending');
  return { status: 'False', reason: 'Waiting', message: waiting.map((a) => `${a.kind} ${a.name}: ${a.message ?? 'waiting'}`).join('; ').slice(0, 4000) };
}

function syncedCondition(report: ReconcileReport, final: Plan, paused: boolean): ConditionValue {
  if (paused || final.suspended) return { status: 'Unknown', reason: paused ? 'Paused' : 'Suspended', message: 'no writes while paused or suspended' };
  const failed = Object.values(report.results ?? {}).filter((r) => r.outcome === 'error' || r.outcome === 'conflict' || r.outcome === 'cancelled').length;
  if (failed > 0 || !isInSync(final)) {
    if (final.reportOnly && final.summary.conflict === 0 && final.summary.error === 0) return { status: 'False', reason: 'DriftReported', message: 'policy.drift is Report: nothing written' };
    return { status: 'False', reason: 'ReconcileError', message: `${failed} action(s) failed; ${final.summary.conflict} in conflict, ${final.summary.error} could not be read` };
  }
  return { status: 'True', reason: 'ReconcileSucceeded', message: 'GCP matches the manifest' };
}

const NOT_MANAGED: ConditionValue = { status: 'Unknown', reason: 'NotManaged', message: 'no spec.vm: the operator deploys nothing' };

/** Why a rollout is not (yet) deployed, from the reason its message starts with (see deployment-plan.ts, RolloutError). */
function notDeployed(message: string, fallback: string): ConditionValue {
  const m = /^(RolloutFailed|RolloutTimeout|SecretsMissing|VMOfAnotherEnvironment): (.*)$/s.exec(message);
  return { status: 'False', reason: m?.[1] ?? fallback, message: (m?.[2] ?? message).slice(0, 4000) };
}

/** Deployed: the VM agent acknowledged the config of this spec (api: status.conditions, VM rollout protocol). */
function deployedCondition(spec: ResolvedSpec, hash: string, report: ReconcileReport, final: Plan, paused: boolean): ConditionValue {
  if (!spec.vm) return NOT_MANAGED;
  if (paused || final.suspended) return { status: 'Unknown', reason: paused ? 'Paused' : 'Suspended', message: 'no rollout while paused or suspended' };
  const planned = report.plan.actions.find((a) => a.kind === 'Deployment');
  const result = planned ? report.results?.[planned.id] : undefined;
  if (result && (result.outcome === 'error' || result.outcome === 'conflict')) return notDeployed(result.error ?? result.outcome, 'RolloutError');
  const a = final.actions.find((x) => x.kind === 'Deployment');
  if (!a) return { status: 'Unknown', reason: 'NotObserved', message: 'the VM was not observed' };
  switch (a.verb) {
    case 'none': return { status: 'True', reason: 'Deployed', message: `the VM agent applied ${hash}` };
    case 'conflict': return notDeployed(a.message ?? 'the VM was not found', 'VMNotFound');
    case 'error': return notDeployed(a.message ?? 'the rollout failed', 'RolloutFailed');
    case 'pending': return notDeployed(a.message ?? 'waiting', /in progress/.test(a.message ?? '') ? 'RollingOut' : 'VMNotRunning');
    default: return { status: 'False', reason: final.reportOnly ? 'DriftReported' : 'Progressing', message: `config ${hash} is still to be rolled out` };
  }
}

/**
 * What moved away from the spec in GCP. A rollout is not drift (the VM had not run this config yet, e.g. its
 * secrets just got values); metadata someone changed on the VM is.
 */
export function isDrift(a: Action): boolean {
  if (a.kind === 'IAMBinding') return a.verb !== 'none' && a.verb !== 'conflict' && a.verb !== 'error';
  if (a.kind === 'Deployment') return a.verb === 'update' && a.steps.every((step) => step.op !== 'awaitRollout');
  return a.verb === 'update' || a.verb === 'delete' || a.verb === 'create';
}

function driftCondition(report: ReconcileReport, specChanged: boolean): ConditionValue {
  if (specChanged) return { status: 'False', reason: 'SpecChanged', message: 'the changes made follow a new or edited spec, not drift' };
  const drifted = report.plan.actions.filter(isDrift);
  if (drifted.length === 0) return { status: 'False', reason: 'NoDrift', message: 'GCP matched the manifest when observed' };
  const detail = drifted.slice(0, 10).map((a) => `${a.verb} ${a.kind} ${a.name}${a.changes.length ? ` (${a.changes.map((c) => c.field).join(', ')})` : ''}`).join('; ');
  return { status: 'True', reason: report.plan.reportOnly ? 'DriftReported' : 'DriftHealed', message: detail.slice(0, 4000) };
}

/** How many differences the ParityDrift message names before "and N more". */
const PARITY_SHOWN = 5;

/**
 * ParityDrift (spec.parity.reference): True when this environment's shape differs from its reference's, apart from the
 * expected differences; compared on the two specs (plan/parity.ts), names normalised. Never part of Ready: parity is
 * advice about the manifests, not a reason the environment cannot serve.
 */
export function parityCondition(report: ParityReport | undefined, reference: string, scope: 'namespace' | 'cluster' = 'cluster'): ConditionValue {
  if (!report) {
    const where = scope === 'namespace' ? 'in this namespace (the operator has tenants: a reference is never looked up in another namespace)' : '(same namespace first, else a single one in the cluster)';
    return { status: 'Unknown', reason: 'ReferenceNotFound', message: `spec.parity.reference names "${reference}", but no valid JobMatchEnvironment has spec.environment "${reference}" ${where}` };
  }
  const unexpected = report.differences.filter((d) => !d.expected);
  const expected = report.summary.expected;
  if (unexpected.length === 0) {
    return { status: 'False', reason: 'SameShape', message: `same shape as ${reference}${expected > 0 ? `, apart from ${expected} expected difference(s)` : ''}` };
  }
  const show = (v: unknown) => (v === null ? '(none)' : JSON.stringify(v));
  const first = unexpected.slice(0, PARITY_SHOWN).map((d) => `${d.path}: ${show(d.a)} here, ${show(d.b)} in ${reference}`).join('; ');
  const more = unexpected.length > PARITY_SHOWN ? `; and ${unexpected.length - PARITY_SHOWN} more (jobmatch-operator diff-env ${report.a} ${reference})` : '';
  return { status: 'True', reason: 'ShapeDiffers', message: `${unexpected.length} difference(s) from ${reference}: ${first}${more}`.slice(0, 4000) };
}

/** The parity report of a spec against its reference's spec, or undefined without a reference found. */
export function parityReport(spec: ResolvedSpec, reference: ResolvedSpec | undefined): ParityReport | undefined {
  return reference ? compareEnvironments(spec, reference) : undefined;
}

/** Conditions with their transition times kept while their status does not change. */
export function withTransitions(previous: Condition[] | undefined, next: Partial<Record<ConditionType, ConditionValue>>, generation: number | undefined, now: string): Condition[] {
  return (Object.entries(next) as [ConditionType, ConditionValue][]).map(([type, value]) => {
    const before = previous?.find((c) => c.type === type);
    const changed = !before || before.status !== value.status;
    return {
      type, ...value, lastTransitionTime: changed ? now : before.lastTransitionTime,
      ...(generation !== undefined ? { observedGeneration: generation } : {}),
    };
  });
}

export interface StatusInput {
  spec: ResolvedSpec;
  report: ReconcileReport;
  previous: JobMatchEnvironmentStatus | undefined;
  generation: number | undefined;
  paused: boolean;
  now: string;
  /** With drift events on (run --drift-events): whether they flow. */
  driftEvents?: ConditionValue;
  /** With spec.parity.reference: ParityDrift (parityCondition). */
  parity?: ConditionValue;
}

/** The status to store, without lastReconcileTime (added only when something else changed: see withReconcileTime). */
export function computeStatus({ spec, report, previous, generation, paused, now, driftEvents, parity }: StatusInput): JobMatchEnvironmentStatus {
  const final = report.after ?? report.plan;
  // Drift is GCP moving away from a spec that did not change since it was last applied.
  const specChanged = previous?.observedGeneration !== generation || previous?.conditions?.find((c) => c.type === 'Synced')?.status !== 'True';
  const drift = driftCondition(report, specChanged);
  const hash = configHash(spec);
  const deployed = deployedCondition(spec, hash, report, final, paused);
  const ready = readyCondition(report, final, paused);
  const conditions = withTransitions(previous?.conditions, {
    Ready: ready,
    Synced: syncedCondition(report, final, paused),
    Deployed: deployed,
    DriftDetected: drift,
    ...(driftEvents ? { DriftEvents: driftEvents } : {}),
    ...progressConditions(ready, deployed),
    ...(parity ? { ParityDrift: parity } : {}),
  }, generation, now);
  return {
    ...(generation !== undefined ? { observedGeneration: generation } : {}),
    conditions,
    resources: resourceStatuses(report),
    exports: resourceExports(spec),
    configHash: hash,
    ...(deployed.status === 'True' ? { deployedConfigHash: hash } : previous?.deployedConfigHash ? { deployedConfigHash: previous.deployedConfigHash } : {}),
    ...(drift.status === 'True' ? { lastDriftTime: now } : previous?.lastDriftTime ? { lastDriftTime: previous.lastDriftTime } : {}),
    ...(previous?.inventory ? { inventory: previous.inventory } : {}),
  };
}

/** Refusals: a person must act before anything can happen; zero GCP calls, a Warning Event and jobmatch_refused_total. */
export const REFUSAL_REASONS = ['PolicyViolation', 'ProjectNotAllowed', 'EnvironmentNotAllowed', 'AdoptionNotAllowed'] as const;
export type RefusalReason = (typeof REFUSAL_REASONS)[number];

/**
 * Reasons the operator cannot make progress until a person acts: Stalled=True (kstatus: Failed; Argo CD: Degraded).
 * Every other reason that is not Ready (secrets without a value, a rollout in flight, a VM not running, a read or
 * write retried with backoff) is Reconciling=True: the environment converges once GCP, the VM or the retry catch up.
 */
export const STALLED_REASONS = [
  ...REFUSAL_REASONS, 'InvalidSpec', 'Conflict', 'CleanupBlocked', 'RolloutFailed', 'DriftReported',
] as const;
export type StalledReason = (typeof STALLED_REASONS)[number];

/** States a person chose (jobmatch.io/paused, spec.policy.suspend): neither reconciling nor stalled. */
const AT_REST = ['Ready', 'Paused', 'Suspended'];

/**
 * kstatus' abnormal-true conditions, always present (False when not the case, which kstatus reads as absent):
 * Stalled=True when progress needs a person, else Reconciling=True while work is in flight; never both True
 * (kstatus takes the first True one it meets). Both False once Ready, paused or suspended.
 */
export function progressConditions(ready: ConditionValue, deployed?: ConditionValue): { Reconciling: ConditionValue; Stalled: ConditionValue } {
  const stalledBy = (STALLED_REASONS as readonly string[]).includes(ready.reason) ? ready
    : deployed?.reason === 'RolloutFailed' ? { reason: 'RolloutFailed', message: `the VM agent failed the rollout: ${deployed.message}; a new config, apply --redeploy or the annotation jobmatch.io/redeploy-at starts a new attempt` }
      : undefined;
  if (stalledBy) {
    return {
      Reconciling: { status: 'False', reason: stalledBy.reason, message: 'stalled: nothing more happens until a person acts (see Stalled)' },
      Stalled: { status: 'True', reason: stalledBy.reason, message: stalledBy.message.slice(0, 30_000) },
    };
  }
  if (AT_REST.includes(ready.reason)) {
    return {
      Reconciling: { status: 'False', reason: ready.reason, message: ready.message },
      Stalled: { status: 'False', reason: ready.reason, message: ready.message },
    };
  }
  return {
    Reconciling: { status: 'True', reason: ready.reason, message: ready.message },
    Stalled: { status: 'False', reason: ready.reason, message: 'the operator makes progress on its own: see Reconciling' },
  };
}

/**
 * The status of an object seen for the first time, written before any GCP call: kstatus reads an object with no
 * status at all as Current. Reconciling=True, and no status.observedGeneration until a reconcile completes.
 */
export function firstStatus(generation: number | undefined, now: string): JobMatchEnvironmentStatus {
  return {
    conditions: withTransitions(undefined, {
      Reconciling: { status: 'True', reason: 'Progressing', message: 'first reconcile: observing GCP' },
    }, generation, now),
  };
}

/** The status of an object the controller cannot reconcile (invalid spec, claims, a blocked cleanup): every message. */

export function invalidStatus(previous: JobMatchEnvironmentStatus | undefined, generation: number | undefined, reason: 'InvalidSpec' | 'Conflict' | 'CleanupBlocked' | RefusalReason, messages: string[], now: string): JobMatchEnvironmentStatus {
  const message = messages.join('\n').slice(0, 30_000);
  const no: ConditionValue = { status: 'False', reason, message };
  return {
    ...previous,
    ...(generation !== undefined ? { observedGeneration: generation } : {}),
    conditions: withTransitions(previous?.conditions, {
      Ready: no, Synced: no,
      Deployed: previous?.conditions?.find((c) => c.type === 'Deployed') ?? { status: 'Unknown', reason, message: 'nothing observed' },
      DriftDetected: { status: 'Unknown', reason, message: 'nothing observed' },
      ...(previous?.conditions?.some((c) => c.type === 'DriftEvents') ? { DriftEvents: previous.conditions.find((c) => c.type === 'DriftEvents')! } : {}),
      ...progressConditions(no),
    }, generation, now),
  };
}

const withoutTime = ({ lastReconcileTime: _, ...rest }: JobMatchEnvironmentStatus) => rest;

/** The status fields `next` changes (lastReconcileTime aside): none means nothing to write. */
export function changedFields(previous: JobMatchEnvironmentStatus | undefined, next: JobMatchEnvironmentStatus): string[] {
  const before = withoutTime(previous ?? {}) as Record<string, unknown>;
  const after = withoutTime(next) as Record<string, unknown>;
  return [...new Set([...Object.keys(before), ...Object.keys(after)])]
    .filter((k) => JSON.stringify(canonical(before[k])) !== JSON.stringify(canonical(after[k]))).sort();
}


export const withReconcileTime = (status: JobMatchEnvironmentStatus, now: string): JobMatchEnvironmentStatus => ({ ...status, lastReconcileTime: now });

export const conditionStatus = (status: JobMatchEnvironmentStatus | undefined, type: ConditionType): ConditionStatus | undefined =>
  status?.conditions?.find((c) => c.type === type)?.status;
