import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import type { SeedDocument } from '../../src/sandbox/seed.js';
import { PROJECT, useSandbox } from '../support/sandbox.js';
import { allOutput, engine } from '../support/engine.js';
import { leaks } from '../support/leaks.js';
import { exampleText, mutated, NO_VM } from '../support/manifests.js';

const s = useSandbox();
const staging = exampleText('staging', NO_VM);
const BUCKET = 'jobmatch-staging-bronze-job-match-v0';
const PG = 'jobmatch-staging-postgres-password';
const DAY = 86_400_000;
const OURS = { 'jobmatch-environment': 'staging', 'managed-by': 'jobmatch-operator' };

/** Every generated value the sandbox ever stored in this file (seeded test values are shorter than 16). */
const generated: string[] = [];
function harvestGenerated() {
  for (const p of Object.values(s.sandbox.store.data.projects)) {
    for (const secret of Object.values(p.secrets)) {
      for (const v of secret.versions) {
        const value = Buffer.from(v.data, 'base64').toString();
        if (value.length >= 16) generated.push(value);
      }
    }
  }
}

async function fresh(seed?: SeedDocument) {
  harvestGenerated();
  s.sandbox.store.data = { projects: {}, buckets: {}, serial: 0 };
  s.sandbox.faults.update({ faultRate: 0, timeoutRate: 0, faultApis: [], faultStatuses: [429, 503], latencyMs: 0 });
  if (seed) await fetch(`${s.url}/__sandbox/seed`, { method: 'POST', body: JSON.stringify(seed) });
  s.sandbox.stats.reset();
}

const writesTo = (fragment: string) => s.sandbox.stats.requests().filter((r) => r.path.includes(fragment) && !['GET'].includes(r.method) && !r.op?.includes('getIamPolicy'));
const versionsOf = async (id: string) => (await s.clients.secrets.listSecretVersions({ parent: `projects/${PROJECT}/secrets/${id}` }))[0];

beforeEach(() => fresh());

afterAll(() => {
  harvestGenerated();
  expect(generated.length).toBeGreaterThan(10);
  const everything = allOutput.join('\n');
  expect(leaks(generated, everything)).toEqual([]);
});

