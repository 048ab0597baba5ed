/** Error paths of the adapters and the executor, with nock standing in for Google (ARCHITECTURE: nock for 429, 503, 403, 409, 412). */
import nock from 'nock';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { connect } from '../../src/engine/connection.js';
import { KINDS } from '../../src/kinds/registry.js';
import { createGcpClients } from '../../src/gcp/clients.js';
import { GcpCaller } from '../../src/gcp/gcp-caller.js';
import { GcpError } from '../../src/gcp/gcp-error.js';
import { SecretValue } from '../../src/api/secret-value.js';
import { PlanExecutor } from '../../src/engine/execute.js';
import type { Action, Plan, Step } from '../../src/plan/types.js';

const ENDPOINT = 'http://127.0.0.1:19199';
const P = 'p-nock';
const google = (code: number, reason: string) => ({ error: { code, message: `${reason} from nock`, errors: [{ reason, domain: 'global', message: reason }] } });

function setup() {
  const caller = new GcpCaller({ retry: { baseDelayMs: 1, maxDelayMs: 2, attempts: 5 } });
  const conn = connect(KINDS, createGcpClients({ projectId: P, endpoint: ENDPOINT }), P, caller, { generateSecret: () => new SecretValue('v') });
  return { caller, conn, adapters: { buckets: conn.client('Bucket'), datasets: conn.client('Dataset'), secrets: conn.client('Secret') } };
}

const plan = (actions: Plan['actions']): Plan => ({ environment: 'e', project: P, reportOnly: false, suspended: false, actions, summary: {} as Plan['summary'] });

beforeAll(() => nock.disableNetConnect());
afterEach(() => nock.cleanAll());
afterAll(() => nock.enableNetConnect());

describe('retries', () => {
  it('retries 429 and 503 with backoff, then succeeds', async () => {
    const { caller, adapters } = setup();
    const scope = nock(ENDPOINT).get('/storage/v1/b/b1').query(true).reply(429, google(429, 'rateLimitExceeded'))
      .get('/storage/v1/b/b1').query(true).reply(503, google(503, 'backendError'))
      .get('/storage/v1/b/b1').query(true).reply(200, { name: 'b1', location: 'EU', metageneration: '2' });
    const observed = await adapters.buckets.observe('b1');
    expect(observed).toMatchObject({ name: 'b1', location: 'EU', version: '2' });
    expect(caller.counts).toMatchObject({ reads: 3, retries: 2 });
    scope.done();
  });

  it('gives up after the bounded number of attempts with a clear error', async () => {
    const { caller, adapters } = setup();
    nock(ENDPOINT).get(`/v1/projects/${P}/secrets/s1`).query(true).times(5).reply(503, google(503, 'backendError'))
      .get(`/v1/projects/${P}/secrets/s1/versions`).query(true).reply(200, { versions: [] });
    const error = await adapters.secrets.observe('s1').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(GcpError);
    expect((error as GcpError).message).toMatch(/secrets.get on projects\/p-nock\/secrets\/s1 failed with HTTP 503/);
    expect(caller.counts.byOperation['secrets.get']).toBe(5);
  });

  it('never retries adding a secret version (a lost answer must not add two)', async () => {
    const { caller, conn } = setup();
    nock(ENDPOINT).get(`/v1/projects/${P}/secrets/s1/versions`).query(true).reply(200, { versions: [] })
      .post(`/v1/projects/${P}/secrets/s1:addVersion`).query(true).reply(503, google(503, 'backendError'));
    await expect(conn.execute({ kind: 'Secret', op: 'addGeneratedVersion', secretId: 's1', length: 8, newestVersion: '' })).rejects.toThrow(/HTTP 503/);
    expect(caller.counts.writes).toBe(1);
  });
});

