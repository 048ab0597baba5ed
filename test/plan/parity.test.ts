import { describe, expect, it } from 'vitest';
import { resolveSpec } from '../../src/api/defaults.js';
import type { JobMatchEnvironmentSpec } from '../../src/api/types.js';
import {
  bucketKey, compareEnvironments, HIDDEN_VALUE, normaliseMember, pathMatches, withoutEnvironment,
} from '../../src/plan/parity.js';
import { observedSpec } from '../../src/plan/parity-observed.js';
import type { Action, Plan } from '../../src/plan/types.js';
import { exampleDoc, type Doc } from '../support/manifests.js';

const spec = (doc: Doc) => resolveSpec(doc.spec as JobMatchEnvironmentSpec);
const staging = () => exampleDoc('staging');
const prod = () => exampleDoc('prod');

describe('parity name normalisation', () => {
  it.each([
    ['jobmatch-staging-bronze-job-match-v0', 'staging', 'jobmatch-bronze-job-match-v0'],
    ['staging_silver', 'staging', 'silver'],
    ['silver_staging', 'staging', 'silver'],
    ['silver', 'prod', 'silver'],
    ['jobmatch-prod-vm', 'prod', 'jobmatch-vm'],
    ['jobmatch-staging-eu-vm', 'staging-eu', 'jobmatch-vm'],
    ['jobmatch-stagingx-vm', 'staging', 'jobmatch-stagingx-vm'],
    ['staging', 'staging', ''],
  ])('%s without the environment %s is %s', (name, env, want) => {
    expect(withoutEnvironment(name, env)).toBe(want);
  });

  it('keys a bucket by what it holds: no jobmatch prefix, environment or project suffix', () => {
    expect(bucketKey('jobmatch-staging-bronze-job-match-v0', 'staging', 'job-match-v0')).toBe('bronze');
    expect(bucketKey('jobmatch-bronze-job-match-v0', 'prod', 'job-match-v0')).toBe('bronze');
    expect(bucketKey('raw-data', 'prod', 'job-match-v0')).toBe('raw-data');
  });

  it('normalises a service account: environment out of its name, project as <project>', () => {
    expect(normaliseMember('serviceAccount:jobmatch-staging-vm@job-match-v0.iam.gserviceaccount.com', 'staging', 'job-match-v0'))
      .toBe('serviceAccount:jobmatch-vm@<project>.iam.gserviceaccount.com');
    expect(normaliseMember('user:ops@example.com', 'prod', 'job-match-v0')).toBe('user:ops@example.com');
  });
});

describe('expected difference paths', () => {
  it.each([
    ['behaviour.*', 'behaviour.DEBUG', true],
    ['datasets[gold]', 'datasets[gold]', true],
    ['datasets[gold]', 'datasets[gold].location', true],
    ['datasets[gold]', 'datasets[golden]', false],
    ['buckets[*].versioning', 'buckets[bronze].versioning', true],
    ['app.compose.ref', 'app.compose.file', false],
  ])('%s covers %s: %s', (pattern, path, want) => {
    expect(pathMatches(pattern, path)).toBe(want);
  });
});

