/**
 * One engine behind plan, apply and (later) the controller: observe → diff → (apply: execute exactly
 * that plan → observe again). Level-triggered: it looks at the world as it is now.
 */
import type { LoadedEnvironment } from '../api/manifests.js';
import { createAdapters } from '../gcp/adapters.js';
import type { GcpClients } from '../gcp/clients.js';
import type { GcpCaller } from '../gcp/gcp-caller.js';
import { diff } from '../plan/diff.js';
import type { ObservedEnvironment } from '../plan/observed.js';
import type { Plan } from '../plan/types.js';
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

async function observeAndPlan(env: LoadedEnvironment, ctx: ReconcileContext, log: ActionLogger): Promise<{ observed: ObservedEnvironment; plan: Plan }> {
  const started = performance.now();
  if (env.spec.policy.suspend) {
    const observed: ObservedEnvironment = { observedAt: (ctx.now?.() ?? new Date()).toISOString(), buckets: {}, datasets: {}, secrets: {}, policies: {}, labelled: [], errors: {} };
    log.info({ event: 'observe', suspended: true, durationMs: 0 }, 'suspended: nothing observed');
    return { observed, plan: diff(env.spec, observed) };
  }
  const adapters = createAdapters(ctx.clientsFor(env.spec.gcp.projectId), env.spec.gcp.projectId, ctx.caller);
  const observed = await observeEnvironment(env.spec, adapters, ctx.now?.() ?? new Date());
  const plan = diff(env.spec, observed);
  log.info({
    event: 'observe',
    durationMs: Math.round(performance.now() - started),
    resources: { buckets: env.spec.buckets.length, datasets: env.spec.datasets.length, secrets: env.spec.secrets.length, policies: Object.keys(observed.policies).length },
    labelled: observed.labelled.length,
    errors: observed.errors,
  }, 'observed');
  return { observed, plan };
}

/** Plans (dry run) or applies one environment, logging every action as one JSON line. */
export async function reconcileEnvironment(env: LoadedEnvironment, mode: 'plan' | 'apply', ctx: ReconcileContext): Promise<ReconcileReport> {
  const started = performance.now();
  const dryRun = mode === 'plan' || env.spec.policy.drift === 'Report';
  const log = ctx.logger.child({ environment: env.spec.environment, object: `${env.namespace}/${env.manifest.metadata.name}`, dryRun });
  const { observed, plan } = await observeAndPlan(env, ctx, log);
  const report: ReconcileReport = {
    environment: env.spec.environment, namespace: env.namespace, name: env.manifest.metadata.name, project: env.spec.gcp.projectId,
    dryRun, plan, observeErrors: observed.errors, durationMs: 0,
  };
  if (mode === 'plan' || plan.suspended) {
    for (const a of plan.actions) {
      log.info({ event: 'action', kind: a.kind, name: a.name, verb: a.verb, changes: a.changes, outcome: 'planned', durationMs: 0, ...(a.message ? { detail: a.message } : {}), ...(a.pending ? { pending: a.pending } : {}) }, `${a.verb} ${a.kind} ${a.name}`);
    }
    report.durationMs = Math.round(performance.now() - started);
    return report;
  }
  const adapters = createAdapters(ctx.clientsFor(env.spec.gcp.projectId), env.spec.gcp.projectId, ctx.caller);
  const results = await new PlanExecutor(adapters, observed, ctx.execute).execute(plan);
  report.results = Object.fromEntries(results);
  for (const a of plan.actions) {
    const r = results.get(a.id);
    const entry = {
      event: 'action', kind: a.kind, name: a.name, verb: a.verb, changes: a.changes,
      outcome: r?.outcome ?? (a.verb === 'none' ? 'in-sync' : a.verb), durationMs: Math.round(r?.durationMs ?? 0),
      ...(r?.error ? { error: r.error } : {}), ...(a.message ? { detail: a.message } : {}), ...(a.pending ? { pending: a.pending } : {}),
    };
    if (r?.outcome === 'error') log.error(entry, `${a.verb} ${a.kind} ${a.name} failed`);
    else log.info(entry, `${a.verb} ${a.kind} ${a.name}`);
  }
  if ([...results.values()].some((r) => r.outcome !== 'skipped')) report.after = (await observeAndPlan(env, ctx, log)).plan;
  report.durationMs = Math.round(performance.now() - started);
  return report;
}
