/**
 * `import`: a draft manifest from what GCP holds. The "done when": manifest → apply → import → plan of the
 * draft is in sync. Against the sandbox, through the CLI.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { createComputeClients } from '../../src/gcp/compute-clients.js';
import { cli } from '../support/cli.js';
import { engine } from '../support/engine.js';
import { leaks } from '../support/leaks.js';
import { exampleText, mutated, NO_VM } from '../support/manifests.js';
import { PROJECT, useSandbox, ZONE } from '../support/sandbox.js';
import { startAgent, startHealthServer, stopAllAgents } from '../support/vm-agent.js';

const s = useSandbox();
const dir = mkdtempSync(join(tmpdir(), 'jme-import-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

beforeEach(() => {
  s.sandbox.store.data = { projects: {}, buckets: {}, serial: 0 };
});

const importDraft = (...extra: string[]) => cli(['import', '--project', PROJECT, '--environment', 'staging', '--gcp-endpoint', s.url, ...extra]);

/** Every call that could return a secret's value (versions.access, counted by the sandbox and seen in its request log): import makes none. */
const valueReads = () => [
  ...Object.entries(s.sandbox.stats.snapshot().byApi.secretmanager ?? {}).filter(([op, n]) => op === 'versions.access' && n > 0),
  ...s.sandbox.stats.requests().filter((r) => /:access$/.test(r.path.split('?')[0]!)),
];
const secretValues = () => Object.values(s.sandbox.store.data.projects).flatMap((p) => Object.values(p.secrets)).flatMap((x) => x.versions.map((v) => Buffer.from(v.data, 'base64').toString()));

async function validates(yaml: string, name: string) {
  const file = join(dir, `${name}.yaml`);
  writeFileSync(file, yaml);
  return cli(['validate', '-f', file]);
}

