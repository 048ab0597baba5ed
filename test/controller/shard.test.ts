/** Sharding's pure part: the shard of an environment, the Leases' names, the fair share and what a replica does with it. */
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { balance, fairShare, memberLeaseName, shardLeaseName, shardOf } from '../../src/controller/shard.js';

describe('shardOf', () => {
  // sha256("a") = ca978112…, sha256("") = e3b0c442…: the first 4 bytes, big-endian, mod N.
  it.each([
    ['a', 6, 0xca978112 % 6],
    ['', 6, 0xe3b0c442 % 6],
    ['a', 1024, 274],
    ['00000000-0000-0000-0000-000000000000', 6, 4],
    ['5f0c9a1e-2b7d-4c55-9d1f-3a8e6b2c4d10', 6, 2],
    ['5f0c9a1e-2b7d-4c55-9d1f-3a8e6b2c4d10', 1024, 810],
    ['5f0c9a1e-2b7d-4c55-9d1f-3a8e6b2c4d10', 1, 0],
  ])('uid %j with %i shards: shard %i (fixed vector)', (uid, shards, shard) => {
    expect(shardOf(uid, shards)).toBe(shard);
  });

  it.each([[6, 0.03], [64, 0.12]])('spreads 60,000 UIDs evenly over %i shards (every shard within %d of the mean)', (shards, tolerance) => {
    const counts = new Array<number>(shards).fill(0);
    // Sequential UIDs, as alike as UIDs get (deterministic: the test cannot flake).
    for (let i = 0; i < 60_000; i++) counts[shardOf(`00000000-0000-4000-8000-${i.toString(16).padStart(12, '0')}`, shards)]! += 1;
    const mean = 60_000 / shards;
    for (const c of counts) expect(Math.abs(c - mean) / mean).toBeLessThan(tolerance);
  });

  it('is stable: the same uid, the same shard, whatever else exists', () => {
    const uid = randomUUID();
    expect(new Set(Array.from({ length: 5 }, () => shardOf(uid, 6))).size).toBe(1);
  });
});

describe('Lease names', () => {
  it('names shard Leases by index and member Leases by a short hash of the identity (a valid DNS label)', () => {
    expect(shardLeaseName(5)).toBe('jobmatch-operator-shard-5');
    const name = memberLeaseName('jobmatch-operator-7d9f8c6b5-x2k4p_1_ab12cd');
    expect(name).toMatch(/^jobmatch-operator-member-[0-9a-f]{12}$/);
    expect(memberLeaseName('other')).not.toBe(name);
  });
});

describe('fair share', () => {
  it.each([[6, 1, 6], [6, 2, 3], [6, 3, 2], [7, 3, 3], [6, 4, 2], [6, 7, 1], [1024, 3, 342], [6, 0, 6]])('%i shards, %i live replicas: %i each', (shards, members, share) => {
    expect(fairShare(shards, members)).toBe(share);
    expect(share * Math.max(1, members)).toBeGreaterThanOrEqual(shards); // the live replicas can own every shard
  });
});

describe('balance', () => {
  it('acquires free shards up to the fair share, starting at its offset', () => {
    expect(balance({ held: [], free: [0, 1, 2, 3, 4, 5], share: 2 })).toEqual({ acquire: [0, 1], release: [] });
    expect(balance({ held: [], free: [0, 1, 2, 3, 4, 5], share: 2, offset: 10 })).toEqual({ acquire: [4, 5], release: [] });
    expect(balance({ held: [1], free: [3], share: 3 })).toEqual({ acquire: [3], release: [] });
  });

  it('hands over the excess, highest first, and acquires nothing meanwhile', () => {
    expect(balance({ held: [0, 1, 2, 3, 4, 5], free: [], share: 3 })).toEqual({ acquire: [], release: [5, 4, 3] });
    expect(balance({ held: [4, 0, 2], free: [1], share: 2 })).toEqual({ acquire: [], release: [4] });
  });

  it('does nothing at its fair share', () => {
    expect(balance({ held: [0, 1], free: [2], share: 2 })).toEqual({ acquire: [], release: [] });
  });
});
