/**
 * A list+watch informer that keeps trying: a failed list or watch is said (what it means, for a person) and retried
 * with a capped, jittered backoff that resets once a list succeeds or the watch delivers. `synced` is true once the
 * first list succeeded — the informer says CONNECT before it lists, so only the list resolving counts — and `problem`
 * says why the last attempt failed until one succeeds (for /readyz). Used for JobMatchEnvironments and Namespaces.
 */
import * as k8s from '@kubernetes/client-node';
import type { ActionLogger } from '../engine/action-log.js';

export interface ListWatchBackoff {
  initialMs: number;
  maxMs: number;
}

export const DEFAULT_BACKOFF: ListWatchBackoff = { initialMs: 1000, maxMs: 30_000 };

/** initialMs · 2^failures, capped at maxMs, ±10% jitter (so replicas restarted together do not retry in step). */
export function jitteredDelay(backoff: ListWatchBackoff, failures: number): number {
  const base = Math.min(backoff.maxMs, backoff.initialMs * 2 ** Math.min(failures, 30));
  return Math.round(base * (0.9 + 0.2 * Math.random()));
}

export const httpCode = (e: unknown): number | undefined => {
  const x = e as { code?: unknown; statusCode?: unknown };
  return typeof x?.code === 'number' ? x.code : typeof x?.statusCode === 'number' ? x.statusCode : undefined;
};

/** The apiserver's own message (a Status body), e.g. 'User "system:serviceaccount:ns:sa" cannot list resource …'. */
export function serverMessage(e: unknown): string | undefined {
  const body = (e as { body?: unknown })?.body;
  try {
    const status = (typeof body === 'string' ? JSON.parse(body) : body) as { message?: unknown } | undefined;
    return typeof status?.message === 'string' ? status.message : undefined;
  } catch {
    return undefined;
  }
}

/** A failed list, told apart from a failed watch (both reach the informer's ERROR handler). */
class ListFailure extends Error {
  constructor(readonly error: unknown) {
    super((error as Error)?.message ?? String(error));
  }
}

export interface ResilientListWatchOptions<T extends k8s.KubernetesObject> {
  path: string;
  list: () => Promise<k8s.KubernetesListObject<T>>;
  /** What a failed list or watch means, said so a person can act on it. */
  describe: (verb: 'list' | 'watch', error: unknown) => string;
  logger: ActionLogger;
  /** The `event` field of the retry's log line. */
  logEvent: string;
  backoff?: Partial<ListWatchBackoff>;
  /** The first list succeeded, and the informer has handed its objects to the handlers. */
  onSynced?: () => void;
}

export class ResilientListWatch<T extends k8s.KubernetesObject> {
  private informer: (k8s.Informer<T> & k8s.ObjectCache<T>) | undefined;
  private stopped = false;
  /** Failed attempts since a list last succeeded (or the watch last delivered an event): the backoff's exponent. */
  private failures = 0;
  private restartTimer: NodeJS.Timeout | undefined;
  private readonly backoff: ListWatchBackoff;
  private readonly handlers: { event: typeof k8s.ADD | typeof k8s.UPDATE | typeof k8s.DELETE; handler: (obj: T) => void }[] = [];
  /** The first list succeeded (it stays true across later relists and re-watches, as client-go's HasSynced). */
  synced = false;
  /** Why the last list or watch failed, until one succeeds. */
  problem: string | undefined;

  constructor(private readonly kc: k8s.KubeConfig, private readonly options: ResilientListWatchOptions<T>) {
    this.backoff = { ...DEFAULT_BACKOFF, ...options.backoff };
  }

  /** A handler of added, updated or deleted objects; an event delivered also resets the backoff (the watch works). */
  on(event: typeof k8s.ADD | typeof k8s.UPDATE | typeof k8s.DELETE, handler: (obj: T) => void): this {
    this.handlers.push({ event, handler });
    return this;
  }

  /** Lists, then watches; resolves after the first attempt, whether or not it listed (`synced` says which). */
  async start(): Promise<void> {
    const listFn = async () => {
      try {
        const list = await this.options.list();
        this.failures = 0;
        this.problem = undefined;
        if (!this.synced) {
          this.synced = true;
          // Once the informer has handed this list's objects to the handlers (after this promise settles).
          if (this.options.onSynced) setImmediate(this.options.onSynced);
        }
        return list;
      } catch (e) {
        throw new ListFailure(e);
      }
    };
    const informer = k8s.makeInformer(this.kc, this.options.path, listFn);
    this.informer = informer;
    for (const { event, handler } of this.handlers) {
      informer.on(event, (obj: T) => {
        this.failures = 0;
        handler(obj);
      });
    }
    informer.on(k8s.ERROR, (err) => {
      if (this.stopped) return;
      const delay = jitteredDelay(this.backoff, this.failures++);
      const listed = err instanceof ListFailure;
      const cause = listed ? err.error : err;
      this.problem = this.options.describe(listed ? 'list' : 'watch', cause);
      this.options.logger.warn({ event: this.options.logEvent, phase: listed ? 'list' : 'watch', code: httpCode(cause), synced: this.synced, retryInMs: delay },
        `${this.problem}; retrying in ${(delay / 1000).toFixed(1)} s`);
      clearTimeout(this.restartTimer);
      this.restartTimer = setTimeout(() => void (!this.stopped && informer.start().catch(() => undefined)), delay);
      this.restartTimer.unref();
    });
    await informer.start();
  }

  /** The informer's own cached copy of an object (the very object its handlers were given). */
  cached(name: string, namespace?: string): T | undefined {
    return this.informer?.get(name, namespace);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.restartTimer);
    await this.informer?.stop();
  }
}
