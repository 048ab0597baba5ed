/**
 * controller-runtime's Reconcile for JobMatchEnvironments: level-triggered, through the one engine (the
 * same reconcileEnvironment as plan and apply). It validates the object, decides claims across objects,
 * keeps the finalizer, revokes what left the spec (via the inventory), applies or (paused / Report)
 * only plans, and writes status only when it changed — an in-sync resync writes nothing to Kubernetes.
 */
import type { ResolvedSpec } from '../api/defaults.js';
import { REDEPLOY_AT_ANNOTATION } from '../api/naming.js';
import { checkClaims } from '../api/claims.js';
import type { ActionLogger } from '../engine/action-log.js';
import { reconcileEnvironment, type ReconcileContext, type ReconcileReport } from '../engine/reconcile.js';
import { contestedBindings } from '../plan/contested-bindings.js';
import { KINDS } from '../kinds/registry.js';
import { annotation, FINALIZER, loadObject, objectKey, ORPHAN_ON_DELETE_ANNOTATION, PAUSED_ANNOTATION, type EnvironmentObject } from './environment-object.js';
import { nextInventory, withRevocations, type EnvironmentStatus } from './inventory.js';
import type { ControllerMetrics } from './metrics.js';
import type { ObjectStore } from './object-store.js';
import { changedFields, computeStatus, invalidStatus, withReconcileTime, type ConditionValue } from './status.js';
import { jittered, type Outcome } from './work-queue.js';

export interface ReconcilerOptions {
  store: ObjectStore;
  /** The engine's context (caller, clients, logger); the reconciler adds the signal and contested bindings. */
  engine: Omit<ReconcileContext, 'signal' | 'contested'>;
  logger: ActionLogger;
  metrics?: ControllerMetrics;
  /** Cancels in-flight reconciles on shutdown. */
  signal?: AbortSignal;
  now?: () => Date;
  random?: () => number;
  /** Overrides every spec's policy.resyncSeconds (run --resync-seconds, the demo). */
  resyncSeconds?: number;
  /** The resync of a spec that sets none: 600 s, or 6 h with drift events on. */
  defaultResyncSeconds?: number;
  /** With drift events on: whether they flow, for the DriftEvents condition. */
  driftEvents?: () => ConditionValue;
}

export const DEFAULT_RESYNC_SECONDS = 600;
/** With drift events the resync is only a safety net. */
export const DRIFT_EVENTS_RESYNC_SECONDS = 6 * 3600;

const VERB_EVENT: Record<string, string> = { create: 'Created', update: 'Updated', adopt: 'Adopted', delete: 'Deleted' };

export class EnvironmentReconciler {
  private readonly now: () => Date;
  private reconcileCount = 0;
  /** Validation by object and generation: claims and contested bindings look at every object on every reconcile. */
  private readonly validated = new Map<string, { generation: string; result: ReturnType<typeof loadObject> }>();
  /** Contested bindings of the set of objects (keys and generations) they were computed for. */
  private contestedMemo: { world: string; value: Map<string, string> } | undefined;

  constructor(private readonly options: ReconcilerOptions) {
    this.now = options.now ?? (() => new Date());
  }

  /** Processes one key: the work queue's callback. */
  async reconcile(key: string): Promise<Outcome> {
    const object = this.options.store.get(key);
    if (!object) return {};
    const started = performance.now();
    const id = `${key}#${++this.reconcileCount}`;
    const log = this.options.logger.child({ object: key, reconcile: id });
    try {
      const outcome = object.manifest.metadata.deletionTimestamp ? await this.cleanUp(object, log) : await this.sync(object, log);
      this.options.metrics?.reconciled('error' in outcome ? 'error' : 'ok', (performance.now() - started) / 1000);
      return outcome;
    } catch (error) {
      this.options.metrics?.reconciled('error', (performance.now() - started) / 1000);
      log.error({ event: 'reconcile', error: (error as Error).message }, 'reconcile failed');
      return { error };
    }
  }

  /** The validated, defaulted spec of an object (from the validation cache); undefined when it is invalid. */
  specOf(o: EnvironmentObject): ResolvedSpec | undefined {
    const loaded = this.load(o);
    return 'env' in loaded ? loaded.env.spec : undefined;
  }

