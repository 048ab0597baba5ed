/**
 * Namespaces' labels, for tenants that select namespaces by label: a list+watch informer of Namespaces,
 * started only when some tenant has a namespaceSelector. A namespace whose labels change re-enqueues its
 * environments (it may have gained or lost a tenant).
 */
import * as k8s from '@kubernetes/client-node';
import type { ActionLogger } from '../engine/action-log.js';

export class NamespaceLabels {
  private readonly labels = new Map<string, Record<string, string>>();
  private informer: k8s.Informer<k8s.V1Namespace> | undefined;
  private stopped = false;

  constructor(private readonly kc: k8s.KubeConfig, private readonly logger: ActionLogger, private readonly onChange: (namespace: string) => void) {}

  get(namespace: string): Record<string, string> | undefined {
    return this.labels.get(namespace);
  }

  async start(): Promise<void> {
    const api = this.kc.makeApiClient(k8s.CoreV1Api);
    const informer = k8s.makeInformer(this.kc, '/api/v1/namespaces', () => api.listNamespace());
    this.informer = informer;
    const upsert = (ns: k8s.V1Namespace) => {
      const name = ns.metadata?.name ?? '';
      const next = ns.metadata?.labels ?? {};
      const before = this.labels.get(name);
      this.labels.set(name, next);
      if (before && JSON.stringify(before) !== JSON.stringify(next)) this.onChange(name);
    };
    informer.on(k8s.ADD, upsert);
    informer.on(k8s.UPDATE, upsert);
    informer.on(k8s.DELETE, (ns) => this.labels.delete(ns.metadata?.name ?? ''));
    informer.on(k8s.ERROR, (err) => {
      this.logger.warn({ event: 'namespaces', error: (err as Error)?.message ?? String(err) }, 'namespace watch failed: restarting');
      setTimeout(() => void (!this.stopped && informer.start().catch(() => undefined)), 2000).unref();
    });
    await informer.start();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.informer?.stop();
  }
}
