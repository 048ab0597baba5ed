/**
 * The long-running loop: a source says which objects changed, the work queue coalesces and bounds the
 * work, the reconciler does it through the one engine. Stopping takes no new work, cancels what is in
 * flight after a grace period, and waits for it.
 */
import type { OperatorConfig } from '../api/operator-config.js';
import type { ActionLogger } from '../engine/action-log.js';
import type { ReconcileContext } from '../engine/reconcile.js';
import type { ControllerMetrics } from './metrics.js';
import type { ObjectStore } from './object-store.js';
import { DriftEventSource, type DriftEventsOptions } from './drift-events.js';
import { objectKey } from './environment-object.js';
import { DRIFT_EVENTS_RESYNC_SECONDS, EnvironmentReconciler } from './reconciler.js';
import { WorkQueue, type Clock } from './work-queue.js';
import { HeapReleaser, type Collected } from './heap-release.js';

/** During a burst (a cold sync), the heap's slack is checked every this many reconciles, and when the queue drains. */
const RELEASE_CHECK_EVERY = 5;
/** A drained queue is checked at most this often: a steady trickle of resyncs must not pay a full GC each. */
const RELEASE_MIN_INTERVAL_MS = 20_000;

export interface ControllerOptions {
  store: ObjectStore;
  engine: Omit<ReconcileContext, 'signal' | 'contested'>;
  logger: ActionLogger;
  metrics: ControllerMetrics;
  concurrency: number;
  clock?: Clock;
  /** Backoff of a failing key (1 s → 5 min by default). */
  backoff?: { baseDelayMs: number; maxDelayMs: number };
  /** Overrides every spec's policy.resyncSeconds. */
  resyncSeconds?: number;
  /** The operator's IAM policy and tenants (run --config). */
  config?: OperatorConfig;
  /** A namespace's labels, for tenants selecting namespaces by label (a cluster's namespace informer). */
  namespaceLabels?: (namespace: string) => Record<string, string> | undefined;
  /** Give back the heap a burst of reconciles left behind (default on; tests of the queue's timing turn it off). */
  releaseHeap?: boolean;
  /** Reconcile at once on audit-log entries from this subscription (resync becomes a 6 h safety net). */
  driftEvents?: Omit<DriftEventsOptions, 'environments' | 'enqueue' | 'logger' | 'onOutcome' | 'onHealth'>;
}

export class Controller {
  readonly queue: WorkQueue;
  readonly reconciler: EnvironmentReconciler;
  private readonly abort = new AbortController();
  /** Per key in flight: cancels that reconcile alone (a shard handed over past its grace). */
  private readonly inFlight = new Map<string, AbortController>();
  private reconcilesSinceCheck = 0;
  private readonly heap = new HeapReleaser();
  private lastCheck = -Infinity;
  private releaseTimer: NodeJS.Timeout | undefined;
  /**
   * Which objects this replica may reconcile now: all (one replica, or the leader), none (a standby), or those of the
   * shards it owns. Nothing else is dispatched: no GCP call, status, finalizer or Event for an object not its own.
   */
  private owns: (key: string) => boolean = () => true;

  /** The audit-log subscriber, with drift events on. */
  readonly driftEvents: DriftEventSource | undefined;

  constructor(private readonly options: ControllerOptions) {
    this.driftEvents = options.driftEvents ? this.driftEventSource(options.driftEvents) : undefined;
    const events = this.driftEvents;
    this.reconciler = new EnvironmentReconciler({
      store: options.store, engine: options.engine, logger: options.logger, metrics: options.metrics, signal: this.abort.signal,
      enqueue: (keys) => this.enqueue(keys),
      ...(options.config ? { config: options.config } : {}), ...(options.namespaceLabels ? { namespaceLabels: options.namespaceLabels } : {}),
      ...(options.resyncSeconds !== undefined ? { resyncSeconds: options.resyncSeconds } : {}),
      ...(events ? {
        defaultResyncSeconds: DRIFT_EVENTS_RESYNC_SECONDS,
        driftEvents: () => ({ status: events.state.up ? 'True' : 'False', reason: events.state.reason, message: events.state.message }),
      } : {}),
    });
    this.queue = new WorkQueue(async (key) => {
      const cancel = new AbortController();
      this.inFlight.set(key, cancel);
      const outcome = await this.reconciler.reconcile(key, cancel.signal).finally(() => this.inFlight.delete(key));
      options.metrics.workqueueDepth.set(this.queue.depth - 1);
      options.metrics.countEnvironments(options.store.list().map((o) => o.status));
      options.metrics.environmentConditions(key, options.store.get(key)?.status);
      if (options.releaseHeap !== false) {
        // In a burst, a check every RELEASE_CHECK_EVERY reconciles (bounds the peak); when the queue drains, one within the interval.
        if (++this.reconcilesSinceCheck >= RELEASE_CHECK_EVERY) {
          this.reconcilesSinceCheck = 0;
          setImmediate(() => this.logCollection(this.heap.duringBurst()));
        }
        if (this.queue.depth <= 1) this.scheduleHeapRelease();
      }
      return outcome;
    }, {
      concurrency: options.concurrency,
      ...(options.clock ? { clock: options.clock } : {}),
      ...(options.backoff ?? {}),
      accepts: (key) => this.owns(key),
    });
  }

