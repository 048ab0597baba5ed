/** `run` in a cluster: the KubeStore informer, the controller, leader election and the health/metrics port, wired and stopped in order. */
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import * as k8s from '@kubernetes/client-node';
import type { CliIo } from '../cli/io.js';
import type { RunCommandOptions } from '../cli/run-command.js';
import type { ActionLogger } from '../engine/action-log.js';
import type { ReconcileContext } from '../engine/reconcile.js';
import { Controller, type ControllerOptions } from './controller.js';
import { serveHttp } from './http-server.js';
import { KubeStore } from './kube-store.js';
import type { ListWatchBackoff } from './list-watch.js';
import { NamespaceLabels } from './namespace-labels.js';
import { objectKey } from './environment-object.js';
import type { OperatorConfig } from '../api/operator-config.js';
import { needsNamespaceLabels } from '../api/tenancy.js';
import { LeaderElector, type LeaseTimings } from './leader-election.js';
import type { ControllerMetrics } from './metrics.js';
import { shardOf } from './shard.js';
import { ShardOwnership } from './shard-ownership.js';

const SA_NAMESPACE = '/var/run/secrets/kubernetes.io/serviceaccount/namespace';
export const LEASE_NAME = 'jobmatch-operator';

export interface ClusterRunOptions extends Omit<RunCommandOptions, 'concurrency' | 'driftEvents' | 'config' | 'shards'> {
  concurrency: number;
  /** --shards N: more than 1 shares the environments between replicas, each shard owned through its own Lease. */
  shards?: number;
  /** The token this process's User-Agent carries (audit logs name it): logged at start, to tell replicas' writes apart. */
  instance?: string;
  /** The operator's IAM policy and tenants. */
  operatorConfig?: OperatorConfig;
  /** The audit-log subscriber's settings: it runs only while this replica leads or owns a shard (a standby must not take the leader's messages). */
  driftEvents?: ControllerOptions['driftEvents'];
  engine: Omit<ReconcileContext, 'signal' | 'contested'>;
  metrics: ControllerMetrics;
  logger: ActionLogger;
  resync?: number;
  /** Tests shorten the list+watch restart backoff (default 1 s doubling to 30 s). */
  listWatchBackoff?: ListWatchBackoff;
  /** Tests shorten the Lease timings. */
  leaseTimings?: LeaseTimings;
}

export interface ClusterController {
  store: KubeStore;
  controller: Controller;
  elector: LeaderElector | undefined;
  /** With --shards N > 1: the shard Leases this replica holds. */
  ownership: ShardOwnership | undefined;
  httpUrl: string;
  /** Resolves if this replica loses the Lease, or a shard without handing it over (it then stops: a restart starts afresh). */
  leadershipLost: Promise<void>;
  /** No new work, in-flight reconciles cancelled after the grace period, the Lease released, the watch and the port closed. */
  stop(): Promise<void>;
}

const SA_TOKEN = '/var/run/secrets/kubernetes.io/serviceaccount/token';

/** No kubeconfig anywhere and not in a pod: client-node would fall back to http://localhost:8080 and every request fail on it. */
export class NoClusterConfigError extends Error {
  constructor() {
    super(`no Kubernetes cluster configuration found: no --kubeconfig FILE, no KUBECONFIG, no ~/.kube/config, and no in-cluster service account (${SA_TOKEN})`);
  }
}

/** --kubeconfig, else KUBECONFIG, ~/.kube/config or the in-cluster service account; throws NoClusterConfigError when there is none. */
export function loadKubeConfig(options: Pick<RunCommandOptions, 'kubeconfig' | 'context'>): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  if (options.kubeconfig) kc.loadFromFile(options.kubeconfig);
  else {
    kc.loadFromDefault();
    // loadFromDefault's last resort when it found nothing: one cluster "cluster" at http://localhost:8080, one user "user".
    const [cluster, ...moreClusters] = kc.getClusters();
    if (!process.env.KUBECONFIG && moreClusters.length === 0 && cluster?.name === 'cluster' && cluster.server === 'http://localhost:8080'
      && kc.getUsers().length === 1 && kc.getUsers()[0]?.name === 'user') throw new NoClusterConfigError();
  }
  if (options.context) kc.setCurrentContext(options.context);
  if (!kc.getCurrentCluster()) throw new Error('no cluster in the kubeconfig');
  return kc;
}

