import { describe, expect, it } from 'vitest';
import { jittered, WorkQueue, type Outcome } from '../../src/controller/work-queue.js';
import { manualClock } from '../support/clock.js';

const fakeClock = () => manualClock();

function deferred() {
  let resolve!: (o: Outcome) => void;
  const promise = new Promise<Outcome>((r) => (resolve = r));
  return { promise, resolve };
}

describe('work queue', () => {
  it('coalesces a key added many times into one run, and never runs a key twice at once', async () => {
    const runs: string[] = [];
    const gates = new Map<string, ReturnType<typeof deferred>>();
    const q = new WorkQueue((key) => {
      runs.push(key);
      const d = deferred();
      gates.set(key, d);
      return d.promise;
    }, { concurrency: 4, clock: fakeClock().clock });
    for (let i = 0; i < 100; i++) q.add('a');
    expect(runs).toEqual(['a']);
    q.add('a'); // while running: once more after, not now
    q.add('a');
    expect(runs).toEqual(['a']);
    gates.get('a')!.resolve({});
    await new Promise((r) => setImmediate(r));
    expect(runs).toEqual(['a', 'a']);
    gates.get('a')!.resolve({});
    await q.idle();
    expect(runs).toEqual(['a', 'a']);
  });

  it('runs at most `concurrency` keys at once', async () => {
    let running = 0;
    let peak = 0;
    const q = new WorkQueue(async () => {
      running += 1;
      peak = Math.max(peak, running);
      await new Promise((r) => setImmediate(r));
      running -= 1;
      return {};
    }, { concurrency: 3, clock: fakeClock().clock });
    for (let i = 0; i < 20; i++) q.add(`k${i}`);
    await q.idle();
    expect(peak).toBe(3);
  });

  it('backs a failing key off exponentially (1 s, 2 s, 4 s … capped at 5 min) and forgets it on success', async () => {
    const { clock, advance, pending } = fakeClock();
    let fail = true;
    let runs = 0;
    const q = new WorkQueue(async (): Promise<Outcome> => {
      runs += 1;
      return fail ? { error: new Error('boom') } : {};
    }, { concurrency: 1, clock });
    q.add('a');
    await q.idle();
    const delays: number[] = [];
    for (let i = 0; i < 10; i++) {
      delays.push(pending()[0]!);
      await advance(pending()[0]!);
      await q.idle();
    }
    expect(delays).toEqual([1000, 2000, 4000, 8000, 16000, 32000, 64000, 128000, 256000, 300000]);
    fail = false;
    await advance(pending()[0]!);
    await q.idle();
    expect(q.failuresOf('a')).toBe(0);
    expect(pending()).toEqual([]);
    expect(runs).toBe(12);
  });

  it('requeues after the delay asked for, and an earlier add wins over a later timer', async () => {
    const { clock, advance, pending } = fakeClock();
    const runs: number[] = [];
    const q = new WorkQueue(async () => {
      runs.push(clock.now());
      return { requeueAfterMs: 600_000 };
    }, { concurrency: 1, clock });
    q.add('a');
    await q.idle();
    expect(pending()).toEqual([600_000]);
    q.addAfter('a', 1000);
    expect(pending()).toEqual([1000]);
    await advance(1000);
    await q.idle();
    expect(runs).toEqual([0, 1000]);
  });

  it('stops taking work on shutdown and waits for what runs', async () => {
    const d = deferred();
    const q = new WorkQueue(() => d.promise, { concurrency: 1, clock: fakeClock().clock });
    q.add('a');
    q.add('b');
    let stopped = false;
    const stopping = q.shutDown().then(() => (stopped = true));
    q.add('c');
    await new Promise((r) => setImmediate(r));
    expect(stopped).toBe(false);
    d.resolve({});
    await stopping;
    expect(q.depth).toBe(0);
  });

  it('spreads resyncs ±10%', () => {
    expect(jittered(600, () => 0)).toBe(540_000);
    expect(jittered(600, () => 1)).toBe(660_000);
  });
});
