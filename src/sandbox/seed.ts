/**
 * --seed FILE: pre-created projects, resources and service accounts, made through the same API handlers as any request
 * (so a seed is validated exactly like a client's calls).
 */
import type { ApiError } from './google-error.js';
import { TOKEN_CREATOR_ROLE } from './iam-api.js';
import type { SandboxResponse } from './router.js';
import type { Json, Store } from './store.js';

export interface SeedVersion {
  /** Plain-text payload (the sandbox is for tests: never put a real secret in a seed). */
  data: string;
  state?: 'ENABLED' | 'DISABLED' | 'DESTROYED';
  createTime?: string;
}

/**
 * A service account, made through the IAM API, with its own IAM policy. Top level it names its project; under
 * a project it lives in that one. Its email is ACCOUNT_ID@PROJECT.iam.gserviceaccount.com.
 *
 *   serviceAccounts:
 *     - project: job-match-v0
 *       accountId: jm-tenant-a
 *       tokenCreators: ['serviceAccount:jobmatch-operator@sandbox.iam.gserviceaccount.com']   # OPERATOR_PRINCIPAL
 */
export interface SeedServiceAccount {
  /** Required at the top level; under a project, that project (and it must match if given). */
  project?: string;
  /** 6–30 characters: [a-z]([-a-z0-9]*[a-z0-9]). */
  accountId: string;
  displayName?: string;
  description?: string;
  /** IAM members given roles/iam.serviceAccountTokenCreator on this account: they may mint its access tokens. */
  tokenCreators?: string[];
  /** More bindings of the account's own IAM policy (besides tokenCreators). */
  iamPolicy?: { bindings: Json[] };
}

export interface SeedProject {
  projectId: string;
  projectNumber?: string;
  iamPolicy?: { bindings: Json[] };
  buckets?: (Json & { name: string; objects?: string[]; iamPolicy?: { bindings: Json[] } })[];
  datasets?: (Json & { datasetId: string; tables?: string[] })[];
  secrets?: { secretId: string; labels?: Record<string, string>; replication?: Json; versions?: SeedVersion[]; iamPolicy?: { bindings: Json[] } }[];
  instances?: { name: string; zone: string; metadata?: Record<string, string>; serviceAccount?: string; labels?: Record<string, string> }[];
  /** Service accounts of this project (project may be left out). */
  serviceAccounts?: SeedServiceAccount[];
}

export interface SeedDocument {
  projects?: SeedProject[];
  /** Service accounts, each naming its project; made after the projects. */
  serviceAccounts?: SeedServiceAccount[];
}

export type ApiCall = (method: string, path: string, request?: { query?: Record<string, string>; body?: unknown; raw?: Buffer }) => Promise<SandboxResponse>;

async function step(what: string, run: () => Promise<SandboxResponse>): Promise<Json> {
  try {
    return ((await run()).body ?? {}) as Json;
  } catch (e) {
    throw new Error(`seed: ${what}: ${(e as ApiError).message}`);
  }
}

async function seedServiceAccount(sa: SeedServiceAccount, projectId: string, call: ApiCall): Promise<void> {
  if (typeof sa !== 'object' || sa === null || typeof sa.accountId !== 'string') throw new Error('seed: every service account needs an accountId');
  if (sa.tokenCreators !== undefined && (!Array.isArray(sa.tokenCreators) || sa.tokenCreators.some((m) => typeof m !== 'string'))) {
    throw new Error(`seed: service account ${sa.accountId}: tokenCreators must be a list of IAM members`);
  }
  const created = await step(`service account ${sa.accountId}`, () => call('POST', `/v1/projects/${projectId}/serviceAccounts`, {
    body: { accountId: sa.accountId, serviceAccount: { displayName: sa.displayName, description: sa.description } },
  }));
  const bindings = [
    ...(sa.tokenCreators?.length ? [{ role: TOKEN_CREATOR_ROLE, members: sa.tokenCreators }] : []),
    ...(sa.iamPolicy?.bindings ?? []),
  ];
  if (bindings.length > 0) {
    await step(`service account ${sa.accountId} IAM`, () => call('POST', `/v1/projects/${projectId}/serviceAccounts/${String(created.email)}:setIamPolicy`, { body: { policy: { bindings } } }));
  }
}

export async function applySeed(store: Store, seed: SeedDocument, call: ApiCall): Promise<void> {
  if (typeof seed !== 'object' || seed === null || (seed.projects !== undefined && !Array.isArray(seed.projects))
    || (seed.serviceAccounts !== undefined && !Array.isArray(seed.serviceAccounts))) {
    throw new Error('seed: expected {projects: [...], serviceAccounts: [...]}');
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
    for (const sa of p.serviceAccounts ?? []) {
      if (sa?.project !== undefined && sa.project !== id) throw new Error(`seed: service account ${sa.accountId} of project ${id} names project ${sa.project}`);
      await seedServiceAccount(sa, id, call);
    }
  }
  for (const sa of seed.serviceAccounts ?? []) {
    if (typeof sa?.project !== 'string') throw new Error('seed: every top-level service account needs a project');
    if (!store.data.projects[sa.project]) store.createProject(sa.project);
    await seedServiceAccount(sa, sa.project, call);
  }
}
