/**
 * Leader election on a coordination.k8s.io/v1 Lease, with controller-runtime's timings: a lease lasts
 * 15 s, the leader renews every 2 s and gives up leading if it cannot renew for 10 s; a standby tries
 * every 2 s and takes over once the lease has expired. Every write carries the resourceVersion read,
 * so two replicas can never both believe they lead. Released on stop, so a standby takes over at once.
 *
 * Time, as in client-go's leaderelection: every decision is taken on this process's own monotonic
 * clock, never by comparing the Lease's renewTime with the local wall clock (replicas' wall clocks
 * may disagree by more than any margin). A standby remembers the last record it read (the observed
 * record) and when it first saw it (the observed time); the lease has expired for it only when that
 * record has not changed for leaseDurationSeconds on its own clock. The leader counts its renew
 * deadline from when it sent its last successful renewal, so it stops leading before any standby can
 * have seen its lease expire. The wall clock only fills in acquireTime and renewTime, for humans.
 */
import { performance } from 'node:perf_hooks';
import * as k8s from '@kubernetes/client-node';
import type { ActionLogger } from '../engine/action-log.js';

export interface LeaderElectionOptions {
  namespace: string;
  name: string;
  identity: string;
  leaseDurationSeconds?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  logger: ActionLogger;
  onStartedLeading: () => void;
  onStoppedLeading: () => void;
  /** What is written into acquireTime and renewTime (never read back to decide anything). Default: the system clock. */
  wallClock?: () => Date;
  /** Milliseconds on a clock that only moves forward, for every decision. Default: performance.now(). */
  monotonicNow?: () => number;
}

const micro = (d: Date) => new k8s.V1MicroTime(d.getTime());
const stamp = (t: unknown) => (t instanceof Date ? t.toISOString() : String(t ?? ''));

/** The last Lease record read or written, and when (monotonic) this replica first saw it. */
interface Observed {
  /** Identifies the record: any change to it (a renewal, a takeover, any write at all) starts the clock again. */
  key: string;
  holderIdentity: string;
  leaseDurationSeconds: number;
  time: number;
}

export class LeaderElector {
  private timer: NodeJS.Timeout | undefined;
  private deadlineTimer: NodeJS.Timeout | undefined;
  private leading = false;
  /** Monotonic time taken just before sending the last renewal (or acquisition) that succeeded. */
  private renewedAt = 0;
  private observed: Observed | undefined;
  private stopped = false;
  private inFlight: Promise<void> = Promise.resolve();
  private readonly api: k8s.CoordinationV1Api;
  private readonly wallClock: () => Date;
  private readonly now: () => number;