  private load(o: EnvironmentObject): ReturnType<typeof loadObject> {
    const key = objectKey(o);
    // An annotation (jobmatch.io/redeploy-at) changes the desired state without a new generation.
    const generation = `${o.manifest.metadata.generation}/${annotation(o, REDEPLOY_AT_ANNOTATION) ?? ''}`;
    const hit = this.validated.get(key);
    if (hit && o.manifest.metadata.generation !== undefined && hit.generation === generation) return hit.result;
    const result = loadObject(o);
    this.validated.set(key, { generation, result });
    return result;
  }

  /** Every valid object, oldest first, for claims: the later one of two claiming a resource is the one in conflict. */
  private claimsAgainst(key: string, spec: ResolvedSpec): string[] {
    const valid = this.options.store.list()
      .filter((o) => !o.manifest.metadata.deletionTimestamp)
      .sort((a, b) => (a.manifest.metadata.creationTimestamp ?? '').localeCompare(b.manifest.metadata.creationTimestamp ?? '') || objectKey(a).localeCompare(objectKey(b)))
      .flatMap((o) => {
        const loaded = objectKey(o) === key ? undefined : this.load(o);
        const s = objectKey(o) === key ? spec : loaded && 'env' in loaded ? loaded.env.spec : undefined;
        return s ? [{ spec: s, name: o.manifest.metadata.name, namespace: o.manifest.metadata.namespace ?? 'default', source: { file: objectKey(o) } }] : [];
      });
    return checkClaims(valid).filter((e) => e.source?.file === key).map((e) => `${e.path}: ${e.message} — fix: ${e.fix}`);
  }

  private contested(): Map<string, string> {
    const objects = this.options.store.list();
    const world = objects.map((o) => `${objectKey(o)}@${o.manifest.metadata.generation}:${(o.status?.inventory?.bindings ?? []).map((b) => `${b.resource} ${b.role} ${b.member}`).join(',')}`).sort().join(' ');
    if (this.contestedMemo?.world === world) return this.contestedMemo.value;
    const specs = objects.flatMap((o) => {
      const loaded = this.load(o);
      return 'env' in loaded ? [withRevocations(loaded.env.spec, o.status?.inventory)] : [];
    });
    const value = contestedBindings(specs, KINDS);
    this.contestedMemo = { world, value };
    return value;
  }

  private async writeStatus(object: EnvironmentObject, next: EnvironmentStatus, log: ActionLogger): Promise<boolean> {
    const changed = changedFields(object.status, next);
    if (changed.length === 0) return false;
    log.info({ event: 'status', changed }, 'status changed');
    await this.options.store.writeStatus(object, withReconcileTime(next, this.now().toISOString()));
    return true;
  }

  private async sync(object: EnvironmentObject, log: ActionLogger): Promise<Outcome> {
    const { store } = this.options;
    const generation = object.manifest.metadata.generation;
    const now = this.now().toISOString();
    const loaded = this.load(object);
    if ('errors' in loaded) {
      if (await this.writeStatus(object, invalidStatus(object.status, generation, 'InvalidSpec', loaded.errors, now), log)) {
        await store.event(object, 'Warning', 'InvalidSpec', loaded.errors.join('; ').slice(0, 1000));
      }
      return {};
    }
    const claims = this.claimsAgainst(objectKey(object), loaded.env.spec);
    if (claims.length > 0) {
      if (await this.writeStatus(object, invalidStatus(object.status, generation, 'Conflict', claims, now), log)) {
        await store.event(object, 'Warning', 'Conflict', claims.join('; ').slice(0, 1000));
      }
      return {};
    }
    if (store.finalizers && !object.manifest.metadata.finalizers?.includes(FINALIZER)) {
      await store.addFinalizer(object);
      return { requeueAfterMs: 0 };
    }
    const paused = annotation(object, PAUSED_ANNOTATION) === 'true';
    const spec = withRevocations(loaded.env.spec, object.status?.inventory);
    const report = await reconcileEnvironment({ ...loaded.env, spec }, paused ? 'plan' : 'apply', {
      ...this.options.engine, contested: this.contested(), ...(this.options.signal ? { signal: this.options.signal } : {}),
    });
    const inventory = paused ? object.status?.inventory : nextInventory(object.status?.inventory, report, spec);
    const driftEvents = this.options.driftEvents?.();
    const status = { ...computeStatus({ spec: loaded.env.spec, report, previous: object.status, generation, paused, now, ...(driftEvents ? { driftEvents } : {}) }), ...(inventory ? { inventory } : {}) };
    this.options.metrics?.observedDrift(report);
    await this.writeStatus(object, status, log);
    await this.recordEvents(object, report);
    const failed = Object.values(report.results ?? {}).some((r) => r.outcome === 'error' || r.outcome === 'cancelled') || report.plan.summary.error > 0;
    if (failed) return { error: new Error('some actions failed: see status.resources') };
    return { requeueAfterMs: jittered(this.options.resyncSeconds ?? loaded.env.spec.policy.resyncSeconds ?? this.options.defaultResyncSeconds ?? DEFAULT_RESYNC_SECONDS, this.options.random) };
  }

