/**
 * One engine behind plan, apply and (later) the controller: observe → diff → (apply: execute exactly
 * that plan → observe again). Level-triggered: it looks at the world as it is now.
 */
import type { LoadedEnvironment } from '../api/manifests.js';
import { createAdapters, type Adapters } from '../gcp/adapters.js';
import type { GcpClients } from '../gcp/clients.js';
import type { GcpCaller } from '../gcp/gcp-caller.js';
import { diff } from '../plan/diff.js';
import { emptyObservation, type ObservedEnvironment } from '../plan/observed.js';
import type { Action, Plan } from '../plan/types.js';
import type { ActionLogger } from './action-log.js';
import { PlanExecutor, type ActionResult, type ExecuteOptions } from './execute.js';
import { observeEnvironment } from './observe.js';

export interface ReconcileContext {
  caller: GcpCaller;
  clientsFor: (project: string) => GcpClients;
  logger: ActionLogger;
  now?: () => Date;
  execute?: ExecuteOptions;
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
  durationMs: number;
}

async function observeAndPlan(env: LoadedEnvironment, adapters: Adapters, now: Date, log: ActionLogger): Promise<{ observed: ObservedEnvironment; plan: Plan }> {
  if (env.spec.policy.suspend) {
    log.info({ event: 'observe', suspended: true, durationMs: 0 }, 'suspended: nothing observed');
    const observed = emptyObservation(now);
    return { observed, plan: diff(env.spec, observed) };
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
  return { observed, plan: diff(env.spec, observed) };
}

/** One JSON line per action: planned, or what executing it did. */
function logAction(log: ActionLogger, a: Action, result: ActionResult | undefined, planned: boolean): void {
  const outcome = planned ? 'planned' : result?.outcome ?? (a.verb === 'none' ? 'in-sync' : a.verb);
  const entry = {
    event: 'action', kind: a.kind, name: a.name, verb: a.verb, changes: a.changes, outcome, durationMs: Math.round(result?.durationMs ?? 0),
    ...(result?.error ? { error: result.error } : {}), ...(a.message ? { detail: a.message } : {}), ...(a.pending ? { pending: a.pending } : {}),
  };
  if (result?.outcome === 'error') log.error(entry, `${a.verb} ${a.kind} ${a.name} failed`);
  else log.info(entry, `${a.verb} ${a.kind} ${a.name}`);
}

/** Plans (dry run) or applies one environment, logging every action as one JSON line. */
export async function reconcileEnvironment(env: LoadedEnvironment, mode: 'plan' | 'apply', ctx: ReconcileContext): Promise<ReconcileReport> {
  const started = performance.now();
  const now = () => ctx.now?.() ?? new Date();
  const dryRun = mode === 'plan' || env.spec.policy.drift === 'Report';
  const log = ctx.logger.child({ environment: env.spec.environment, object: `${env.namespace}/${env.manifest.metadata.name}`, dryRun });
  const adapters = createAdapters(ctx.clientsFor(env.spec.gcp.projectId), env.spec.gcp.projectId, ctx.caller);
  const { observed, plan } = await observeAndPlan(env, adapters, now(), log);
  const report: ReconcileReport = {
    environment: env.spec.environment, namespace: env.namespace, name: env.manifest.metadata.name, project: env.spec.gcp.projectId,
    dryRun, plan, observeErrors: observed.errors, durationMs: 0,
  };
  if (mode === 'plan' || plan.suspended) {
    for (const a of plan.actions) logAction(log, a, undefined, true);
  } else {
    const results = await new PlanExecutor(adapters, observed, ctx.execute).execute(plan);
    report.results = Object.fromEntries(results);
    for (const a of plan.actions) logAction(log, a, results.get(a.id), false);
    if ([...results.values()].some((r) => r.outcome !== 'skipped')) report.after = (await observeAndPlan(env, adapters, now(), log)).plan;
  }
  report.durationMs = Math.round(performance.now() - started);
  return report;
}
