/**
 * Leases, with controller-runtime's timings: a lease lasts 15 s, its holder renews every 2 s and gives it up if it
 * cannot renew for 10 s; a replica that wants it tries every 2 s and takes it once it has expired. Every write carries
 * the resourceVersion read, so two replicas can never both believe they hold it. Released on stop, so another replica
 * takes over at once. `LeaseLock` is one Lease held under these rules; `LeaderElector` is leader election on one;
 * shard-ownership.ts holds one per shard.
 *
 * Time, as in client-go's leaderelection: every decision is taken on this process's own monotonic
 * clock, never by comparing the Lease's renewTime with the local wall clock (replicas' wall clocks
 * may disagree by more than any margin). A replica remembers the last record it read (the observed
 * record) and when it first saw it (the observed time); the lease has expired for it only when that
 * record has not changed for leaseDurationSeconds on its own clock. The holder counts its renew
 * deadline from when it sent its last successful renewal, so it stops holding before any other replica can
 * have seen its lease expire. The wall clock only fills in acquireTime and renewTime, for humans.
 */
import { performance } from 'node:perf_hooks';
import * as k8s from '@kubernetes/client-node';
import type { ActionLogger } from '../engine/action-log.js';

export interface LeaseTimings {
  leaseDurationSeconds?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
}

interface Clocks {
  /** What is written into acquireTime and renewTime (never read back to decide anything). Default: the system clock. */
  wallClock?: () => Date;
  /** Milliseconds on a clock that only moves forward, for every decision. Default: performance.now(). */
  monotonicNow?: () => number;
}

export interface LeaderElectionOptions extends LeaseTimings, Clocks {
  namespace: string;
  name: string;
  identity: string;
  logger: ActionLogger;
  onStartedLeading: () => void;
  onStoppedLeading: () => void;
}

export interface LeaseLockOptions extends LeaseTimings, Clocks {
  namespace: string;
  name: string;
  identity: string;
  logger: ActionLogger;
  /** Labels and annotations of the Lease when this replica creates it (shard and member Leases are found by label). */
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  /** The Lease was held and is not any more (not renewed within the renew deadline, or another holder): stop writing at once. */
  onLost: (why: string) => void;
}

const micro = (d: Date) => new k8s.V1MicroTime(d.getTime());
const stamp = (t: unknown) => (t instanceof Date ? t.toISOString() : String(t ?? ''));
const httpCode = (e: unknown) => (e as { code?: number }).code;

/** The last Lease record read or written, and when (monotonic) this replica first saw it. */
export interface ObservedLease {
  /** Identifies the record: any change to it (a renewal, a takeover, any write at all) starts the clock again. */
  key: string;
  holderIdentity: string;
  leaseDurationSeconds: number;
  resourceVersion: string;
  annotations: Record<string, string>;
  time: number;
}

/** The record as this replica sees it now: `previous` when the record has not changed since, else a new observation at `now`. */
export function observeLease(previous: ObservedLease | undefined, lease: k8s.V1Lease, now: number, defaultDurationSeconds: number): ObservedLease {
  const spec = lease.spec ?? {};
  const key = JSON.stringify([spec.holderIdentity ?? '', spec.leaseDurationSeconds ?? null, stamp(spec.acquireTime), stamp(spec.renewTime), spec.leaseTransitions ?? 0, lease.metadata?.resourceVersion ?? '']);
  if (key === previous?.key) return previous;
  return {
    key, holderIdentity: spec.holderIdentity ?? '', leaseDurationSeconds: spec.leaseDurationSeconds ?? defaultDurationSeconds,
    resourceVersion: lease.metadata?.resourceVersion ?? '', annotations: lease.metadata?.annotations ?? {}, time: now,
  };
}

/** Whether an observed record has stayed unchanged for `factor` times its lease duration, on this process's clock. */
export const observedExpired = (o: ObservedLease | undefined, now: number, factor = 1) => !o || o.time + factor * o.leaseDurationSeconds * 1000 < now;

/** One Lease, acquired and renewed by `renew`, given up by `release`; says when it is lost. */
export class LeaseLock {
  /** Held: acquired or renewed, and the renew deadline not passed since. */
  private holding = false;
  /** Monotonic time taken just before sending the last renewal (or acquisition) that succeeded. */
  private renewedAt = 0;
  private observed: ObservedLease | undefined;
  private deadlineTimer: NodeJS.Timeout | undefined;
  private readonly wallClock: () => Date;
  private readonly now: () => number;

