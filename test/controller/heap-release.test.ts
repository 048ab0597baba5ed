/** After a burst the controller gives back the heap it left behind: one compacting collection when the slack is worth it. */
import { getHeapStatistics } from 'node:v8';
import { describe, expect, it } from 'vitest';
import { releaseHeap } from '../../src/controller/heap-release.js';

describe('releaseHeap', () => {
  it('does nothing while the slack is under the threshold', () => {
    const r = releaseHeap(Number.MAX_SAFE_INTEGER);
    expect(r.released).toBe(false);
    expect(r.after).toBe(r.before);
  });

  it('collects and compacts when the heap holds much more than it uses: the committed size shrinks, live objects stay', () => {
    const kept: { n: number; s: string }[] = [];
    // A burst: many short-lived objects, a few kept (as statuses are while the probes' garbage is not).
    for (let i = 0; i < 600_000; i++) {
      const o = { n: i, s: `object ${i}` };
      if (i % 100 === 0) kept.push(o);
    }
    const committedBefore = getHeapStatistics().total_heap_size;
    const r = releaseHeap(0);
    expect(r.released).toBe(true);
    expect(r.after).toBeLessThan(r.before);
    expect(getHeapStatistics().total_heap_size).toBeLessThan(committedBefore);
    expect(kept).toHaveLength(6000);
    expect(kept[5999]!.s).toBe('object 599900');
  });
});
