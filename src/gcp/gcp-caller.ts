/**
 * Every GCP call goes through here: bounded concurrency per API, a timeout, bounded exponential
 * backoff with full jitter on 429/5xx/timeouts, one error shape, and a count of every request made.
 */
import pLimit, { type LimitFunction } from 'p-limit';
import { setTimeout as sleepMs } from 'node:timers/promises';
import { GcpError, TimeoutError, httpStatusOf, isRetryable, type CallMeta } from './gcp-error.js';

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
  sleep?: (ms: number) => Promise<unknown>;
  random?: () => number;
}

export class GcpCaller {
  readonly policy: RetryPolicy;
  readonly counts: CallCounts = { reads: 0, writes: 0, retries: 0, byOperation: {} };
  private readonly limits = new Map<string, LimitFunction>();
  private readonly sleep: (ms: number) => Promise<unknown>;
  private readonly random: () => number;

  constructor(options: CallerOptions = {}) {
    this.policy = { ...DEFAULT_RETRY, ...options.retry };
    this.sleep = options.sleep ?? ((ms) => sleepMs(ms));
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

  private async once<T>(meta: CallMeta, fn: () => Promise<T>): Promise<T> {
    this.counts[meta.kind === 'read' ? 'reads' : 'writes'] += 1;
    this.counts.byOperation[meta.operation] = (this.counts.byOperation[meta.operation] ?? 0) + 1;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new TimeoutError(this.policy.timeoutMs)), this.policy.timeoutMs);
    });
    try {
      return await Promise.race([fn(), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Runs one API call with the policy; throws a GcpError naming the operation, resource and permission. */
  async call<T>(meta: CallMeta, fn: () => Promise<T>): Promise<T> {
    return this.limit(meta.api)(async () => {
      for (let attempt = 1; ; attempt++) {
        try {
          return await this.once(meta, fn);
        } catch (e) {
          const status = httpStatusOf(e);
          if (meta.create && attempt > 1 && status === 409) return undefined as T;
          if (meta.noRetry || attempt >= this.policy.attempts || !isRetryable(status, e)) throw GcpError.from(meta, e);
          this.counts.retries += 1;
          const ceiling = Math.min(this.policy.maxDelayMs, this.policy.baseDelayMs * 2 ** (attempt - 1));
          await this.sleep(Math.floor(this.random() * ceiling));
        }
      }
    });
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
