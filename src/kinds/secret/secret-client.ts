/** Secret Manager over @google-cloud/secret-manager: containers, labels, versions and IAM. Never reads a payload; holds a value only for the write. */
import type { SecretManagerServiceClient } from '@google-cloud/secret-manager';
import { ENVIRONMENT_LABEL } from '../../api/naming.js';
import type { SecretValue } from '../../api/secret-value.js';
import { fromPolicyObservation, toPolicyObservation } from '../../gcp/gax-policy.js';
import { unlessNotFound } from '../../gcp/gcp-caller.js';
import type { CallMeta } from '../../gcp/gcp-error.js';
import type { LabelledResource, PolicyObservation } from '../../plan/observed.js';
import { editBindings } from '../../plan/policy-edit.js';
import type { BindingRef } from '../../plan/types.js';
import { ConflictOutcome } from '../conflict-outcome.js';
import type { CallContext, KindClient } from '../kind.js';
import type { SecretObservation, SecretStep, SecretVersionObservation } from './secret-plan.js';

type Json = Record<string, any>;

function timestamp(t: Json | string | null | undefined): string {
  if (!t) return new Date(0).toISOString();
  if (typeof t === 'string') return t;
  return new Date(Number(t.seconds ?? 0) * 1000 + Math.floor(Number(t.nanos ?? 0) / 1e6)).toISOString();
}

const byNumberDesc = (a: SecretVersionObservation, b: SecretVersionObservation) => Number(b.number) - Number(a.number);

export class SecretClient implements KindClient<SecretObservation, SecretStep> {
  constructor(private readonly sm: SecretManagerServiceClient, private readonly ctx: CallContext, private readonly generate: (length: number) => SecretValue) {}

  private meta(operation: string, kind: 'read' | 'write', id: string, permission: string): CallMeta {
    return { api: 'secretmanager', operation, kind, resource: `projects/${this.ctx.project}/secrets/${id}`, permission };
  }

  private call<T>(m: CallMeta, fn: () => Promise<T>): Promise<T> {
    return this.ctx.caller.call(m, fn, this.ctx.signal);
  }

  private name(id: string) {
    return `projects/${this.ctx.project}/secrets/${id}`;
  }

  private async versions(id: string): Promise<SecretVersionObservation[] | undefined> {
    const versions = await unlessNotFound(this.call(this.meta('versions.list', 'read', id, 'secretmanager.versions.list'),
      async () => (await this.sm.listSecretVersions({ parent: this.name(id) }))[0]));
    return versions?.map((v) => ({
      number: String(v.name ?? '').split('/').pop()!,
      state: String(v.state) as SecretVersionObservation['state'],
      createTime: timestamp(v.createTime as Json),
    })).sort(byNumberDesc);
  }

  /** The container and its versions' states, read in parallel. */
  async observe(id: string): Promise<SecretObservation | undefined> {
    const [secret, versions] = await Promise.all([
      unlessNotFound(this.call(this.meta('secrets.get', 'read', id, 'secretmanager.secrets.get'), async () => (await this.sm.getSecret({ name: this.name(id) }))[0])),
      this.versions(id),
    ]);
    if (!secret) return undefined;
    return { secretId: id, labels: (secret.labels ?? {}) as Record<string, string>, version: String(secret.etag ?? ''), versions: versions ?? [] };
  }

  async execute(step: SecretStep): Promise<void> {
    const id = step.secretId;
    switch (step.op) {
      case 'create':
        await this.call(this.meta('secrets.create', 'write', id, 'secretmanager.secrets.create'),
          () => this.sm.createSecret({ parent: `projects/${this.ctx.project}`, secretId: id, secret: { replication: { automatic: {} }, labels: step.labels } }));
        return;
      case 'patchLabels':
        // With the etag it was planned against: a change in between is refused by Secret Manager, not overwritten.
        await this.call(this.meta('secrets.patch', 'write', id, 'secretmanager.secrets.update'),
          () => this.sm.updateSecret({ secret: { name: this.name(id), labels: step.labels, ...(step.etag ? { etag: step.etag } : {}) }, updateMask: { paths: ['labels'] } }));
        return;
      case 'addGeneratedVersion': return this.addGeneratedVersion(id, step.length, step.newestVersion);
      case 'disableVersions':
        for (const v of step.versions) {
          await this.call(this.meta('versions.disable', 'write', id, 'secretmanager.versions.disable'), () => this.sm.disableSecretVersion({ name: `${this.name(id)}/versions/${v}` }));
        }
        return;
      case 'delete':
        await this.call(this.meta('secrets.delete', 'write', id, 'secretmanager.secrets.delete'), () => this.sm.deleteSecret({ name: this.name(id), ...(step.etag ? { etag: step.etag } : {}) }));
    }
  }

  /**
   * Adding a version has no precondition in the API: the version list is compared with the one it was
   * planned against just before, and the write is never retried (after a lost answer a retry would add two).
   */
  private async addGeneratedVersion(id: string, length: number, newestVersion: string): Promise<void> {
    const newest = (await this.versions(id))?.[0]?.number ?? '';
    if (newest !== newestVersion) throw new ConflictOutcome(`secret ${id} got a new version (${newest}) since it was planned`);
    // The value exists from here to the end of the write, and nowhere else.
    const value = this.generate(length);
    await this.call({ ...this.meta('secrets.addVersion', 'write', id, 'secretmanager.versions.add'), noRetry: true },
      () => this.sm.addSecretVersion({ parent: this.name(id), payload: { data: Buffer.from(value.reveal(), 'utf8') } }));
  }

  async listLabelled(environment: string): Promise<LabelledResource[]> {
    const [secrets] = await this.call(this.meta('secrets.list', 'read', '*', 'secretmanager.secrets.list'),
      () => this.sm.listSecrets({ parent: `projects/${this.ctx.project}`, filter: `labels.${ENVIRONMENT_LABEL}=${environment}` }));
    return secrets.map((s) => ({ kind: 'Secret' as const, name: String(s.name).split('/').pop()!, labels: (s.labels ?? {}) as Record<string, string>, version: String(s.etag ?? '') }));
  }

  /** Every secret of the project (containers and labels only, never a version's payload). */
  async listAll(): Promise<LabelledResource[]> {
    const [secrets] = await this.call(this.meta('secrets.list', 'read', '*', 'secretmanager.secrets.list'),
      () => this.sm.listSecrets({ parent: `projects/${this.ctx.project}` }));
    return secrets.map((s) => ({ kind: 'Secret' as const, name: String(s.name).split('/').pop()!, labels: (s.labels ?? {}) as Record<string, string>, version: String(s.etag ?? '') }));
  }

  async readPolicy(id: string): Promise<PolicyObservation | undefined> {
    const policy = await unlessNotFound(this.call(this.meta('secrets.getIamPolicy', 'read', id, 'secretmanager.secrets.getIamPolicy'),
      async () => (await this.sm.getIamPolicy({ resource: this.name(id), options: { requestedPolicyVersion: 3 } }))[0]));
    return policy ? toPolicyObservation(policy as Json) : undefined;
  }

  async commitPolicy(id: string, base: PolicyObservation, add: BindingRef[], remove: BindingRef[]): Promise<void> {
    const next = { etag: base.etag, bindings: editBindings(base.bindings, add, remove) };
    await this.call(this.meta('secrets.setIamPolicy', 'write', id, 'secretmanager.secrets.setIamPolicy'),
      () => this.sm.setIamPolicy({ resource: this.name(id), policy: fromPolicyObservation(next) }));
  }
}
