/** Saved plans: `plan -o json > p.json`, then `apply --plan p.json` applies exactly what was reviewed, or refuses what moved. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { digestOf } from '../../src/api/canonical-json.js';
import { runReconcile } from '../../src/cli/reconcile-command.js';
import { engine, FAST_RETRY } from '../support/engine.js';
import { leaks } from '../support/leaks.js';
import { exampleText, NO_VM } from '../support/manifests.js';
import { useSandbox } from '../support/sandbox.js';

const s = useSandbox();
const dir = mkdtempSync(join(tmpdir(), 'jme-saved-plan-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const BUCKET = 'jobmatch-staging-bronze-job-match-v0';
const staging = exampleText('staging', NO_VM);

beforeEach(() => {
  s.sandbox.store.data = { projects: {}, buckets: {}, serial: 0 };
});

async function savePlan(name: string): Promise<{ path: string; json: any }> {
  const plan = await engine('plan', s.url, staging, { output: 'json' });
  const path = join(dir, `${name}.json`);
  writeFileSync(path, plan.stdout);
  return { path, json: JSON.parse(plan.stdout) };
}

async function applyPlan(path: string) {
  let stdout = '';
  let stderr = '';
  const run = await runReconcile({ stdout: (t) => (stdout += t), stderr: (t) => (stderr += t), stdin: Readable.from([]), env: {} },
    'apply', { plan: path, gcpEndpoint: s.url, retry: FAST_RETRY, logLevel: 'silent' });
  return { ...run, stdout, stderr };
}

const stepCount = (json: any) => json.environments[0].actions.reduce((n: number, a: any) => n + a.steps.length, 0);

describe('a saved plan', () => {
  it('applies exactly what was reviewed: its steps and nothing else, then the environment is in sync', async () => {
    const { path, json } = await savePlan('cold');
    expect(json.environments[0].manifest.metadata.name).toBe('staging');
    s.sandbox.stats.reset();
    const apply = await applyPlan(path);
    expect(apply.code, apply.stdout).toBe(0);
    const writeOps = Object.values(s.sandbox.stats.snapshot().byApi).flatMap((ops) => Object.entries(ops))
      .filter(([op]) => /insert|create|addVersion|setIamPolicy|patch/.test(op)).reduce((n, [, c]) => n + c, 0);
    expect(writeOps).toBe(stepCount(json));
    expect((await engine('plan', s.url, staging)).code).toBe(0);
    const values = Object.values(s.sandbox.store.data.projects).flatMap((p) => Object.values(p.secrets)).flatMap((x) => x.versions.map((v) => Buffer.from(v.data, 'base64').toString()));
    expect(leaks(values, JSON.stringify(json) + apply.stdout + apply.stderr)).toEqual([]);
  });

  it('refuses a step whose precondition moved since the plan (metageneration), with zero writes to it', async () => {
    await engine('apply', s.url, staging);
    await s.clients.storage.bucket(BUCKET).setMetadata({ versioning: { enabled: false } });
    const { path, json } = await savePlan('drift');
    expect(json.environments[0].actions.find((a: any) => a.name === BUCKET).verb).toBe('update');
    await s.clients.storage.bucket(BUCKET).setMetadata({ labels: { team: 'ml' } }); // GCP moves on
    s.sandbox.stats.reset();
    const apply = await applyPlan(path);
    expect(apply.code).toBe(1);
    expect(apply.stdout).toMatch(/GCP changed since this plan was made/);
    expect(s.sandbox.stats.requests().filter((r) => r.path.includes(BUCKET) && r.method === 'PATCH' && r.status < 400)).toEqual([]);
    expect((await s.clients.storage.bucket(BUCKET).getMetadata())[0].labels?.team).toBe('ml');
  });

  it('refuses a create when the resource appeared since the plan, never adopting it', async () => {
    const { path } = await savePlan('appeared');
    await s.clients.storage.createBucket(BUCKET, { location: 'EU' });
    const apply = await applyPlan(path);
    expect(apply.code).toBe(1);
    expect(apply.reports[0]!.results![`Bucket/${BUCKET}`]).toMatchObject({ outcome: 'conflict', error: expect.stringContaining('GCP changed since this plan was made') });
    expect((await s.clients.storage.bucket(BUCKET).getMetadata())[0].labels ?? {}).toEqual({});
  });

  describe('trust: a saved plan is untrusted input', () => {
    const VM_SA = 'jobmatch-staging-vm@job-match-v0.iam.gserviceaccount.com';
    const bucketIamWrites = () => s.sandbox.stats.requests().filter((r) => r.path.includes(`/b/${BUCKET}/iam`) && r.method === 'PUT');
    const writes = () => s.sandbox.stats.snapshot().writes;

    /** Staging applied, then its bucket grant removed out of band: the saved plan grants it again on the bucket. */
    async function planRegrant(name: string) {
      await engine('apply', s.url, staging);
      const [policy] = await s.clients.storage.bucket(BUCKET).iam.getPolicy({ requestedPolicyVersion: 3 });
      policy.bindings = policy.bindings.filter((b) => b.role !== 'roles/storage.objectAdmin');
      await s.clients.storage.bucket(BUCKET).iam.setPolicy(policy);
      const saved = await savePlan(name);
      const grant = saved.json.environments[0].actions.find((a: any) => a.id === `IAMBinding/bucket/${BUCKET} roles/storage.objectAdmin serviceAccount:${VM_SA}`);
      expect(grant.verb).toBe('create');
      return { ...saved, grant };
    }

    it('re-checks ownership from a fresh read: a bucket relabelled for prod since the plan gets no grant (the etag did not move)', async () => {
      const { path } = await planRegrant('relabelled');
      await s.clients.storage.bucket(BUCKET).setMetadata({ labels: { 'jobmatch-environment': 'prod' } });
      s.sandbox.stats.reset();
      const apply = await applyPlan(path);
      expect(apply.code).toBe(1);
      expect(bucketIamWrites()).toEqual([]);
      expect(apply.reports[0]!.results![`IAMBinding/bucket/${BUCKET} roles/storage.objectAdmin serviceAccount:${VM_SA}`]).toMatchObject({ outcome: 'conflict', error: expect.stringContaining(`Bucket/${BUCKET} is in conflict`) });
      const [policy] = await s.clients.storage.bucket(BUCKET).iam.getPolicy();
      expect(policy.bindings.some((b) => b.role === 'roles/storage.objectAdmin')).toBe(false);
    });

    it('refuses a hand-edited step (roles/owner for an attacker) before any write', async () => {
      const { path, json, grant } = await planRegrant('tampered-step');
      grant.steps[0].add = [{ role: 'roles/owner', member: 'user:attacker@gmail.com' }];
      grant.steps[0].target = { kind: 'Project', name: 'job-match-v0', project: 'job-match-v0' };
      writeFileSync(path, JSON.stringify(json));
      s.sandbox.stats.reset();
      const apply = await applyPlan(path);
      expect(apply.code).toBe(1);
      expect(apply.reports[0]!.results![grant.id]).toMatchObject({ outcome: 'conflict', error: expect.stringContaining('plan file was edited') });
      expect(writes()).toBe(0);
    });

    it('refuses a plan whose manifest no longer matches its digest, reading and writing nothing', async () => {
      const { path, json } = await planRegrant('tampered-manifest');
      json.environments[0].manifest.spec.iam.push({ member: 'user:attacker@gmail.com', role: 'roles/storage.objectAdmin', resource: `bucket/${BUCKET}`, ensure: 'present' });
      writeFileSync(path, JSON.stringify(json));
      s.sandbox.stats.reset();
      const apply = await applyPlan(path);
      expect(apply.code).toBe(1);
      expect(apply.stderr).toMatch(/does not match its manifestDigest/);
      expect(s.sandbox.stats.snapshot().total).toBe(0);
    });

    it('holds the manifest of a plan (digest recomputed) to the IAM policy: roles/owner is refused, nothing is read or written', async () => {
      const { path, json } = await planRegrant('hostile-manifest');
      const env = json.environments[0];
      env.manifest.spec.iam.push({ member: 'user:attacker@gmail.com', role: 'roles/owner', resource: 'project', ensure: 'present' });
      env.manifestDigest = digestOf(env.manifest);
      writeFileSync(path, JSON.stringify(json));
      s.sandbox.stats.reset();
      const apply = await applyPlan(path);
      expect(apply.code).toBe(1);
      expect(apply.stderr).toMatch(/spec\.iam\[8\]\.role: roles\/owner is a basic role/);
      expect(s.sandbox.stats.snapshot().total).toBe(0);
    });
  });

  it.each([
    ['not JSON', 'kind: Pod', /cannot read it as JSON/],
    ['another document', '{"kind":"Pod"}', /not a JobMatchPlan document/],
    ['a plan without steps', '{"kind":"JobMatchPlan","environments":[{"actions":[]}]}', /no manifest or steps/],
  ])('says what is wrong with %s', async (name, text, message) => {
    const path = join(dir, `${name.replace(/\W/g, '-')}.json`);
    writeFileSync(path, text);
    const apply = await applyPlan(path);
    expect(apply.code).toBe(1);
    expect(apply.stderr).toMatch(message);
  });

  it('is an apply option, and not together with -f', async () => {
    let stderr = '';
    const io = { stdout: () => undefined, stderr: (t: string) => (stderr += t), stdin: Readable.from([staging]), env: {} };
    expect((await runReconcile(io, 'plan', { filename: ['-'], plan: 'p.json', gcpEndpoint: s.url })).code).toBe(1);
    expect((await runReconcile(io, 'apply', { filename: ['-'], plan: 'p.json', gcpEndpoint: s.url })).code).toBe(1);
    expect(stderr).toMatch(/--plan is an apply option[\s\S]*either -f manifests or --plan FILE, not both/);
  });
});
