/**
 * Sharding, the pure part: which shard an environment belongs to, the Leases' names, and how many shards a
 * replica should own (its fair share) given how many replicas are live. No clock, no I/O: the Lease protocol that
 * uses them is in shard-ownership.ts.
 */
import { createHash } from 'node:crypto';

export const MAX_SHARDS = 1024;
export const SHARD_LEASE_PREFIX = 'jobmatch-operator-shard-';
export const MEMBER_LEASE_PREFIX = 'jobmatch-operator-member-';
/** On every shard Lease, its index. */
export const SHARD_LABEL = 'jobmatch.io/operator-shard';
/** On every member Lease (one per running replica), the replica's identity hash. */
export const MEMBER_LABEL = 'jobmatch.io/operator-member';
/** On every member Lease: the replica's --shards, so replicas that disagree never own shards at the same time. */
export const SHARDS_ANNOTATION = 'jobmatch.io/shards';

/** The shard of an environment: the first 4 bytes of sha256(metadata.uid), big-endian, mod `shards`. Stable across replicas, versions and restarts. */
export function shardOf(uid: string, shards: number): number {
  return createHash('sha256').update(uid).digest().readUInt32BE(0) % shards;
}

export const shardLeaseName = (shard: number) => `${SHARD_LEASE_PREFIX}${shard}`;

/** One member Lease per replica identity (a short hash: identities hold a host name and need not be valid Lease names). */
export const memberLeaseName = (identity: string) => `${MEMBER_LEASE_PREFIX}${createHash('sha256').update(identity).digest('hex').slice(0, 12)}`;

/** How many shards one of `liveMembers` replicas should own: ceil(shards / members), so the live replicas can own every shard. */
export function fairShare(shards: number, liveMembers: number): number {
  return Math.ceil(shards / Math.max(1, liveMembers));
}

export interface BalanceInput {
  /** The shards this replica owns now (not counting those it is handing over). */
  held: readonly number[];
  /** The shards no live replica holds: absent, released, or not renewed for their lease duration. */
  free: readonly number[];
  /** This replica's fair share. */
  share: number;
  /** Where this replica starts looking among the free shards, so replicas starting together try different ones first. */
  offset?: number;
}

/**
 * What to do this round: acquire free shards up to the fair share, or hand over the excess (the highest-numbered
 * first). Never both: the excess is released only once the fair share is known to be smaller.
 */
export function balance({ held, free, share, offset = 0 }: BalanceInput): { acquire: number[]; release: number[] } {
  if (held.length > share) return { acquire: [], release: [...held].sort((a, b) => b - a).slice(0, held.length - share) };
  const sorted = [...free].sort((a, b) => a - b);
  const start = sorted.length === 0 ? 0 : offset % sorted.length;
  const rotated = [...sorted.slice(start), ...sorted.slice(0, start)];
  return { acquire: rotated.slice(0, share - held.length), release: [] };
}