describe('isolation and adoption', () => {
  it("never writes to a resource labelled for another environment: Conflict, and its bindings too", async () => {
    await fresh({ projects: [{ projectId: PROJECT, buckets: [{ name: BUCKET, location: 'EU', labels: { 'jobmatch-environment': 'prod' } }], secrets: [{ secretId: PG, labels: { 'jobmatch-environment': 'prod' } }] }] });
    const plan = await engine('plan', s.url, staging, { output: 'json' });
    const actions = JSON.parse(plan.stdout).environments[0].actions as { kind: string; name: string; verb: string; message?: string }[];
    expect(actions.find((a) => a.name === BUCKET)).toMatchObject({ verb: 'conflict', message: expect.stringMatching(/jobmatch-environment=prod/) });
    expect(actions.find((a) => a.name === PG)).toMatchObject({ verb: 'conflict' });
    expect(actions.filter((a) => a.kind === 'IAMBinding' && a.verb === 'conflict').map((a) => a.name.split(' ')[0])).toEqual(['secret/POSTGRES_PASSWORD', `bucket/${BUCKET}`]);
    s.sandbox.stats.reset();
    const apply = await engine('apply', s.url, staging);
    expect(apply.code).toBe(1);
    expect(writesTo(BUCKET)).toEqual([]);
    expect(writesTo(PG)).toEqual([]);
    expect(s.sandbox.stats.snapshot().writes).toBeGreaterThan(5);
  });

  it('never adopts an unlabelled resource unless told: Conflict with the fix, zero writes to it', async () => {
    await fresh({ projects: [{ projectId: PROJECT, datasets: [{ datasetId: 'staging_silver', location: 'EU', description: 'Silver layer (staging)' }] }] });
    const plan = await engine('plan', s.url, staging);
    expect(plan.code).toBe(1);
    expect(plan.stdout).toMatch(/! Dataset staging_silver \(conflict\)\n\s+exists, not managed by this operator: set spec.policy.adoptExisting: true to adopt it/);
    const apply = await engine('apply', s.url, staging);
    expect(apply.code).toBe(1);
    expect(writesTo('datasets/staging_silver')).toEqual([]);
  });

  it('adopts an unlabelled resource with adoptExisting: labels added, logged as adopt', async () => {
    await fresh({ projects: [{ projectId: PROJECT, datasets: [{ datasetId: 'staging_silver', location: 'EU', description: 'Silver layer (staging)' }] }] });
    const apply = await engine('apply', s.url, mutated((d) => (d.spec.policy.adoptExisting = true), 'staging', NO_VM));
    expect(apply.code).toBe(0);
    expect(apply.logLines.find((l) => l.name === 'staging_silver' && l.event === 'action')).toMatchObject({ verb: 'adopt', outcome: 'ok' });
    const [md] = await s.clients.bigquery.dataset('staging_silver').getMetadata();
    expect(md.labels).toMatchObject({ 'jobmatch-environment': 'staging', 'managed-by': 'jobmatch-operator', 'jobmatch-deletion-policy': 'retain', layer: 'silver' });
  });

  it('reports a moved location as a Conflict needing replacement, and never deletes', async () => {
    await fresh({ projects: [{ projectId: PROJECT, buckets: [{ name: BUCKET, location: 'US', labels: OURS }] }] });
    const plan = await engine('plan', s.url, staging);
    expect(plan.stdout).toMatch(new RegExp(`! Bucket ${BUCKET} \\(conflict\\)[\\s\\S]*location\\s+"US" → "EU"[\\s\\S]*requires replacement`));
    await engine('apply', s.url, staging);
    expect(writesTo(BUCKET)).toEqual([]);
  });

  it('reports orphans (labelled for this environment, not declared) and keeps them', async () => {
    await fresh({ projects: [{ projectId: PROJECT, secrets: [{ secretId: 'jobmatch-staging-old-key', labels: OURS }] }] });
    const plan = await engine('plan', s.url, staging);
    expect(plan.stdout).toMatch(/\? Secret jobmatch-staging-old-key \(orphan, retained\)/);
    await engine('apply', s.url, staging);
    expect((await s.clients.secrets.getSecret({ name: `projects/${PROJECT}/secrets/jobmatch-staging-old-key` }))[0].name).toBeDefined();
  });
});

describe('deletion policy', () => {
  const DELETE = { ...OURS, 'jobmatch-deletion-policy': 'delete' };
  it('deletes empty orphans recorded delete, keeps one that holds data (Conflict) and ones recorded retain', async () => {
    await fresh({ projects: [{
      projectId: PROJECT,
      buckets: [{ name: 'jobmatch-staging-empty', location: 'EU', labels: DELETE }, { name: 'jobmatch-staging-full', location: 'EU', labels: DELETE, objects: ['a.json', 'b.json'] },
        { name: 'jobmatch-staging-kept', location: 'EU', labels: { ...OURS, 'jobmatch-deletion-policy': 'retain' } }],
      datasets: [{ datasetId: 'staging_old', location: 'EU', labels: DELETE }],
      secrets: [{ secretId: 'jobmatch-staging-old', labels: DELETE }],
    }] });
    const plan = await engine('plan', s.url, staging);
    expect(plan.stdout).toMatch(/- Bucket jobmatch-staging-empty \(orphan, deletionPolicy delete\)/);
    expect(plan.stdout).toMatch(/! Bucket jobmatch-staging-full \(conflict\)\n.*holds 2 objects: empty it/);
    expect(plan.stdout).toMatch(/\? Bucket jobmatch-staging-kept \(orphan, retained\)/);
    const apply = await engine('apply', s.url, staging);
    expect(apply.code).toBe(1); // the full bucket stays in conflict
    const buckets = (await s.clients.storage.getBuckets())[0].map((b) => b.name).sort();
    expect(buckets).toEqual(['jobmatch-staging-bronze-job-match-v0', 'jobmatch-staging-full', 'jobmatch-staging-kept']);
    expect((await s.clients.bigquery.dataset('staging_old').exists())[0]).toBe(false);
    expect(await s.clients.secrets.getSecret({ name: `projects/${PROJECT}/secrets/jobmatch-staging-old` }).catch((e: { code: number }) => e.code)).toBe(404);
    const kept = (await s.clients.storage.bucket('jobmatch-staging-kept').getMetadata())[0];
    expect(kept.labels).toEqual({ ...OURS, 'jobmatch-deletion-policy': 'retain' });
  });

  it('never deletes what is not ours by the full rule, whatever its deletion label says', async () => {
    await fresh({ projects: [{ projectId: PROJECT, secrets: [{ secretId: 'jobmatch-staging-old', labels: { 'jobmatch-environment': 'staging', 'jobmatch-deletion-policy': 'delete' } }] }] });
    await engine('apply', s.url, staging);
    expect(writesTo('jobmatch-staging-old')).toEqual([]);
  });
});