function leaseNamespace(options: ClusterRunOptions, kc: k8s.KubeConfig): string {
  if (options.leaderElectionNamespace) return options.leaderElectionNamespace;
  try {
    return readFileSync(SA_NAMESPACE, 'utf8').trim();
  } catch {
    return kc.getContextObject(kc.getCurrentContext())?.namespace ?? 'jobmatch-system';
  }
}

/** Starts the controller against a cluster; throws with a message a person can act on when it cannot. */
export async function startClusterController(kc: k8s.KubeConfig, options: ClusterRunOptions): Promise<ClusterController> {
  const { logger, metrics } = options;
  let controller!: Controller;
  const store = new KubeStore(kc, {
    ...(options.namespace ? { namespace: options.namespace } : {}), logger, ...(options.listWatchBackoff ? { backoff: options.listWatchBackoff } : {}),
    onChange: (changed, removed) => {
      controller.forget(removed);
      controller.enqueue(changed);
    },
  });
  // Tenants that select namespaces by label need the namespaces' labels: an informer, started with the store.
  const namespaces = needsNamespaceLabels(options.operatorConfig?.tenants)
    ? new NamespaceLabels(kc, logger, {
      onChange: (ns) => controller.enqueue(controller.reconciler.affectedByNamespace(ns)),
      onSynced: () => controller.enqueue(store.list().map(objectKey)),
      ...(options.listWatchBackoff ? { backoff: options.listWatchBackoff } : {}),
    })
    : undefined;
  controller = new Controller({
    store, engine: options.engine, logger, metrics, concurrency: options.concurrency, ...(options.resync ? { resyncSeconds: options.resync } : {}),
    ...(options.operatorConfig ? { config: options.operatorConfig } : {}), ...(namespaces ? { namespaceLabels: (ns: string) => namespaces.get(ns) } : {}),
    ...(options.driftEvents ? { driftEvents: options.driftEvents } : {}),
  });
  const leaderElection = options.leaderElection !== false;
  const shards = options.shards ?? 1;
  let lost!: () => void;
  const leadershipLost = new Promise<void>((resolve) => (lost = resolve));
  // Lost without a handover: in-flight reconciles are cancelled at once, since another replica may own their objects now.
  const loseAll = (why: string) => {
    controller.cancelInFlight(why);
    lost();
  };
  const identity = `${hostname()}_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
  const namespace = leaderElection ? leaseNamespace(options, kc) : undefined;
  const grace = Number(options.shutdownGrace ?? 3000);
  const elector = leaderElection && shards === 1 ? new LeaderElector(kc, {
    namespace: namespace!, name: LEASE_NAME, identity, logger,
    ...options.leaseTimings,
    onStartedLeading: () => {
      metrics.leader.set(1);
      controller.setActive(true);
      void controller.startDriftEvents();
    },
    onStoppedLeading: () => {
      metrics.leader.set(0);
      loseAll('lost the leader Lease');
    },
  }) : undefined;
  const ownership = leaderElection && shards > 1 ? shardOwnership(kc, { ...options, shards, identity, namespace: namespace!, grace, controller: () => controller, store, loseAll }) : undefined;
  if (elector) controller.setActive(false);
  else if (ownership) {
    const ours = (uid: unknown) => uid !== undefined && ownership.owns(shardOf(String(uid), shards));
    controller.setOwnership((key) => ours(store.get(key)?.manifest.metadata.uid));
    // Other shards' objects are held as summaries: what claims, contested bindings and drift events need of them.
    store.compact({ keep: (o) => ours(o.manifest.metadata.uid), summarize: (o, previous) => controller.reconciler.summarizeOther(o, previous) });
  }
  else {
    metrics.leader.set(1);
    await controller.startDriftEvents();
  }
  const listen = options.listen ?? '0.0.0.0:8080';
  const http = await serveHttp(listen, {
    healthy: () => true,
    // Tenants selected by label are decided on the namespaces' labels: not ready until those are known too.
    ready: () => store.synced && (namespaces?.synced ?? true),
    notReadyReason: () => store.problem ?? namespaces?.problem ?? (store.synced ? 'Namespaces not listed yet' : 'JobMatchEnvironments not listed yet'),
    metrics: metrics.registry,
  }).catch((e: unknown) => {
    throw new Error(`--listen ${listen}: ${(e as Error).message}`);
  });
  try {
    await namespaces?.start();
    await store.start();
  } catch (e) {
    await namespaces?.stop();
    await new Promise((resolve) => http.server.close(resolve));
    throw new Error(`cannot start watching JobMatchEnvironments${namespaces ? ' and Namespaces' : ''}: ${(e as Error).message}`);
  }
  // A failed first list is not fatal: the store said why and retries with backoff; /readyz answers 503 until a list succeeds.
  logger.info({
    event: 'start', mode: 'cluster', namespace: options.namespace ?? '(all)', http: http.url, leaderElection, synced: store.synced,
    identity, ...(shards > 1 ? { shards } : {}), ...(options.instance ? { instance: options.instance } : {}),
  },
    `watching JobMatchEnvironments${store.synced ? '' : ' (not listed yet: /readyz says 503 until a list succeeds)'}; health and metrics on ${http.url}`);
  elector?.start();
  ownership?.start();
  return {
    store, controller, elector, ownership, httpUrl: http.url, leadershipLost,
    stop: async () => {
      await controller.stop(grace);
      await elector?.stop();
      await ownership?.stop();
      await store.stop();
      await namespaces?.stop();
      await new Promise((resolve) => http.server.close(resolve));
    },
  };
}

/** The shard Leases of --shards N, wired to the controller: a shard gained is reconciled, one handed over is drained first. */
function shardOwnership(kc: k8s.KubeConfig, o: ClusterRunOptions & {
  shards: number; identity: string; namespace: string; grace: number; controller: () => Controller; store: KubeStore; loseAll: (why: string) => void;
}): ShardOwnership {
  const { logger, metrics, shards } = o;
  const keysOf = (shard: number) => o.store.list().filter((obj) => {
    const uid = obj.manifest.metadata.uid;
    return uid !== undefined && shardOf(String(uid), shards) === shard;
  }).map(objectKey);
  let subscribed = false;
  metrics.shardsOwned(shards, []);
  return new ShardOwnership(kc, {
    namespace: o.namespace, identity: o.identity, shards, logger, leaderLease: LEASE_NAME, ...o.leaseTimings,
    onGained: (shard) => o.controller().claim(keysOf(shard)),
    onHandOver: async (shard) => {
      const keys = keysOf(shard);
      // Past the grace, its reconciles still in flight are cancelled and waited for: the Lease goes only after.
      if (!(await o.controller().release(keys, o.grace))) logger.warn({ event: 'shards', shard, graceMs: o.grace }, `shard ${shard}: reconciles still in flight after the grace period were cancelled`);
      o.store.compactKeys(keys);
    },
    onLost: (shard, why) => o.loseAll(`lost shard ${shard}: ${why}`),
    onChange: (owned) => {
      metrics.shardsOwned(shards, owned);
      // The drift-event subscriber runs while this replica owns a shard (a message for others' shards is nacked).
      const events = o.controller().driftEvents;
      if (!events || subscribed === owned.length > 0) return;
      subscribed = owned.length > 0;
      void (subscribed ? events.start() : events.stop());
    },
  });
}

/** Runs the controller until `stop` (exit 0) or a lost Lease (exit 1); `kc` from loadKubeConfig. */
export async function runInCluster(io: CliIo, kc: k8s.KubeConfig, options: ClusterRunOptions, stop: Promise<void>): Promise<number> {
  let running: ClusterController;
  try {
    running = await startClusterController(kc, options);
  } catch (e) {
    io.stderr(`error: ${(e as Error).message}\n`);
    return 1;
  }
  const why = await Promise.race([stop.then(() => 'stop' as const), running.leadershipLost.then(() => 'lost' as const)]);
  options.logger.info({ event: 'stop', why }, why === 'lost' ? `lost ${running.ownership ? 'a shard Lease' : 'the leader Lease'}: stopping so a restart starts afresh` : 'stopping: no new work');
  await running.stop();
  return why === 'lost' ? 1 : 0;
}
