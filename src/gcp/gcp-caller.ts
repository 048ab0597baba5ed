/**
 * Every GCP call goes through here: bounded concurrency per API, a per-call timeout that aborts the
 * request, the run's AbortSignal, bounded exponential backoff with full jitter on 429/5xx/timeouts,
 * one error shape, and a count of every request made.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import pLimit, { type LimitFunction } from 'p-limit';
import { setTimeout as sleepMs } from 'node:timers/promises';
import { AbortedError, GcpError, TimeoutError, httpStatusOf, isRetryable, type CallMeta } from './gcp-error.js';

export interface RetryPolicy {
  attempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
  timeoutMs: number;
  /** Requests in flight per API, across every environment of the process. */
  concurrencyPerApi: number;
}

export const DEFAULT_RETRY: RetryPolicy = { attempts: 5, baseDelayMs: 200, maxDelayMs: 5000, timeoutMs: 30_000, concurrencyPerApi: 16 };

export interface CallCounts {
  reads: number;
  writes: number;
  retries: number;
  byOperation: Record<string, number>;
}

export interface CallerOptions {
  retry?: Partial<RetryPolicy>;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<unknown>;
  random?: () => number;
  /** At most this many requests a second per API, across every environment of the process (GCP quota is money). */
  qpsPerApi?: number;
  /** Told of every request's outcome (metrics): the HTTP status, or 0 for no answer. */
  onResponse?: (meta: CallMeta, code: number) => void;
}

/** The signal of the call in progress, for clients whose requests we can abort from inside (see clients.ts). */
const callSignal = new AsyncLocalStorage<AbortSignal>();
export const currentCallSignal = (): AbortSignal | undefined => callSignal.getStore();

export class GcpCaller {
  readonly policy: RetryPolicy;
  readonly counts: CallCounts = { reads: 0, writes: 0, retries: 0, byOperation: {} };
  private readonly limits = new Map<string, LimitFunction>();
  private readonly sleep: (ms: number, signal?: AbortSignal) => Promise<unknown>;
  private readonly random: () => number;
  /** Per API: when the next request may leave (the --gcp-qps rate limit). */
  private readonly nextSlot = new Map<string, number>();

  constructor(private readonly options: CallerOptions = {}) {
    this.policy = { ...DEFAULT_RETRY, ...options.retry };
    this.sleep = options.sleep ?? ((ms, signal) => sleepMs(ms, undefined, signal ? { signal } : {}));
    this.random = options.random ?? Math.random;
  }

  private limit(api: string): LimitFunction {
    let limit = this.limits.get(api);
    if (!limit) {
      limit = pLimit(this.policy.concurrencyPerApi);
      this.limits.set(api, limit);
    }
    return limit;
  }

  /**
   * One attempt. It answers as soon as the request settles, times out or the run is cancelled, but
   * holds its concurrency slot until the request itself is over: a slot is never freed while a request is live.
   */
  private once<T>(meta: CallMeta, fn: () => Promise<T>, signal: AbortSignal | undefined): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      void this.limit(meta.api)(async () => {
        if (signal?.aborted) return reject(new AbortedError(signal.reason));
        await this.rateLimit(meta.api, signal);
        this.counts[meta.kind === 'read' ? 'reads' : 'writes'] += 1;
        this.counts.byOperation[meta.operation] = (this.counts.byOperation[meta.operation] ?? 0) + 1;
        // One controller per attempt, everything detached once it settles: nothing holds the answer after.
        const attempt = new AbortController();
        const timer = setTimeout(() => attempt.abort(new TimeoutError(this.policy.timeoutMs)), this.policy.timeoutMs);
        const cancel = () => attempt.abort(new AbortedError(signal?.reason));
        const answerEarly = () => reject(attempt.signal.reason);
        signal?.addEventListener('abort', cancel, { once: true });
        attempt.signal.addEventListener('abort', answerEarly, { once: true });
        const live = callSignal.run(attempt.signal, fn);
        live.then(resolve, reject);
        await live.then(() => this.options.onResponse?.(meta, 200), (e: unknown) => this.options.onResponse?.(meta, httpStatusOf(e) ?? 0));
        clearTimeout(timer);
        signal?.removeEventListener('abort', cancel);
        attempt.signal.removeEventListener('abort', answerEarly);
      });
    });
  }

  /** Waits for this API's next slot when a rate is set: slots are handed out in order, 1/qps apart. */
  private async rateLimit(api: string, signal: AbortSignal | undefined): Promise<void> {
    const qps = this.options.qpsPerApi;
    if (!qps) return;
    const now = Date.now();
    const slot = Math.max(now, this.nextSlot.get(api) ?? now);
    this.nextSlot.set(api, slot + 1000 / qps);
    if (slot > now) await this.sleep(slot - now, signal).catch(() => undefined);
  }

  /** Runs one API call with the policy; throws a GcpError naming the operation and the resource. */
  async call<T>(meta: CallMeta, fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.once(meta, fn, signal);
      } catch (e) {
        if (e instanceof AbortedError) throw GcpError.from(meta, e);
        const status = httpStatusOf(e);
        if (meta.noRetry || attempt >= this.policy.attempts || !isRetryable(status, e)) throw GcpError.from(meta, e);
        this.counts.retries += 1;
        const ceiling = Math.min(this.policy.maxDelayMs, this.policy.baseDelayMs * 2 ** (attempt - 1));
        try {
          await this.sleep(Math.floor(this.random() * ceiling), signal);
        } catch {
          throw GcpError.from(meta, new AbortedError(signal?.reason));
        }
      }
    }
  }
}

/** undefined for a 404, the value otherwise: how an observation says "does not exist". */
export async function unlessNotFound<T>(p: Promise<T>): Promise<T | undefined> {
  try {
    return await p;
  } catch (e) {
    if (e instanceof GcpError && e.status === 404) return undefined;
    throw e;
  }
}
