/** The work queue under sharding: only keys this replica owns are dispatched, and a handover waits for given keys to be idle. */
import { describe, expect, it } from 'vitest';
import { WorkQueue, type Outcome } from '../../src/controller/work-queue.js';
import { manualClock } from '../support/clock.js';

describe('work queue ownership', () => {
  it('drops keys it does not accept, when added and when they fall due (a resync of a shard handed over)', async () => {
    const owned = new Set(['a', 'b']);
    const runs: string[] = [];
    const { clock, advance } = manualClock();
    const q = new WorkQueue(async (key) => {
      runs.push(key);
      return { requeueAfterMs: 1000 };
    }, { concurrency: 1, clock, accepts: (key) => owned.has(key) });
    q.add('a');
    q.add('b'); // queued behind a
    q.add('c'); // never ours
    owned.delete('b'); // handed over while queued
    await q.idle();
    expect(runs).toEqual(['a']);
    owned.delete('a');
    await advance(1000); // a's resync falls due: no longer ours
    await q.idle();
    expect(runs).toEqual(['a']);
  });

  it('settles once none of the given keys runs, whatever else is running', async () => {
    const gates = new Map<string, (o: Outcome) => void>();
    const q = new WorkQueue((key) => new Promise<Outcome>((resolve) => gates.set(key, resolve)), { concurrency: 4, clock: manualClock().clock });
    q.add('a');
    q.add('b');
    q.add('c');
    let settled = false;
    const waiting = q.settled(['a', 'b', 'idle']).then(() => (settled = true));
    gates.get('a')!({});
    await new Promise((r) => setImmediate(r));
    expect(settled).toBe(false);
    gates.get('b')!({});
    await waiting;
    expect(q.active).toBe(1); // c still runs
    await expect(q.settled(['x'])).resolves.toBeUndefined();
    gates.get('c')!({});
    await q.idle();
  });
});
