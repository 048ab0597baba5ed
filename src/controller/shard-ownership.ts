/**
 * Sharding on Leases: each of N shards is owned through its own Lease (jobmatch-operator-shard-<i>), held with the
 * leader election's discipline (leader-election.ts's LeaseLock: monotonic clock, observed records, renew deadline
 * shorter than the lease, the resourceVersion on every write). Each replica also renews a member Lease of its own
 * (jobmatch-operator-member-<hash>, labelled jobmatch.io/operator-member), so every replica can count the live ones
 * and own its fair share, ceil(N / live members): it acquires free or expired shards up to it and hands over the
 * excess. A handover is clean: the controller stops dispatching the shard's keys and waits for its reconciles in
 * flight (`onHandOver`), and only then is the Lease released. Losing a shard otherwise (its renew deadline passed)
 * is `onLost`: the process must stop writing at once.
 *
 * Safety never rests on the member count (it only balances): a shard is taken only when no live replica holds it.
 * Replicas that disagree on N would map one environment to two shards, so a replica takes no shard while a live
 * member announces another N, or while the single-leader Lease (--shards 1) is held by a live replica.
 */
import { performance } from 'node:perf_hooks';
import * as k8s from '@kubernetes/client-node';
import type { ActionLogger } from '../engine/action-log.js';
import { LeaseLock, observedExpired, observeLease, type LeaseTimings, type ObservedLease } from './leader-election.js';
import { balance, fairShare, MEMBER_LABEL, memberLeaseName, SHARD_LABEL, shardLeaseName, SHARDS_ANNOTATION } from './shard.js';

export interface ShardOwnershipOptions extends LeaseTimings {
  namespace: string;
  identity: string;
  shards: number;
  logger: ActionLogger;
  /** The Lease of --shards 1 (leader election): while a live replica holds it, no shard is taken. */
  leaderLease?: string;
  /** This replica now owns the shard: enqueue its environments. */
  onGained: (shard: number) => void;
  /** This replica hands the shard over: resolves once none of its reconciles is in flight; the Lease is released then. */
  onHandOver: (shard: number) => Promise<void>;
  /** A shard was lost without a handover (not renewed in time, or taken): stop writing at once. */
  onLost: (shard: number, why: string) => void;
  /** Called whenever the set of owned shards changes (metrics, the drift-event subscriber). */
  onChange?: (owned: number[]) => void;
  wallClock?: () => Date;
  monotonicNow?: () => number;
}

type ShardState = 'none' | 'owned' | 'handing-over';

export class ShardOwnership {
  private readonly api: k8s.CoordinationV1Api;
  private readonly locks: LeaseLock[];
  private readonly state: ShardState[];
  private readonly member: LeaseLock;
  private readonly members = new Map<string, ObservedLease>();
  private leader: ObservedLease | undefined;
  private readonly now: () => number;
  private readonly offset: number;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private inFlight: Promise<void> = Promise.resolve();
  private readonly handingOver = new Map<number, Promise<void>>();
  private readonly handedOver = new Set<number>();
  /** Live members the last round counted (this replica included). */
  liveMembers = 1;

  constructor(kc: k8s.KubeConfig, private readonly options: ShardOwnershipOptions) {
    this.api = kc.makeApiClient(k8s.CoordinationV1Api);
    this.now = options.monotonicNow ?? (() => performance.now());
    const lockOptions = { ...options, logger: options.logger };
    this.locks = Array.from({ length: options.shards }, (_, shard) => new LeaseLock(this.api, {
      ...lockOptions, name: shardLeaseName(shard), labels: { [SHARD_LABEL]: String(shard) },
      onLost: (why) => this.lost(shard, why),
    }));
    this.state = this.locks.map(() => 'none');
    const memberName = memberLeaseName(options.identity);
    this.member = new LeaseLock(this.api, {
      ...lockOptions, name: memberName, labels: { [MEMBER_LABEL]: memberName.slice(-12) }, annotations: { [SHARDS_ANNOTATION]: String(options.shards) },
      onLost: () => undefined, // membership only balances: a late renewal is retried, never fatal
    });
    this.offset = Number.parseInt(memberName.slice(-6), 16);
  }

