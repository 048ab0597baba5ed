/** Cloud Storage buckets over @google-cloud/storage: observe, execute the bucket steps, list by label, contents, IAM. No policy of its own. */
import type { Bucket, Storage } from '@google-cloud/storage';
import { ENVIRONMENT_LABEL } from '../../api/naming.js';
import { unlessNotFound } from '../../gcp/gcp-caller.js';
import type { CallMeta } from '../../gcp/gcp-error.js';
import type { LabelledResource, PolicyObservation, ResourceContents } from '../../plan/observed.js';
import { editBindings } from '../../plan/policy-edit.js';
import type { BindingRef } from '../../plan/types.js';
import type { CallContext, KindClient } from '../kind.js';
import type { BucketFields, BucketObservation, BucketStep } from './bucket-plan.js';

type Json = Record<string, any>;

const meta = (operation: string, kind: 'read' | 'write', name: string, permission: string): CallMeta =>
  ({ api: 'storage', operation, kind, resource: `projects/_/buckets/${name}`, permission });

export function toBucketObservation(md: Json): BucketObservation {
  const rules = (md.lifecycle?.rule ?? []) as Json[];
  const only = rules.length === 1 && rules[0]?.action?.type === 'Delete' && Object.keys(rules[0]?.condition ?? {}).join() === 'age' ? rules[0] : undefined;
  return {
    name: md.name,
    location: String(md.location ?? '').toUpperCase(),
    storageClass: md.storageClass ?? 'STANDARD',
    versioning: md.versioning?.enabled === true,
    labels: md.labels ?? {},
    ...(only ? { lifecycleDeleteAfterDays: Number(only.condition.age) } : {}),
    lifecycleRuleCount: rules.length,
    uniformAccess: md.iamConfiguration?.uniformBucketLevelAccess?.enabled === true,
    publicAccessPrevention: md.iamConfiguration?.publicAccessPrevention ?? 'inherited',
    version: String(md.metageneration ?? ''),
    ...(md.projectNumber !== undefined ? { projectNumber: String(md.projectNumber) } : {}),
  };
}

export class BucketClient implements KindClient<BucketObservation, BucketStep> {
  constructor(private readonly storage: Storage, private readonly ctx: CallContext) {}

  private call<T>(m: CallMeta, fn: () => Promise<T>): Promise<T> {
    return this.ctx.caller.call(m, fn, this.ctx.signal);
  }

  async observe(name: string): Promise<BucketObservation | undefined> {
    const md = await unlessNotFound(this.call(meta('buckets.get', 'read', name, 'storage.buckets.get'),
      async () => (await this.storage.bucket(name).getMetadata())[0]));
    return md ? toBucketObservation(md) : undefined;
  }

  execute(step: BucketStep): Promise<void> {
    switch (step.op) {
      case 'create': return this.create(step.bucket);
      case 'patch': return this.patch(step.bucket, step.patch, step.metageneration);
      case 'delete': return this.delete(step.bucket, step.metageneration);
    }
  }

  private async create(d: BucketFields): Promise<void> {
    await this.call(meta('buckets.insert', 'write', d.name, 'storage.buckets.create'), () => this.storage.createBucket(d.name, {
      location: d.location,
      storageClass: d.storageClass,
      versioning: { enabled: d.versioning },
      labels: d.labels,
      ...(d.lifecycleDeleteAfterDays !== undefined ? { lifecycle: { rule: [{ action: { type: 'Delete' }, condition: { age: d.lifecycleDeleteAfterDays } }] } } : {}),
      iamConfiguration: { uniformBucketLevelAccess: { enabled: true }, publicAccessPrevention: 'enforced' },
    } as Json));
  }

  /** Patches with the metageneration it was planned against; someone else's change in between is a 412. */
  private async patch(name: string, patch: Json, metageneration: string): Promise<void> {
    await this.call(meta('buckets.patch', 'write', name, 'storage.buckets.update'),
      () => this.storage.bucket(name).setMetadata(patch, metageneration ? { ifMetagenerationMatch: Number(metageneration) } : {}));
  }

  /** Deletes only the generation it was planned against; Cloud Storage itself refuses a bucket that is not empty. */
  private async delete(name: string, metageneration: string): Promise<void> {
    await this.call(meta('buckets.delete', 'write', name, 'storage.buckets.delete'),
      () => this.storage.bucket(name).delete(metageneration ? { ifMetagenerationMatch: Number(metageneration) } : {}));
  }

  /** Buckets of the project labelled for an environment (GCS lists cannot filter by label: one list, filtered here). */
  async listLabelled(environment: string): Promise<LabelledResource[]> {
    return (await this.listAll()).filter((b) => b.labels[ENVIRONMENT_LABEL] === environment);
  }

  /** Every bucket of the project, with its labels. */
  async listAll(): Promise<LabelledResource[]> {
    const [buckets] = await this.call({ ...meta('buckets.list', 'read', '*', 'storage.buckets.list'), resource: `projects/${this.ctx.project}` },
      () => this.storage.getBuckets({ autoPaginate: true }));
    return buckets.map((b) => ({
      kind: 'Bucket' as const, name: b.name, labels: (b.metadata.labels ?? {}) as Record<string, string>,
      ...(b.metadata.projectNumber !== undefined ? { projectNumber: String(b.metadata.projectNumber) } : {}),
      version: String(b.metadata.metageneration ?? ''),
    }));
  }

  /** How many objects it holds, up to one page. */
  async contents(name: string): Promise<ResourceContents> {
    const [files, next] = await this.call(meta('objects.list', 'read', name, 'storage.objects.list'),
      () => this.storage.bucket(name).getFiles({ maxResults: 1000, autoPaginate: false }));
    return { count: files.length, more: Boolean((next as { pageToken?: string } | null)?.pageToken) };
  }

  async readPolicy(name: string): Promise<PolicyObservation | undefined> {
    const policy = await unlessNotFound(this.call(meta('buckets.getIamPolicy', 'read', name, 'storage.buckets.getIamPolicy'),
      async () => (await this.storage.bucket(name).iam.getPolicy({ requestedPolicyVersion: 3 }))[0]));
    if (!policy) return undefined;
    return { etag: String(policy.etag ?? ''), bindings: (policy.bindings ?? []).map((b) => ({ role: b.role, members: b.members ?? [], ...(b.condition ? { condition: b.condition } : {}) })) };
  }

  async commitPolicy(name: string, base: PolicyObservation, add: BindingRef[], remove: BindingRef[]): Promise<void> {
    const bindings = editBindings(base.bindings, add, remove);
    await this.call(meta('buckets.setIamPolicy', 'write', name, 'storage.buckets.setIamPolicy'),
      () => this.storage.bucket(name).iam.setPolicy({ bindings, etag: base.etag, version: 3 } as Parameters<Bucket['iam']['setPolicy']>[0]));
  }
}
