import { afterEach, describe, expect, it } from 'vitest';
import type { FaultRule } from '../../src/sandbox/faults.js';
import { startSandbox } from '../../src/sandbox/server.js';
import { PROJECT, http, statusOf, useSandbox } from '../support/sandbox.js';

const s = useSandbox();
const parent = `projects/${PROJECT}`;
const setRules = async (faultRules: FaultRule[]) => {
  const answer = await http(`${s.url}/__sandbox/config`, { method: 'PUT', json: { faultRules } });
  expect(answer.status, answer.text).toBe(200);
};
const createSecret = (secretId: string) => s.clients.secrets.createSecret({ parent, secretId, secret: { replication: { automatic: {} } } });
const versionCount = async (secretId: string) => (await s.clients.secrets.listSecretVersions({ parent: `${parent}/secrets/${secretId}` }))[0].length;

afterEach(() => s.sandbox.faults.update({ faultRules: [] }));

describe('fault rules: a lost answer (phase "after")', () => {
  it('stores the secret version, then answers 503 instead of the version', async () => {
    await createSecret('fr-lost-version');
    await setRules([{ operation: 'secrets.addVersion', phase: 'after', status: 503 }]);
    const add = () => s.clients.secrets.addSecretVersion({ parent: `${parent}/secrets/fr-lost-version`, payload: { data: Buffer.from('x') } });
    expect(await statusOf(add())).toBe(503);
    expect(await versionCount('fr-lost-version')).toBe(1);
    const [logged] = s.sandbox.stats.requests().filter((r) => r.op === 'secrets.addVersion');
    expect(logged).toMatchObject({ status: 503, fault: '503', faultPhase: 'after', handledStatus: 200 });
    expect(s.sandbox.stats.snapshot().faults).toBe(1);
  });

  it('leaves the bucket created: the client sees 503, and its retry a 409 saying it already owns it', async () => {
    await setRules([{ operation: 'buckets.insert', phase: 'after', status: 503 }]);
    expect(await statusOf(s.clients.storage.createBucket('fr-lost-bucket'))).toBe(503);
    expect((await s.clients.storage.bucket('fr-lost-bucket').exists())[0]).toBe(true);
    const retry = await http(`${s.url}/storage/v1/b?project=${PROJECT}`, { method: 'POST', json: { name: 'fr-lost-bucket' } });
    expect(retry.status).toBe(409);
    expect(retry.body.error.message).toMatch(/already own it/);
  });

  it('is not spent by a request the handler refuses: that error reaches the client as it is', async () => {
    await setRules([{ operation: 'buckets.insert', phase: 'after', status: 503 }]);
    expect(await statusOf(s.clients.storage.createBucket('Not_A_Bucket_Name'))).toBe(400);
    expect(await statusOf(s.clients.storage.createBucket('fr-after-refusal'))).toBe(503);
    expect(s.sandbox.stats.snapshot().faults).toBe(1);
  });

  it('"timeout": the write lands and no answer comes until the client gives up', async () => {
    await setRules([{ operation: 'secrets.create', phase: 'after', status: 'timeout' }]);
    const outcome = await fetch(`${s.url}/v1/${parent}/secrets?secretId=fr-timeout`, {
      method: 'POST', body: JSON.stringify({ replication: { automatic: {} } }), headers: { 'content-type': 'application/json' },
      signal: AbortSignal.timeout(300),
    }).then(() => 'answered', (e: Error) => e.name);
    expect(outcome).toBe('TimeoutError');
    const [secret] = await s.clients.secrets.getSecret({ name: `${parent}/secrets/fr-timeout` });
    expect(secret.name).toMatch(/secrets\/fr-timeout$/);
  });

  it('"reset": the write lands and the connection is dropped at once', async () => {
    await setRules([{ operation: 'buckets.insert', phase: 'after', status: 'reset' }]);
    const outcome = await fetch(`${s.url}/storage/v1/b?project=${PROJECT}`, { method: 'POST', body: JSON.stringify({ name: 'fr-reset' }) })
      .then(() => 'answered', (e: Error) => e.name);
    expect(outcome).toBe('TypeError'); // fetch failed: the socket closed with no answer
    expect((await s.clients.storage.bucket('fr-reset').exists())[0]).toBe(true);
  });
});