  constructor(kc: k8s.KubeConfig, private readonly options: LeaderElectionOptions) {
    this.api = kc.makeApiClient(k8s.CoordinationV1Api);
    this.wallClock = options.wallClock ?? (() => new Date());
    this.now = options.monotonicNow ?? (() => performance.now());
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

  private get duration(): number {
    return this.options.leaseDurationSeconds ?? 15;
  }

  private get renewDeadline(): number {
    return this.options.renewDeadlineMs ?? 10_000;
  }

  private schedule(): void {
    if (!this.stopped) this.timer = setTimeout(() => this.run(), this.options.retryPeriodMs ?? 2000);
  }

  private async tick(): Promise<void> {
    const sent = this.now(); // before any request: the lease we may write cannot start before this
    try {
      const held = await this.tryAcquireOrRenew();
      // A success that took longer than the renew deadline is not one: leading on it would outlast the lease.
      if (held && this.now() - sent <= this.renewDeadline) {
        this.renewedAt = sent;
        if (!this.leading) {
          this.leading = true; // set even when stopping, so stop() releases what this tick acquired
          if (this.stopped) return;
          this.options.logger.info({ event: 'leader', identity: this.options.identity, lease: `${this.options.namespace}/${this.options.name}` }, 'became the leader');
          this.options.onStartedLeading();
        }
        this.armDeadline();
      } else if (this.leading && this.observed && this.observed.holderIdentity !== this.options.identity) {
        this.stopLeading(`the Lease is held by ${this.observed.holderIdentity || 'no one'}`);
      } else this.checkDeadline();
    } catch (e) {
      this.options.logger.warn({ event: 'leader', error: (e as Error).message }, 'could not read or write the Lease');
      this.checkDeadline();
    }
    this.schedule();
  }

  /** Checks the deadline when it falls due, even while a request hangs: a leader must stop on time, not when the apiserver answers. */
  private armDeadline(): void {
    clearTimeout(this.deadlineTimer);
    if (this.stopped) return;
    this.deadlineTimer = setTimeout(() => this.checkDeadline(), Math.max(0, this.renewedAt + this.renewDeadline - this.now()) + 1);
    this.deadlineTimer.unref();
  }

  private checkDeadline(): void {
    if (!this.leading) return;
    if (this.now() - this.renewedAt > this.renewDeadline) this.stopLeading(`not renewed for ${this.renewDeadline} ms`);
    else this.armDeadline();
  }

  private stopLeading(why: string): void {
    clearTimeout(this.deadlineTimer);
    this.leading = false;
    if (this.stopped) return;
    this.options.logger.error({ event: 'leader', identity: this.options.identity, why }, 'lost the leader Lease');
    this.options.onStoppedLeading();
  }

  /** Remembers the record; a record not seen before starts the expiry clock again, on this process's monotonic clock. */
  private observe(lease: k8s.V1Lease): void {
    const spec = lease.spec ?? {};
    const key = JSON.stringify([spec.holderIdentity ?? '', spec.leaseDurationSeconds ?? null, stamp(spec.acquireTime), stamp(spec.renewTime), spec.leaseTransitions ?? 0, lease.metadata?.resourceVersion ?? '']);
    if (key === this.observed?.key) return;
    this.observed = { key, holderIdentity: spec.holderIdentity ?? '', leaseDurationSeconds: spec.leaseDurationSeconds ?? this.duration, time: this.now() };
  }

  /** Whether the observed record has stayed unchanged for its lease duration, on this process's clock. */
  private observedExpired(): boolean {
    const o = this.observed;
    return !o || o.time + o.leaseDurationSeconds * 1000 < this.now();
  }

  private async tryAcquireOrRenew(): Promise<boolean> {
    const { namespace, name, identity } = this.options;
    let lease: k8s.V1Lease;
    try {
      lease = await this.api.readNamespacedLease({ name, namespace });
    } catch (e) {
      if ((e as { code?: number }).code !== 404) throw e;
      const now = micro(this.wallClock());
      const created = await this.api.createNamespacedLease({
        namespace,
        body: { metadata: { name, namespace }, spec: { holderIdentity: identity, leaseDurationSeconds: this.duration, acquireTime: now, renewTime: now, leaseTransitions: 0 } },
      }).catch((err: { code?: number }) => {
        if (err.code === 409) return undefined; // another replica created it first
        throw err;
      });
      const current = created ?? await this.api.readNamespacedLease({ name, namespace });
      this.observe(current);
      return current.spec?.holderIdentity === identity;
    }
    this.observe(lease);
    const spec = lease.spec ?? {};
    const holder = spec.holderIdentity ?? '';
    if (holder !== '' && holder !== identity && !this.observedExpired()) return false;
    const takeover = holder !== identity;
    const now = micro(this.wallClock());
    try {
      const written = await this.api.replaceNamespacedLease({
        name, namespace,
        body: {
          ...lease,
          spec: {
            ...spec, holderIdentity: identity, leaseDurationSeconds: this.duration, renewTime: now,
            ...(takeover ? { acquireTime: now, leaseTransitions: (spec.leaseTransitions ?? 0) + 1 } : {}),
          },
        },
      });
      this.observe(written);
      return true;
    } catch (e) {
      if ((e as { code?: number }).code === 409) return false; // someone else wrote it between our read and write
      throw e;
    }
  }

  /** Stops trying; releases the Lease if held, so a standby takes over without waiting for it to expire. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.inFlight; // a renewal racing the release would make it fail on a stale resourceVersion
    clearTimeout(this.deadlineTimer);
    // Also when a renewal that succeeded too late left this replica holding the Lease without leading.
    const holding = this.leading || this.observed?.holderIdentity === this.options.identity;
    this.leading = false;
    if (!holding) return;
    const { namespace, name, identity } = this.options;
    for (let attempt = 1; ; attempt++) {
      try {
        const lease = await this.api.readNamespacedLease({ name, namespace });
        if (lease.spec?.holderIdentity !== identity) return;
        await this.api.replaceNamespacedLease({ name, namespace, body: { ...lease, spec: { ...lease.spec, holderIdentity: undefined, leaseDurationSeconds: 1, renewTime: micro(this.wallClock()) } } });
        this.options.logger.info({ event: 'leader', identity }, 'released the leader Lease');
        return;
      } catch (e) {
        if ((e as { code?: number }).code === 409 && attempt < 3) continue;
        this.options.logger.warn({ event: 'leader', error: (e as Error).message }, 'could not release the Lease; it expires by itself');
        return;
      }
    }
  }
}
