/**
 * One engine behind plan, apply and (later) the controller: observe → diff → (apply: execute exactly
 * that plan, re-planning a resource from a fresh read whenever a write meets a conflict → observe again).
 * Level-triggered: it looks at the world as it is now. Cancellable through `signal`.
 */
import { setMaxListeners } from 'node:events';
import type { LoadedEnvironment } from '../api/manifests.js';
import type { SecretValue } from '../api/secret-value.js';
import type { RolloutPolling } from '../kinds/deployment/deployment-client.js';
import type { Kind } from '../kinds/kind.js';
import { KINDS } from '../kinds/registry.js';
import type { GcpClients } from '../gcp/clients.js';
import type { GcpCaller } from '../gcp/gcp-caller.js';
import type { IamPolicy } from '../api/iam-policy.js';
import { diff, planResource } from '../plan/diff.js';
import { bindSavedPlan } from '../plan/saved-plan-binding.js';
import { emptyObservation, type ObservedEnvironment } from '../plan/observed.js';
import type { Action, Plan } from '../plan/types.js';
import type { ActionLogger } from './action-log.js';
import { PlanExecutor, type ActionResult, type ExecuteOptions } from './execute.js';
import { connect, type Connection } from './connection.js';
import { observeEnvironment, observeResource } from './observe.js';

export interface ReconcileContext {
  caller: GcpCaller;
  /** The clients of a project, acting as `identity` (a tenant's service account) or, when undefined, as the operator itself. */
  clientsFor: (project: string, identity?: string) => GcpClients;
  /** The tenant service account this environment's calls are made as (tenancy); undefined: the operator's own identity. */
  identity?: string;
  /** The operator's IAM policy, checked again by the executor before every IAM write; the safe defaults when absent. */
  iamPolicy?: IamPolicy;
  logger: ActionLogger;
  now?: () => Date;
  execute?: ExecuteOptions;
  /** Cancels the reconcile: calls in flight are abandoned, nothing new starts. */
  signal?: AbortSignal;
  /** Bindings environments disagree on (see contestedBindings): planned as conflicts. */
  contested?: Map<string, string>;
  /** Where generated secret values come from (tests pin it); the CSPRNG by default. */
  generateSecret?: (length: number) => SecretValue;
  /** The environment itself is being deleted: retained orphans are released (see diffOrphan). */
  release?: boolean;
  /** The kinds to reconcile; the registry by default (tests add one to prove the engine knows no kind). */
  kinds?: readonly Kind[];
  /** How often a rollout reads the VM agent's report (tests make it quick). */
  rolloutPolling?: RolloutPolling;
  /** apply only: execute this saved plan (reviewed earlier) instead of a fresh one; refuses every step the manifest does not give against GCP now. */
  savedPlan?: Plan;
}

export interface ReconcileReport {
  /** The manifest reconciled (defaults filled in): what a saved plan carries to apply. */
  manifest: LoadedEnvironment['manifest'];
  environment: string;
  namespace: string;
  name: string;
  project: string;
  dryRun: boolean;
  plan: Plan;
  /** apply only: the outcome of every action that had steps. */
  results?: Record<string, ActionResult>;
  /** apply only: the plan computed again after executing, so what is still not in sync. */
  after?: Plan;
  /** Reads that failed during observation (orphan lists included): resource or list → reason. */
  observeErrors: Record<string, string>;
  /** The endpoint could not be reached at all: the one reason for every failed read. */
  unreachable?: string;
  /** The run was cancelled (deadline) before it finished. */
  cancelled?: boolean;
  durationMs: number;
}

interface Observation {
  observed: ObservedEnvironment;
  plan: Plan;
}

async function observeAndPlan(env: LoadedEnvironment, conn: Connection, now: Date, log: ActionLogger, ctx: ReconcileContext): Promise<Observation> {
  const options = { ...(ctx.contested ? { contested: ctx.contested } : {}), ...(ctx.release ? { release: true } : {}) };
  if (env.spec.policy.suspend) {
    log.info({ event: 'observe', suspended: true, durationMs: 0 }, 'suspended: nothing observed');
    const observed = emptyObservation(now);
    return { observed, plan: diff(env.spec, observed, conn.kinds, options) };
  }
  const started = performance.now();
  const observed = await observeEnvironment(env.spec, conn, now);
  log.info({
    event: 'observe',
    durationMs: Math.round(performance.now() - started),
    resources: { ...Object.fromEntries(conn.kinds.map((k) => [k.kind, k.desired(env.spec).length])), policies: Object.keys(observed.policies).length },
    labelled: observed.labelled.length,
    errors: observed.errors,
  }, 'observed');
  return { observed, plan: diff(env.spec, observed, conn.kinds, options) };
}