  /** Whether this replica owns the shard now (a shard being handed over is not owned: its keys are no longer dispatched). */
  owns(shard: number): boolean {
    return this.state[shard] === 'owned';
  }

  get owned(): number[] {
    return this.state.flatMap((s, i) => (s === 'owned' ? [i] : []));
  }

  /** Shards whose Lease this replica holds, owned or being handed over. */
  get held(): number[] {
    return this.state.flatMap((s, i) => (s === 'none' ? [] : [i]));
  }

  start(): void {
    this.run();
  }

  private run(): void {
    this.inFlight = this.tick().catch((e: unknown) => {
      this.options.logger.warn({ event: 'shards', error: (e as Error).message }, 'could not read the shard Leases');
    }).finally(() => {
      if (!this.stopped) this.timer = setTimeout(() => this.run(), this.options.retryPeriodMs ?? 2000);
    });
  }

  private get duration(): number {
    return this.options.leaseDurationSeconds ?? 15;
  }

  private async tick(): Promise<void> {
    const { namespace, identity } = this.options;
    // Handovers that finished: release their Leases now, between rounds, so no renewal races the release.
    for (const shard of [...this.handedOver]) {
      this.handedOver.delete(shard);
      this.handingOver.delete(shard);
      if (await this.locks[shard]!.release()) this.options.logger.info({ event: 'shards', shard, identity }, `released shard ${shard}`);
      this.setState(shard, 'none');
    }
    if (this.stopped) return;
    const sent = this.now(); // before the reads: a Lease written on them cannot start earlier
    // One round of reads, then one round of writes (renewals in parallel): a slow apiserver delays a renewal once, not twice.
    const [shardLeases, memberLeases, leaderHeld] = await Promise.all([
      this.api.listNamespacedLease({ namespace, labelSelector: SHARD_LABEL }),
      this.api.listNamespacedLease({ namespace, labelSelector: MEMBER_LABEL }),
      this.leaderLeaseHeld(),
    ]);
    const fenced = this.countMembers(memberLeases.items) || leaderHeld;
    const own = memberLeases.items.find((l) => l.metadata?.name === this.member.name);
    const byName = new Map(shardLeases.items.map((l) => [l.metadata?.name ?? '', l]));
    // Renew every Lease held (also those being handed over: they are released only once their reconciles are done).
    await Promise.all([
      this.member.renew({ current: own ?? null, sent }),
      ...this.held.map((shard) => this.locks[shard]!.renew({ acquire: false, current: byName.get(shardLeaseName(shard)) ?? null, sent })),
    ]);
    for (const [shard, lock] of this.locks.entries()) if (this.state[shard] === 'none') lock.see(byName.get(lock.name) ?? null);
    if (this.stopped) return;
    const share = fairShare(this.options.shards, this.liveMembers);
    // Free for this replica: no Lease yet, released, expired, or still naming it (a renewal that succeeded too late).
    const free = this.locks.flatMap((lock, shard) => (this.state[shard] === 'none' && (lock.free || lock.holder === identity) ? [shard] : []));
    const plan = balance({ held: this.owned, free: fenced ? [] : free, share, offset: this.offset });
    for (const shard of plan.release) this.handOver(shard);
    const acquired = await Promise.all(plan.acquire.map(async (shard) => (await this.locks[shard]!.renew({ acquire: true, current: byName.get(shardLeaseName(shard)) ?? null, sent })) ? shard : undefined));
    for (const shard of acquired) {
      if (shard === undefined || this.stopped || this.state[shard] !== 'none') continue;
      this.setState(shard, 'owned');
      this.options.logger.info({ event: 'shards', shard, identity, share, members: this.liveMembers }, `acquired shard ${shard}`);
      this.options.onGained(shard);
    }
    // Still naming this replica but not wanted (never owned: nothing of it was dispatched): give it back at once.
    for (const [shard, lock] of this.locks.entries()) {
      if (this.state[shard] === 'none' && lock.holder === identity && !plan.acquire.includes(shard)) await lock.release();
    }
  }

