/**
 * Service accounts and IAM Credentials' generateAccessToken, through google-auth-library's Impersonated client as
 * the operator will use it: a token is minted only for a caller holding roles/iam.serviceAccountTokenCreator (on the
 * account or its project), and every later request carrying it is that account's — in the request log and in the
 * audit log — until it expires.
 */
import { BigQuery } from '@google-cloud/bigquery';
import { SecretManagerServiceClient } from '@google-cloud/secret-manager/build/src/v1/secret_manager_service_client.js';
import { Impersonated, OAuth2Client } from 'google-auth-library';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { gaxEndpoint } from '../../src/gcp/clients.js';
import { TOKEN_CREATOR_ROLE } from '../../src/sandbox/iam-api.js';
import { MINTED_TOKEN_PREFIX, OPERATOR_EMAIL, OPERATOR_PRINCIPAL } from '../../src/sandbox/principals.js';
import type { LoggedRequest } from '../../src/sandbox/request-stats.js';
import { startSandbox } from '../../src/sandbox/server.js';
import { PROJECT, http, useSandbox } from '../support/sandbox.js';

const CLOUD_PLATFORM = 'https://www.googleapis.com/auth/cloud-platform';
const email = (accountId: string) => `${accountId}@${PROJECT}.iam.gserviceaccount.com`;
const ON_ACCOUNT = email('tenant-on-account');
const ON_PROJECT = email('tenant-on-project');
const NOBODY = email('tenant-not-granted');

const s = useSandbox({
  seed: {
    projects: [{ projectId: PROJECT, serviceAccounts: [{ accountId: 'tenant-not-granted', displayName: 'nobody may mint' }] }],
    serviceAccounts: [
      { project: PROJECT, accountId: 'tenant-on-account', displayName: 'Tenant A', tokenCreators: [OPERATOR_PRINCIPAL] },
      { project: PROJECT, accountId: 'tenant-on-project' },
      // A chain: the operator may mint for hop-one, hop-one for hop-two (and nobody else for it).
      { project: PROJECT, accountId: 'tenant-hop-one', tokenCreators: [OPERATOR_PRINCIPAL] },
      { project: PROJECT, accountId: 'tenant-hop-two', tokenCreators: [`serviceAccount:${email('tenant-hop-one')}`] },
    ],
  },
});

/** The operator's credential: a static token, as the sandbox sees any non-minted token. */
function operatorSource(): OAuth2Client {
  const source = new OAuth2Client();
  source.setCredentials({ access_token: 'operator-static', expiry_date: Date.now() + 3600e3 });
  return source;
}

const impersonate = (targetPrincipal: string, extra: Partial<ConstructorParameters<typeof Impersonated>[0]> = {}) =>
  new Impersonated({ sourceClient: operatorSource(), endpoint: s.url, targetPrincipal, targetScopes: [CLOUD_PLATFORM], ...extra });

/** The error a promise rejects with (undefined if it resolves). */
const failure = (promise: Promise<unknown>) => promise.then(() => undefined, (e: unknown) => e as Error & { response?: { status: number } });

const requests = async (): Promise<LoggedRequest[]> => (await http(`${s.url}/__sandbox/requests`)).body.requests;

/** Grants the role on the whole project while `run` runs. */
async function withProjectGrant(member: string, run: () => Promise<void>): Promise<void> {
  const policy = (await http(`${s.url}/v1/projects/${PROJECT}:getIamPolicy`, { method: 'POST', json: {} })).body;
  const granted = await http(`${s.url}/v1/projects/${PROJECT}:setIamPolicy`, {
    method: 'POST', json: { policy: { ...policy, bindings: [...policy.bindings, { role: TOKEN_CREATOR_ROLE, members: [member] }] } },
  });
  expect(granted.status).toBe(200);
  try {
    await run();
  } finally {
    await http(`${s.url}/v1/projects/${PROJECT}:setIamPolicy`, { method: 'POST', json: { policy: { bindings: policy.bindings } } });
  }
}

