/**
 * --seed FILE: pre-created projects and resources, made through the same API handlers as any request
 * (so a seed is validated exactly like a client's calls).
 */
import type { ApiError } from './google-error.js';
import type { SandboxResponse } from './router.js';
import type { Json, Store } from './store.js';

export interface SeedVersion {
  /** Plain-text payload (the sandbox is for tests: never put a real secret in a seed). */
  data: string;
  state?: 'ENABLED' | 'DISABLED' | 'DESTROYED';
  createTime?: string;
}

export interface SeedProject {
  projectId: string;
  projectNumber?: string;
  iamPolicy?: { bindings: Json[] };
  buckets?: (Json & { name: string; objects?: string[]; iamPolicy?: { bindings: Json[] } })[];
  datasets?: (Json & { datasetId: string; tables?: string[] })[];
  secrets?: { secretId: string; labels?: Record<string, string>; replication?: Json; versions?: SeedVersion[]; iamPolicy?: { bindings: Json[] } }[];
  instances?: { name: string; zone: string; metadata?: Record<string, string>; serviceAccount?: string; labels?: Record<string, string> }[];
}

export interface SeedDocument {
  projects?: SeedProject[];
}

export type ApiCall = (method: string, path: string, request?: { query?: Record<string, string>; body?: unknown; raw?: Buffer }) => Promise<SandboxResponse>;

async function step(what: string, run: () => Promise<SandboxResponse>): Promise<Json> {
  try {
    return ((await run()).body ?? {}) as Json;
  } catch (e) {
    throw new Error(`seed: ${what}: ${(e as ApiError).message}`);
  }
}

export async function applySeed(store: Store, seed: SeedDocument, call: ApiCall): Promise<void> {
  if (typeof seed !== 'object' || seed === null || (seed.projects !== undefined && !Array.isArray(seed.projects))) {
    throw new Error('seed: expected {projects: [...]}');
  }
  for (const p of seed.projects ?? []) {
    if (typeof p.projectId !== 'string') throw new Error('seed: every project needs a projectId');
    if (!store.data.projects[p.projectId]) store.createProject(p.projectId, p.projectNumber);
    const id = p.projectId;
    if (p.iamPolicy) await step(`project ${id} IAM`, () => call('POST', `/v1/projects/${id}:setIamPolicy`, { body: { policy: p.iamPolicy } }));
    for (const { objects, iamPolicy, ...bucket } of p.buckets ?? []) {
      await step(`bucket ${bucket.name}`, () => call('POST', '/storage/v1/b', { query: { project: id }, body: bucket }));
      for (const name of objects ?? []) {
        await step(`object ${name}`, () => call('POST', `/upload/storage/v1/b/${bucket.name}/o`, { query: { uploadType: 'media', name }, raw: Buffer.from(name) }));
      }
      if (iamPolicy) await step(`bucket ${bucket.name} IAM`, () => call('PUT', `/storage/v1/b/${bucket.name}/iam`, { body: iamPolicy }));
    }
    for (const { datasetId, tables, ...dataset } of p.datasets ?? []) {
      await step(`dataset ${datasetId}`, () => call('POST', `/bigquery/v2/projects/${id}/datasets`, { body: { ...dataset, datasetReference: { datasetId } } }));
      store.project(id).datasets[datasetId]!.tables.push(...(tables ?? []));
    }
    for (const s of p.secrets ?? []) {
      const path = `/v1/projects/${id}/secrets/${s.secretId}`;
      await step(`secret ${s.secretId}`, () => call('POST', `/v1/projects/${id}/secrets`, {
        query: { secretId: s.secretId }, body: { replication: s.replication ?? { automatic: {} }, labels: s.labels },
      }));
      for (const v of s.versions ?? []) {
        const created = await step(`secret ${s.secretId} version`, () => call('POST', `${path}:addVersion`, { body: { payload: { data: Buffer.from(v.data).toString('base64') } } }));
        const number = String(created.name).split('/').pop()!;
        if (v.state === 'DISABLED') await step('disable', () => call('POST', `${path}/versions/${number}:disable`, { body: {} }));
        if (v.state === 'DESTROYED') await step('destroy', () => call('POST', `${path}/versions/${number}:destroy`, { body: {} }));
        if (v.createTime) store.project(id).secrets[s.secretId]!.versions.at(-1)!.resource.createTime = v.createTime;
      }
      if (s.iamPolicy) await step(`secret ${s.secretId} IAM`, () => call('POST', `${path}:setIamPolicy`, { body: { policy: s.iamPolicy } }));
    }
    for (const i of p.instances ?? []) {
      await step(`instance ${i.name}`, () => call('POST', `/compute/v1/projects/${id}/zones/${i.zone}/instances`, {
        body: {
          name: i.name,
          labels: i.labels,
          metadata: { items: Object.entries(i.metadata ?? {}).map(([key, value]) => ({ key, value })) },
          serviceAccounts: i.serviceAccount ? [{ email: i.serviceAccount, scopes: ['https://www.googleapis.com/auth/cloud-platform'] }] : [],
        },
      }));
    }
  }
}
