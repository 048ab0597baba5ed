/**
 * Namespaces' labels, for tenants that select namespaces by label: a list+watch informer of Namespaces,
 * started only when some tenant has a namespaceSelector. A namespace whose labels change re-enqueues its
 * environments (it may have gained or lost a tenant). Until the first list succeeds the labels are unknown:
 * the operator is not ready, and once they are known every environment is reconciled again (one decided
 * meanwhile saw a namespace without labels). Failures are retried with the store's backoff.
 */
import * as k8s from '@kubernetes/client-node';
import type { ActionLogger } from '../engine/action-log.js';
import { DEFAULT_BACKOFF, httpCode, jitteredDelay, serverMessage, type ListWatchBackoff } from './kube-store.js';

export interface NamespaceLabelsOptions {
  /** A namespace's labels changed. */
  onChange: (namespace: string) => void;
  /** The first list succeeded: the labels are known from now on. */
  onSynced?: () => void;
  backoff?: Partial<ListWatchBackoff>;
}

/** What a failed list or watch of Namespaces means, said so a person can act on it. */
export function namespacesProblem(verb: 'list' | 'watch', error: unknown): string {
  const code = httpCode(error);
  const server = serverMessage(error);
  if (code === 403) {
    return `forbidden (403): this identity may not ${verb} namespaces${server ? ` (the apiserver says: ${server})` : ''}; tenants select namespaces by label, `
      + `so grant get, list and watch on namespaces (the ClusterRole jobmatch-operator of manifests/install/rbac.yaml has them)`;
  }
  return `cannot ${verb} namespaces${code ? ` (HTTP ${code})` : ''}: ${server ?? (error as Error)?.message ?? String(error)}`;
}

export class NamespaceLabels {
  private readonly labels = new Map<string, Record<string, string>>();
  private informer: k8s.Informer<k8s.V1Namespace> | undefined;
  private stopped = false;
  private failures = 0;
  private restartTimer: NodeJS.Timeout | undefined;
  private readonly backoff: ListWatchBackoff;
  /** The first list succeeded. */
  synced = false;
  /** Why the last list or watch failed, until one succeeds (for /readyz). */
  problem: string | undefined;

  constructor(private readonly kc: k8s.KubeConfig, private readonly logger: ActionLogger, private readonly options: NamespaceLabelsOptions) {
    this.backoff = { ...DEFAULT_BACKOFF, ...options.backoff };
  }

  get(namespace: string): Record<string, string> | undefined {
    return this.labels.get(namespace);
  }

  async start(): Promise<void> {
    const api = this.kc.makeApiClient(k8s.CoreV1Api);
    let listed = true;
    const listFn = async () => {
      try {
        const list = await api.listNamespace();
        this.failures = 0;
        this.problem = undefined;
        if (!this.synced) {
          this.synced = true;
          // Once the informer has handed this list's namespaces to upsert (after this promise settles).
          setImmediate(() => this.options.onSynced?.());
        }
        return list;
      } catch (e) {
        listed = false;
        throw e;
      }
    };
    const informer = k8s.makeInformer(this.kc, '/api/v1/namespaces', listFn);
    this.informer = informer;
    const upsert = (ns: k8s.V1Namespace) => {
      this.failures = 0;
      const name = ns.metadata?.name ?? '';
      const next = ns.metadata?.labels ?? {};
      const before = this.labels.get(name);
      this.labels.set(name, next);
      if (before && JSON.stringify(before) !== JSON.stringify(next)) this.options.onChange(name);
    };
    informer.on(k8s.ADD, upsert);
    informer.on(k8s.UPDATE, upsert);
    informer.on(k8s.DELETE, (ns) => this.labels.delete(ns.metadata?.name ?? ''));
    informer.on(k8s.ERROR, (err) => {
      if (this.stopped) return;
      const delay = jitteredDelay(this.backoff, this.failures++);
      this.problem = namespacesProblem(listed ? 'watch' : 'list', err);
      listed = true;
      this.logger.warn({ event: 'namespaces', code: httpCode(err), synced: this.synced, retryInMs: delay }, `${this.problem}; retrying in ${(delay / 1000).toFixed(1)} s`);
      clearTimeout(this.restartTimer);
      this.restartTimer = setTimeout(() => void (!this.stopped && informer.start().catch(() => undefined)), delay);
      this.restartTimer.unref();
    });
    await informer.start();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.restartTimer);
    await this.informer?.stop();
  }
}