describe('fault rules: targeting', () => {
  it('a "before" rule answers the fault and never runs the handler (given to startSandbox)', async () => {
    const sandbox = await startSandbox({ faults: { faultRules: [{ operation: 'buckets.insert', phase: 'before', status: 503 }] } });
    try {
      const insert = () => http(`${sandbox.url}/storage/v1/b?project=${PROJECT}`, { method: 'POST', json: { name: 'fr-before' } });
      expect((await insert()).status).toBe(503);
      expect(sandbox.store.data.buckets['fr-before']).toBeUndefined();
      expect((await insert()).status).toBe(200);
      expect(sandbox.stats.snapshot()).toMatchObject({ writes: 2, faults: 1 });
    } finally {
      await sandbox.close();
    }
  });

  it('applies to exactly `times` matching requests, then is spent and gone from the config', async () => {
    await setRules([{ operation: 'datasets.insert', phase: 'before', status: 503, times: 2 }]);
    expect(await statusOf(s.clients.bigquery.createDataset('fr_times'))).toBe(503);
    expect((await http(`${s.url}/__sandbox/config`)).body.faultRules).toEqual([expect.objectContaining({ operation: 'datasets.insert', times: 1 })]);
    expect(await statusOf(s.clients.bigquery.createDataset('fr_times'))).toBe(503);
    await s.clients.bigquery.createDataset('fr_times');
    expect((await http(`${s.url}/__sandbox/config`)).body.faultRules).toEqual([]);
    expect(s.sandbox.stats.snapshot()).toMatchObject({ faults: 2, byApi: { bigquery: { 'datasets.insert': 3 } } });
  });

  it('matches only its operation, its api and, with `resource`, paths containing it', async () => {
    await createSecret('fr-target-a');
    await createSecret('fr-target-b');
    await setRules([{ operation: 'secrets.addVersion', api: 'secretmanager', resource: 'fr-target-b', phase: 'before', status: 503 }]);
    const add = (id: string) => s.clients.secrets.addSecretVersion({ parent: `${parent}/secrets/${id}`, payload: { data: Buffer.from('x') } });
    await add('fr-target-a');
    await s.clients.secrets.getSecret({ name: `${parent}/secrets/fr-target-b` });
    expect(await statusOf(add('fr-target-b'))).toBe(503);
    expect([await versionCount('fr-target-a'), await versionCount('fr-target-b')]).toEqual([1, 0]);
  });

  it('answers a chosen status in Google\'s error format: the first buckets.patch gets 412', async () => {
    await s.clients.storage.createBucket('fr-patch');
    await setRules([{ operation: 'buckets.patch', phase: 'before', status: 412 }]);
    const bucket = s.clients.storage.bucket('fr-patch');
    expect(await statusOf(bucket.setMetadata({ labels: { a: '1' } }))).toBe(412);
    await bucket.setMetadata({ labels: { a: '1' } });
    expect((await bucket.getMetadata())[0].labels).toEqual({ a: '1' });
    await setRules([{ operation: 'buckets.patch', phase: 'before', status: 412 }]);
    const raw = await http(`${s.url}/storage/v1/b/fr-patch`, { method: 'PATCH', json: {} });
    expect(raw.body.error).toMatchObject({ code: 412, status: 'FAILED_PRECONDITION', errors: [{ reason: 'conditionNotMet' }] });
  });

  it('takes the error body\'s reason, status and message from the rule', async () => {
    const error = { reason: 'aborted', status: 'ABORTED', message: 'There were concurrent policy changes.' };
    await setRules([{ operation: 'projects.setIamPolicy', phase: 'before', status: 409, error }]);
    const raw = await http(`${s.url}/v3/projects/${PROJECT}:setIamPolicy`, { method: 'POST', json: { policy: { bindings: [] } } });
    expect(raw.status).toBe(409);
    expect(raw.body.error).toEqual({ code: 409, status: 'ABORTED', message: error.message, errors: [{ reason: 'aborted', domain: 'global', message: error.message }] });
  });

  it('are tried before the random faults', async () => {
    s.sandbox.faults.update({ faultRate: 1, faultStatuses: [429] });
    try {
      await setRules([{ operation: 'projects.get', phase: 'before', status: 403 }]);
      expect((await http(`${s.url}/v3/projects/${PROJECT}`)).status).toBe(403);
      expect((await http(`${s.url}/v3/projects/${PROJECT}`)).status).toBe(429);
    } finally {
      s.sandbox.faults.update({ faultRate: 0, faultStatuses: [429, 503] });
    }
  });

  it.each([
    [{ operation: 'bucket.insert', phase: 'before', status: 503 }, /faultRules\[0\]\.operation "bucket\.insert" is not an operation of the sandbox; known: .*buckets\.insert/],
    [{ operation: 'buckets.insert', api: 'bigquery', phase: 'before', status: 503 }, /is not an operation of bigquery/],
    [{ operation: 'buckets.insert', phase: 'during', status: 503 }, /faultRules\[0\]\.phase must be "before" or "after"/],
    [{ operation: 'buckets.insert', phase: 'after', status: 200 }, /faultRules\[0\]\.status must be an HTTP error status/],
    [{ operation: 'buckets.insert', phase: 'after', status: 503, times: 0 }, /faultRules\[0\]\.times must be a whole number from 1/],
    [{ operation: 'buckets.insert', phase: 'after', status: 503, count: 2 }, /faultRules\[0\]\.count is not a fault rule field/],
  ])('refuses a bad rule with 400 naming the field: %j', async (rule, message) => {
    const answer = await http(`${s.url}/__sandbox/config`, { method: 'PUT', json: { faultRules: [rule] } });
    expect(answer.status).toBe(400);
    expect(answer.body.error.message).toMatch(message);
    expect((await http(`${s.url}/__sandbox/config`)).body.faultRules).toEqual([]);
  });
});