  private async recordEvents(object: EnvironmentObject, report: ReconcileReport): Promise<void> {
    const { store } = this.options;
    for (const a of report.plan.actions) {
      const r = report.results?.[a.id];
      if (r?.outcome === 'ok') {
        const reason = a.kind === 'IAMBinding' ? (a.verb === 'delete' ? 'Revoked' : 'Granted') : VERB_EVENT[a.verb] ?? 'Changed';
        await store.event(object, 'Normal', reason, `${a.verb} ${a.kind} ${a.name}`);
      } else if (r && r.outcome !== 'skipped') {
        await store.event(object, 'Warning', r.outcome === 'conflict' ? 'Conflict' : 'ReconcileError', `${a.verb} ${a.kind} ${a.name}: ${r.error ?? r.outcome}`.slice(0, 1000));
      } else if (!r && (a.verb === 'conflict' || a.verb === 'error')) {
        await store.event(object, 'Warning', a.verb === 'conflict' ? 'Conflict' : 'ReadError', `${a.kind} ${a.name}: ${a.message ?? a.verb}`.slice(0, 1000));
      }
    }
    if (report.plan.reportOnly && report.plan.actions.some((a) => a.steps.length > 0)) {
      await store.event(object, 'Warning', 'DriftReported', 'policy.drift is Report: drift detected, nothing written');
    }
  }

  /** Deletion through the finalizer: each resource's deletion policy, the inventory's bindings revoked, then the finalizer removed. */
  private async cleanUp(object: EnvironmentObject, log: ActionLogger): Promise<Outcome> {
    const { store } = this.options;
    if (!object.manifest.metadata.finalizers?.includes(FINALIZER)) return {};
    if (annotation(object, ORPHAN_ON_DELETE_ANNOTATION) === 'true') {
      await store.event(object, 'Normal', 'Orphaned', `${ORPHAN_ON_DELETE_ANNOTATION} is "true": GCP resources left as they are`);
      await store.removeFinalizer(object);
      return {};
    }
    const loaded = loadObject(object);
    if ('errors' in loaded) {
      await store.event(object, 'Warning', 'CleanupBlocked', `the spec is invalid, so what to clean up is unknown; fix it or set ${ORPHAN_ON_DELETE_ANNOTATION}: "true"`);
      return {};
    }
    // Nothing declared any more: every resource of the environment is an orphan, the inventory's bindings are revoked.
    // The VM is not the operator's: deleting its environment leaves it, its metadata and its app as they are.
    const { vm: _vm, ...rest } = loaded.env.spec;
    const emptied: ResolvedSpec = { ...rest, buckets: [], datasets: [], secrets: [], iam: [] };
    const spec = withRevocations(emptied, object.status?.inventory);
    const report = await reconcileEnvironment({ ...loaded.env, spec }, 'apply', {
      ...this.options.engine, release: true, ...(this.options.signal ? { signal: this.options.signal } : {}),
    });
    await this.recordEvents(object, report);
    const blocking = (report.after ?? report.plan).actions.filter((a) => a.verb === 'conflict' || a.verb === 'error' || a.steps.length > 0);
    if (blocking.length > 0) {
      const why = blocking.map((a) => `${a.kind} ${a.name}: ${a.message ?? a.verb}`).join('; ');
      await store.event(object, 'Warning', 'CleanupBlocked', `${why}; the finalizer stays until resolved, or set ${ORPHAN_ON_DELETE_ANNOTATION}: "true"`.slice(0, 1000));
      log.warn({ event: 'cleanup', blocking: blocking.map((a) => a.id) }, 'cleanup blocked');
      await this.writeStatus(object, invalidStatus(object.status, object.manifest.metadata.generation, 'CleanupBlocked', blocking.map((a) => `${a.kind} ${a.name}: ${a.message ?? a.verb}`), this.now().toISOString()), log);
      return { error: new Error(`cleanup blocked: ${why}`) };
    }
    await store.event(object, 'Normal', 'CleanedUp', 'deletion policies applied and bindings revoked');
    await store.removeFinalizer(object);
    return {};
  }
}
