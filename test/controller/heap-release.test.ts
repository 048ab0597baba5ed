/** The heap a burst of reconciles fills: collected during the burst once it grew past a bound, compacted after. */
import { describe, expect, it } from 'vitest';
import { HeapReleaser } from '../../src/controller/heap-release.js';

/**
 * A burst: objects that live long enough to be promoted (reconciles in flight) then die, a few kept for good (as
 * statuses are).
 */
function burst(kept: { n: number; s: string }[], count: number): void {
  let inFlight: { n: number; s: string }[] = [];
  for (let i = 0; i < count; i++) {
    const o = { n: i, s: `object ${i}` };
    inFlight.push(o);
    if (i % 100 === 0) kept.push(o);
  }
  inFlight = [];
  expect(inFlight).toHaveLength(0);
}

describe('HeapReleaser', () => {
  it('does nothing while the heap has not grown past its bounds', () => {
    const heap = new HeapReleaser({ growth: Number.MAX_SAFE_INTEGER, slack: Number.MAX_SAFE_INTEGER });
    expect(heap.duringBurst().kind).toBe('none');
    expect(heap.afterBurst().kind).toBe('none');
  });

  it('collects during a burst once the used heap grew past the bound, and counts from what that collection left', () => {
    const kept: { n: number; s: string }[] = [];
    const heap = new HeapReleaser({ growth: 8 * 1024 * 1024, slack: Number.MAX_SAFE_INTEGER });
    burst(kept, 600_000);
    const first = heap.duringBurst();
    expect(first.kind).toBe('major');
    expect(first.usedAfter).toBeLessThan(first.usedBefore);
    expect(heap.duringBurst().kind).toBe('none'); // nothing grew since
    expect(kept).toHaveLength(6000);
  });

  it('compacts after the burst: the committed size shrinks, live objects stay', () => {
    const kept: { n: number; s: string }[] = [];
    const heap = new HeapReleaser({ growth: Number.MAX_SAFE_INTEGER, slack: 0 });
    burst(kept, 600_000);
    const c = heap.afterBurst();
    expect(c.kind).toBe('compacting');
    expect(c.committedAfter).toBeLessThan(c.committedBefore);
    expect(kept[5999]!.s).toBe('object 599900');
  });
});