describe('several environments', () => {
  it('applies staging and prod at once: both project grants land in the one shared policy', async () => {
    const both = `${staging}\n---\n${exampleText('prod', NO_VM)}`;
    const apply = await engine('apply', s.url, both);
    expect(apply.code, apply.stdout).toBe(0);
    const [policy] = await s.clients.projects.getIamPolicy({ resource: `projects/${PROJECT}` });
    expect(policy.bindings?.find((b) => b.role === 'roles/bigquery.jobUser')?.members?.sort()).toEqual([
      'serviceAccount:jobmatch-prod-vm@job-match-v0.iam.gserviceaccount.com', 'serviceAccount:jobmatch-staging-vm@job-match-v0.iam.gserviceaccount.com']);
    // one write, or two if prod's edit arrived after staging's had started: never a lost race (409)
    expect(s.sandbox.stats.snapshot().byApi.resourcemanager?.['projects.setIamPolicy']).toBeLessThanOrEqual(2);
    expect(s.sandbox.stats.requests().filter((r) => r.status === 409)).toEqual([]);
    expect((await engine('plan', s.url, both)).code).toBe(0);
  });
});

describe('policies', () => {
  it('policy.drift: Report plans and reports, and apply writes nothing', async () => {
    const report = mutated((d) => (d.spec.policy.drift = 'Report'), 'staging', NO_VM);
    const apply = await engine('apply', s.url, report);
    expect(apply.code).toBe(0);
    expect(s.sandbox.stats.snapshot().writes).toBe(0);
    expect(apply.stdout).toMatch(/policy.drift is Report: drift is reported, never healed/);
    expect(apply.stdout).toMatch(/create Bucket .*: skipped: policy.drift is Report/);
  });

  it('policy.suspend observes nothing and changes nothing', async () => {
    const apply = await engine('apply', s.url, mutated((d) => (d.spec.policy.suspend = true), 'staging', NO_VM));
    expect(apply.code).toBe(0);
    expect(apply.stdout).toMatch(/suspended/);
    expect(s.sandbox.stats.snapshot().total).toBe(0);
  });

  it('rotates a generated secret past rotationDays: a new version, the previous kept, older ones disabled', async () => {
    const ago = (days: number) => new Date(Date.now() - days * DAY).toISOString();
    await fresh({ projects: [{ projectId: PROJECT, secrets: [{ secretId: PG, labels: { 'jobmatch-environment': 'staging', 'managed-by': 'jobmatch-operator' }, versions: [{ data: 'a', createTime: ago(300) }, { data: 'b', createTime: ago(120) }] }] }] });
    const plan = await engine('plan', s.url, staging);
    expect(plan.stdout).toMatch(/rotation\s+"newest enabled version 2 is 120 days old \(rotationDays 90\)" → "a new generated version; version 2 stays enabled; versions 1 disabled"/);
    await engine('apply', s.url, staging);
    expect((await versionsOf(PG)).map((v) => [v.name!.split('/').pop(), v.state])).toEqual([['3', 'ENABLED'], ['2', 'ENABLED'], ['1', 'DISABLED']]);
    s.sandbox.stats.reset();
    await engine('apply', s.url, staging);
    expect(s.sandbox.stats.snapshot().writes).toBe(0);
  });

  it('never writes a value for an external secret: Pending, with the command to run', async () => {
    const plan = await engine('plan', s.url, staging, { output: 'json' });
    const llm = JSON.parse(plan.stdout).environments[0].actions.find((a: { name: string }) => a.name === 'jobmatch-staging-llm-api-key');
    expect(llm.pending).toBe(`printf '%s' "$VALUE" | gcloud secrets versions add jobmatch-staging-llm-api-key --data-file=- --project=${PROJECT}`);
    await engine('apply', s.url, staging);
    expect(await versionsOf('jobmatch-staging-llm-api-key')).toEqual([]);
  });
});