  constructor(private readonly api: k8s.CoordinationV1Api, private readonly options: LeaseLockOptions) {
    this.wallClock = options.wallClock ?? (() => new Date());
    this.now = options.monotonicNow ?? (() => performance.now());
  }

  get name(): string {
    return this.options.name;
  }

  get held(): boolean {
    return this.holding;
  }

  /** The holder of the record last seen ('' for none). */
  get holder(): string {
    return this.observed?.holderIdentity ?? '';
  }

  /** No live replica holds it, as far as this replica can tell: never seen, released, or unchanged for its lease duration. */
  get free(): boolean {
    return this.holder === '' || (this.holder !== this.options.identity && observedExpired(this.observed, this.now()));
  }

  private get duration(): number {
    return this.options.leaseDurationSeconds ?? 15;
  }

  private get renewDeadline(): number {
    return this.options.renewDeadlineMs ?? 10_000;
  }

  /**
   * One round: renews the Lease if this replica holds it, acquires it if `acquire` and it is free. `current` is the record
   * just listed (null: there is none), else it is read; `sent` is the monotonic time before that read or list. True while held.
   */
  async renew({ acquire = true, current, sent = this.now() }: { acquire?: boolean; current?: k8s.V1Lease | null; sent?: number } = {}): Promise<boolean> {
    try {
      const held = await this.tryAcquireOrRenew(acquire, current);
      const took = this.now() - sent;
      // Said before it is too late: a renewal this slow leaves little of the renew deadline.
      if (held && took > this.renewDeadline / 2) this.options.logger.warn({ event: 'lease', lease: this.options.name, ms: Math.round(took) }, 'slow Lease renewal');
      // A success that took longer than the renew deadline is not one: holding on it would outlast the lease.
      if (held && this.now() - sent <= this.renewDeadline) {
        this.renewedAt = sent;
        this.holding = true;
        this.armDeadline();
      } else if (this.holding && this.holder !== this.options.identity) {
        this.lose(this.observed ? `the Lease is held by ${this.holder || 'no one'}` : 'the Lease was deleted');
      } else this.checkDeadline();
    } catch (e) {
      this.options.logger.warn({ event: 'lease', lease: this.options.name, error: (e as Error).message }, 'could not read or write the Lease');
      this.checkDeadline();
    }
    return this.holding;
  }

  /** Checks the deadline when it falls due, even while a request hangs: a holder must stop on time, not when the apiserver answers. */
  private armDeadline(): void {
    clearTimeout(this.deadlineTimer);
    this.deadlineTimer = setTimeout(() => this.checkDeadline(), Math.max(0, this.renewedAt + this.renewDeadline - this.now()) + 1);
    this.deadlineTimer.unref();
  }

  private checkDeadline(): void {
    if (!this.holding) return;
    if (this.now() - this.renewedAt > this.renewDeadline) this.lose(`not renewed for ${this.renewDeadline} ms`);
    else this.armDeadline();
  }

  private lose(why: string): void {
    clearTimeout(this.deadlineTimer);
    this.holding = false;
    this.options.onLost(why);
  }

  /** Remembers a record listed, without writing (a shard this replica does not hold); null: there is none. */
  see(lease: k8s.V1Lease | null): void {
    if (lease) this.observe(lease);
    else this.observed = undefined;
  }

  private observe(lease: k8s.V1Lease): void {
    this.observed = observeLease(this.observed, lease, this.now(), this.duration);
  }