describe('parity comparison', () => {
  it('finds staging and prod of the examples the same shape but for ENV_MODE and the compose ref, both expected', () => {
    const report = compareEnvironments(spec(staging()), spec(prod()));
    expect(report.differences.map((d) => [d.path, d.a, d.b, !!d.expected])).toEqual([
      ['behaviour.DEBUG', 'true', 'false', true],
      ['behaviour.ENV_MODE', 'staging', 'prod', true],
      ['behaviour.LOG_LEVEL', 'DEBUG', 'INFO', true],
      ['app.compose.ref', 'staging', 'main', true],
    ]);
    expect(report.summary).toEqual({ differences: 4, expected: 4, unexpected: 0 });
  });

  it('reads expected differences from either side, in either order', () => {
    const report = compareEnvironments(spec(prod()), spec(staging()));
    expect(report.summary).toEqual({ differences: 4, expected: 4, unexpected: 0 });
    expect(report.differences[0]!.expected?.declaredBy).toBe('staging');
  });

  it('reports each kind of shape difference by path with both values, grouped in a stable order', () => {
    const s = staging();
    s.spec.buckets[0].versioning = false;
    s.spec.buckets[0].labels.tier = 'hot';
    s.spec.datasets.pop(); // its IAM binding stays: the comparison reads shapes, it does not validate
    s.spec.datasets[0].defaultTableExpirationDays = 30;
    s.spec.secrets[0].rotationDays = 30;
    s.spec.secrets[2].source = 'generate';
    s.spec.iam[5].role = 'roles/storage.objectViewer';
    s.spec.app.config.LLM_MODEL = 'gpt-4o-mini';
    delete s.spec.app.config.REDIS_PORT;
    s.spec.vm.zone = 'europe-west1-c';
    const report = compareEnvironments(spec(s), spec(prod()));
    expect(report.differences.filter((d) => !d.expected).map((d) => [d.group, d.path, d.a, d.b])).toEqual([
      ['buckets', 'buckets[bronze].labels.tier', 'hot', null],
      ['buckets', 'buckets[bronze].versioning', false, true],
      ['datasets', 'datasets[gold]', null, 'declared'],
      ['datasets', 'datasets[silver].defaultTableExpirationDays', 30, 0],
      ['secrets', 'secrets[LLM_API_KEY].generate.length', 32, null],
      ['secrets', 'secrets[LLM_API_KEY].source', 'generate', 'external'],
      ['secrets', 'secrets[POSTGRES_PASSWORD].rotationDays', 30, 90],
      ['iam', 'iam[bucket/bronze][serviceAccount:jobmatch-vm@<project>.iam.gserviceaccount.com]', 'roles/storage.objectViewer', 'roles/storage.objectAdmin'],
      ['config', 'app.config.LLM_MODEL', 'gpt-4o-mini', 'gpt-4'],
      ['config', 'app.config.REDIS_PORT', null, '6379'],
      ['vm', 'vm.zone', 'europe-west1-c', 'europe-west1-b'],
    ]);
  });

  it('marks a prod-only dataset expected with its reason, and covers its IAM by a wildcard', () => {
    const s = staging();
    s.spec.datasets.pop();
    s.spec.iam = s.spec.iam.filter((b: { resource: string }) => b.resource !== 'dataset/staging_gold');
    s.spec.parity.expectedDifferences.push({ path: 'datasets[gold]', reason: 'gold reports are built in prod only' }, { path: 'iam[dataset/gold]*', reason: 'no gold in staging' });
    const report = compareEnvironments(spec(s), spec(prod()));
    expect(report.summary.unexpected).toBe(0);
    expect(report.differences.find((d) => d.path === 'datasets[gold]')?.expected?.reason).toBe('gold reports are built in prod only');
  });

  it('never shows a secret-looking config value, and tells two of them apart by presence only', () => {
    const s = staging();
    const p = prod();
    s.spec.app.config.SENTRY_DSN = 'https://abc:s3cr3tPassw0rd@sentry.example.com/1';
    p.spec.app.config.SENTRY_DSN = 'https://def:0therPassw0rd@sentry.example.com/1';
    s.spec.app.config.SESSION_TOKEN_NAME = 'jm_staging';
    s.spec.app.notSecret = ['SESSION_TOKEN_NAME'];
    const report = compareEnvironments(spec(s), spec(p));
    const text = JSON.stringify(report);
    expect(text).not.toContain('s3cr3tPassw0rd');
    expect(text).not.toContain('0therPassw0rd');
    expect(report.differences.find((d) => d.path === 'app.config.SENTRY_DSN')).toBeUndefined();
    expect(report.differences.find((d) => d.path === 'app.config.SESSION_TOKEN_NAME')).toMatchObject({ a: 'jm_staging', b: null });
    delete p.spec.app.config.SENTRY_DSN;
    expect(compareEnvironments(spec(s), spec(p)).differences.find((d) => d.path === 'app.config.SENTRY_DSN')).toMatchObject({ a: HIDDEN_VALUE, b: null });
  });

  it('lists a VM one side lacks once, not field by field', () => {
    const p = prod();
    delete p.spec.vm;
    delete p.spec.app.compose;
    delete p.spec.app.healthCheck;
    const paths = compareEnvironments(spec(staging()), spec(p)).differences.map((d) => d.path);
    expect(paths).toContain('vm');
    expect(paths).not.toContain('vm.zone');
  });
});

describe('the shape GCP holds (diff-env --observed)', () => {
  const action = (id: string, verb: Action['verb'], changes: Action['changes'] = []): Action => {
    const [kind, ...name] = id.split('/');
    return { id, kind: kind as Action['kind'], name: name.join('/'), verb, changes, steps: [] };
  };
  const plan = (actions: Action[]): Plan => ({
    environment: 'staging', project: 'job-match-v0', reportOnly: false, suspended: false, actions,
    summary: { create: 0, update: 0, adopt: 0, delete: 0, conflict: 0, pending: 0, orphan: 0, error: 0, inSync: 0 },
  });

  it('takes each observed value from the plan\'s changes and leaves out what GCP does not hold', () => {
    const declared = spec(staging());
    const bucket = declared.buckets[0]!.name;
    const sa = declared.iam[0]!;
    const held = observedSpec(declared, plan([
      action(`Bucket/${bucket}`, 'update', [
        { field: 'versioning', before: false, after: true },
        { field: 'storageClass', before: 'NEARLINE', after: 'STANDARD' },
        { field: 'lifecycle.deleteAfterDays', before: 30, after: 365 },
        { field: 'labels.team', before: null, after: 'data' },
        { field: 'labels.layer', before: 'raw', after: 'bronze' },
      ]),
      action('Dataset/staging_silver', 'update', [{ field: 'defaultTableExpirationMs', before: 7 * 86_400_000, after: null }]),
      action('Dataset/staging_gold', 'create'),
      action('Secret/jobmatch-staging-llm-api-key', 'create'),
      action(`IAMBinding/${sa.resource} ${sa.role} ${sa.member}`, 'create'),
    ]));
    expect(held.buckets[0]).toMatchObject({ versioning: false, storageClass: 'NEARLINE', lifecycle: { deleteAfterDays: 30 }, labels: { layer: 'raw' } });
    expect(held.buckets[0]!.labels).not.toHaveProperty('team');
    expect(held.datasets.map((d) => [d.datasetId, d.defaultTableExpirationDays])).toEqual([['staging_silver', 7]]);
    expect(held.secrets.map((s) => s.name)).not.toContain('LLM_API_KEY');
    expect(held.iam).toHaveLength(declared.iam.length - 1);
    const report = compareEnvironments(held, spec(prod()));
    expect(report.differences.filter((d) => !d.expected).map((d) => d.path)).toEqual(expect.arrayContaining([
      'buckets[bronze].versioning', 'datasets[gold]', 'datasets[silver].defaultTableExpirationDays', 'secrets[LLM_API_KEY]',
    ]));
  });

  it('is the declared spec when the plan changes nothing', () => {
    const declared = spec(staging());
    expect(observedSpec(declared, plan([]))).toEqual(declared);
  });
});