describe('permissions and missing resources', () => {
  it('names the permission and the resource on a 403, without retrying', async () => {
    const { caller, adapters } = setup();
    nock(ENDPOINT).get(`/bigquery/v2/projects/${P}/datasets/ds1`).query(true).reply(403, google(403, 'accessDenied'));
    await expect(adapters.datasets.observe('ds1')).rejects.toThrow(
      "the operator's identity lacks bigquery.datasets.get on projects/p-nock/datasets/ds1 (datasets.get); grant it a role that includes bigquery.datasets.get");
    expect(caller.counts.reads).toBe(1);
  });

  it('observes a 404 as "does not exist"', async () => {
    const { adapters } = setup();
    nock(ENDPOINT).get('/storage/v1/b/gone').query(true).reply(404, google(404, 'notFound'));
    expect(await adapters.buckets.observe('gone')).toBeUndefined();
  });

  it('reports a 409 on a retried create as a conflict for the executor to re-read, never as success', async () => {
    const { conn } = setup();
    nock(ENDPOINT).post('/storage/v1/b').query(true).reply(503, google(503, 'backendError'))
      .post('/storage/v1/b').query(true).reply(409, google(409, 'conflict'));
    const bucket = { name: 'b2', location: 'EU', storageClass: 'STANDARD', versioning: false, labels: {} };
    const error = await conn.execute({ kind: 'Bucket', op: 'create', bucket }).catch((e: unknown) => e);
    expect(error).toMatchObject({ status: 409, info: { code: 409, reason: 'conflict' } });
  });

  it.each([
    [{ error: { code: 403, message: "Permission 'secretmanager.secrets.get' denied on resource", status: 'PERMISSION_DENIED' } }, /PERMISSION_DENIED.*lacks secretmanager\.secrets\.get/s],
    [{ error: { code: 403, message: 'Secret Manager API has not been used in project 1 before or it is disabled.', status: 'PERMISSION_DENIED', details: [{ '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason: 'SERVICE_DISABLED' }] } },
      /gcloud services enable secretmanager\.googleapis\.com/],
  ])('keeps Google\'s status and reason on a 403 and says what to do (%#)', async (body, message) => {
    const { adapters } = setup();
    nock(ENDPOINT).get(`/v1/projects/${P}/secrets/s1`).query(true).reply(403, body)
      .get(`/v1/projects/${P}/secrets/s1/versions`).query(true).reply(200, { versions: [] });
    const error = await adapters.secrets.observe('s1').catch((e: unknown) => e) as GcpError;
    expect(error.message).toMatch(message);
    expect(error.info).toMatchObject({ code: 403, status: 'PERMISSION_DENIED' });
  });

  it('retries a 403 that is a rate limit (rateLimitExceeded), not a permission', async () => {
    const { caller, adapters } = setup();
    nock(ENDPOINT).get('/storage/v1/b/b1').query(true).reply(403, google(403, 'rateLimitExceeded'))
      .get('/storage/v1/b/b1').query(true).reply(200, { name: 'b1', location: 'EU', metageneration: '1' });
    expect(await adapters.buckets.observe('b1')).toMatchObject({ name: 'b1' });
    expect(caller.counts.retries).toBe(1);
  });
});

describe('concurrent changes', () => {
  it('re-reads and retries a bucket patch refused with 412 (metageneration moved)', async () => {
    const { adapters, conn } = setup();
    const scope = nock(ENDPOINT)
      .patch('/storage/v1/b/b1').query({ ifMetagenerationMatch: '3' }).reply(412, google(412, 'conditionNotMet'))
      .get('/storage/v1/b/b1').query(true).reply(200, { name: 'b1', location: 'EU', metageneration: '4' })
      .patch('/storage/v1/b/b1', { versioning: { enabled: true } }).query({ ifMetagenerationMatch: '4' }).reply(200, { name: 'b1' });
    const planned: Action = {
      id: 'Bucket/b1', kind: 'Bucket', name: 'b1', verb: 'update', changes: [],
      steps: [{ kind: 'Bucket', op: 'patch', bucket: 'b1', patch: { versioning: { enabled: true } }, metageneration: '3' }],
    };
    // A stand-in for the engine's re-plan: the fresh read's metageneration in the same patch.
    const replan = async () => ({ ...planned, steps: [{ ...planned.steps[0]!, metageneration: (await adapters.buckets.observe('b1'))!.version } as Step] });
    const results = await new PlanExecutor(conn, replan, { conflictBackoffMs: 1 }).execute(plan([planned]));
    expect(results.get('Bucket/b1')).toMatchObject({ outcome: 'ok' });
    scope.done();
  });

  it('re-reads a secret policy after a 409 ABORTED and writes the binding onto the fresh policy', async () => {
    const { conn } = setup();
    const member = 'serviceAccount:vm@p.iam.gserviceaccount.com';
    let written: { policy: { bindings: unknown[] } } | undefined;
    const scope = nock(ENDPOINT)
      .get(`/v1/projects/${P}/secrets/s1:getIamPolicy`).query(true).reply(200, { etag: 'CAE=', bindings: [] })
      .post(`/v1/projects/${P}/secrets/s1:setIamPolicy`).query(true).reply(409, { error: { code: 409, message: 'concurrent', status: 'ABORTED' } })
      .get(`/v1/projects/${P}/secrets/s1:getIamPolicy`).query(true).reply(200, { etag: 'CAI=', bindings: [{ role: 'roles/viewer', members: ['user:other@x.io'] }] })
      .post(`/v1/projects/${P}/secrets/s1:setIamPolicy`, (body: { policy: { bindings: unknown[] } }) => ((written = body), true)).query(true).reply(200, { etag: 'CAM=' });
    const replan = async (id: string): Promise<Action> => ({ id, kind: 'Secret', name: 's1', verb: 'none', changes: [], steps: [] });
    const results = await new PlanExecutor(conn, replan, { conflictBackoffMs: 1 }).execute(plan([{
      id: 'IAMBinding/x', kind: 'IAMBinding', name: 'x', verb: 'create', changes: [], dependsOn: 'Secret/s1',
      steps: [{ kind: 'IAM', op: 'modify', target: { kind: 'Secret', name: 's1', project: P }, add: [{ role: 'roles/secretmanager.secretAccessor', member }], remove: [] }],
    }]));
    expect(results.get('IAMBinding/x')).toMatchObject({ outcome: 'ok' });
    expect(written!.policy.bindings).toEqual([
      { role: 'roles/viewer', members: ['user:other@x.io'] },
      { role: 'roles/secretmanager.secretAccessor', members: [member] },
    ]);
    scope.done();
  });
});
