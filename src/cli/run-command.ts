/**
 * `run`: the long-running reconciler. With --manifests DIR it watches a directory; otherwise it watches
 * JobMatchEnvironments in a cluster (in-cluster config or --kubeconfig), elects a leader, and writes
 * status and Events. Health and metrics on one port. SIGTERM/SIGINT: stop taking work, cancel what is
 * in flight within a bound, release the Lease, exit 0.
 */
import { randomUUID } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { ownWrites } from '../controller/drift-events.js';
import { createPubSub, subscriptionProject } from '../gcp/pubsub-client.js';
import { OPERATOR_VERSION } from './version.js';
import { createActionLogger, textLines } from '../engine/action-log.js';
import { PolicyWriter } from '../engine/policy-writer.js';
import { Controller } from '../controller/controller.js';
import { DirectoryStore } from '../controller/directory-store.js';
import { serveHttp } from '../controller/http-server.js';
import { ControllerMetrics } from '../controller/metrics.js';
import { GcpClientPool } from '../gcp/client-pool.js';
import { sourceCredential } from '../gcp/impersonation.js';
import { DEFAULT_OPERATOR_CONFIG } from '../api/operator-config.js';
import { readOperatorConfig } from './operator-config-file.js';
import { GcpCaller } from '../gcp/gcp-caller.js';
import { missingCredentials, preflightCredentials } from './credentials.js';
import { emulatorProblem, endpointProblem, leaseTimingsProblem, shardsProblem } from './option-checks.js';
import { EXIT_ERROR, EXIT_OK, type CliIo } from './io.js';

export interface RunCommandOptions {
  manifests?: string;
  /** The operator's configuration file (OperatorConfig): IAM policy and tenants. */
  config?: string;
  state?: string;
  kubeconfig?: string;
  context?: string;
  namespace?: string;
  concurrency?: string;
  gcpEndpoint?: string;
  gcpQps?: string;
  listen?: string;
  logLevel?: string;
  /** json (default: one JSON line per entry, for Cloud Logging) or text (for a person at a terminal). */
  logFormat?: string;
  leaderElection?: boolean;
  leaderElectionNamespace?: string;
  /** --shards N: more than 1 shares the environments between replicas, each shard owned through its own Lease. */
  shards?: string;
  /** Lease timings in seconds (default 15, 10, 2): how long a Lease lasts, how long its holder may fail to renew it, how often it tries. */
  leaseDuration?: string;
  leaseRenewDeadline?: string;
  leaseRetryPeriod?: string;
  /** How long in-flight reconciles may finish after SIGTERM before they are cancelled. */
  shutdownGrace?: string;
  /** Overrides every spec's policy.resyncSeconds. */
  resyncSeconds?: string;
  /** projects/P/subscriptions/S: reconcile at once on audit-log entries (see drift-events setup). */
  driftEvents?: string;
  /** Principals whose writes are the operator's own (its service account), besides what its User-Agent says. */
  driftEventsPrincipal?: string[];
  /** HOST:PORT of a Pub/Sub emulator (default: PUBSUB_EMULATOR_HOST). */
  pubsubEmulator?: string;
}

export const STOP_GRACE_MS = 3000;


function positive(value: string | undefined, flag: string, fallback: number): number | string {
  if (value === undefined) return fallback;
  const n = Number(value);
  return Number.isFinite(n) && n > 0 ? n : `${flag} must be a number greater than 0, got "${value}"`;
}

