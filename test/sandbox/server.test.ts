import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { startSandbox } from '../../src/sandbox/server.js';
import { PROJECT, ZONE, http, useSandbox } from '../support/sandbox.js';

const s = useSandbox();

describe('the sandbox server', () => {
  it('answers an unknown route 404, a wrong method 405, malformed JSON 400 — in Google\'s error format', async () => {
    const unknown = await http(`${s.url}/storage/v2/whatever`);
    expect(unknown.status).toBe(404);
    expect(unknown.body.error).toMatchObject({ code: 404, status: 'NOT_FOUND', errors: [{ reason: 'notFound', domain: 'global' }] });
    const wrong = await http(`${s.url}/storage/v1/b/x/iam`, { method: 'DELETE' });
    expect(wrong.status).toBe(405);
    const malformed = await http(`${s.url}/storage/v1/b?project=${PROJECT}`, { method: 'POST', body: '{"name":', headers: { 'content-type': 'application/json' } });
    expect(malformed.status).toBe(400);
    expect(malformed.body.error.message).toMatch(/Invalid JSON payload/);
    expect(malformed.body.error.errors[0].reason).toBe('parseError');
  });

  it('refuses a body over 10 MB with 413', async () => {
    const big = await http(`${s.url}/storage/v1/b?project=${PROJECT}`, { method: 'POST', body: 'x'.repeat(10 * 1024 * 1024 + 1) });
    expect(big.status).toBe(413);
    expect((await http(`${s.url}/__sandbox/health`)).status).toBe(200);
  });

  it('counts reads and writes by operation, not by HTTP verb, and resets', async () => {
    await http(`${s.url}/storage/v1/b?project=${PROJECT}`, { method: 'POST', json: { name: 'srv-stats' } });
    await http(`${s.url}/storage/v1/b/srv-stats/iam`);
    await http(`${s.url}/v3/projects/${PROJECT}:getIamPolicy`, { method: 'POST', json: {} });
    await http(`${s.url}/v1/projects/${PROJECT}/secrets?secretId=srv`, { method: 'POST', json: { replication: { automatic: {} } } });
    await http(`${s.url}/v1/projects/${PROJECT}/secrets/srv:addVersion`, { method: 'POST', json: { payload: { data: 'eA==' } } });
    await http(`${s.url}/v1/projects/${PROJECT}/secrets/srv/versions/latest:access`);
    const stats = (await http(`${s.url}/__sandbox/stats`)).body;
    expect(stats).toEqual({
      total: 6, reads: 3, writes: 3, faults: 0,
      byApi: {
        storage: { 'buckets.insert': 1, 'buckets.getIamPolicy': 1 },
        resourcemanager: { 'projects.getIamPolicy': 1 },
        secretmanager: { 'secrets.create': 1, 'secrets.addVersion': 1, 'versions.access': 1 },
      },
    });
    await http(`${s.url}/__sandbox/reset-stats`, { method: 'POST' });
    expect((await http(`${s.url}/__sandbox/stats`)).body.total).toBe(0);
  });

  it('keeps a request log and dumps its state', async () => {
    await http(`${s.url}/storage/v1/b/srv-log`);
    const log = (await http(`${s.url}/__sandbox/requests?limit=1`)).body.requests;
    expect(log).toEqual([expect.objectContaining({ method: 'GET', path: '/storage/v1/b/srv-log', api: 'storage', op: 'buckets.get', status: 404 })]);
    const state = (await http(`${s.url}/__sandbox/state`)).body;
    expect(Object.keys(state.buckets)).toContain('srv-stats');
  });

  it('injects faults at run time, in Google\'s format, only on the APIs named', async () => {
    const config = await http(`${s.url}/__sandbox/config`, { method: 'PUT', json: { faultRate: 1, faultApis: ['bigquery'], faultStatuses: [429], seed: 7 } });
    expect(config.body).toMatchObject({ faultRate: 1, faultApis: ['bigquery'] });
    try {
      const limited = await http(`${s.url}/bigquery/v2/projects/${PROJECT}/datasets`);
      expect(limited.status).toBe(429);
      expect(limited.body.error).toMatchObject({ code: 429, status: 'RESOURCE_EXHAUSTED', errors: [{ reason: 'rateLimitExceeded' }] });
      expect((await http(`${s.url}/storage/v1/b/srv-stats`)).status).toBe(200);
      await http(`${s.url}/__sandbox/config`, { method: 'PUT', json: { faultStatuses: [503] } });
      const down = await http(`${s.url}/bigquery/v2/projects/${PROJECT}/datasets`);
      expect(down.body.error).toMatchObject({ code: 503, errors: [{ reason: 'backendError' }] });
      expect(s.sandbox.stats.snapshot().faults).toBe(2);
    } finally {
      await http(`${s.url}/__sandbox/config`, { method: 'PUT', json: { faultRate: 0, faultApis: [], faultStatuses: [429, 503] } });
    }
  });

  it('injects a share of faults close to the rate asked for, reproducibly from a seed', async () => {
    const run = async () => {
      s.sandbox.faults.update({ faultRate: 0.3, seed: 42 });
      const statuses = [];
      for (let i = 0; i < 200; i++) statuses.push((await http(`${s.url}/v3/projects/${PROJECT}`)).status);
      s.sandbox.faults.update({ faultRate: 0 });
      return statuses;
    };
    const first = await run();
    const share = first.filter((x) => x !== 200).length / first.length;
    expect(share).toBeGreaterThan(0.2);
    expect(share).toBeLessThan(0.4);
    expect(await run()).toEqual(first);
  });

  it('adds the configured latency to every API request, not to the control plane', async () => {
    s.sandbox.faults.update({ latencyMs: 50 });
    try {
      await http(`${s.url}/v3/projects/${PROJECT}`);
      await http(`${s.url}/__sandbox/stats`);
      const [logged] = s.sandbox.stats.requests(1);
      expect(logged).toMatchObject({ op: 'projects.get', status: 200 });
      expect(logged!.durationMs).toBeGreaterThanOrEqual(49.5); // a lower bound the sandbox guarantees, not a speed claim
    } finally {
      s.sandbox.faults.update({ latencyMs: 0 });
    }
  });

  it('can leave a request unanswered, as a timeout', async () => {
    s.sandbox.faults.update({ timeoutRate: 1 });
    try {
      const outcome = await fetch(`${s.url}/v3/projects/${PROJECT}`, { signal: AbortSignal.timeout(300) }).then(() => 'answered', (e: Error) => e.name);
      expect(outcome).toBe('TimeoutError');
    } finally {
      s.sandbox.faults.update({ timeoutRate: 0 });
    }
  });

  it('rejects a bad fault config with 400 and keeps the old one', async () => {
    const bad = await http(`${s.url}/__sandbox/config`, { method: 'PUT', json: { faultRate: 2 } });
    expect(bad.status).toBe(400);
    expect(bad.body.error.message).toMatch(/faultRate/);
    expect((await http(`${s.url}/__sandbox/config`)).body.faultRate).toBe(0);
  });

  it('moves its clock forward on request, so resources can age without waiting', async () => {
    await http(`${s.url}/__sandbox/config`, { method: 'PUT', json: { clockOffsetSeconds: 100 * 86400 } });
    const created = await http(`${s.url}/v1/projects/${PROJECT}/secrets?secretId=srv-clock`, { method: 'POST', json: { replication: { automatic: {} } } });
    await http(`${s.url}/__sandbox/config`, { method: 'PUT', json: { clockOffsetSeconds: 0 } });
    expect(Date.parse(created.body.createTime) - Date.now()).toBeGreaterThan(99 * 86400_000);
  });

  it('lets exactly one of 100 parallel creates of a bucket win; the rest get 409', async () => {
    const statuses = await Promise.all(Array.from({ length: 100 }, () =>
      http(`${s.url}/storage/v1/b?project=${PROJECT}`, { method: 'POST', json: { name: 'srv-race' } }).then((r) => r.status)));
    expect(statuses.filter((x) => x === 200)).toHaveLength(1);
    expect(statuses.filter((x) => x === 409)).toHaveLength(99);
  });

  it('lets exactly one of concurrent setIamPolicy calls with the same etag win', async () => {
    const { body: policy } = await http(`${s.url}/v3/projects/${PROJECT}:getIamPolicy`, { method: 'POST', json: {} });
    const statuses = await Promise.all(Array.from({ length: 20 }, (_, i) =>
      http(`${s.url}/v3/projects/${PROJECT}:setIamPolicy`, {
        method: 'POST', json: { policy: { etag: policy.etag, bindings: [...policy.bindings, { role: 'roles/viewer', members: [`user:u${i}@example.com`] }] } },
      }).then((r) => r.status)));
    expect(statuses.filter((x) => x === 200)).toHaveLength(1);
    expect(statuses.filter((x) => x === 409)).toHaveLength(19);
  });
});