  private driftEventSource(options: NonNullable<ControllerOptions['driftEvents']>): DriftEventSource {
    const { store, metrics, logger } = this.options;
    return new DriftEventSource({
      ...options, logger,
      environments: () => this.reconciler.auditEnvironments(),
      enqueue: (keys) => this.enqueue(keys),
      owns: (key) => this.owns(key),
      onOutcome: (outcome, n) => metrics.driftEvents.inc({ outcome }, n),
      // Every status says whether events flow (DriftEvents): reconcile them all when that changes.
      onHealth: (health) => {
        metrics.driftEventsUp(health.up);
        this.enqueue(store.list().map(objectKey));
      },
    });
  }

  /** The queue drained: give back the heap the burst left behind (see heap-release.ts), once the interval allows. */
  private scheduleHeapRelease(): void {
    if (this.releaseTimer) return;
    this.releaseTimer = setTimeout(() => {
      this.releaseTimer = undefined;
      this.lastCheck = performance.now();
      this.logCollection(this.heap.afterBurst());
    }, Math.max(0, this.lastCheck + RELEASE_MIN_INTERVAL_MS - performance.now()));
    this.releaseTimer.unref();
  }

  private logCollection(c: Collected): void {
    if (c.kind === 'none') return;
    const mb = (n: number) => Math.round(n / 1048576);
    this.options.logger.debug({ event: 'heap', collection: c.kind, usedMb: [mb(c.usedBefore), mb(c.usedAfter)], committedMb: [mb(c.committedBefore), mb(c.committedAfter)] }, 'collected the heap a burst of reconciles left behind');
  }

  /** Starts the drift-event subscriber, if configured. */
  async startDriftEvents(): Promise<void> {
    await this.driftEvents?.start();
  }

  /** Something about these objects changed: reconcile them (coalesced with work already queued). */
  enqueue(keys: Iterable<string>): void {
    for (const key of keys) this.queue.add(key); // the queue drops what this replica does not own
    this.options.metrics.workqueueDepth.set(this.queue.depth);
  }

  forget(keys: Iterable<string>): void {
    for (const key of keys) {
      this.queue.forget(key);
      this.options.metrics.environmentConditions(key, undefined);
      this.options.metrics.parityDifferences(key, undefined);
    }
  }

  /** Leader election: a standby keeps its cache; it reconciles (writes) only once it leads, then every object. */
  setActive(active: boolean): void {
    this.setOwnership(() => active);
  }

  /** Which objects are this replica's from now on (sharding); every one of them is reconciled now. */
  setOwnership(owns: (key: string) => boolean): void {
    this.owns = owns;
    this.enqueue(this.options.store.list().map(objectKey));
  }

  /** Objects that became this replica's (a shard gained): reconcile them now. */
  claim(keys: Iterable<string>): void {
    this.enqueue(keys);
  }

  /**
   * Objects no longer this replica's (a shard handed over, `owns` already false for them): their resyncs are dropped,
   * and this resolves once none of them is being reconciled: past `graceMs` those still in flight are cancelled and
   * waited for (false then).
   */
  async release(keys: string[], graceMs: number): Promise<boolean> {
    this.reconciler.forget(keys);
    for (const key of keys) {
      this.queue.forget(key);
      this.options.metrics.environmentConditions(key, undefined);
    }
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), graceMs)));
    try {
      if (await Promise.race([this.queue.settled(keys).then(() => true as const), late])) return true;
      // Past the grace: cancel those reconciles (the engine stops before its next GCP call) and wait for them to end.
      for (const key of keys) this.inFlight.get(key)?.abort(new Error('its shard is handed over to another replica'));
      await this.queue.settled(keys);
      return false;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Stops taking work; in-flight reconciles are cancelled after `graceMs`, and waited for. */
  async stop(graceMs: number): Promise<void> {
    clearTimeout(this.releaseTimer);
    const timer = setTimeout(() => this.abort.abort(new Error('the controller is stopping')), graceMs);
    try {
      await this.driftEvents?.stop();
      await this.queue.shutDown();
    } finally {
      clearTimeout(timer);
    }
  }

  /** The cancellation of every reconcile (for leadership loss). */
  cancelInFlight(reason: string): void {
    this.abort.abort(new Error(reason));
  }
}