describe('IAM service accounts', () => {
  it('creates, gets, lists and deletes service accounts in the IAM API\'s shape; 409 for a duplicate, 400 for a bad id', async () => {
    const created = await http(`${s.url}/v1/projects/${PROJECT}/serviceAccounts`, {
      method: 'POST', json: { accountId: 'iam-shape-test', serviceAccount: { displayName: 'Shape', description: 'made by a test' } },
    });
    expect(created.status).toBe(200);
    const sa = created.body;
    expect(sa).toEqual({
      name: `projects/${PROJECT}/serviceAccounts/${email('iam-shape-test')}`, projectId: PROJECT, email: email('iam-shape-test'),
      uniqueId: expect.stringMatching(/^\d{21}$/), oauth2ClientId: sa.uniqueId, displayName: 'Shape', description: 'made by a test', etag: expect.any(String),
    });
    for (const ref of [`${PROJECT}/serviceAccounts/${sa.email}`, `-/serviceAccounts/${encodeURIComponent(sa.email)}`, `-/serviceAccounts/${sa.uniqueId}`]) {
      expect((await http(`${s.url}/v1/projects/${ref}`)).body).toEqual(sa);
    }
    const list = (await http(`${s.url}/v1/projects/${PROJECT}/serviceAccounts`)).body;
    expect(list.accounts.map((a: { email: string }) => a.email)).toContain(sa.email);

    const dup = await http(`${s.url}/v1/projects/${PROJECT}/serviceAccounts`, { method: 'POST', json: { accountId: 'iam-shape-test' } });
    expect(dup.status).toBe(409);
    expect(dup.body.error).toMatchObject({ status: 'ALREADY_EXISTS', message: `Service account iam-shape-test already exists within project projects/${PROJECT}.` });
    for (const accountId of ['short', 'Upper-case-id', 'ends-with-dash-', '9starts-with-digit', undefined]) {
      expect((await http(`${s.url}/v1/projects/${PROJECT}/serviceAccounts`, { method: 'POST', json: { accountId } })).status).toBe(400);
    }

    expect((await http(`${s.url}/v1/projects/-/serviceAccounts/${sa.email}`, { method: 'DELETE' })).status).toBe(200);
    const gone = await http(`${s.url}/v1/projects/-/serviceAccounts/${sa.email}`);
    expect(gone.status).toBe(404);
    expect(gone.body.error).toMatchObject({ code: 404, status: 'NOT_FOUND', message: 'Unknown service account' });
    expect(s.sandbox.stats.snapshot().byApi.iam).toMatchObject({ 'serviceAccounts.create': 7, 'serviceAccounts.get': 4, 'serviceAccounts.list': 1, 'serviceAccounts.delete': 1 });
  });

  it('reads and writes an account\'s IAM policy with etags; a stale etag is refused 409 ABORTED', async () => {
    const base = `${s.url}/v1/projects/${PROJECT}/serviceAccounts/${ON_ACCOUNT}`;
    const policy = (await http(`${base}:getIamPolicy`, { method: 'POST' })).body;
    expect(policy).toMatchObject({ version: 1, etag: expect.any(String), bindings: [{ role: TOKEN_CREATOR_ROLE, members: [OPERATOR_PRINCIPAL] }] });
    const viewer = { role: 'roles/iam.serviceAccountUser', members: ['user:dev@example.com'] };
    const set = await http(`${base}:setIamPolicy`, { method: 'POST', json: { policy: { ...policy, bindings: [...policy.bindings, viewer] } } });
    expect(set.status).toBe(200);
    expect(set.body.etag).not.toBe(policy.etag);
    const stale = await http(`${base}:setIamPolicy`, { method: 'POST', json: { policy } });
    expect(stale.status).toBe(409);
    expect(stale.body.error.status).toBe('ABORTED');
    // Put it back, for the tests that follow.
    expect((await http(`${base}:setIamPolicy`, { method: 'POST', json: { policy: { ...set.body, bindings: policy.bindings } } })).status).toBe(200);
    expect(s.sandbox.stats.snapshot()).toMatchObject({ reads: 1, writes: 3, byApi: { iam: { 'serviceAccounts.getIamPolicy': 1, 'serviceAccounts.setIamPolicy': 3 } } });
  });

  it('writes Admin Activity entries for service-account writes, with the policy delta', async () => {
    const before = s.sandbox.auditLog.entries().length;
    const created = (await http(`${s.url}/v1/projects/${PROJECT}/serviceAccounts`, { method: 'POST', json: { accountId: 'iam-audited' } })).body;
    await http(`${s.url}/v1/projects/-/serviceAccounts/${created.email}:setIamPolicy`, {
      method: 'POST', json: { policy: { bindings: [{ role: TOKEN_CREATOR_ROLE, members: ['user:dev@example.com'] }] } },
    });
    const [create, setPolicy] = s.sandbox.auditLog.entries().slice(before);
    expect(create).toMatchObject({
      protoPayload: { serviceName: 'iam.googleapis.com', methodName: 'google.iam.admin.v1.CreateServiceAccount', resourceName: `projects/${PROJECT}` },
      resource: { type: 'service_account', labels: { project_id: PROJECT, email_id: created.email, unique_id: created.uniqueId } },
    });
    expect(setPolicy).toMatchObject({
      protoPayload: {
        methodName: 'google.iam.admin.v1.SetIAMPolicy', resourceName: `projects/-/serviceAccounts/${created.uniqueId}`,
        serviceData: { policyDelta: { bindingDeltas: [{ action: 'ADD', role: TOKEN_CREATOR_ROLE, member: 'user:dev@example.com' }] } },
      },
    });
  });
});

