/**
 * controller-runtime's Reconcile for JobMatchEnvironments: level-triggered, through the one engine (the
 * same reconcileEnvironment as plan and apply). It validates the object, decides claims across objects,
 * keeps the finalizer, revokes what left the spec (via the inventory), applies or (paused / Report)
 * only plans, and writes status only when it changed — an in-sync resync writes nothing to Kubernetes.
 */
import type { ResolvedSpec } from '../api/defaults.js';
import { REDEPLOY_AT_ANNOTATION } from '../api/naming.js';
import { claimConflicts } from '../api/claims.js';
import type { ActionLogger } from '../engine/action-log.js';
import { reconcileEnvironment, type ReconcileContext, type ReconcileReport } from '../engine/reconcile.js';
import { KINDS } from '../kinds/registry.js';
import { annotation, FINALIZER, loadObject, objectKey, ORPHAN_ON_DELETE_ANNOTATION, PAUSED_ANNOTATION, type EnvironmentObject } from './environment-object.js';
import { droppedPreexisting, nextInventory, withRevocations, type EnvironmentStatus, type Inventory } from './inventory.js';
import { DEFAULT_OPERATOR_CONFIG, type OperatorConfig } from '../api/operator-config.js';
import { decideTenancy, tenancyRequest, type TenancyDecision, type TenancyRequest } from '../api/tenancy.js';
import { CrossEnvironmentIndex } from './cross-environment-index.js';
import { summarize, summaryStamp, type EnvironmentSummary } from './environment-summary.js';