/** One JSON line per action: planned, or what executing it did. */
function logAction(log: ActionLogger, a: Action, result: ActionResult | undefined, planned: boolean): void {
  const outcome = planned ? 'planned' : result?.outcome ?? (a.verb === 'none' ? 'in-sync' : a.verb);
  const entry = {
    event: 'action', kind: a.kind, name: a.name, verb: a.verb, changes: a.changes, outcome, durationMs: Math.round(result?.durationMs ?? 0),
    ...(result?.error ? { error: result.error } : {}), ...(result?.cause ? { cause: result.cause } : {}),
    ...(a.message ? { detail: a.message } : {}), ...(a.pending ? { pending: a.pending } : {}),
  };
  if (result?.outcome === 'error' || a.verb === 'error') log.error(entry, `${a.verb} ${a.kind} ${a.name} failed`);
  else if (result?.outcome === 'conflict' || a.verb === 'conflict') log.warn(entry, `${a.kind} ${a.name} in conflict`);
  else log.info(entry, `${a.verb} ${a.kind} ${a.name}`);
}

/** Plans (dry run) or applies one environment, logging every action as one JSON line. */
export async function reconcileEnvironment(env: LoadedEnvironment, mode: 'plan' | 'apply', ctx: ReconcileContext): Promise<ReconcileReport> {
  const started = performance.now();
  const now = () => ctx.now?.() ?? new Date();
  const dryRun = mode === 'plan' || env.spec.policy.drift === 'Report';
  const log = ctx.logger.child({ environment: env.spec.environment, object: `${env.namespace}/${env.manifest.metadata.name}`, dryRun });
  // Every call in flight listens to the run's signal: hundreds at once is expected, not a leak.
  if (ctx.signal) setMaxListeners(0, ctx.signal);
  const conn = connect(ctx.kinds ?? KINDS, ctx.clientsFor(env.spec.gcp.projectId, ctx.identity), env.spec.gcp.projectId, ctx.caller, {
    ...(ctx.iamPolicy ? { iamPolicy: ctx.iamPolicy } : {}), ...(ctx.signal ? { signal: ctx.signal } : {}), ...(ctx.generateSecret ? { generateSecret: ctx.generateSecret } : {}),
    ...(ctx.rolloutPolling ? { rolloutPolling: ctx.rolloutPolling } : {}),
  });
  const observation = await observeAndPlan(env, conn, now(), log, ctx);
  const { observed } = observation;
  const plan = ctx.savedPlan ?? observation.plan;
  const report: ReconcileReport = {
    manifest: env.manifest, environment: env.spec.environment, namespace: env.namespace, name: env.manifest.metadata.name, project: env.spec.gcp.projectId,
    dryRun, plan, observeErrors: observed.errors, ...(observed.unreachable ? { unreachable: observed.unreachable } : {}), durationMs: 0,
  };
  if (mode === 'plan' || plan.suspended || observed.unreachable || ctx.signal?.aborted) {
    for (const a of plan.actions) logAction(log, a, undefined, true);
  } else {
    let latest = observed;
    const replan = async (id: string) => {
      latest = await observeResource(env.spec, conn, latest, id);
      return planResource(env.spec, latest, conn.kinds, id);
    };
    // A saved plan is applied exactly: a precondition that fails is refused, never re-planned.
    const executor = new PlanExecutor(conn, ctx.savedPlan ? undefined : replan, { ...ctx.execute, ...(ctx.signal ? { signal: ctx.signal } : {}) });
    const bound = ctx.savedPlan ? bindSavedPlan(ctx.savedPlan, observation.plan) : undefined;
    const results = await executor.execute(bound ? { ...bound.plan, reportOnly: observation.plan.reportOnly, suspended: observation.plan.suspended } : plan);
    for (const [id, why] of bound?.refused ?? []) results.set(id, { outcome: 'conflict', error: why, durationMs: 0 });
    report.results = Object.fromEntries(results);
    for (const a of plan.actions) logAction(log, a, results.get(a.id), false);
    const wrote = [...results.values()].some((r) => r.outcome !== 'skipped');
    if (wrote && !ctx.signal?.aborted) report.after = (await observeAndPlan(env, conn, now(), log, ctx)).plan;
  }
  if (ctx.signal?.aborted) report.cancelled = true;
  report.durationMs = Math.round(performance.now() - started);
  return report;
}
