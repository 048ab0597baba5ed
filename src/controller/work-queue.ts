/**
 * The controller's work queue, after client-go's: one entry per key however often it is added
 * (coalescing), never the same key twice at once, bounded concurrency, per-key exponential backoff
 * on failure, and delayed adds (resync). The clock is injectable so tests need no sleeps.
 */

export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const realClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => {
    const t = setTimeout(fn, ms);
    t.unref?.();
    return t;
  },
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

/** What processing a key says next: done (forget its failures), or again after a delay. */
export type Outcome = { requeueAfterMs?: number } | { error: unknown };

export interface WorkQueueOptions {
  concurrency: number;
  /** Backoff for a key that keeps failing: base × 2^failures, capped. */
  baseDelayMs?: number;
  maxDelayMs?: number;
  clock?: Clock;
  /** Whether a key may be processed now (sharding: its shard is this replica's); others are dropped, when added and when due. */
  accepts?: (key: string) => boolean;
}

export class WorkQueue {
  private readonly ready: string[] = [];
  private readonly queued = new Set<string>();
  private readonly running = new Set<string>();
  /** Added while running: processed again once the current run ends. */
  private readonly dirty = new Set<string>();
  private readonly timers = new Map<string, { at: number; handle: unknown }>();
  private readonly failures = new Map<string, number>();
  private readonly clock: Clock;
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;
  private stopped = false;
  private readonly idleWaiters: (() => void)[] = [];
  private readonly keyWaiters: { keys: Set<string>; resolve: () => void }[] = [];

  constructor(private readonly process: (key: string) => Promise<Outcome>, private readonly options: WorkQueueOptions) {
    this.clock = options.clock ?? realClock;
    this.baseDelayMs = options.baseDelayMs ?? 1000;
    this.maxDelayMs = options.maxDelayMs ?? 300_000;
  }

  /** Keys being processed now. */
  get active(): number {
    return this.running.size;
  }

  /** Keys waiting or running: the workqueue depth metric. */
  get depth(): number {
    return this.queued.size + this.running.size;
  }

  /** Queues `key` now; a key already waiting is not queued twice, one running is processed again after. */
  add(key: string): void {
    if (this.stopped || this.options.accepts?.(key) === false) return;
    this.cancelTimer(key);
    if (this.running.has(key)) {
      this.dirty.add(key);
      return;
    }
    if (this.queued.has(key)) return;
    this.queued.add(key);
    this.ready.push(key);
    this.pump();
  }

  /** Queues `key` after `ms`, unless it is queued sooner by then (the earlier wins). */
  addAfter(key: string, ms: number): void {
    if (this.stopped) return;
    const at = this.clock.now() + ms;
    const existing = this.timers.get(key);
    if (existing && existing.at <= at) return;
    this.cancelTimer(key);
    const handle = this.clock.setTimeout(() => {
      this.timers.delete(key);
      this.add(key);
    }, ms);
    this.timers.set(key, { at, handle });
  }

  /** Forgets a key: its timer and failures (the object was deleted). */
  forget(key: string): void {
    this.cancelTimer(key);
    this.failures.delete(key);
  }

  /** Takes no more work; resolves once nothing is running. */
  async shutDown(): Promise<void> {
    this.stopped = true;
    for (const key of [...this.timers.keys()]) this.cancelTimer(key);
    this.ready.length = 0;
    this.queued.clear();
    await this.idle();
  }

  /** Resolves once none of `keys` is running (a shard handed over waits for its reconciles in flight). */
  settled(keys: Iterable<string>): Promise<void> {
    const busy = new Set([...keys].filter((k) => this.running.has(k)));
    if (busy.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.keyWaiters.push({ keys: busy, resolve }));
  }

  /** Resolves when nothing is queued or running. */
  idle(): Promise<void> {
    if (this.depth === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private cancelTimer(key: string): void {
    const t = this.timers.get(key);
    if (t) this.clock.clearTimeout(t.handle);
    this.timers.delete(key);
  }

  private pump(): void {
    while (!this.stopped && this.running.size < this.options.concurrency && this.ready.length > 0) {
      const key = this.ready.shift()!;
      this.queued.delete(key);
      if (this.options.accepts?.(key) === false) continue; // no longer this replica's since it was queued
      this.running.add(key);
      void this.run(key);
    }
    if (this.depth === 0) for (const resolve of this.idleWaiters.splice(0)) resolve();
  }

  private async run(key: string): Promise<void> {
    let outcome: Outcome;
    try {
      outcome = await this.process(key);
    } catch (error) {
      outcome = { error };
    }
    this.running.delete(key);
    for (const w of [...this.keyWaiters]) {
      w.keys.delete(key);
      if (w.keys.size === 0) {
        this.keyWaiters.splice(this.keyWaiters.indexOf(w), 1);
        w.resolve();
      }
    }
    if ('error' in outcome) {
      const failures = (this.failures.get(key) ?? 0) + 1;
      this.failures.set(key, failures);
      this.addAfter(key, Math.min(this.maxDelayMs, this.baseDelayMs * 2 ** (failures - 1)));
    } else {
      this.failures.delete(key);
      if (outcome.requeueAfterMs !== undefined) this.addAfter(key, outcome.requeueAfterMs);
    }
    if (this.dirty.delete(key)) this.add(key);
    this.pump();
  }

  /** The backoff a key is under (failures so far), for tests and status. */
  failuresOf(key: string): number {
    return this.failures.get(key) ?? 0;
  }
}

/** ±10% around `seconds`, so many environments' resyncs spread out. */
export function jittered(seconds: number, random: () => number = Math.random): number {
  return Math.round(seconds * 1000 * (0.9 + 0.2 * random()));
}
