/**
 * Isolation on every path: a write that meets a 409/412 re-reads that resource and re-plans it, so a
 * resource that stopped being ours in between gets zero writes; lost answers converge without duplicates.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { loadManifests, type LoadedEnvironment } from '../../src/api/manifests.js';
import { silentLogger } from '../../src/engine/action-log.js';
import { PlanExecutor } from '../../src/engine/execute.js';
import { observeEnvironment, observeResource } from '../../src/engine/observe.js';
import { reconcileEnvironment } from '../../src/engine/reconcile.js';
import { connect } from '../../src/engine/connection.js';
import { KINDS } from '../../src/kinds/registry.js';
import { createGcpClients } from '../../src/gcp/clients.js';
import { GcpCaller } from '../../src/gcp/gcp-caller.js';
import { diff, planResource } from '../../src/plan/diff.js';
import type { FaultRule } from '../../src/sandbox/faults.js';
import { PROJECT, useSandbox } from '../support/sandbox.js';
import { allOutput, engine, FAST_RETRY } from '../support/engine.js';
import { exampleText, mutated, NO_VM } from '../support/manifests.js';

const s = useSandbox();
const BUCKET = 'jobmatch-staging-bronze-job-match-v0';
const PG = 'jobmatch-staging-postgres-password';
const OURS = { 'jobmatch-environment': 'staging', 'managed-by': 'jobmatch-operator' };

function load(text: string): LoadedEnvironment {
  const { environments, errors } = loadManifests([{ file: 's', text }]);
  expect(errors).toEqual([]);
  return environments[0]!;
}

beforeEach(async () => {
  s.sandbox.store.data = { projects: {}, buckets: {}, serial: 0 };
  s.sandbox.faults.update({ faultRules: [] });
  s.sandbox.stats.reset();
});

/** Plans from the sandbox as it is now, lets `meanwhile` change it, then executes that plan with the engine's re-plan. */
async function planThenExecute(env: LoadedEnvironment, meanwhile: () => Promise<unknown>) {
  const caller = new GcpCaller({ retry: FAST_RETRY });
  const conn = connect(KINDS, createGcpClients({ projectId: PROJECT, endpoint: s.url }), PROJECT, caller);
  const observed = await observeEnvironment(env.spec, conn, new Date());
  const plan = diff(env.spec, observed, KINDS);
  await meanwhile();
  s.sandbox.stats.reset();
  let latest = observed;
  const replan = async (id: string) => planResource(env.spec, (latest = await observeResource(env.spec, conn, latest, id)), KINDS, id);
  const results = await new PlanExecutor(conn, replan, { conflictBackoffMs: 1 }).execute(plan);
  return { plan, results };
}

const writes = (fragment: string) => s.sandbox.stats.requests().filter((r) => r.path.includes(fragment) && r.method !== 'GET' && !r.op?.includes('getIamPolicy'));

describe('a re-read re-plans the resource', () => {
  it('does not write an adopt patch once the bucket was labelled for another environment in between (412 → conflict)', async () => {
    await fetch(`${s.url}/__sandbox/seed`, { method: 'POST', body: JSON.stringify({ projects: [{ projectId: PROJECT, buckets: [{ name: BUCKET, location: 'EU' }] }] }) });
    const env = load(mutated((d) => (d.spec.policy.adoptExisting = true), 'staging', NO_VM));
    const { plan, results } = await planThenExecute(env, () => s.clients.storage.bucket(BUCKET).setMetadata({ labels: { 'jobmatch-environment': 'prod' } }));
    expect(plan.actions.find((a) => a.id === `Bucket/${BUCKET}`)!.verb).toBe('adopt');
    expect(results.get(`Bucket/${BUCKET}`)).toMatchObject({ outcome: 'conflict', error: expect.stringContaining('jobmatch-environment=prod') });
    expect(writes(BUCKET).filter((r) => r.status < 400)).toEqual([]);
    expect(results.get(`IAMBinding/bucket/${BUCKET} roles/storage.objectAdmin serviceAccount:jobmatch-staging-vm@job-match-v0.iam.gserviceaccount.com`)).toMatchObject({ outcome: 'conflict' });
    expect((await s.clients.storage.bucket(BUCKET).getMetadata())[0].labels).toEqual({ 'jobmatch-environment': 'prod' });
  });

  it('a create that meets 409 on a resource that is not ours is a conflict, and its IAM never runs', async () => {
    const env = load(exampleText('staging', NO_VM));
    const { results } = await planThenExecute(env, () => s.clients.secrets.createSecret({
      parent: `projects/${PROJECT}`, secretId: PG, secret: { replication: { automatic: {} }, labels: { 'jobmatch-environment': 'prod' } },
    }));
    expect(results.get(`Secret/${PG}`)).toMatchObject({ outcome: 'conflict' });
    expect(results.get('IAMBinding/secret/POSTGRES_PASSWORD roles/secretmanager.secretAccessor serviceAccount:jobmatch-staging-vm@job-match-v0.iam.gserviceaccount.com'))
      .toMatchObject({ outcome: 'conflict' });
    expect(writes(PG).filter((r) => r.status < 400)).toEqual([]);
  });

  it('a create that meets 409 on a resource another replica of this environment made continues from the fresh read', async () => {
    const env = load(exampleText('staging', NO_VM));
    const { results } = await planThenExecute(env, () => s.clients.storage.createBucket(BUCKET, { location: 'EU', labels: OURS }));
    expect(results.get(`Bucket/${BUCKET}`)).toMatchObject({ outcome: 'ok' });
    const [md] = await s.clients.storage.bucket(BUCKET).getMetadata();
    expect(md.versioning?.enabled).toBe(true);
    expect(md.labels).toMatchObject({ ...OURS, team: 'data', 'jobmatch-deletion-policy': 'retain' });
  });

  it('a secret label patch carries the etag: a change in between is re-read, never overwritten', async () => {
    await fetch(`${s.url}/__sandbox/seed`, { method: 'POST', body: JSON.stringify({ projects: [{ projectId: PROJECT, secrets: [{ secretId: PG, labels: OURS, versions: [{ data: 'dGVzdA==' }] }] }] }) });
    const env = load(exampleText('staging', NO_VM));
    const name = `projects/${PROJECT}/secrets/${PG}`;
    const { results } = await planThenExecute(env, () => s.clients.secrets.updateSecret({ secret: { name, labels: { ...OURS, owner: 'me' } }, updateMask: { paths: ['labels'] } }));
    expect(results.get(`Secret/${PG}`)).toMatchObject({ outcome: 'ok' });
    expect((await s.clients.secrets.getSecret({ name }))[0].labels).toEqual({ ...OURS, owner: 'me', 'jobmatch-deletion-policy': 'retain' });
  });
});