describe('generateAccessToken through google-auth-library\'s Impersonated client', () => {
  it('mints a token when the operator is a token creator on the service account', async () => {
    const started = Date.now();
    const { token } = await impersonate(ON_ACCOUNT).getAccessToken();
    expect(token).toMatch(new RegExp(`^${MINTED_TOKEN_PREFIX.replace(/\./g, '\\.')}[A-Za-z0-9_-]{43}$`));
    const [mint] = await requests();
    expect(mint).toMatchObject({
      method: 'POST', path: `/v1/projects/-/serviceAccounts/${ON_ACCOUNT}:generateAccessToken`, status: 200,
      api: 'iamcredentials', op: 'serviceAccounts.generateAccessToken', principal: OPERATOR_PRINCIPAL,
    });
    expect(s.sandbox.stats.snapshot()).toMatchObject({ reads: 1, writes: 0 });
    // The wire shape, seen raw: {accessToken, expireTime} with whole seconds, one hour by default.
    const raw = await http(`${s.url}/v1/projects/-/serviceAccounts/${ON_ACCOUNT}:generateAccessToken`, { method: 'POST', json: { scope: [CLOUD_PLATFORM] } });
    expect(Object.keys(raw.body).sort()).toEqual(['accessToken', 'expireTime']);
    expect(raw.body.expireTime).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    const lifetime = Date.parse(raw.body.expireTime) - started;
    expect(lifetime).toBeGreaterThan(3590e3);
    expect(lifetime).toBeLessThanOrEqual(3601e3);
  });

  it('mints a token when the operator is a token creator on the project, and accepts a project id instead of "-"', async () => {
    expect((await failure(impersonate(ON_PROJECT).getAccessToken()))?.response?.status).toBe(403);
    await withProjectGrant(OPERATOR_PRINCIPAL, async () => {
      const { token } = await impersonate(ON_PROJECT).getAccessToken();
      expect(token?.startsWith(MINTED_TOKEN_PREFIX)).toBe(true);
      const byProject = await http(`${s.url}/v1/projects/${PROJECT}/serviceAccounts/${ON_PROJECT}:generateAccessToken`, {
        method: 'POST', json: { scope: [CLOUD_PLATFORM], lifetime: '600s' },
      });
      expect(byProject.status).toBe(200);
    });
    expect((await failure(impersonate(ON_PROJECT).getAccessToken()))?.response?.status).toBe(403);
  });

  it('refuses a caller without the role 403 PERMISSION_DENIED in Google\'s shape; the library\'s error names the permission', async () => {
    const error = await failure(impersonate(NOBODY).getAccessToken());
    expect(error?.response?.status).toBe(403);
    expect(error?.message).toBe("PERMISSION_DENIED: unable to impersonate: Permission 'iam.serviceAccounts.getAccessToken' denied on resource (or it may not exist).");
    const raw = await http(`${s.url}/v1/projects/-/serviceAccounts/${NOBODY}:generateAccessToken`, { method: 'POST', json: { scope: [CLOUD_PLATFORM] } });
    expect(raw.status).toBe(403);
    expect(raw.body.error).toMatchObject({
      code: 403, status: 'PERMISSION_DENIED', message: "Permission 'iam.serviceAccounts.getAccessToken' denied on resource (or it may not exist).",
      details: [{ '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason: 'IAM_PERMISSION_DENIED', domain: 'iam.googleapis.com', metadata: { permission: 'iam.serviceAccounts.getAccessToken' } }],
    });
  });

  it('answers 404 for an unknown service account, 400 for a bad request', async () => {
    const error = await failure(impersonate(email('no-such-account')).getAccessToken());
    expect(error?.response?.status).toBe(404);
    expect(error?.message).toMatch(/^NOT_FOUND: unable to impersonate: /);
    const url = `${s.url}/v1/projects/-/serviceAccounts/${ON_ACCOUNT}:generateAccessToken`;
    for (const body of [{}, { scope: [] }, { scope: [CLOUD_PLATFORM], lifetime: '43201s' }, { scope: [CLOUD_PLATFORM], lifetime: '0s' },
      { scope: [CLOUD_PLATFORM], lifetime: 'an hour' }, { scope: [CLOUD_PLATFORM], delegates: [`projects/${PROJECT}/serviceAccounts/${ON_ACCOUNT}`] }]) {
      const answer = await http(url, { method: 'POST', json: body });
      expect(answer.status, JSON.stringify(body)).toBe(400);
      expect(answer.body.error.status).toBe('INVALID_ARGUMENT');
    }
    expect((await http(url, { method: 'POST', json: { scope: [CLOUD_PLATFORM], lifetime: '43200s' } })).status).toBe(200);
  });

  it('follows a delegation chain: each hop must be a token creator on the next', async () => {
    const hopOne = email('tenant-hop-one');
    const hopTwo = email('tenant-hop-two');
    // Through a delegate that holds nothing on hop-two: refused.
    const direct = await http(`${s.url}/v1/projects/-/serviceAccounts/${hopTwo}:generateAccessToken`, {
      method: 'POST', json: { scope: [CLOUD_PLATFORM], delegates: [`projects/-/serviceAccounts/${NOBODY}`] },
    });
    expect(direct.status).toBe(403);
    const { token } = await impersonate(hopTwo, { delegates: [`projects/-/serviceAccounts/${hopOne}`] }).getAccessToken();
    expect(token?.startsWith(MINTED_TOKEN_PREFIX)).toBe(true);
  });
});

describe('requests made with a minted token', () => {
  it('are the service account\'s in the request log (plain fetch and official clients); others are the operator\'s', async () => {
    const impersonated = impersonate(ON_ACCOUNT);
    const { token } = await impersonated.getAccessToken();
    await http(`${s.url}/v1/projects/${PROJECT}/secrets?secretId=minted-fetch`, {
      method: 'POST', json: { replication: { automatic: {} } }, headers: { authorization: `Bearer ${token}` },
    });
    await http(`${s.url}/storage/v1/b/no-such-bucket`, { headers: { authorization: `Bearer ${token}` } });
    const bigquery = new BigQuery({ apiEndpoint: s.url, projectId: PROJECT, authClient: impersonated, autoRetry: false } as ConstructorParameters<typeof BigQuery>[0]);
    await bigquery.getDatasets();
    const { credentials: _ignored, ...endpoint } = gaxEndpoint(s.url);
    // gax carries its own google-auth-library (10.5): the same client at run time, another type at compile time.
    type GaxAuthClient = NonNullable<ConstructorParameters<typeof SecretManagerServiceClient>[0]>['authClient'];
    const secrets = new SecretManagerServiceClient({ ...endpoint, authClient: impersonated as unknown as GaxAuthClient });
    await secrets.listSecrets({ parent: `projects/${PROJECT}` });
    await secrets.close();
    // As the operator: no Authorization, a static token, and the operator's own clients (a self-signed JWT).
    await http(`${s.url}/storage/v1/b/no-such-bucket`);
    await http(`${s.url}/storage/v1/b/no-such-bucket`, { headers: { authorization: 'Bearer operator-static' } });
    await s.clients.secrets.listSecrets({ parent: `projects/${PROJECT}` });

    const log = (await requests()).filter((r) => r.op !== 'serviceAccounts.generateAccessToken');
    expect(log.map((r) => [r.op, r.principal])).toEqual([
      ['secrets.create', `serviceAccount:${ON_ACCOUNT}`],
      ['buckets.get', `serviceAccount:${ON_ACCOUNT}`],
      ['datasets.list', `serviceAccount:${ON_ACCOUNT}`],
      ['secrets.list', `serviceAccount:${ON_ACCOUNT}`],
      ['buckets.get', OPERATOR_PRINCIPAL],
      ['buckets.get', OPERATOR_PRINCIPAL],
      ['secrets.list', OPERATOR_PRINCIPAL],
    ]);
    expect(OPERATOR_PRINCIPAL).toBe(`serviceAccount:${OPERATOR_EMAIL}`);
  });

  it('are audited as the service account (the principal header still wins), the operator\'s as someone else\'s', async () => {
    const { token } = await impersonate(ON_ACCOUNT).getAccessToken();
    const before = s.sandbox.auditLog.entries().length;
    const bucket = (name: string, headers: Record<string, string>) =>
      http(`${s.url}/storage/v1/b?project=${PROJECT}`, { method: 'POST', json: { name }, headers });
    expect((await bucket('minted-audit-a', { authorization: `Bearer ${token}` })).status).toBe(200);
    expect((await bucket('minted-audit-b', { authorization: `Bearer ${token}`, 'x-sandbox-principal': 'pretender@example.com' })).status).toBe(200);
    expect((await bucket('minted-audit-c', {})).status).toBe(200);
    expect(s.sandbox.auditLog.entries().slice(before).map((e) => [e.protoPayload.resourceName, e.protoPayload.authenticationInfo.principalEmail])).toEqual([
      ['projects/_/buckets/minted-audit-a', ON_ACCOUNT],
      ['projects/_/buckets/minted-audit-b', 'pretender@example.com'],
      ['projects/_/buckets/minted-audit-c', 'someone-else@example.com'],
    ]);
  });

  it('are refused 401 UNAUTHENTICATED once the token expires (on the sandbox clock), or when the token is unknown', async () => {
    const minted = await http(`${s.url}/v1/projects/-/serviceAccounts/${ON_ACCOUNT}:generateAccessToken`, {
      method: 'POST', json: { scope: [CLOUD_PLATFORM], lifetime: '300s' },
    });
    const headers = { authorization: `Bearer ${minted.body.accessToken}` };
    expect((await http(`${s.url}/v1/projects/${PROJECT}/secrets`, { headers })).status).toBe(200);
    s.sandbox.store.clockOffsetSeconds = 301;
    try {
      const expired = await http(`${s.url}/v1/projects/${PROJECT}/secrets`, { headers });
      expect(expired.status).toBe(401);
      expect(expired.headers.get('www-authenticate')).toMatch(/invalid_token/);
      expect(expired.body.error).toMatchObject({
        code: 401, status: 'UNAUTHENTICATED', message: expect.stringMatching(/^Request had invalid authentication credentials/),
        details: [{ reason: 'ACCESS_TOKEN_EXPIRED', metadata: { service: 'secretmanager.googleapis.com' } }],
      });
      // The operator's own tokens are never refused.
      expect((await http(`${s.url}/v1/projects/${PROJECT}/secrets`, { headers: { authorization: 'Bearer operator-static' } })).status).toBe(200);
    } finally {
      s.sandbox.store.clockOffsetSeconds = 0;
    }
    const unknown = await http(`${s.url}/v1/projects/${PROJECT}/secrets`, { headers: { authorization: `Bearer ${MINTED_TOKEN_PREFIX}forged` } });
    expect(unknown.status).toBe(401);
    expect(unknown.body.error.details).toBeUndefined();
    const log = await requests();
    expect(log.filter((r) => r.status === 401).map((r) => r.principal)).toEqual([undefined, undefined]);
  });

  it('is refused once its service account is deleted', async () => {
    await http(`${s.url}/v1/projects/${PROJECT}/serviceAccounts`, { method: 'POST', json: { accountId: 'tenant-short-lived' } });
    await http(`${s.url}/v1/projects/-/serviceAccounts/${email('tenant-short-lived')}:setIamPolicy`, {
      method: 'POST', json: { policy: { bindings: [{ role: TOKEN_CREATOR_ROLE, members: [OPERATOR_PRINCIPAL] }] } },
    });
    const { token } = await impersonate(email('tenant-short-lived')).getAccessToken();
    const headers = { authorization: `Bearer ${token}` };
    expect((await http(`${s.url}/storage/v1/b?project=${PROJECT}`, { headers })).status).toBe(200);
    await http(`${s.url}/v1/projects/-/serviceAccounts/${email('tenant-short-lived')}`, { method: 'DELETE' });
    expect((await http(`${s.url}/storage/v1/b?project=${PROJECT}`, { headers })).status).toBe(401);
  });
});

describe('service accounts in the seed, the state file and the fault rules', () => {
  it('keeps service accounts, their policies and minted tokens across a restart with a state file', async () => {
    const statePath = join(mkdtempSync(join(tmpdir(), 'sandbox-iam-')), 'state.json');
    const seed = { serviceAccounts: [{ project: 'persisted-project', accountId: 'persisted-tenant', tokenCreators: [OPERATOR_PRINCIPAL] }] };
    const first = await startSandbox({ statePath, seed });
    const target = 'persisted-tenant@persisted-project.iam.gserviceaccount.com';
    let token: string | null | undefined;
    try {
      token = (await new Impersonated({ sourceClient: operatorSource(), endpoint: first.url, targetPrincipal: target, targetScopes: [CLOUD_PLATFORM] }).getAccessToken()).token;
    } finally {
      await first.close();
    }
    const second = await startSandbox({ statePath });
    try {
      expect((await http(`${second.url}/v1/projects/-/serviceAccounts/${target}:getIamPolicy`, { method: 'POST' })).body.bindings)
        .toEqual([{ role: TOKEN_CREATOR_ROLE, members: [OPERATOR_PRINCIPAL] }]);
      expect((await http(`${second.url}/storage/v1/b?project=persisted-project`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(200);
      expect(second.stats.requests().at(-1)?.principal).toBe(`serviceAccount:${target}`);
    } finally {
      await second.close();
    }
  });

  it('refuses a top-level seed account without a project, or an account id IAM would refuse', async () => {
    await expect(s.sandbox.seed({ serviceAccounts: [{ accountId: 'no-project-given' }] })).rejects.toThrow(/needs a project/);
    await expect(s.sandbox.seed({ serviceAccounts: [{ project: PROJECT, accountId: 'x' }] })).rejects.toThrow(/seed: service account x: Invalid account ID/);
    const yaml = `serviceAccounts:\n  - project: ${PROJECT}\n    accountId: from-yaml-seed\n    tokenCreators: ['${OPERATOR_PRINCIPAL}']\n`;
    expect((await http(`${s.url}/__sandbox/seed`, { method: 'POST', body: yaml })).status).toBe(200);
    expect((await impersonate(email('from-yaml-seed')).getAccessToken()).token).toMatch(/^ya29\.sandbox\./);
  });

  it('injects faults on the iam and iamcredentials APIs by name', async () => {
    s.sandbox.faults.update({ faultRules: [{ api: 'iamcredentials', operation: 'serviceAccounts.generateAccessToken', phase: 'before', status: 503, times: 2 }] });
    try {
      const first = await http(`${s.url}/v1/projects/-/serviceAccounts/${ON_ACCOUNT}:generateAccessToken`, { method: 'POST', json: { scope: [CLOUD_PLATFORM] } });
      expect(first.status).toBe(503);
      // google-auth-library retries a 503 itself.
      expect((await impersonate(ON_ACCOUNT).getAccessToken()).token).toMatch(/^ya29\.sandbox\./);
    } finally {
      s.sandbox.faults.update({ faultRules: [] });
    }
  });
});