/** The previous summary while its stamp is the same (a status write alone changes nothing); else drawn anew. */
function summaryOf(o: EnvironmentObject, previous: EnvironmentSummary | undefined, load: () => ReturnType<typeof loadObject>): EnvironmentSummary {
  const stamp = summaryStamp(o);
  return previous?.stamp === stamp ? previous : summarize(o, load(), KINDS, stamp);
}
import { bindingKey } from '../plan/contested-bindings.js';
import type { Action } from '../plan/types.js';
import { desiredBindings } from '../plan/desired.js';
import type { ControllerMetrics } from './metrics.js';
import type { ObjectStore } from './object-store.js';
import {
  changedFields, computeStatus, firstStatus, invalidStatus, parityCondition, parityReport, REFUSAL_REASONS, withReconcileTime, type ConditionValue, type RefusalReason,
} from './status.js';
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
  /** The operator's IAM policy and tenants (run --config); the safe defaults, no tenants, when absent. */
  config?: OperatorConfig;
  /** A namespace's labels, for tenants that select namespaces by label. */
  namespaceLabels?: (namespace: string) => Record<string, string> | undefined;
  /** Reconcile these objects soon (a cleanup touched what they share). */
  enqueue?: (keys: string[]) => void;
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
  /** Claims, bindings and parity references of every object, and what each was indexed from. */
  private readonly index = new CrossEnvironmentIndex((key, request) => this.decideTenancy(key.split('/', 1)[0] ?? 'default', request).allowed);
  /** Each object's summary as indexed, and the manifest and status it was drawn from (the same ones: nothing to redo). */
  private readonly indexed = new Map<string, { manifest: EnvironmentObject['manifest']; status: EnvironmentObject['status']; summary: EnvironmentSummary }>();

  private readonly config: OperatorConfig;

  constructor(private readonly options: ReconcilerOptions) {
    this.now = options.now ?? (() => new Date());
    this.config = options.config ?? DEFAULT_OPERATOR_CONFIG;
  }

  /** May this object's namespace use its project and environment name, and as whom (tenancy)? */
  private tenancy(object: EnvironmentObject, spec: ResolvedSpec): TenancyDecision {
    return this.decideTenancy(object.manifest.metadata.namespace ?? 'default', tenancyRequest(spec));
  }

  /** Also asked by the index of each other object: one refused claims nothing and has no say on any binding. */
  private decideTenancy(namespace: string, request: TenancyRequest): TenancyDecision {
    const labels = this.options.namespaceLabels?.(namespace);
    return decideTenancy(this.config.tenants, { name: namespace, ...(labels ? { labels } : {}) }, request);
  }

  /** An object the controller will not touch GCP for: status and, once per refusal, an Event and the metric. */
  private async refuse(object: EnvironmentObject, reason: RefusalReason | 'InvalidSpec' | 'Conflict', messages: string[], log: ActionLogger): Promise<Outcome> {
    const status = invalidStatus(object.status, object.manifest.metadata.generation, reason, messages, this.now().toISOString());
    if (await this.writeStatus(object, status, log)) {
      await this.options.store.event(object, 'Warning', reason, messages.join('; ').slice(0, 1000));
      if ((REFUSAL_REASONS as readonly string[]).includes(reason)) this.options.metrics?.refused.inc({ reason });
      log.warn({ event: 'refused', reason, messages }, `refused: ${reason}, zero GCP calls`);
    }
    return {};
  }

  /** Processes one key: the work queue's callback; `signal` cancels this reconcile alone (a shard handed over). */
  async reconcile(key: string, signal?: AbortSignal): Promise<Outcome> {
    let object = this.options.store.get(key);
    // A shard just gained: its objects were held as summaries; each is read whole before its first reconcile here.
    if (object?.summary) {
      await this.options.store.hydrate?.([key]);
      object = this.options.store.get(key);
      if (object?.summary) return { error: new Error(`${key}: could not read it whole from the API server`) };
    }
    if (!object) return {};
    const started = performance.now();
    const id = `${key}#${++this.reconcileCount}`;
    const log = this.options.logger.child({ object: key, reconcile: id });
    try {
      const cancel = [this.options.signal, signal].filter((x) => x !== undefined);
      const scope = cancel.length > 1 ? AbortSignal.any(cancel) : cancel[0];
      const outcome = object.manifest.metadata.deletionTimestamp ? await this.cleanUp(object, log, scope) : await this.sync(object, log, scope);
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
    if (o.summary) return undefined; // another shard's object: the store keeps only its summary
    const loaded = this.load(o);
    return 'env' in loaded ? loaded.env.spec : undefined;
  }

  private load(o: EnvironmentObject): ReturnType<typeof loadObject> {
    const key = objectKey(o);
    // An annotation (jobmatch.io/redeploy-at) changes the desired state without a new generation.
    const generation = `${o.manifest.metadata.generation}/${annotation(o, REDEPLOY_AT_ANNOTATION) ?? ''}`;
    const hit = this.validated.get(key);
    if (hit && o.manifest.metadata.generation !== undefined && hit.generation === generation) return hit.result;
    const result = loadObject(o, { iamPolicy: this.config.iamPolicy });
    this.validated.set(key, { generation, result });
    return result;
  }

  /**
   * Brings the cross-environment index up to date with the store: an object is summarised again only when its
   * manifest or status object changed and, even then, only when what the summary depends on did (summaryStamp); an
   * object of another shard comes summarised by the store. Objects gone are dropped.
   */
  private refreshIndex(): void {
    let live = 0;
    for (const o of this.options.store.list()) {
      live++;
      const key = objectKey(o);
      const was = this.indexed.get(key);
      if (was?.manifest === o.manifest && was.status === o.status) continue;
      const summary = o.summary ?? this.summarize(o, was?.summary);
      this.indexed.set(key, { manifest: o.manifest, status: o.status, summary });
      if (summary !== was?.summary) this.index.set(key, summary);
    }
    if (live === this.indexed.size) return;
    for (const key of [...this.indexed.keys()]) {
      if (this.options.store.get(key)) continue;
      this.indexed.delete(key);
      this.validated.delete(key);
      this.index.delete(key);
    }
  }

  /** The summary of a full object, validated through the cache: the previous one while its stamp is the same. */
  private summarize(o: EnvironmentObject, previous?: EnvironmentSummary): EnvironmentSummary {
    return summaryOf(o, previous, () => this.load(o));
  }

  /** The summary of another shard's object, for the store to keep instead of it (its validated spec is not kept). */
  summarizeOther(o: EnvironmentObject, previous: EnvironmentSummary | undefined): EnvironmentSummary {
    return summaryOf(o, previous, () => loadObject(o, { iamPolicy: this.config.iamPolicy }));
  }

  /** Every valid, live object with the audit-log names of its resources (for the drift-event subscriber). */
  auditEnvironments(): { key: string; refs: readonly string[] }[] {
    this.refreshIndex();
    return [...this.indexed].flatMap(([key, { summary }]) => (summary.live ? [{ key, refs: summary.live.auditRefs }] : []));
  }

  /**
   * A namespace's labels changed (tenants selecting by label): its objects may have gained or lost their tenant, and
   * with it their claims and their say on bindings, so every object of the projects they name is decided again.
   */
  affectedByNamespace(namespace: string): string[] {
    this.refreshIndex();
    const own = [...this.indexed.keys()].filter((k) => k.startsWith(`${namespace}/`));
    const projects = new Set(own.flatMap((k) => this.indexed.get(k)?.summary.live?.project ?? []));
    return [...new Set([...own, ...[...projects].flatMap((p) => this.index.inProject(p))])];
  }

  /** Objects handed over to another replica: their validated specs are not kept here any more. */
  forget(keys: Iterable<string>): void {
    for (const key of keys) this.validated.delete(key);
  }

  /** Claims this object loses: the same resource claimed by an older valid object (the later of two is in conflict). */
  private claimsAgainst(key: string, spec: ResolvedSpec): string[] {
    const held = this.index.heldBefore(key);
    if (held.size === 0) return [];
    const named = (k: string) => {
      const [namespace = 'default', name = ''] = k.split('/', 2);
      return { name, namespace, source: { file: k } };
    };
    const heldBy = new Map([...held].map(([claim, holder]) => [claim, named(holder)]));
    return claimConflicts({ spec, ...named(key) }, heldBy).map((e) => `${e.path}: ${e.message} — fix: ${e.fix}`);
  }

  private async writeStatus(object: EnvironmentObject, next: EnvironmentStatus, log: ActionLogger): Promise<boolean> {
    const changed = changedFields(object.status, next);
    if (changed.length === 0) return false;
    log.info({ event: 'status', changed }, 'status changed');
    await this.options.store.writeStatus(object, withReconcileTime(next, this.now().toISOString()));
    return true;
  }

  private async sync(object: EnvironmentObject, log: ActionLogger, signal: AbortSignal | undefined): Promise<Outcome> {
    const { store } = this.options;
    const generation = object.manifest.metadata.generation;
    const now = this.now().toISOString();
    const loaded = this.load(object);
    if ('errors' in loaded) return this.refuse(object, loaded.policyViolation ? 'PolicyViolation' : 'InvalidSpec', loaded.errors, log);
    const tenancy = this.tenancy(object, loaded.env.spec);
    if (!tenancy.allowed) return this.refuse(object, tenancy.reason, [tenancy.message], log);
    this.refreshIndex();
    const claims = this.claimsAgainst(objectKey(object), loaded.env.spec);
    if (claims.length > 0) return this.refuse(object, 'Conflict', claims, log);
    if (store.finalizers && !object.manifest.metadata.finalizers?.includes(FINALIZER)) {
      await store.addFinalizer(object);
      // Never reconciled: say Reconciling now (kstatus reads an object without status as Current), before any GCP call.
      const added = store.get(objectKey(object));
      if (added && !added.status) await this.writeStatus(added, firstStatus(generation, now), log);
      return { requeueAfterMs: 0 };
    }
    const paused = annotation(object, PAUSED_ANNOTATION) === 'true';
    const spec = withRevocations(loaded.env.spec, object.status?.inventory);
    const report = await reconcileEnvironment({ ...loaded.env, spec }, paused ? 'plan' : 'apply', {
      ...this.engineContext(tenancy, signal), contested: this.index.contested(objectKey(object)),
    });
    const inventory = paused ? object.status?.inventory : nextInventory(object.status?.inventory, report, spec);
    if (!paused) await this.reportPreexisting(object, loaded.env.spec, log);
    const driftEvents = this.options.driftEvents?.();
    const parity = await this.parity(object, loaded.env.spec);
    const status = { ...computeStatus({ spec: loaded.env.spec, report, previous: object.status, generation, paused, now, ...(driftEvents ? { driftEvents } : {}), ...(parity ? { parity: parity.condition } : {}) }), ...(inventory ? { inventory } : {}) };
    this.options.metrics?.observedDrift(report, status.conditions?.some((c) => c.type === 'DriftDetected' && c.status === 'True') ?? false);
    this.options.metrics?.parityDifferences(objectKey(object), parity?.differences);
    const parityWas = object.status?.conditions?.find((c) => c.type === 'ParityDrift')?.status;
    await this.writeStatus(object, status, log);
    await this.recordEvents(object, report);
    if (parity?.condition.status === 'True' && parityWas !== 'True') await store.event(object, 'Warning', 'ParityDrift', parity.condition.message.slice(0, 1000));
    // A new spec may change the parity of the environments naming this one as their reference: only then, so no loop.
    if (object.status?.observedGeneration !== generation) this.options.enqueue?.(this.parityDependents(objectKey(object), loaded.env.spec.environment));
    const failed = Object.values(report.results ?? {}).some((r) => r.outcome === 'error' || r.outcome === 'cancelled') || report.plan.summary.error > 0;
    if (failed) return { error: new Error('some actions failed: see status.resources') };
    return { requeueAfterMs: jittered(this.options.resyncSeconds ?? loaded.env.spec.policy.resyncSeconds ?? this.options.defaultResyncSeconds ?? DEFAULT_RESYNC_SECONDS, this.options.random) };
  }

  /**
   * ParityDrift of an object naming spec.parity.reference: its spec compared with the reference's (the valid object
   * whose spec.environment it names, in the same namespace first, else the only one in the cluster). With tenants,
   * in the same namespace only: the condition shows the reference's values, and a tenant may not read another's.
   */
  private async parity(object: EnvironmentObject, spec: ResolvedSpec): Promise<{ condition: ConditionValue; differences?: number } | undefined> {
    const name = spec.parity?.reference;
    if (!name) return undefined;
    const key = objectKey(object);
    const namespace = object.manifest.metadata.namespace ?? 'default';
    const scope = this.config.tenants ? 'namespace' : 'cluster';
    const inScope = (k: string) => k !== key && (scope === 'cluster' || k.startsWith(`${namespace}/`));
    const candidates = (await Promise.all(this.index.withEnvironment(name).filter(inScope).map(async (k) => {
      // A reference in another shard: the store has only its summary here, so it is read whole.
      const cached = this.options.store.get(k);
      const o = cached?.summary ? await this.options.store.fetch?.(k) : cached;
      const s = o ? this.specOf(o) : undefined;
      return o && s ? [{ o, s }] : [];
    }))).flat();
    const local = candidates.filter((c) => (c.o.manifest.metadata.namespace ?? 'default') === namespace);
    const reference = local.length === 1 ? local[0]!.s : local.length === 0 && candidates.length === 1 ? candidates[0]!.s : undefined;
    const report = parityReport(spec, reference);
    return { condition: parityCondition(report, name, scope), ...(report ? { differences: report.summary.unexpected } : {}) };
  }

  /** The other live objects whose spec.parity.reference names this environment. */
  private parityDependents(key: string, environment: string): string[] {
    return this.index.referencing(environment).filter((k) => k !== key);
  }

  /** The engine's context for one object: its tenant's identity, the IAM policy, the cancellation (shutdown, or its shard handed over). */
  private engineContext(tenancy: TenancyDecision, signal: AbortSignal | undefined): Omit<ReconcileContext, 'contested'> {
    return {
      ...this.options.engine, iamPolicy: this.config.iamPolicy,
      ...(tenancy.allowed && tenancy.serviceAccount ? { identity: tenancy.serviceAccount } : {}),
      ...(signal ? { signal } : {}),
    };
  }

  /** Someone else's bindings that left the spec: never revoked; said once (the inventory then forgets them). */
  private async reportPreexisting(object: EnvironmentObject, spec: ResolvedSpec, log: ActionLogger): Promise<void> {
    for (const b of droppedPreexisting(spec, object.status?.inventory)) {
      const what = `IAMBinding ${b.resource} ${b.role} ${b.member}`;
      log.info({ event: 'action', kind: 'IAMBinding', name: `${b.resource} ${b.role} ${b.member}`, verb: 'none', outcome: 'not-ours' }, `${what}: not granted by this operator: left in place`);
      await this.options.store.event(object, 'Normal', 'NotRevoked', `${what}: not granted by this operator (it existed before): left in place`);
    }
  }

  private async recordEvents(object: EnvironmentObject, report: ReconcileReport): Promise<void> {
    const { store } = this.options;
    for (const a of report.plan.actions) {
      const r = report.results?.[a.id];
      if (a.kind === 'Deployment' && a.message?.startsWith('RolloutFailed: ')) {
        await store.event(object, 'Warning', 'RolloutFailed', a.message.slice('RolloutFailed: '.length).slice(0, 1000));
      }
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

  /**
   * Deletion through the finalizer: each resource's deletion policy, the inventory's bindings revoked (except
   * any another live environment declares), then the finalizer removed. Paused, suspended or not allowed
   * (tenancy): nothing is released in GCP, and the Event says what stays.
   */
  private async cleanUp(object: EnvironmentObject, log: ActionLogger, signal: AbortSignal | undefined): Promise<Outcome> {
    const { store } = this.options;
    if (!object.manifest.metadata.finalizers?.includes(FINALIZER)) return {};
    if (annotation(object, ORPHAN_ON_DELETE_ANNOTATION) === 'true') {
      await store.event(object, 'Normal', 'Orphaned', `${ORPHAN_ON_DELETE_ANNOTATION} is "true": GCP resources left as they are`);
      await store.removeFinalizer(object);
      return {};
    }
    const loaded = loadObject(object, { iamPolicy: this.config.iamPolicy });
    if ('errors' in loaded) {
      await store.event(object, 'Warning', 'CleanupBlocked', `the spec is invalid, so what to clean up is unknown; fix it or set ${ORPHAN_ON_DELETE_ANNOTATION}: "true"`);
      return {};
    }
    const tenancy = this.tenancy(object, loaded.env.spec);
    const skip = annotation(object, PAUSED_ANNOTATION) === 'true' ? `${PAUSED_ANNOTATION} is "true"`
      : loaded.env.spec.policy.suspend ? 'spec.policy.suspend is true'
        : !tenancy.allowed ? `${tenancy.reason}: ${tenancy.message}` : undefined;
    if (skip) return this.releaseNothing(object, skip, log);
    // Nothing declared any more: every resource of the environment is an orphan, the inventory's bindings are revoked.
    // The VM is not the operator's: deleting its environment leaves it, its metadata and its app as they are.
    const { vm: _vm, ...rest } = loaded.env.spec;
    const emptied: ResolvedSpec = { ...rest, buckets: [], datasets: [], secrets: [], iam: [] };
    const { spec, kept } = this.withoutSharedBindings(objectKey(object), withRevocations(emptied, object.status?.inventory));
    for (const k of kept) log.info({ event: 'cleanup', kept: k }, `left in place: ${k}`);
    const report = await reconcileEnvironment({ ...loaded.env, spec }, 'apply', { ...this.engineContext(tenancy, signal), release: true });
    await this.recordEvents(object, report);
    this.options.enqueue?.(this.sameProject(objectKey(object), spec.gcp.projectId));
    const blocking = (report.after ?? report.plan).actions.filter((a) => a.verb === 'conflict' || a.verb === 'error' || a.steps.length > 0);
    if (blocking.length > 0) {
      const why = blocking.map((a) => `${a.kind} ${a.name}: ${a.message ?? a.verb}`).join('; ');
      await store.event(object, 'Warning', 'CleanupBlocked', `${why}; the finalizer stays until resolved, or set ${ORPHAN_ON_DELETE_ANNOTATION}: "true"`.slice(0, 1000));
      log.warn({ event: 'cleanup', blocking: blocking.map((a) => a.id) }, 'cleanup blocked');
      await this.writeStatus(object, invalidStatus(object.status, object.manifest.metadata.generation, 'CleanupBlocked', blocking.map((a) => `${a.kind} ${a.name}: ${a.message ?? a.verb}`), this.now().toISOString()), log);
      return { error: new Error(`cleanup blocked: ${why}`) };
    }
    await store.event(object, 'Normal', 'CleanedUp', cleanupSummary(report, kept).slice(0, 1000));
    await store.removeFinalizer(object);
    return {};
  }

  /** A deletion that may not or must not touch GCP: the finalizer goes, and the Event lists what stays. */
  private async releaseNothing(object: EnvironmentObject, why: string, log: ActionLogger): Promise<Outcome> {
    const stays = describeInventory(object.status?.inventory);
    log.warn({ event: 'cleanup', released: false, why }, `deleted with nothing released in GCP: ${why}`);
    await this.options.store.event(object, 'Warning', 'NothingReleased', `${why}: nothing was released or revoked in GCP; what stays: ${stays}`.slice(0, 1000));
    await this.options.store.removeFinalizer(object);
    return {};
  }

  /** The revocations another live environment's spec still declares present are dropped: they stay granted. */
  private withoutSharedBindings(key: string, spec: ResolvedSpec): { spec: ResolvedSpec; kept: string[] } {
    this.refreshIndex();
    const kept: string[] = [];
    const ours = desiredBindings(spec, KINDS);
    const iam = spec.iam.filter((entry, i) => {
      const owner = this.index.wantingPresent(bindingKey(ours[i]!)).find((k) => k !== key);
      if (owner) kept.push(`IAMBinding ${entry.resource} ${entry.role} ${entry.member} (declared by ${owner})`);
      return !owner;
    });
    return { spec: { ...spec, iam }, kept };
  }

  /** The other live objects of a project: what a cleanup there may have touched. */
  private sameProject(key: string, project: string): string[] {
    return this.index.inProject(project).filter((k) => k !== key);
  }
}

/** What a cleanup did, from what really happened (never what was only planned). */
function cleanupSummary(report: ReconcileReport, kept: string[]): string {
  const done = report.plan.actions.filter((a) => report.results?.[a.id]?.outcome === 'ok');
  const count = (f: (a: Action) => boolean) => done.filter(f).length;
  const parts = [
    `${count((a) => a.kind !== 'IAMBinding' && a.verb === 'delete')} resource(s) deleted`,
    `${count((a) => a.kind !== 'IAMBinding' && a.verb === 'update')} released`,
    `${count((a) => a.kind === 'IAMBinding' && a.verb === 'delete')} binding(s) revoked`,
  ];
  return `${parts.join(', ')}${kept.length > 0 ? `; left in place, declared by another environment: ${kept.join('; ')}` : ''}`;
}

function describeInventory(inventory: Inventory | undefined): string {
  const items = [...(inventory?.resources ?? []).map((r) => `${r.kind} ${r.name}`), ...(inventory?.bindings ?? []).map((b) => `IAMBinding ${b.resource} ${b.role} ${b.member}`)];
  return items.length > 0 ? items.join(', ') : 'nothing recorded in status.inventory';
}
