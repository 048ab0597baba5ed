/**
 * Namespaces' labels, for tenants that select namespaces by label: a list+watch informer of Namespaces,
 * started only when some tenant has a namespaceSelector. A namespace whose labels change re-enqueues its
 * environments (it may have gained or lost a tenant). Until the first list succeeds the labels are unknown:
 * the operator is not ready, and once they are known every environment is reconciled again (one decided
 * meanwhile saw a namespace without labels). Failures are retried with the store's backoff.
 */
import * as k8s from '@kubernetes/client-node';
import type { ActionLogger } from '../engine/action-log.js';
import { httpCode, ResilientListWatch, serverMessage, type ListWatchBackoff } from './list-watch.js';

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
  private readonly source: ResilientListWatch<k8s.V1Namespace>;

  constructor(kc: k8s.KubeConfig, logger: ActionLogger, options: NamespaceLabelsOptions) {
    const api = kc.makeApiClient(k8s.CoreV1Api);
    this.source = new ResilientListWatch<k8s.V1Namespace>(kc, {
      path: '/api/v1/namespaces', list: () => api.listNamespace(), describe: namespacesProblem, logger, logEvent: 'namespaces',
      ...(options.backoff ? { backoff: options.backoff } : {}), ...(options.onSynced ? { onSynced: options.onSynced } : {}),
    });
    const upsert = (ns: k8s.V1Namespace) => {
      const name = ns.metadata?.name ?? '';
      const next = ns.metadata?.labels ?? {};
      const before = this.labels.get(name);
      this.labels.set(name, next);
      if (before && JSON.stringify(before) !== JSON.stringify(next)) options.onChange(name);
    };
    this.source.on(k8s.ADD, upsert).on(k8s.UPDATE, upsert).on(k8s.DELETE, (ns) => this.labels.delete(ns.metadata?.name ?? ''));
  }

  /** The first list succeeded. */
  get synced(): boolean {
    return this.source.synced;
  }

  /** Why the last list or watch failed, until one succeeds (for /readyz). */
  get problem(): string | undefined {
    return this.source.problem;
  }

  get(namespace: string): Record<string, string> | undefined {
    return this.labels.get(namespace);
  }

  start(): Promise<void> {
    return this.source.start();
  }

  stop(): Promise<void> {
    return this.source.stop();
  }
}
