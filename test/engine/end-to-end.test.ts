import { describe, expect, it } from 'vitest';
import { minimalReads } from '../../src/engine/observe.js';
import { KINDS } from '../../src/kinds/registry.js';
import { loadManifests } from '../../src/api/manifests.js';
import { PROJECT, useSandbox } from '../support/sandbox.js';
import { allOutput, engine } from '../support/engine.js';
import { leaks } from '../support/leaks.js';
import { exampleText, NO_VM } from '../support/manifests.js';

const s = useSandbox();
const staging = exampleText('staging', NO_VM);
const SA = 'serviceAccount:jobmatch-staging-vm@job-match-v0.iam.gserviceaccount.com';
const BUCKET = 'jobmatch-staging-bronze-job-match-v0';
const PG = `projects/${PROJECT}/secrets/jobmatch-staging-postgres-password`;

describe('plan → apply → drift → heal, against the sandbox', () => {
  it('plans a cold environment read-only (exit 2, zero writes)', async () => {
    const plan = await engine('plan', s.url, staging);
    expect(plan.code).toBe(2);
    expect(s.sandbox.stats.snapshot().writes).toBe(0);
    expect(plan.stdout).toMatch(/Plan: 15 to create, 0 to update, 0 to adopt, 0 to delete; 0 in sync; 2 pending\./);
  });

  it('applies it (exit 0), creating every resource with its labels, IAM and generated values', async () => {
    const apply = await engine('apply', s.url, staging);
    expect(apply.code, apply.stdout + apply.stderr).toBe(0);
    expect(apply.stdout).toMatch(/Apply complete/);
    const [bucket] = await s.clients.storage.bucket(BUCKET).getMetadata();
    expect(bucket).toMatchObject({ location: 'EU', versioning: { enabled: true }, labels: { team: 'data', 'jobmatch-environment': 'staging', 'managed-by': 'jobmatch-operator' } });
    expect(bucket.iamConfiguration).toMatchObject({ uniformBucketLevelAccess: { enabled: true }, publicAccessPrevention: 'enforced' });
    const [versions] = await s.clients.secrets.listSecretVersions({ parent: PG });
    expect(versions.map((v) => v.state)).toEqual(['ENABLED']);
    const [llm] = await s.clients.secrets.listSecretVersions({ parent: `projects/${PROJECT}/secrets/jobmatch-staging-llm-api-key` });
    expect(llm).toEqual([]);
    const [policy] = await s.clients.secrets.getIamPolicy({ resource: PG });
    expect(policy.bindings).toEqual([expect.objectContaining({ role: 'roles/secretmanager.secretAccessor', members: [SA] })]);
    const [silver] = await s.clients.bigquery.dataset('staging_silver').getMetadata();
    expect(silver.access).toContainEqual({ role: 'WRITER', userByEmail: 'jobmatch-staging-vm@job-match-v0.iam.gserviceaccount.com' });
    const actions = apply.logLines.filter((l) => l.event === 'action' && l.outcome === 'ok');
    expect(actions).toHaveLength(13);
    expect(actions[0]).toMatchObject({ environment: 'staging', object: 'jobmatch/staging', dryRun: false, verb: 'create', kind: 'Bucket', name: 'jobmatch-staging-bronze-job-match-v0', changes: expect.any(Array), durationMs: expect.any(Number), time: expect.any(String) });
  });

  it('then plans in sync (exit 0) with reads only, exactly the minimal count', async () => {
    const plan = await engine('plan', s.url, staging);
    expect(plan.code).toBe(0);
    const stats = s.sandbox.stats.snapshot();
    expect(stats.writes).toBe(0);
    const spec = loadManifests([{ file: 's', text: staging }]).environments[0]!.spec;
    expect(stats.reads).toBe(minimalReads(spec, KINDS));
    expect(stats.reads).toBe(21);
  });

  it('and an in-sync apply writes nothing', async () => {
    const apply = await engine('apply', s.url, staging);
    expect(apply.code).toBe(0);
    expect(s.sandbox.stats.snapshot().writes).toBe(0);
  });

  it('sees out-of-band changes as drift, and apply heals them', async () => {
    await s.clients.storage.bucket(BUCKET).setMetadata({ versioning: { enabled: false } });
    await s.clients.bigquery.dataset('staging_silver').setMetadata({ labels: { layer: 'bronze' } });
    const [policy] = await s.clients.secrets.getIamPolicy({ resource: PG });
    await s.clients.secrets.setIamPolicy({ resource: PG, policy: { bindings: [], etag: policy.etag } });
    const [versions] = await s.clients.secrets.listSecretVersions({ parent: PG });
    for (const v of versions) await s.clients.secrets.disableSecretVersion({ name: v.name! });

    s.sandbox.stats.reset();
    const plan = await engine('plan', s.url, staging, { output: 'json' });
    expect(plan.code).toBe(2);
    expect(s.sandbox.stats.snapshot().writes).toBe(0);
    const actions = JSON.parse(plan.stdout).environments[0].actions as { kind: string; name: string; verb: string; changes: { field: string; before: unknown; after: unknown }[] }[];
    const changed = actions.filter((a) => a.verb !== 'none' && a.verb !== 'pending');
    expect(changed.map((a) => [a.kind, a.verb])).toEqual([['Bucket', 'update'], ['Dataset', 'update'], ['Secret', 'update'], ['IAMBinding', 'create']]);
    expect(changed[0]!.changes).toEqual([{ field: 'versioning', before: false, after: true }]);
    expect(changed[1]!.changes).toEqual([{ field: 'labels.layer', before: 'bronze', after: 'silver' }]);
    expect(changed[2]!.changes[0]).toMatchObject({ field: 'versions', before: 'no enabled version (1 disabled or destroyed)' });
    expect(changed[3]!.name).toBe(`secret/POSTGRES_PASSWORD roles/secretmanager.secretAccessor ${SA}`);

    const apply = await engine('apply', s.url, staging);
    expect(apply.code, apply.stdout).toBe(0);
    expect(s.sandbox.stats.snapshot().byApi.secretmanager?.['secrets.addVersion']).toBe(1);
    const again = await engine('plan', s.url, staging);
    expect(again.code).toBe(0);
    const [after] = await s.clients.storage.bucket(BUCKET).getMetadata();
    expect(after.versioning).toEqual({ enabled: true });
  });

  it('never lets a generated secret value reach any output', async () => {
    const values: string[] = [];
    for (const id of ['postgres-password', 'django-secret-key']) {
      const [versions] = await s.clients.secrets.listSecretVersions({ parent: `projects/${PROJECT}/secrets/jobmatch-staging-${id}` });
      for (const v of versions.filter((x) => x.state === 'ENABLED')) {
        const [access] = await s.clients.secrets.accessSecretVersion({ name: v.name! });
        values.push(access.payload!.data!.toString());
      }
    }
    expect(values.map((v) => v.length).sort()).toEqual([32, 50]);
    const everything = allOutput.join('\n');
    expect(everything.length).toBeGreaterThan(10_000);
    expect(leaks(values, everything)).toEqual([]);
  });
});
