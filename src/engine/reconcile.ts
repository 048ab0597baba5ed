/**
 * One engine behind plan, apply and (later) the controller: observe → diff → (apply: execute exactly
 * that plan, re-planning a resource from a fresh read whenever a write meets a conflict → observe again).
 * Level-triggered: it looks at the world as it is now. Cancellable through `signal`.
 */
import type { LoadedEnvironment } from '../api/manifests.js';
import { createAdapters, type Adapters } from '../gcp/adapters.js';
import type { GcpClients } from '../gcp/clients.js';
import type { GcpCaller } from '../gcp/gcp-caller.js';
import { diff, planResource } from '../plan/diff.js';
import { emptyObservation, type ObservedEnvironment } from '../plan/observed.js';
import type { Action, Plan } from '../plan/types.js';
import type { ActionLogger } from './action-log.js';
import { PlanExecutor, type ActionResult, type ExecuteOptions } from './execute.js';
import { observeEnvironment, observeResource } from './observe.js';

export interface ReconcileContext {
  caller: GcpCaller;
  clientsFor: (project: string) => GcpClients;
  logger: ActionLogger;
  now?: () => Date;
  execute?: ExecuteOptions;
  /** Cancels the reconcile: calls in flight are abandoned, nothing new starts. */
  signal?: AbortSignal;
  /** Bindings environments disagree on (see contestedBindings): planned as conflicts. */
  contested?: Map<string, string>;
}

export interface ReconcileReport {
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

async function observeAndPlan(env: LoadedEnvironment, adapters: Adapters, now: Date, log: ActionLogger, ctx: ReconcileContext): Promise<Observation> {
  const options = ctx.contested ? { contested: ctx.contested } : {};
  if (env.spec.policy.suspend) {
    log.info({ event: 'observe', suspended: true, durationMs: 0 }, 'suspended: nothing observed');
    const observed = emptyObservation(now);
    return { observed, plan: diff(env.spec, observed, options) };
  }
  const started = performance.now();
  const observed = await observeEnvironment(env.spec, adapters, now);
  log.info({
    event: 'observe',
    durationMs: Math.round(performance.now() - started),
    resources: { buckets: env.spec.buckets.length, datasets: env.spec.datasets.length, secrets: env.spec.secrets.length, policies: Object.keys(observed.policies).length },
    labelled: observed.labelled.length,
    errors: observed.errors,
  }, 'observed');
  return { observed, plan: diff(env.spec, observed, options) };
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
  const adapters = createAdapters(ctx.clientsFor(env.spec.gcp.projectId), env.spec.gcp.projectId, ctx.caller, ctx.signal);
  const { observed, plan } = await observeAndPlan(env, adapters, now(), log, ctx);
  const report: ReconcileReport = {
    environment: env.spec.environment, namespace: env.namespace, name: env.manifest.metadata.name, project: env.spec.gcp.projectId,
    dryRun, plan, observeErrors: observed.errors, ...(observed.unreachable ? { unreachable: observed.unreachable } : {}), durationMs: 0,
  };
  if (mode === 'plan' || plan.suspended || observed.unreachable || ctx.signal?.aborted) {
    for (const a of plan.actions) logAction(log, a, undefined, true);
  } else {
    let latest = observed;
    const replan = async (id: string) => {
      latest = await observeResource(env.spec, adapters, latest, id);
      return planResource(env.spec, latest, id);
    };
    const results = await new PlanExecutor(adapters, observed, replan, { ...ctx.execute, ...(ctx.signal ? { signal: ctx.signal } : {}) }).execute(plan);
    report.results = Object.fromEntries(results);
    for (const a of plan.actions) logAction(log, a, results.get(a.id), false);
    const wrote = [...results.values()].some((r) => r.outcome !== 'skipped');
    if (wrote && !ctx.signal?.aborted) report.after = (await observeAndPlan(env, adapters, now(), log, ctx)).plan;
  }
  if (ctx.signal?.aborted) report.cancelled = true;
  report.durationMs = Math.round(performance.now() - started);
  return report;
}