/** Runs until `stop` resolves; returns the exit code. */
export async function runCommand(io: CliIo, options: RunCommandOptions, stop: Promise<void>): Promise<number> {
  const fail = (message: string) => {
    io.stderr(`error: ${message}\n`);
    return EXIT_ERROR;
  };
  if (options.logFormat !== undefined && options.logFormat !== 'json' && options.logFormat !== 'text') {
    return fail(`--log-format must be json or text, got "${options.logFormat}"`);
  }
  const leaseProblem = shardsProblem(options.shards, { leaderElection: options.leaderElection !== false, manifests: options.manifests !== undefined })
    ?? leaseTimingsProblem(options.leaseDuration, options.leaseRenewDeadline, options.leaseRetryPeriod);
  if (leaseProblem) return fail(leaseProblem);
  const concurrency = positive(options.concurrency, '--concurrency', 4);
  const qps = options.gcpQps === undefined ? undefined : positive(options.gcpQps, '--gcp-qps', 0);
  if (typeof concurrency === 'string') return fail(concurrency);
  if (typeof qps === 'string') return fail(qps);
  const resync = options.resyncSeconds === undefined ? undefined : positive(options.resyncSeconds, '--resync-seconds', 0);
  if (typeof resync === 'string') return fail(resync);
  const driftProject = options.driftEvents === undefined ? undefined : subscriptionProject(options.driftEvents);
  if (options.driftEvents !== undefined && !driftProject) return fail(`--drift-events must name a subscription as projects/PROJECT/subscriptions/NAME, got "${options.driftEvents}"`);
  const config = options.config !== undefined ? await readOperatorConfig(options.config, '--config') : DEFAULT_OPERATOR_CONFIG;
  if ('error' in config) return fail(config.error);
  // The cluster's configuration first: it is local and cheap, and without it nothing else matters.
  let kube: { runner: typeof import('../controller/cluster-runner.js'); config: import('@kubernetes/client-node').KubeConfig } | undefined;
  if (!options.manifests) {
    const runner = await import('../controller/cluster-runner.js');
    try {
      kube = { runner, config: runner.loadKubeConfig(options) };
    } catch (e) {
      return fail(e instanceof runner.NoClusterConfigError
        ? `${e.message}; to watch a directory of manifests instead of a cluster, use --manifests DIR`
        : `cannot load a Kubernetes configuration (${(e as Error).message}): run in a cluster, pass --kubeconfig FILE, or use --manifests DIR`);
    }
  }
  const endpoint = options.gcpEndpoint ?? io.env.JOBMATCH_GCP_ENDPOINT;
  const flagProblem = endpointProblem(endpoint) ?? emulatorProblem(options.pubsubEmulator ?? io.env.PUBSUB_EMULATOR_HOST);
  if (flagProblem) return fail(flagProblem);
  if (!endpoint) {
    try {
      await preflightCredentials();
    } catch (e) {
      return fail(missingCredentials(e));
    }
  }
  const toStdout = options.logFormat === 'text' ? textLines((text) => io.stdout(text)) : (line: string) => io.stdout(line);
  const logger = createActionLogger({ write: (line: string) => toStdout(line) } as NodeJS.WritableStream, options.logLevel ?? 'info');
  const metrics = new ControllerMetrics();
  const caller = new GcpCaller({ ...(qps ? { qpsPerApi: qps } : {}), onResponse: (meta, code) => metrics.gcpResponse(meta, code) });
  // Audit logs record the User-Agent: this controller's own writes are recognised by its instance token.
  const instance = `controller/${randomUUID()}`;
  const userAgent = `jobmatch-operator/${OPERATOR_VERSION} ${instance}`;
  const impersonates = (config.tenants ?? []).some((t) => t.serviceAccount !== undefined);
  const pool = new GcpClientPool({ timeoutMs: caller.policy.timeoutMs, userAgent, ...(endpoint ? { endpoint } : {}), ...(impersonates ? { source: await sourceCredential(endpoint) } : {}) });
  const engine = {
    caller, logger,
    clientsFor: (project: string, identity?: string) => pool.clientsFor(project, identity),
    execute: { policyWriter: new PolicyWriter() },
  };
  const driftEvents = driftProject ? {
    pubsub: await createPubSub(driftProject, options.pubsubEmulator ?? io.env.PUBSUB_EMULATOR_HOST),
    subscription: options.driftEvents!,
    isOwnWrite: ownWrites(instance, options.driftEventsPrincipal ?? []),
  } : undefined;
  if (!options.manifests) {
    if (!kube) return EXIT_ERROR; // reported above
    const { driftEvents: _subscription, shards, ...rest } = options;
    const leaseTimings = {
      ...(options.leaseDuration ? { leaseDurationSeconds: Number(options.leaseDuration) } : {}),
      ...(options.leaseRenewDeadline ? { renewDeadlineMs: Number(options.leaseRenewDeadline) * 1000 } : {}),
      ...(options.leaseRetryPeriod ? { retryPeriodMs: Number(options.leaseRetryPeriod) * 1000 } : {}),
    };
    return kube.runner.runInCluster(io, kube.config, {
      ...rest, concurrency, engine, metrics, logger, operatorConfig: config, instance, leaseTimings, shards: Number(shards ?? 1),
      ...(resync ? { resync } : {}), ...(driftEvents ? { driftEvents } : {}),
    }, stop);
  }
  if (!(await stat(options.manifests).catch(() => undefined))?.isDirectory()) return fail(`--manifests ${options.manifests}: not a directory of manifests`);
  const store = new DirectoryStore(options.manifests, logger, { ...(options.state ? { stateFile: options.state } : {}), printStatus: io.stdout });
  let keys: string[];
  try {
    keys = await store.load();
  } catch (e) {
    return fail((e as Error).message);
  }
  const controller = new Controller({ store, engine, logger, metrics, concurrency, config, ...(resync ? { resyncSeconds: resync } : {}), ...(driftEvents ? { driftEvents } : {}) });
  let synced = false;
  const http = await serveHttp(options.listen ?? '0.0.0.0:8080', {
    healthy: () => true, ready: () => synced, metrics: metrics.registry, status: () => store.allStatuses(),
  }).catch((e: unknown) => (e as Error));
  if (http instanceof Error) return fail(`--listen ${options.listen ?? '0.0.0.0:8080'}: ${http.message}`);
  logger.info({ event: 'start', mode: 'manifests', dir: options.manifests, http: http.url, environments: keys.length }, `watching ${options.manifests}; health and metrics on ${http.url}`);
  store.watch((changed, removed) => {
    controller.forget(removed);
    controller.enqueue(changed);
  });
  controller.enqueue(keys);
  await controller.startDriftEvents();
  synced = true;
  await stop;
  logger.info({ event: 'stop' }, 'stopping: no new work; in-flight reconciles get a moment to finish');
  await controller.stop(Number(options.shutdownGrace ?? STOP_GRACE_MS));
  await store.close();
  await new Promise((resolve) => http.server.close(resolve));
  return EXIT_OK;
}