describe('sandbox state and seeds', () => {
  it('keeps its state across a restart with a state file', async () => {
    const statePath = join(mkdtempSync(join(tmpdir(), 'jme-state-')), 'state.json');
    const first = await startSandbox({ statePath });
    await http(`${first.url}/storage/v1/b?project=${PROJECT}`, { method: 'POST', json: { name: 'kept-bucket', labels: { a: 'b' } } });
    await first.close();
    expect(JSON.parse(readFileSync(statePath, 'utf8')).buckets['kept-bucket']).toBeDefined();
    const second = await startSandbox({ statePath });
    try {
      expect((await http(`${second.url}/storage/v1/b/kept-bucket`)).body.labels).toEqual({ a: 'b' });
    } finally {
      await second.close();
    }
  });

  it('creates everything a YAML seed lists, through the API rules', async () => {
    const seed = `
projects:
  - projectId: seeded-project
    projectNumber: "555555555555"
    iamPolicy: {bindings: [{role: roles/owner, members: ["user:me@example.com"]}]}
    buckets: [{name: seeded-bucket, location: EU, labels: {team: data}, objects: [a.txt]}]
    datasets: [{datasetId: seeded_ds, location: EU, tables: [t1]}]
    secrets:
      - secretId: seeded-secret
        labels: {env: staging}
        versions: [{data: old, state: DISABLED, createTime: "2020-01-01T00:00:00Z"}, {data: new}]
    instances: [{name: seeded-vm, zone: ${ZONE}, serviceAccount: vm@seeded-project.iam.gserviceaccount.com, metadata: {k: v}}]
`;
    const sandbox = await startSandbox({ seed });
    try {
      const p = sandbox.store.data.projects['seeded-project']!;
      expect(p.projectNumber).toBe('555555555555');
      expect(sandbox.store.data.buckets['seeded-bucket']!.resource.location).toBe('EU');
      expect(Object.keys(sandbox.store.data.buckets['seeded-bucket']!.objects)).toEqual(['a.txt']);
      expect(p.datasets.seeded_ds!.tables).toEqual(['t1']);
      expect(p.secrets['seeded-secret']!.versions.map((v) => [v.resource.state, v.resource.createTime])).toEqual([
        ['DISABLED', '2020-01-01T00:00:00Z'], ['ENABLED', expect.any(String)]]);
      expect((p.instances[`${ZONE}/seeded-vm`]!.resource.metadata as { items: unknown[] }).items).toEqual([{ key: 'k', value: 'v' }]);
      expect(sandbox.stats.snapshot().total).toBe(0);
    } finally {
      await sandbox.close();
    }
  });

  it('refuses a seed that breaks an API rule, naming it', async () => {
    await expect(startSandbox({ seed: { projects: [{ projectId: 'p-bad', buckets: [{ name: 'BAD NAME' }] }] } })).rejects.toThrow(/seed: bucket BAD NAME: Invalid bucket name/);
  });
});
