/** Secret Manager: containers, labels, versions and IAM. Never reads a payload; holds a value only for the write. */
import type { SecretManagerServiceClient } from '@google-cloud/secret-manager';
import { ENVIRONMENT_LABEL } from '../api/naming.js';
import type { SecretValue } from '../api/secret-value.js';
import type { LabelledResource, PolicyObservation, SecretObservation, SecretVersionObservation } from '../plan/observed.js';
import { unlessNotFound, type GcpCaller } from './gcp-caller.js';
import type { CallMeta } from './gcp-error.js';

type Json = Record<string, any>;

const meta = (operation: string, kind: 'read' | 'write', project: string, id: string, permission: string): CallMeta =>
  ({ api: 'secretmanager', operation, kind, resource: `projects/${project}/secrets/${id}`, permission });

function timestamp(t: Json | string | null | undefined): string {
  if (!t) return new Date(0).toISOString();
  if (typeof t === 'string') return t;
  return new Date(Number(t.seconds ?? 0) * 1000 + Math.floor(Number(t.nanos ?? 0) / 1e6)).toISOString();
}

const byNumberDesc = (a: SecretVersionObservation, b: SecretVersionObservation) => Number(b.number) - Number(a.number);

export class SecretClient {
  constructor(private readonly sm: SecretManagerServiceClient, private readonly project: string, private readonly caller: GcpCaller, private readonly signal?: AbortSignal) {}

  private call<T>(m: CallMeta, fn: () => Promise<T>): Promise<T> {
    return this.caller.call(m, fn, this.signal);
  }

  private name(id: string) {
    return `projects/${this.project}/secrets/${id}`;
  }

  /** The container and its versions' states, read in parallel. */
  async observe(id: string): Promise<SecretObservation | undefined> {
    const [secret, versions] = await Promise.all([
      unlessNotFound(this.call(meta('secrets.get', 'read', this.project, id, 'secretmanager.secrets.get'),
        async () => (await this.sm.getSecret({ name: this.name(id) }))[0])),
      unlessNotFound(this.call(meta('versions.list', 'read', this.project, id, 'secretmanager.versions.list'),
        async () => (await this.sm.listSecretVersions({ parent: this.name(id) }))[0])),
    ]);
    if (!secret) return undefined;
    return {
      secretId: id,
      labels: (secret.labels ?? {}) as Record<string, string>,
      etag: String(secret.etag ?? ''),
      versions: (versions ?? []).map((v) => ({
        number: String(v.name ?? '').split('/').pop()!,
        state: String(v.state) as SecretVersionObservation['state'],
        createTime: timestamp(v.createTime as Json),
      })).sort(byNumberDesc),
    };
  }

  async create(id: string, labels: Record<string, string>): Promise<void> {
    await this.call(meta('secrets.create', 'write', this.project, id, 'secretmanager.secrets.create'),
      () => this.sm.createSecret({ parent: `projects/${this.project}`, secretId: id, secret: { replication: { automatic: {} }, labels } }));
  }

  /** With the etag it was planned against: a change in between is refused by Secret Manager, not overwritten. */
  async patchLabels(id: string, labels: Record<string, string>, etag: string): Promise<void> {
    await this.call(meta('secrets.patch', 'write', this.project, id, 'secretmanager.secrets.update'),
      () => this.sm.updateSecret({ secret: { name: this.name(id), labels, ...(etag ? { etag } : {}) }, updateMask: { paths: ['labels'] } }));
  }

  async addVersion(id: string, value: SecretValue): Promise<void> {
    await this.call({ ...meta('secrets.addVersion', 'write', this.project, id, 'secretmanager.versions.add'), noRetry: true },
      () => this.sm.addSecretVersion({ parent: this.name(id), payload: { data: Buffer.from(value.reveal(), 'utf8') } }));
  }

  async disableVersion(id: string, version: string): Promise<void> {
    await this.call(meta('versions.disable', 'write', this.project, id, 'secretmanager.versions.disable'),
      () => this.sm.disableSecretVersion({ name: `${this.name(id)}/versions/${version}` }));
  }

  async delete(id: string, etag: string): Promise<void> {
    await this.call(meta('secrets.delete', 'write', this.project, id, 'secretmanager.secrets.delete'),
      () => this.sm.deleteSecret({ name: this.name(id), ...(etag ? { etag } : {}) }));
  }

  async listLabelled(environment: string): Promise<LabelledResource[]> {
    const [secrets] = await this.call(meta('secrets.list', 'read', this.project, '*', 'secretmanager.secrets.list'),
      () => this.sm.listSecrets({ parent: `projects/${this.project}`, filter: `labels.${ENVIRONMENT_LABEL}=${environment}` }));
    return secrets.map((s) => ({
      kind: 'Secret' as const, name: String(s.name).split('/').pop()!, labels: (s.labels ?? {}) as Record<string, string>, version: String(s.etag ?? ''),
    }));
  }

  async getPolicy(id: string): Promise<PolicyObservation> {
    const [policy] = await this.call(meta('secrets.getIamPolicy', 'read', this.project, id, 'secretmanager.secrets.getIamPolicy'),
      () => this.sm.getIamPolicy({ resource: this.name(id), options: { requestedPolicyVersion: 3 } }));
    return toPolicyObservation(policy as Json);
  }

  async setPolicy(id: string, policy: PolicyObservation): Promise<void> {
    await this.call(meta('secrets.setIamPolicy', 'write', this.project, id, 'secretmanager.secrets.setIamPolicy'),
      () => this.sm.setIamPolicy({ resource: this.name(id), policy: fromPolicyObservation(policy) }));
  }
}

/** gax policies carry the etag as bytes; observations keep it as base64 text. */
export function toPolicyObservation(policy: Json): PolicyObservation {
  const etag = policy.etag instanceof Uint8Array ? Buffer.from(policy.etag).toString('base64') : String(policy.etag ?? '');
  return {
    etag,
    bindings: ((policy.bindings ?? []) as Json[]).map((b) => ({ role: b.role, members: b.members ?? [], ...(b.condition ? { condition: b.condition } : {}) })),
  };
}

export function fromPolicyObservation(policy: PolicyObservation): Json {
  return { version: 3, etag: Buffer.from(policy.etag, 'base64'), bindings: policy.bindings };
}