describe('lost answers (the write landed, the answer did not)', () => {
  const lose = (operation: string): FaultRule => ({ operation, phase: 'after', status: 503, times: 1 });
  const versions = async (id: string) => (await s.clients.secrets.listSecretVersions({ parent: `projects/${PROJECT}/secrets/${id}` }))[0];

  it.each(['buckets.insert', 'datasets.insert', 'secrets.create', 'secrets.setIamPolicy', 'projects.setIamPolicy'])('converges after a lost %s answer, with no duplicate', async (operation) => {
    s.sandbox.faults.update({ faultRules: [lose(operation)] });
    const apply = await engine('apply', s.url, exampleText('staging', NO_VM));
    expect(apply.code, apply.stdout).toBe(0);
    expect(s.sandbox.stats.snapshot().faults).toBe(1);
    expect((await versions(PG)).length).toBe(1);
    expect((await engine('plan', s.url, exampleText('staging', NO_VM))).code).toBe(0);
  });

  it('a lost addVersion answer leaves exactly one new version: never retried, and the next apply adds none', async () => {
    s.sandbox.faults.update({ faultRules: [{ ...lose('secrets.addVersion'), resource: PG }] });
    const first = await engine('apply', s.url, exampleText('staging', NO_VM));
    expect(first.code).toBe(1);
    expect((await versions(PG)).length).toBe(1);
    const second = await engine('apply', s.url, exampleText('staging', NO_VM));
    expect(second.code, second.stdout).toBe(0);
    expect((await versions(PG)).length).toBe(1);
  });
});

describe('several applies of one environment at once', () => {
  it('end with one secret version each, and none both fails and claims success', async () => {
    const runs = await Promise.all([1, 2, 3].map(() => engine('apply', s.url, exampleText('staging', NO_VM))));
    for (const run of runs) {
      if (run.code !== 0) expect(run.stdout).not.toMatch(/Apply complete/);
      else expect(run.stdout).toMatch(/Apply complete, but 2 secrets still need a value/);
    }
    expect(runs.filter((r) => r.code === 0).length).toBeGreaterThanOrEqual(1);
    expect((await s.clients.storage.getBuckets())[0].map((b) => b.name)).toEqual([BUCKET]);
    expect((await engine('plan', s.url, exampleText('staging', NO_VM))).code).toBe(0);
  });
});

describe('the run deadline', () => {
  it('cancels a reconcile: calls in flight are abandoned and reported, nothing new starts', async () => {
    s.sandbox.faults.update({ latencyMs: 2000 });
    const controller = new AbortController();
    const caller = new GcpCaller({ retry: FAST_RETRY });
    const started = Date.now();
    setTimeout(() => controller.abort(new Error('deadline')), 100);
    const report = await reconcileEnvironment(load(exampleText('staging', NO_VM)), 'apply', {
      caller, clientsFor: (p) => createGcpClients({ projectId: p, endpoint: s.url }), logger: silentLogger(), signal: controller.signal,
    });
    s.sandbox.faults.update({ latencyMs: 0 });
    expect(report.cancelled).toBe(true);
    expect(report.results).toBeUndefined();
    expect(Date.now() - started).toBeLessThan(1500);
    expect(Object.values(report.observeErrors).every((e) => /CANCELLED|deadline/.test(e))).toBe(true);
    allOutput.push(JSON.stringify(report));
  });
});
