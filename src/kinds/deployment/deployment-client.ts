/**
 * The VM over @google-cloud/compute: observe it (instance and the agent's guest attributes), push the
 * rollout into its metadata with the fingerprint read (every other key kept), and wait for the agent's
 * acknowledgement. No SSH and no secret in flight: the VM reads its secrets from Secret Manager itself.
 */
import type { protos } from '@google-cloud/compute';
import type { SecretManagerServiceClient } from '@google-cloud/secret-manager';
import type { ComputeClients } from '../../gcp/compute-clients.js';
import { unlessNotFound } from '../../gcp/gcp-caller.js';
import type { CallMeta } from '../../gcp/gcp-error.js';
import type { LabelledResource, PolicyObservation } from '../../plan/observed.js';
import type { CallContext, KindClient } from '../kind.js';
import type { AgentReport, DeploymentObservation, DeploymentStep } from './deployment-plan.js';
import { CONFIG_HASH_KEY, mergeItems } from './metadata.js';
import { nextSerial, SERIAL_KEY, signedKeys } from './signing.js';

type Instance = protos.google.cloud.compute.v1.IInstance;
type Item = { key: string; value: string };

/** How often the agent's guest attributes are read while waiting: from `initialMs`, growing to `maxMs`. */
export interface RolloutPolling {
  initialMs: number;
  maxMs: number;
}

export const DEFAULT_ROLLOUT_POLLING: RolloutPolling = { initialMs: 250, maxMs: 5000 };

/** A rollout the agent reported failed, or never acknowledged in time; the message starts with the reason. */
export class RolloutError extends Error {
  constructor(readonly reason: 'RolloutFailed' | 'RolloutTimeout', message: string) {
    super(`${reason}: ${message}`);
    this.name = 'RolloutError';
  }
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason as Error);
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason as Error);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

const itemsOf = (instance: Instance): Item[] =>
  (instance.metadata?.items ?? []).map((i) => ({ key: String(i.key ?? ''), value: String(i.value ?? '') }));

export class DeploymentClient implements KindClient<DeploymentObservation, DeploymentStep> {
  /** The items seen with each fingerprint: a push writes over exactly what was observed. */
  private readonly seen = new Map<string, Item[]>();

  constructor(
    private readonly compute: () => Promise<ComputeClients>,
    private readonly secrets: SecretManagerServiceClient,
    private readonly ctx: CallContext,
    private readonly polling: RolloutPolling,
  ) {}

  private meta(operation: string, kind: 'read' | 'write', name: string, permission: string): CallMeta {
    const { zone, instance } = this.where(name);
    return { api: 'compute', operation, kind, resource: `projects/${this.ctx.project}/zones/${zone}/instances/${instance}`, permission };
  }

  private async call<T>(m: CallMeta, fn: (c: ComputeClients) => Promise<T>): Promise<T> {
    const clients = await this.compute();
    return this.ctx.caller.call(m, () => fn(clients), this.ctx.signal);
  }

  /** A Deployment is named zone/instance. */
  private where(name: string) {
    const [zone = '', instance = ''] = name.split('/', 2);
    return { project: this.ctx.project, zone, instance };
  }

  private async agentReport(name: string): Promise<AgentReport> {
    const attributes = await unlessNotFound(this.call(this.meta('instances.getGuestAttributes', 'read', name, 'compute.instances.getGuestAttributes'),
      async (c) => (await c.instances.getGuestAttributes({ ...this.where(name), queryPath: 'jobmatch/' }))[0]));
    const value = (key: string) => attributes?.queryValue?.items?.find((i) => i.namespace === 'jobmatch' && i.key === key)?.value ?? undefined;
    const report: AgentReport = {};
    for (const [field, key] of [['appliedHash', 'applied-hash'], ['attemptedHash', 'attempted-hash'], ['status', 'status'], ['message', 'message'], ['environment', 'environment']] as const) {
      const v = value(key);
      if (v !== undefined && v !== null) report[field] = v;
    }
    return report;
  }

  /** The instance and the agent's report, read in parallel. */
  async observe(name: string): Promise<DeploymentObservation | undefined> {
    const [instance, agent] = await Promise.all([
      unlessNotFound(this.call(this.meta('instances.get', 'read', name, 'compute.instances.get'), async (c) => (await c.instances.get(this.where(name)))[0])),
      this.agentReport(name),
    ]);
    if (!instance) return undefined;
    const items = itemsOf(instance);
    const fingerprint = String(instance.metadata?.fingerprint ?? '');
    this.seen.set(fingerprint, items);
    const serviceAccount = instance.serviceAccounts?.[0]?.email ?? undefined;
    return {
      zone: this.where(name).zone, labels: (instance.labels ?? {}) as Record<string, string>, version: fingerprint, status: String(instance.status ?? 'UNKNOWN'),
      ...(serviceAccount ? { serviceAccount } : {}), metadata: Object.fromEntries(items.map((i) => [i.key, i.value])), agent,
    };
  }