describe('faults', () => {
  it('converges through injected 429/503s with bounded retries', async () => {
    s.sandbox.faults.update({ faultRate: 0.25, seed: 3 });
    // which request meets which fault depends on timing; 10 attempts make a call failing throughout (0.25^10) negligible
    const apply = await engine('apply', s.url, staging, { retry: { baseDelayMs: 1, maxDelayMs: 5, timeoutMs: 5000, attempts: 10 } });
    expect(apply.code, apply.stdout).toBe(0);
    expect(s.sandbox.stats.snapshot().faults).toBeGreaterThan(5);
    expect(apply.caller.counts.retries).toBeGreaterThan(5);
    s.sandbox.faults.update({ faultRate: 0 });
    expect((await engine('plan', s.url, staging)).code).toBe(0);
  });

  it('converges through requests that never get an answer (client timeouts)', async () => {
    s.sandbox.faults.update({ timeoutRate: 0.1, seed: 5 });
    const apply = await engine('apply', s.url, staging, { retry: { baseDelayMs: 1, maxDelayMs: 5, timeoutMs: 400, attempts: 8 } });
    expect(apply.code, apply.stdout).toBe(0);
    s.sandbox.faults.update({ timeoutRate: 0 });
    expect((await engine('plan', s.url, staging)).code).toBe(0);
  });

  it('names the missing permission and the resource on a 403, and plans the other resources anyway', async () => {
    s.sandbox.faults.update({ faultRate: 1, faultApis: ['storage'], faultStatuses: [403] });
    const plan = await engine('plan', s.url, staging, { output: 'json' });
    expect(plan.code).toBe(1);
    const actions = JSON.parse(plan.stdout).environments[0].actions as { kind: string; verb: string; message?: string }[];
    expect(actions.find((a) => a.kind === 'Bucket')).toMatchObject({
      verb: 'error',
      message: expect.stringContaining(`the operator's identity lacks storage.buckets.get on projects/_/buckets/${BUCKET}`),
    });
    expect(actions.filter((a) => a.kind === 'Dataset' || a.kind === 'Secret').every((a) => a.verb === 'create')).toBe(true);
  });

  it('converges after an apply that failed midway, with no duplicate and no extra secret version', async () => {
    s.sandbox.faults.update({ faultRate: 0.5, faultApis: ['secretmanager', 'bigquery'], seed: 11 });
    const broken = await engine('apply', s.url, staging, { retry: { attempts: 1, baseDelayMs: 1 } });
    expect(broken.code).toBe(1);
    s.sandbox.faults.update({ faultRate: 0 });
    const second = await engine('apply', s.url, staging);
    expect(second.code, second.stdout).toBe(0);
    for (const id of [PG, 'jobmatch-staging-django-secret-key']) expect((await versionsOf(id)).length).toBe(1);
    const [datasets] = await s.clients.bigquery.getDatasets();
    expect(datasets.map((d) => d.id)).toEqual(['staging_gold', 'staging_silver']);
    expect((await engine('plan', s.url, staging)).code).toBe(0);
  });
});