describe('import of an environment the operator created', () => {
  it('round-trips: manifest → apply → import → plan of the draft is in sync (exit 0), and validate passes on it', async () => {
    const apply = await engine('apply', s.url, exampleText('staging', NO_VM));
    expect(apply.code, apply.stdout).toBe(0);
    for (const id of ['jobmatch-staging-llm-api-key', 'jobmatch-staging-france-travail-api-key']) {
      await s.clients.secrets.addSecretVersion({ parent: `projects/${PROJECT}/secrets/${id}`, payload: { data: Buffer.from(`a person typed this for ${id}`) } });
    }
    s.sandbox.stats.reset();
    const draft = await importDraft();
    expect(draft.code, draft.stderr).toBe(0);
    const writes = s.sandbox.stats.snapshot().writes;
    expect(writes).toBe(0);
    expect(valueReads()).toEqual([]);
    expect(leaks(secretValues(), draft.stdout + draft.stderr)).toEqual([]);

    expect(draft.stdout).toMatch(/^# DRAFT made by jobmatch-operator import/);
    expect(draft.stderr).not.toMatch(/does not validate/);
    const doc = parse(draft.stdout);
    expect(doc.spec.policy).toEqual({ adoptExisting: true });
    expect(doc.spec.buckets).toEqual([{
      name: 'jobmatch-staging-bronze-job-match-v0', storageClass: 'STANDARD', versioning: true, labels: { layer: 'bronze', team: 'data' },
      lifecycle: { deleteAfterDays: 365 }, deletionPolicy: 'Retain',
    }]);
    expect(doc.spec.datasets.map((d: any) => d.datasetId)).toEqual(['staging_gold', 'staging_silver']);
    expect(doc.spec.secrets.map((x: any) => [x.name, x.source])).toEqual(
      [['DJANGO_SECRET_KEY', 'external'], ['FRANCE_TRAVAIL_API_KEY', 'external'], ['LLM_API_KEY', 'external'], ['POSTGRES_PASSWORD', 'external']]);
    expect(draft.stdout).toMatch(/# found by its label jobmatch-environment: staging\. source: external because import never reads a value/);
    const sa = 'serviceAccount:jobmatch-staging-vm@job-match-v0.iam.gserviceaccount.com';
    expect(doc.spec.iam).toEqual(expect.arrayContaining([
      { member: sa, role: 'roles/storage.objectAdmin', resource: 'bucket/jobmatch-staging-bronze-job-match-v0' },
      { member: sa, role: 'roles/bigquery.dataEditor', resource: 'dataset/staging_gold' },
      { member: sa, role: 'roles/secretmanager.secretAccessor', resource: 'secret/POSTGRES_PASSWORD' },
      { member: sa, role: 'roles/bigquery.jobUser', resource: 'project' },
    ]));
    expect(doc.spec.iam).toHaveLength(8);

    expect((await validates(draft.stdout, 'round-trip')).code).toBe(0);
    const plan = await engine('plan', s.url, draft.stdout);
    expect(plan.code, plan.stdout).toBe(0);
    expect(plan.reports[0]!.plan.actions.filter((a) => a.verb !== 'none')).toEqual([]);
    // The same resources as the manifest it came from.
    const original = await engine('plan', s.url, exampleText('staging', NO_VM));
    expect(plan.reports[0]!.plan.actions.map((a) => a.id).sort()).toEqual(original.reports[0]!.plan.actions.map((a) => a.id).sort());
  });

  it('finds unlabelled convention-named resources, says which rule found each, and plan shows them adopted', async () => {
    await engine('apply', s.url, exampleText('staging', NO_VM));
    await s.clients.storage.createBucket('jobmatch-staging-raw-job-match-v0', { location: 'EU', labels: { team: 'data' } } as any);
    await s.clients.storage.createBucket('jobmatch-staging-theirs', { location: 'EU', labels: { 'jobmatch-environment': 'prod', 'managed-by': 'jobmatch-operator' } } as any);
    await s.clients.storage.createBucket('unrelated-bucket', { location: 'EU' });
    await s.clients.bigquery.createDataset('staging_scratch', { location: 'EU', description: 'scratch' });
    await s.clients.secrets.createSecret({ parent: `projects/${PROJECT}`, secretId: 'jobmatch-staging-smtp-password', secret: { replication: { automatic: {} } } });
    await s.clients.secrets.addSecretVersion({ parent: `projects/${PROJECT}/secrets/jobmatch-staging-smtp-password`, payload: { data: Buffer.from('hunter2-smtp') } });
    const raw = s.clients.storage.bucket('jobmatch-staging-raw-job-match-v0');
    const [policy] = await raw.iam.getPolicy();
    await raw.iam.setPolicy({ ...policy, bindings: [...(policy.bindings ?? []), { role: 'roles/storage.admin', members: ['user:alice@example.com'] }, { role: 'roles/storage.objectViewer', members: ['group:analysts@example.com'] }] });
    s.sandbox.stats.reset();
    const draft = await importDraft();
    expect(draft.code, draft.stderr).toBe(0);
    expect(valueReads()).toEqual([]);
    expect(s.sandbox.stats.snapshot().writes).toBe(0);
    expect(leaks(secretValues(), draft.stdout + draft.stderr)).toEqual([]);
    const doc = parse(draft.stdout);
    expect(doc.spec.buckets.map((b: any) => b.name)).toEqual(['jobmatch-staging-bronze-job-match-v0', 'jobmatch-staging-raw-job-match-v0']);
    expect(doc.spec.datasets.map((d: any) => d.datasetId)).toContain('staging_scratch');
    expect(doc.spec.secrets.map((x: any) => x.name)).toContain('SMTP_PASSWORD');
    expect(draft.stdout).toMatch(/# found by its name \(the naming convention\), unlabelled: plan shows it adopted\n\s+- name: jobmatch-staging-raw-job-match-v0/);
    expect(draft.stdout).toMatch(/# found by its name \(the naming convention\), unlabelled: plan shows it adopted\n\s+- datasetId: staging_scratch/);
    expect(draft.stdout).toMatch(/# - Bucket jobmatch-staging-theirs: matches the naming convention but is labelled for environment prod: never taken/);
    expect(draft.stdout).not.toMatch(/unrelated-bucket/);
    // IAM: what the operator's policy allows is declared, the rest is a comment saying why not.
    expect(doc.spec.iam).toContainEqual({ member: 'group:analysts@example.com', role: 'roles/storage.objectViewer', resource: 'bucket/jobmatch-staging-raw-job-match-v0' });
    expect(draft.stdout).toMatch(/# - IAM bucket jobmatch-staging-raw-job-match-v0: roles\/storage\.admin for user:alice@example\.com: the operator's IAM policy would refuse it \(iam\.\w+\)/);
    expect(draft.stdout).toMatch(/# - IAM bucket jobmatch-staging-raw-job-match-v0: roles\/storage\.legacyBucketOwner for projectOwner:job-match-v0: not a member a manifest can name/);
    expect((await validates(draft.stdout, 'unlabelled')).code).toBe(0);

    const plan = await engine('plan', s.url, draft.stdout);
    expect(plan.code, plan.stdout).toBe(2);
    const changing = plan.reports[0]!.plan.actions.filter((a) => a.verb !== 'none' && a.verb !== 'pending');
    expect(changing.map((a) => [a.verb, a.id])).toEqual(expect.arrayContaining([
      ['adopt', 'Bucket/jobmatch-staging-raw-job-match-v0'], ['adopt', 'Dataset/staging_scratch'], ['adopt', 'Secret/jobmatch-staging-smtp-password'],
    ]));
    expect(changing.every((a) => a.verb === 'adopt'), plan.stdout).toBe(true);
  });

  it('takes the seed\'s prod names (no environment in them) only when named: --bucket, --dataset', async () => {
    await s.clients.storage.createBucket('jobmatch-bronze-job-match-v0', { location: 'EU' });
    await s.clients.bigquery.createDataset('silver', { location: 'EU' });
    const draft = await cli(['import', '--project', PROJECT, '--environment', 'prod', '--gcp-endpoint', s.url, '--bucket', 'jobmatch-bronze-job-match-v0', '--dataset', 'silver']);
    expect(draft.code, draft.stderr).toBe(0);
    const doc = parse(draft.stdout);
    expect(doc.spec.buckets.map((b: any) => b.name)).toEqual(['jobmatch-bronze-job-match-v0']);
    expect(doc.spec.datasets.map((d: any) => d.datasetId)).toEqual(['silver']);
    expect(draft.stdout).toMatch(/# named on the command line, unlabelled: plan shows it adopted/);
  });

  it('refuses bad flags, and says when nothing is there to take a location from (exit 1)', async () => {
    expect((await cli(['import', '--project', 'X', '--environment', 'staging', '--gcp-endpoint', s.url])).stderr).toMatch(/--project must be a GCP project id/);
    expect((await cli(['import', '--project', PROJECT, '--environment', 'staging', '--vm', 'v', '--gcp-endpoint', s.url])).stderr).toMatch(/--vm goes with --zone/);
    const empty = await importDraft();
    expect(empty.code).toBe(1);
    expect(empty.stderr).toMatch(/pass --location/);
    const withLocation = await importDraft('--location', 'EU');
    expect(withLocation.code).toBe(0);
    expect((await validates(withLocation.stdout, 'empty')).code).toBe(0);
  });

  describe('with the VM', () => {
    const VM = 'jobmatch-staging-vm';
    const SA = 'jobmatch-staging-vm@job-match-v0.iam.gserviceaccount.com';
    afterEach(() => stopAllAgents());

    it('reads the app config back from the metadata the operator wrote: the draft plans in sync, the rollout included', async () => {
      await s.sandbox.seed({ projects: [{ projectId: PROJECT, instances: [{ name: VM, zone: ZONE, serviceAccount: SA }] }] });
      const health = await startHealthServer(200);
      const agent = await startAgent({ metadataUrl: `${s.sandbox.metadataUrl(PROJECT, ZONE, VM)}/computeMetadata/v1` });
      try {
        const manifest = mutated((d) => {
          d.spec.app.compose.directory = agent.dir;
          d.spec.app.healthCheck = { url: health.url, timeoutSeconds: 3 };
          d.spec.app.config.LOG_LEVEL = 'WARNING';
        });
        await engine('apply', s.url, manifest);
        for (const id of ['jobmatch-staging-llm-api-key', 'jobmatch-staging-france-travail-api-key']) {
          await s.clients.secrets.addSecretVersion({ parent: `projects/${PROJECT}/secrets/${id}`, payload: { data: Buffer.from(`a person typed this for ${id}`) } });
        }
        const apply = await engine('apply', s.url, manifest);
        expect(apply.code, apply.stdout).toBe(0);

        s.sandbox.stats.reset();
        const draft = await importDraft('--zone', ZONE);
        expect(draft.code, draft.stderr).toBe(0);
        expect(s.sandbox.stats.snapshot().writes).toBe(0);
        expect(valueReads()).toEqual([]);
        expect(leaks(secretValues(), draft.stdout + draft.stderr)).toEqual([]);
        const doc = parse(draft.stdout);
        expect(doc.spec.envMode).toBe('staging');
        expect(doc.spec.vm).toEqual({ name: VM, zone: ZONE });
        expect(doc.spec.app.compose).toEqual({ ref: 'staging', file: 'docker-compose.yml', directory: agent.dir });
        expect(doc.spec.app.healthCheck).toEqual({ url: health.url, timeoutSeconds: 3 });
        expect(doc.spec.app.config).toMatchObject({ POSTGRES_HOST: 'db', LOG_LEVEL: 'WARNING', USE_SQLITE_OFFERS: 'false' });
        expect(doc.spec.app.config.DEBUG).toBeUndefined(); // the default of ENV_MODE=staging
        expect(doc.spec.buckets[0].env).toBe('GCS_BUCKET');
        expect(doc.spec.datasets.map((d: any) => d.env).sort()).toEqual(['BIGQUERY_GOLD_DATASET', 'BIGQUERY_SILVER_DATASET']);
        // In the order the .env names them: that order is part of the config hash.
        expect(doc.spec.secrets.map((x: any) => x.name)).toEqual(['POSTGRES_PASSWORD', 'DJANGO_SECRET_KEY', 'LLM_API_KEY', 'FRANCE_TRAVAIL_API_KEY']);
        expect(doc.spec.iam).toContainEqual({ member: `serviceAccount:${SA}`, role: 'roles/secretmanager.secretAccessor', resource: 'secret/deploy-key' });
        expect((await validates(draft.stdout, 'vm')).code).toBe(0);

        const plan = await engine('plan', s.url, draft.stdout);
        expect(plan.code, plan.stdout).toBe(0);
        expect(plan.reports[0]!.plan.actions.filter((a) => a.verb !== 'none')).toEqual([]);
        expect(plan.reports[0]!.plan.actions.map((a) => a.id)).toContain(`Deployment/${ZONE}/${VM}`);
      } finally {
        await health.close();
      }
    });

    it('leaves out an app.config value that looks secret, with a comment, and says when the VM is not there', async () => {
      await s.sandbox.seed({ projects: [{ projectId: PROJECT, instances: [{ name: VM, zone: ZONE, serviceAccount: SA }] }] });
      await engine('apply', s.url, exampleText('staging', NO_VM));
      const env = ['# .env for JobMatch environment "staging" (project job-match-v0).', '', '# --- Behaviour (ENV_MODE) ---', 'ENV_MODE=staging', 'DEBUG=true', 'LOG_LEVEL=DEBUG',
        '', '# --- GCP resources ---', 'GCP_PROJECT_ID=job-match-v0', 'GCS_BUCKET=jobmatch-staging-bronze-job-match-v0',
        '', '# --- App config ---', 'DATABASE_URL=postgres://app:s3cr3t-pw@db/app', 'OPENAI_API_KEY=abc', 'POSTGRES_HOST=db', ''].join('\n');
      // Written by hand, as someone might have: the operator's validation would never have let these through.
      const compute = await createComputeClients(s.url);
      const [instance] = await compute.instances.get({ project: PROJECT, zone: ZONE, instance: VM });
      const items = [{ key: 'jobmatch-env', value: env }, { key: 'jobmatch-compose-ref', value: 'staging' }];
      await compute.instances.setMetadata({ project: PROJECT, zone: ZONE, instance: VM, metadataResource: { fingerprint: instance.metadata?.fingerprint ?? '', items } });
      const draft = await importDraft('--zone', ZONE);
      expect(draft.code, draft.stderr).toBe(0);
      const doc = parse(draft.stdout);
      expect(doc.spec.app.config).toEqual({ POSTGRES_HOST: 'db' });
      expect(draft.stdout).toMatch(/# - app\.config DATABASE_URL: looks secret by its value \(a URL with a password in it\): not imported/);
      expect(draft.stdout).toMatch(/# - app\.config OPENAI_API_KEY: looks secret by its name: not imported/);
      expect(draft.stdout).not.toMatch(/s3cr3t-pw/);
      expect((await validates(draft.stdout, 'secret-looking')).code).toBe(0);

      const missing = await importDraft('--zone', ZONE, '--vm', 'no-such-vm');
      expect(missing.code).toBe(0);
      expect(missing.stdout).toMatch(/# - VM europe-west1-b\/no-such-vm: not found/);
      expect(parse(missing.stdout).spec.vm).toBeUndefined();
    });
  });
});