  private async tryAcquireOrRenew(acquire: boolean, current: k8s.V1Lease | null | undefined): Promise<boolean> {
    const { namespace, name, identity } = this.options;
    let lease = current ?? undefined;
    if (current === undefined) {
      lease = await this.api.readNamespacedLease({ name, namespace }).catch((e: unknown) => {
        if (httpCode(e) === 404) return undefined;
        throw e;
      });
    }
    if (!lease) {
      this.observed = undefined;
      if (!acquire) return false;
      const now = micro(this.wallClock());
      const { labels, annotations } = this.options;
      const created = await this.api.createNamespacedLease({
        namespace,
        body: {
          metadata: { name, namespace, ...(labels ? { labels } : {}), ...(annotations ? { annotations } : {}) },
          spec: { holderIdentity: identity, leaseDurationSeconds: this.duration, acquireTime: now, renewTime: now, leaseTransitions: 0 },
        },
      }).catch((err: unknown) => {
        if (httpCode(err) === 409) return undefined; // another replica created it first
        throw err;
      });
      const read = created ?? await this.api.readNamespacedLease({ name, namespace });
      this.observe(read);
      return read.spec?.holderIdentity === identity;
    }
    this.observe(lease);
    const spec = lease.spec ?? {};
    const holder = spec.holderIdentity ?? '';
    if (holder !== identity && (!acquire || !this.free)) return false;
    const takeover = holder !== identity;
    const now = micro(this.wallClock());
    try {
      const written = await this.api.replaceNamespacedLease({
        name, namespace,
        body: {
          ...lease,
          metadata: { ...lease.metadata, ...(this.options.annotations ? { annotations: { ...lease.metadata?.annotations, ...this.options.annotations } } : {}) },
          spec: {
            ...spec, holderIdentity: identity, leaseDurationSeconds: this.duration, renewTime: now,
            ...(takeover ? { acquireTime: now, leaseTransitions: (spec.leaseTransitions ?? 0) + 1 } : {}),
          },
        },
      });
      this.observe(written);
      return true;
    } catch (e) {
      if (httpCode(e) === 409) return false; // someone else wrote it between our read and write
      throw e;
    }
  }

  /**
   * Gives the Lease up (holder cleared), so another replica takes it without waiting for it to expire. Also when a
   * renewal that succeeded too late left this replica holding it without counting it as held. True if released.
   */
  async release(): Promise<boolean> {
    clearTimeout(this.deadlineTimer);
    const holding = this.holding || this.observed?.holderIdentity === this.options.identity;
    this.holding = false;
    if (!holding) return false;
    const { namespace, name, identity } = this.options;
    for (let attempt = 1; ; attempt++) {
      try {
        const lease = await this.api.readNamespacedLease({ name, namespace });
        if (lease.spec?.holderIdentity !== identity) return false;
        const written = await this.api.replaceNamespacedLease({ name, namespace, body: { ...lease, spec: { ...lease.spec, holderIdentity: undefined, leaseDurationSeconds: 1, renewTime: micro(this.wallClock()) } } });
        this.observe(written);
        return true;
      } catch (e) {
        if (httpCode(e) === 409 && attempt < 3) continue;
        this.options.logger.warn({ event: 'lease', lease: name, error: (e as Error).message }, 'could not release the Lease; it expires by itself');
        return false;
      }
    }
  }

  /** Stops the deadline timer without releasing (the process is going away, or the Lease is deleted). */
  close(): void {
    clearTimeout(this.deadlineTimer);
    this.holding = false;
  }
}

/** Leader election: one LeaseLock, tried every retry period; the leader leads while it holds it. */
export class LeaderElector {
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private inFlight: Promise<void> = Promise.resolve();
  private readonly lock: LeaseLock;
  private leading = false;

  constructor(kc: k8s.KubeConfig, private readonly options: LeaderElectionOptions) {
    this.lock = new LeaseLock(kc.makeApiClient(k8s.CoordinationV1Api), { ...options, onLost: (why) => this.stopLeading(why) });
  }

  get isLeader(): boolean {
    return this.leading;
  }

  start(): void {
    this.run();
  }

  private run(): void {
    this.inFlight = this.tick();
  }

  private async tick(): Promise<void> {
    const held = await this.lock.renew();
    if (held && !this.leading && !this.stopped) {
      this.leading = true;
      this.options.logger.info({ event: 'leader', identity: this.options.identity, lease: `${this.options.namespace}/${this.options.name}` }, 'became the leader');
      this.options.onStartedLeading();
    }
    if (!this.stopped) this.timer = setTimeout(() => this.run(), this.options.retryPeriodMs ?? 2000);
  }

  private stopLeading(why: string): void {
    const was = this.leading;
    this.leading = false;
    if (this.stopped || !was) return;
    this.options.logger.error({ event: 'leader', identity: this.options.identity, why }, 'lost the leader Lease');
    this.options.onStoppedLeading();
  }

  /** Stops trying; releases the Lease if held, so a standby takes over without waiting for it to expire. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.inFlight; // a renewal racing the release would make it fail on a stale resourceVersion
    this.leading = false;
    if (await this.lock.release()) this.options.logger.info({ event: 'leader', identity: this.options.identity }, 'released the leader Lease');
  }
}
