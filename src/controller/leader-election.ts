/**
 * Leader election on a coordination.k8s.io/v1 Lease, with controller-runtime's timings: a lease lasts
 * 15 s, the leader renews every 2 s and gives up leading if it cannot renew for 10 s; a standby tries
 * every 2 s and takes over once the lease has expired. Every write carries the resourceVersion read,
 * so two replicas can never both believe they lead. Released on stop, so a standby takes over at once.
 */
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
}

const micro = (d: Date) => new k8s.V1MicroTime(d.getTime());

export class LeaderElector {
  private timer: NodeJS.Timeout | undefined;
  private leading = false;
  private lastRenew = 0;
  private stopped = false;
  private inFlight: Promise<void> = Promise.resolve();
  private readonly api: k8s.CoordinationV1Api;

  constructor(kc: k8s.KubeConfig, private readonly options: LeaderElectionOptions) {
    this.api = kc.makeApiClient(k8s.CoordinationV1Api);
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

  private schedule(): void {
    if (!this.stopped) this.timer = setTimeout(() => this.run(), this.options.retryPeriodMs ?? 2000);
  }

  private async tick(): Promise<void> {
    try {
      const acquired = await this.tryAcquireOrRenew();
      if (acquired) {
        this.lastRenew = Date.now();
        if (!this.leading) {
          this.leading = true; // set even when stopping, so stop() releases what this tick acquired
          if (this.stopped) return;
          this.options.logger.info({ event: 'leader', identity: this.options.identity, lease: `${this.options.namespace}/${this.options.name}` }, 'became the leader');
          this.options.onStartedLeading();
        }
      } else this.checkDeadline();
    } catch (e) {
      this.options.logger.warn({ event: 'leader', error: (e as Error).message }, 'could not read or write the Lease');
      this.checkDeadline();
    }
    this.schedule();
  }

  private checkDeadline(): void {
    if (this.leading && Date.now() - this.lastRenew > (this.options.renewDeadlineMs ?? 10_000)) {
      this.leading = false;
      this.options.logger.error({ event: 'leader', identity: this.options.identity }, 'lost the leader Lease');
      this.options.onStoppedLeading();
    }
  }

  private async tryAcquireOrRenew(): Promise<boolean> {
    const { namespace, name, identity } = this.options;
    const now = new Date();
    let lease: k8s.V1Lease;
    try {
      lease = await this.api.readNamespacedLease({ name, namespace });
    } catch (e) {
      if ((e as { code?: number }).code !== 404) throw e;
      await this.api.createNamespacedLease({
        namespace,
        body: { metadata: { name, namespace }, spec: { holderIdentity: identity, leaseDurationSeconds: this.duration, acquireTime: micro(now), renewTime: micro(now), leaseTransitions: 0 } },
      }).catch((err: { code?: number }) => {
        if (err.code === 409) return undefined; // another replica created it first
        throw err;
      });
      return (await this.api.readNamespacedLease({ name, namespace })).spec?.holderIdentity === identity;
    }
    const spec = lease.spec ?? {};
    const renewed = spec.renewTime ? new Date(String(spec.renewTime)).getTime() : 0;
    const expired = !spec.holderIdentity || renewed + (spec.leaseDurationSeconds ?? this.duration) * 1000 < now.getTime();
    if (spec.holderIdentity !== identity && !expired) return false;
    const takeover = spec.holderIdentity !== identity;
    try {
      await this.api.replaceNamespacedLease({
        name, namespace,
        body: {
          ...lease,
          spec: {
            ...spec, holderIdentity: identity, leaseDurationSeconds: this.duration, renewTime: micro(now),
            ...(takeover ? { acquireTime: micro(now), leaseTransitions: (spec.leaseTransitions ?? 0) + 1 } : {}),
          },
        },
      });
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
    if (!this.leading) return;
    this.leading = false;
    const { namespace, name, identity } = this.options;
    for (let attempt = 1; ; attempt++) {
      try {
        const lease = await this.api.readNamespacedLease({ name, namespace });
        if (lease.spec?.holderIdentity !== identity) return;
        await this.api.replaceNamespacedLease({ name, namespace, body: { ...lease, spec: { ...lease.spec, holderIdentity: undefined, leaseDurationSeconds: 1, renewTime: micro(new Date()) } } });
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