  async execute(step: DeploymentStep): Promise<void> {
    const name = `${step.zone}/${step.instance}`;
    if (step.op === 'pushConfig') return this.push(name, step.fingerprint, step.set, step.deployKey);
    return this.awaitRollout(name, step.rolloutId, step.timeoutSeconds);
  }

  /**
   * setMetadata with the fingerprint the plan was made from: a change in between is refused (412) and the
   * executor re-reads and re-plans, so another writer's keys are kept. The keys are signed with the deploy key
   * (read here, at the last moment, and wiped after use). Then waits for the zone operation.
   */
  private async push(name: string, fingerprint: string, set: Record<string, string>, deployKey: string): Promise<void> {
    const base = this.seen.get(fingerprint) ?? itemsOf((await this.call(this.meta('instances.get', 'read', name, 'compute.instances.get'), async (c) => (await c.instances.get(this.where(name)))[0])));
    const unsigned = mergeItems(base, set);
    const value = (key: string) => unsigned.find((i) => i.key === key)?.value;
    const { key, version } = await this.readDeployKey(deployKey);
    let signed: Record<string, string>;
    try {
      signed = signedKeys(key, version, value(CONFIG_HASH_KEY) ?? '', nextSerial(value(SERIAL_KEY), Date.now()));
    } finally {
      key.fill(0);
    }
    const items = mergeItems(unsigned, signed);
    const [operation] = await this.call(this.meta('instances.setMetadata', 'write', name, 'compute.instances.setMetadata'),
      (c) => c.instances.setMetadata({ ...this.where(name), metadataResource: { fingerprint, items } }));
    const opName = String((operation.latestResponse as protos.google.cloud.compute.v1.IOperation | undefined)?.name ?? operation.name);
    for (;;) {
      const [op] = await this.call(this.meta('zoneOperations.wait', 'read', name, 'compute.zoneOperations.get'),
        async (c) => c.zoneOperations.wait({ project: this.ctx.project, zone: this.where(name).zone, operation: opName }));
      if (op.error?.errors?.length) throw new Error(`setMetadata on ${name} failed: ${op.error.errors.map((e) => e.message).join('; ')}`);
      if (String(op.status) === 'DONE') return;
    }
  }

  /** The newest enabled version of the deploy key: its bytes and its number. Never logged, never kept. */
  private async readDeployKey(id: string): Promise<{ key: Buffer; version: string }> {
    const resource = `projects/${this.ctx.project}/secrets/${id}`;
    const meta: CallMeta = { api: 'secretmanager', operation: 'versions.access', kind: 'read', resource, permission: 'secretmanager.versions.access' };
    const [answer] = await this.ctx.caller.call(meta, () => this.secrets.accessSecretVersion({ name: `${resource}/versions/latest` }), this.ctx.signal);
    const data = answer.payload?.data;
    if (!data || data.length === 0) throw new Error(`the deploy key ${id} has an empty value: add a version (or delete the secret and let the operator generate it)`);
    return { key: typeof data === 'string' ? Buffer.from(data, 'base64') : Buffer.from(data), version: String(answer.name ?? '').split('/').pop() ?? '' };
  }

  /** Reads the agent's guest attributes until it applied `rolloutId`, reported it failed, or the timeout passed. */
  private async awaitRollout(name: string, rolloutId: string, timeoutSeconds: number): Promise<void> {
    const deadline = performance.now() + timeoutSeconds * 1000;
    let pause = this.polling.initialMs;
    for (;;) {
      const report = await this.agentReport(name);
      if (report.appliedHash === rolloutId) return;
      if (report.attemptedHash === rolloutId && report.status === 'failed') throw new RolloutError('RolloutFailed', report.message ?? `the VM agent could not apply ${rolloutId}`);
      const left = deadline - performance.now();
      if (left <= 0) {
        throw new RolloutError('RolloutTimeout', `the VM agent did not acknowledge ${rolloutId} within ${timeoutSeconds} s `
          + `(is jobmatch-agent running on the VM? journalctl -u jobmatch-agent; its report: gcloud compute instances get-guest-attributes ${this.where(name).instance} --zone ${this.where(name).zone} --query-path=jobmatch/)`);
      }
      await sleep(Math.min(pause, left), this.ctx.signal);
      pause = Math.min(pause * 1.5, this.polling.maxMs);
    }
  }

  /** Never listed: a VM is not the operator's, so it is never an orphan. */
  async listLabelled(): Promise<LabelledResource[]> {
    return [];
  }

  async readPolicy(): Promise<PolicyObservation | undefined> {
    return undefined;
  }

  async commitPolicy(): Promise<void> {
    throw new Error('a VM has no IAM policy the operator manages');
  }
}