  /** Observes the member Leases; deletes those unchanged for twice their duration. True when a live member announces another shard count. */
  private countMembers(leases: k8s.V1Lease[]): boolean {
    const now = this.now();
    const names = new Set<string>();
    let live = 0;
    let disagree = false;
    for (const lease of leases) {
      const name = lease.metadata?.name ?? '';
      names.add(name);
      const o = observeLease(this.members.get(name), lease, now, this.duration);
      this.members.set(name, o);
      const mine = name === this.member.name;
      if (mine || (o.holderIdentity !== '' && !observedExpired(o, now))) {
        live++;
        if (!mine && o.annotations[SHARDS_ANNOTATION] !== String(this.options.shards)) disagree = true;
      } else if (observedExpired(o, now, 2)) {
        // A replica gone without a goodbye: its member Lease goes, so they do not pile up (only if still that record).
        void this.api.deleteNamespacedLease({ name, namespace: this.options.namespace, body: { preconditions: { resourceVersion: o.resourceVersion } } })
          .then(() => this.members.delete(name), () => undefined);
      }
    }
    for (const name of [...this.members.keys()]) if (!names.has(name)) this.members.delete(name);
    this.liveMembers = Math.max(1, live + (names.has(this.member.name) ? 0 : 1));
    if (disagree) this.options.logger.warn({ event: 'shards', shards: this.options.shards }, 'a live replica runs with another --shards: taking no shard until it is gone');
    return disagree;
  }

  /** Whether the --shards 1 leader Lease is held by a live replica (an upgrade from one leader to shards is under way). */
  private async leaderLeaseHeld(): Promise<boolean> {
    if (!this.options.leaderLease) return false;
    const lease = await this.api.readNamespacedLease({ name: this.options.leaderLease, namespace: this.options.namespace }).catch((e: unknown) => {
      if ((e as { code?: number }).code === 404) return undefined;
      throw e;
    });
    if (!lease) return false;
    this.leader = observeLease(this.leader, lease, this.now(), this.duration);
    return this.leader.holderIdentity !== '' && !observedExpired(this.leader, this.now());
  }

  private setState(shard: number, state: ShardState): void {
    this.state[shard] = state;
    this.options.onChange?.(this.owned);
  }

  /** Stops dispatching the shard; its Lease is released at the first round after its reconciles in flight are done. */
  private handOver(shard: number): void {
    if (this.state[shard] !== 'owned') return;
    this.setState(shard, 'handing-over');
    this.options.logger.info({ event: 'shards', shard, share: fairShare(this.options.shards, this.liveMembers), members: this.liveMembers }, `handing shard ${shard} over`);
    this.handingOver.set(shard, this.options.onHandOver(shard).finally(() => this.handedOver.add(shard)));
  }

  private lost(shard: number, why: string): void {
    if (this.state[shard] === 'none') return;
    this.setState(shard, 'none');
    if (this.stopped) return;
    this.options.logger.error({ event: 'shards', shard, identity: this.options.identity, why }, `lost shard ${shard}`);
    this.options.onLost(shard, why);
  }

  /** Stops; releases every shard Lease held and deletes this replica's member Lease, so the others take over at once. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.inFlight; // a renewal racing the release would make it fail on a stale resourceVersion
    // Every Lease naming this replica, owned or not (one acquired while stopping is not owned but held).
    await Promise.all(this.locks.map(async (lock, shard) => {
      this.state[shard] = 'none';
      if (await lock.release()) this.options.logger.info({ event: 'shards', shard }, `released shard ${shard}`);
    }));
    this.options.onChange?.(this.owned);
    this.member.close();
    await this.api.deleteNamespacedLease({ name: this.member.name, namespace: this.options.namespace }).catch(() => undefined);
  }
}
