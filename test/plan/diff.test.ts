import { describe, expect, it } from 'vitest';
import { loadManifests } from '../../src/api/manifests.js';
import type { ResolvedSpec } from '../../src/api/defaults.js';
import type { BucketObservation } from '../../src/kinds/bucket/bucket-plan.js';
import { editAccess, fromAccessEntry, toAccessEntry } from '../../src/kinds/dataset/access.js';
import { datasetPolicy } from '../../src/kinds/dataset/dataset-client.js';
import type { DatasetObservation } from '../../src/kinds/dataset/dataset-plan.js';
import { KINDS } from '../../src/kinds/registry.js';
import type { SecretObservation } from '../../src/kinds/secret/secret-plan.js';
import { contestedBindings as contestedOver } from '../../src/plan/contested-bindings.js';
import { diff as diffOver, type DiffOptions } from '../../src/plan/diff.js';
import type { LabelledResource, ObservedEnvironment, PolicyObservation } from '../../src/plan/observed.js';
import { editBindings } from '../../src/plan/policy-edit.js';
import { isInSync, isReady, type Action } from '../../src/plan/types.js';
import { exampleText, mutated, NO_VM, type Doc } from '../support/manifests.js';

const NOW = '2026-11-25T12:00:00.000Z';
const SA = 'serviceAccount:jobmatch-staging-vm@job-match-v0.iam.gserviceaccount.com';
const BUCKET = 'jobmatch-staging-bronze-job-match-v0';
const PG = 'jobmatch-staging-postgres-password';
const owned = { 'jobmatch-environment': 'staging', 'managed-by': 'jobmatch-operator' };
const managed = { ...owned, 'jobmatch-deletion-policy': 'retain' };

function spec(mutate?: (d: Doc) => void): ResolvedSpec {
  const { environments, errors } = loadManifests([{ file: 's', text: mutate ? mutated(mutate, 'staging', NO_VM) : exampleText('staging', NO_VM) }]);
  expect(errors).toEqual([]);
  return environments[0]!.spec;
}

/** What the kinds observed, kind by kind (the tests change it field by field). */
interface World {
  observedAt: string;
  buckets: Record<string, BucketObservation | undefined>;
  datasets: Record<string, DatasetObservation | undefined>;
  secrets: Record<string, SecretObservation | undefined>;
  policies: Record<string, PolicyObservation | undefined>;
  labelled: LabelledResource[];
  errors: Record<string, string>;
  projectNumber?: string;
}

/** The observation the engine assembles from the kinds: resources by id, a dataset's IAM from its access list. */
function observedFrom(w: World): ObservedEnvironment {
  const byId = (kind: string, m: Record<string, unknown>) => Object.entries(m).map(([name, o]) => [`${kind}/${name}`, o]);
  const datasetPolicies = Object.entries(w.datasets).filter(([, o]) => o).map(([name, o]) => [`dataset/${name}`, datasetPolicy(o!)]);
  return {
    observedAt: w.observedAt, labelled: w.labelled, errors: w.errors, ...(w.projectNumber ? { projectNumber: w.projectNumber } : {}),
    resources: Object.fromEntries([...byId('Bucket', w.buckets), ...byId('Dataset', w.datasets), ...byId('Secret', w.secrets)]),
    policies: { ...w.policies, ...Object.fromEntries(datasetPolicies) },
  };
}

const diff = (s: ResolvedSpec, w: World, options?: DiffOptions) => diffOver(s, observedFrom(w), KINDS, options);
const contestedBindings = (specs: ResolvedSpec[]) => contestedOver(specs, KINDS);

/** The staging environment exactly as apply leaves it. */
function inSync(): World {
  const bucket: BucketObservation = {
    name: BUCKET, location: 'EU', storageClass: 'STANDARD', versioning: true, labels: { team: 'data', layer: 'bronze', ...managed },
    lifecycleDeleteAfterDays: 365, lifecycleRuleCount: 1, uniformAccess: true, publicAccessPrevention: 'enforced', version: '3', projectNumber: '42',
  };
  const dataset = (id: string, layer: string, description: string): DatasetObservation => ({
    datasetId: id, location: 'EU', description, labels: { team: 'data', layer, ...managed },
    access: [{ role: 'roles/bigquery.dataEditor', member: SA }], rawAccess: [toAccessEntry('roles/bigquery.dataEditor', SA)], version: 'e1',
  });
  const secret = (id: string, versions: SecretObservation['versions']): SecretObservation => ({ secretId: id, labels: { ...managed }, version: 'se1', versions });
  const v1 = [{ number: '1', state: 'ENABLED' as const, createTime: '2026-11-01T00:00:00Z' }];
  const accessor = (id: string) => [`secret/${id}`, { etag: 'CAE=', bindings: [{ role: 'roles/secretmanager.secretAccessor', members: [SA] }] }] as const;
  return {
    observedAt: NOW,
    buckets: { [BUCKET]: bucket },
    datasets: { staging_silver: dataset('staging_silver', 'silver', 'Silver layer (staging)'), staging_gold: dataset('staging_gold', 'gold', 'Gold layer (staging)') },
    secrets: {
      [PG]: secret(PG, v1), 'jobmatch-staging-django-secret-key': secret('jobmatch-staging-django-secret-key', v1),
      'jobmatch-staging-llm-api-key': secret('jobmatch-staging-llm-api-key', v1), 'jobmatch-staging-france-travail-api-key': secret('jobmatch-staging-france-travail-api-key', v1),
    },
    policies: Object.fromEntries([
      accessor(PG), accessor('jobmatch-staging-django-secret-key'), accessor('jobmatch-staging-llm-api-key'), accessor('jobmatch-staging-france-travail-api-key'),
      [`bucket/${BUCKET}`, { etag: 'CAE=', bindings: [{ role: 'roles/storage.objectAdmin', members: [SA] }] }],
      ['project/job-match-v0', { etag: 'CAE=', bindings: [{ role: 'roles/bigquery.jobUser', members: [SA] }, { role: 'roles/owner', members: ['user:o@x.io'] }] }],
    ]),
    labelled: [],
    errors: {},
    projectNumber: '42',
  };
}

const changed = (actions: Action[]) => actions.filter((a) => a.verb !== 'none').map((a) => `${a.verb} ${a.id}`);
const action = (actions: Action[], id: string) => actions.find((a) => a.id === id)!;

describe('diff', () => {
  it('plans nothing for an environment in sync, and is deterministic', () => {
    const plan = diff(spec(), inSync());
    expect(changed(plan.actions)).toEqual([]);
    expect(plan.summary).toMatchObject({ create: 0, update: 0, inSync: 15 });
    expect(diff(spec(), inSync())).toEqual(plan);
  });

  it('plans every resource for an empty project, IAM after its resource', () => {
    const plan = diff(spec(), { ...inSync(), buckets: {}, datasets: {}, secrets: {}, policies: {} });
    expect(plan.summary).toMatchObject({ create: 15, pending: 2 });
    const bucketIam = plan.actions.find((a) => a.kind === 'IAMBinding' && a.name.startsWith('bucket/'))!;
    expect(bucketIam.dependsOn).toBe(`Bucket/${BUCKET}`);
    const datasetIam = plan.actions.find((a) => a.kind === 'IAMBinding' && a.name.startsWith('dataset/staging_silver'))!;
    expect(datasetIam.steps).toEqual([]);
    expect(action(plan.actions, 'Dataset/staging_silver').steps[0]).toMatchObject({ kind: 'Dataset', op: 'create', body: { access: [{ role: 'WRITER', userByEmail: SA.slice('serviceAccount:'.length) }] } });
    expect(action(plan.actions, `Secret/${PG}`).steps.map((s) => s.op)).toEqual(['create', 'addGeneratedVersion']);
    expect(action(plan.actions, 'Secret/jobmatch-staging-llm-api-key').steps.map((s) => s.op)).toEqual(['create']);
  });

  const drift: [string, (o: World) => void, string, { field: string; before: unknown; after: unknown }[]][] = [
    ['versioning turned off', (o) => (o.buckets[BUCKET]!.versioning = false), `Bucket/${BUCKET}`, [{ field: 'versioning', before: false, after: true }]],
    ['storage class changed', (o) => (o.buckets[BUCKET]!.storageClass = 'COLDLINE'), `Bucket/${BUCKET}`, [{ field: 'storageClass', before: 'COLDLINE', after: 'STANDARD' }]],
    ['lifecycle rule changed', (o) => (o.buckets[BUCKET]!.lifecycleDeleteAfterDays = 30), `Bucket/${BUCKET}`, [{ field: 'lifecycle.deleteAfterDays', before: 30, after: 365 }]],
    ['public access prevention relaxed', (o) => (o.buckets[BUCKET]!.publicAccessPrevention = 'inherited'), `Bucket/${BUCKET}`, [{ field: 'publicAccessPrevention', before: 'inherited', after: 'enforced' }]],
    ['a declared label changed', (o) => (o.buckets[BUCKET]!.labels.team = 'ml'), `Bucket/${BUCKET}`, [{ field: 'labels.team', before: 'ml', after: 'data' }]],
    ['the deletion policy label removed', (o) => delete o.datasets.staging_gold!.labels['jobmatch-deletion-policy'], 'Dataset/staging_gold', [{ field: 'labels.jobmatch-deletion-policy', before: null, after: 'retain' }]],
    ['a description edited', (o) => (o.datasets.staging_silver!.description = 'x'), 'Dataset/staging_silver', [{ field: 'description', before: 'x', after: 'Silver layer (staging)' }]],
    ['a table expiration added', (o) => (o.datasets.staging_silver!.defaultTableExpirationMs = 3_600_000), 'Dataset/staging_silver', [{ field: 'defaultTableExpirationMs', before: 3_600_000, after: null }]],
    ['a recorded secret deletion policy changed', (o) => (o.secrets[PG]!.labels['jobmatch-deletion-policy'] = 'delete'), `Secret/${PG}`, [{ field: 'labels.jobmatch-deletion-policy', before: 'delete', after: 'retain' }]],
  ];
  it.each(drift)('reports %s as an update of exactly that field', (_, change, id, expected) => {
    const observed = inSync();
    change(observed);
    const plan = diff(spec(), observed);
    expect(changed(plan.actions)).toEqual([`update ${id}`]);
    expect(action(plan.actions, id).changes).toEqual(expected);
  });

  it('leaves labels that others added alone', () => {
    const observed = inSync();
    observed.buckets[BUCKET]!.labels['cost-center'] = 'x';
    observed.secrets[PG]!.labels.owner = 'me';
    expect(changed(diff(spec(), observed).actions)).toEqual([]);
  });

  it('keeps others\' labels when it patches a secret\'s labels (the API replaces the whole map)', () => {
    const observed = inSync();
    observed.secrets[PG]!.labels = { owner: 'me', ...owned };
    const step = action(diff(spec(), observed).actions, `Secret/${PG}`).steps[0]!;
    expect(step).toEqual({ kind: 'Secret', op: 'patchLabels', secretId: PG, labels: { owner: 'me', ...managed }, etag: 'se1' });
  });

  it('plans a missing IAM binding and removes one only when told ensure: absent', () => {
    const observed = inSync();
    observed.policies['project/job-match-v0']!.bindings = [{ role: 'roles/owner', members: ['user:o@x.io'] }, { role: 'roles/logging.logWriter', members: [SA] }];
    const plan = diff(spec((d) => d.spec.iam.push({ member: SA, role: 'roles/logging.logWriter', resource: 'project', ensure: 'absent' })), observed);
    expect(changed(plan.actions)).toEqual([
      `create IAMBinding/project roles/bigquery.jobUser ${SA}`,
      `delete IAMBinding/project roles/logging.logWriter ${SA}`,
    ]);
    expect(changed(diff(spec(), observed).actions)).toEqual([`create IAMBinding/project roles/bigquery.jobUser ${SA}`]);
  });

  it('ignores conditional bindings when deciding whether a grant exists', () => {
    const observed = inSync();
    observed.policies['project/job-match-v0']!.bindings = [{ role: 'roles/bigquery.jobUser', members: [SA], condition: { expression: 'request.time < x' } }];
    expect(changed(diff(spec(), observed).actions)).toEqual([`create IAMBinding/project roles/bigquery.jobUser ${SA}`]);
  });

  it('treats dataset access entries as the dataset\'s IAM', () => {
    const observed = inSync();
    observed.datasets.staging_gold!.rawAccess = [];
    const plan = diff(spec(), observed);
    expect(changed(plan.actions)).toEqual([`create IAMBinding/dataset/staging_gold roles/bigquery.dataEditor ${SA}`]);
  });

  it('adds a generated version when none is enabled; waits for a person on an external one', () => {
    const observed = inSync();
    observed.secrets[PG]!.versions = [{ number: '1', state: 'DISABLED', createTime: '2026-01-01T00:00:00Z' }];
    observed.secrets['jobmatch-staging-llm-api-key']!.versions = [];
    const plan = diff(spec(), observed);
    expect(action(plan.actions, `Secret/${PG}`)).toMatchObject({ verb: 'update', steps: [{ kind: 'Secret', op: 'addGeneratedVersion', length: 32, newestVersion: '1' }] });
    expect(action(plan.actions, 'Secret/jobmatch-staging-llm-api-key')).toMatchObject({ verb: 'pending', steps: [], pending: expect.stringContaining('gcloud secrets versions add jobmatch-staging-llm-api-key') });
  });

  it.each([
    [89, []],
    [91, ['addGeneratedVersion']],
  ])('rotates when the newest enabled version is older than rotationDays (%i days → %j)', (days, ops) => {
    const observed = inSync();
    observed.secrets[PG]!.versions = [{ number: '1', state: 'ENABLED', createTime: new Date(Date.parse(NOW) - days * 86_400_000).toISOString() }];
    expect(action(diff(spec(), observed).actions, `Secret/${PG}`).steps.map((s) => s.op)).toEqual(ops);
  });

  it('on rotation keeps the newest enabled and disables only the older enabled ones', () => {
    const observed = inSync();
    const old = new Date(Date.parse(NOW) - 100 * 86_400_000).toISOString();
    observed.secrets[PG]!.versions = [
      { number: '4', state: 'ENABLED', createTime: old }, { number: '3', state: 'DISABLED', createTime: old },
      { number: '2', state: 'ENABLED', createTime: old }, { number: '1', state: 'ENABLED', createTime: old },
    ];
    expect(action(diff(spec(), observed).actions, `Secret/${PG}`).steps).toEqual([
      { kind: 'Secret', op: 'addGeneratedVersion', secretId: PG, length: 32, newestVersion: '4' },
      { kind: 'Secret', op: 'disableVersions', secretId: PG, versions: ['2', '1'] },
    ]);
  });

  it('marks another environment\'s resources Conflict with no step, nor any on their IAM', () => {
    const observed = inSync();
    observed.buckets[BUCKET]!.labels = { 'jobmatch-environment': 'prod', 'managed-by': 'jobmatch-operator' };
    const plan = diff(spec((d) => (d.spec.policy.adoptExisting = true)), observed);
    expect(action(plan.actions, `Bucket/${BUCKET}`)).toMatchObject({ verb: 'conflict', steps: [], message: expect.stringContaining('jobmatch-environment=prod') });
    expect(action(plan.actions, `IAMBinding/bucket/${BUCKET} roles/storage.objectAdmin ${SA}`)).toMatchObject({ verb: 'conflict', steps: [] });
  });

  const unmanaged: [string, (o: World) => void, string][] = [
    ['an unlabelled dataset', (o) => (o.datasets.staging_gold!.labels = {}), 'Dataset/staging_gold'],
    ['a secret whose managed-by label was stripped', (o) => delete o.secrets[PG]!.labels['managed-by'], `Secret/${PG}`],
    ['a bucket carrying only managed-by', (o) => (o.buckets[BUCKET]!.labels = { 'managed-by': 'jobmatch-operator' }), `Bucket/${BUCKET}`],
  ];
  it.each(unmanaged)('plans %s as a Conflict saying how to adopt, and adopts it only with adoptExisting', (_, change, id) => {
    const observed = inSync();
    change(observed);
    expect(action(diff(spec(), observed).actions, id)).toMatchObject({ verb: 'conflict', steps: [], message: expect.stringContaining('set spec.policy.adoptExisting: true') });
    const adopted = action(diff(spec((d) => (d.spec.policy.adoptExisting = true)), observed).actions, id);
    expect(adopted.verb).toBe('adopt');
    expect(adopted.steps).toHaveLength(1);
    expect(adopted.changes.map((c) => c.field)).toEqual(expect.arrayContaining([expect.stringMatching(/^labels\.(managed-by|jobmatch-environment)$/)]));
  });

  it('never adopts a bucket of the same name in another project, nor writes to one labelled for us there', () => {
    for (const labels of [{}, { ...managed }]) {
      const observed = inSync();
      observed.buckets[BUCKET]!.labels = labels;
      observed.buckets[BUCKET]!.projectNumber = '99';
      const bucket = action(diff(spec((d) => (d.spec.policy.adoptExisting = true)), observed).actions, `Bucket/${BUCKET}`);
      expect(bucket).toMatchObject({ verb: 'conflict', steps: [], message: expect.stringContaining('project number 99') });
    }
  });

  it('cannot verify an existing bucket when the project number could not be read: error, no write', () => {
    const observed = inSync();
    delete observed.projectNumber;
    observed.errors['project/number'] = 'permission denied';
    expect(action(diff(spec(), observed).actions, `Bucket/${BUCKET}`)).toMatchObject({ verb: 'error', steps: [] });
  });

  it('turns a failed read into an error for that resource (and the bindings on it) only', () => {
    const observed = inSync();
    delete observed.buckets[BUCKET];
    observed.errors[`Bucket/${BUCKET}`] = 'permission denied';
    const plan = diff(spec(), observed);
    expect(changed(plan.actions)).toEqual([`error Bucket/${BUCKET}`, `error IAMBinding/bucket/${BUCKET} roles/storage.objectAdmin ${SA}`]);
    expect(plan.summary.error).toBe(2);
  });

  it('lists orphans, and plans nothing at all when suspended', () => {
    const observed = { ...inSync(), labelled: [{ kind: 'Secret' as const, name: 'jobmatch-staging-old', labels: managed }, { kind: 'Bucket' as const, name: BUCKET, labels: managed }] };
    expect(changed(diff(spec(), observed).actions)).toEqual(['orphan Secret/jobmatch-staging-old']);
    expect(diff(spec((d) => (d.spec.policy.suspend = true)), observed)).toMatchObject({ suspended: true, actions: [] });
    expect(diff(spec((d) => (d.spec.policy.drift = 'Report')), observed).reportOnly).toBe(true);
  });
});

describe('orphans and deletion policy', () => {
  const deleting = { ...managed, 'jobmatch-deletion-policy': 'delete' };
  const orphan = (kind: 'Bucket' | 'Dataset' | 'Secret', name: string, labels: Record<string, string>, extra: object = {}) =>
    diff(spec(), { ...inSync(), labelled: [{ kind, name, labels, ...extra }] }).actions.find((a) => a.id === `${kind}/${name}`)!;

  it('retains an orphan recorded retain (or with no policy label), exactly as it is', () => {
    for (const labels of [managed, owned]) {
      expect(orphan('Bucket', 'old-bucket', labels, { projectNumber: '42', version: '7' })).toMatchObject({ verb: 'orphan', steps: [], message: expect.stringContaining('retained') });
    }
  });

  it('deletes an empty orphan recorded delete, with the precondition it was observed at', () => {
    expect(orphan('Bucket', 'old-bucket', deleting, { projectNumber: '42', version: '7', contents: { count: 0, more: false } }))
      .toMatchObject({ verb: 'delete', steps: [{ kind: 'Bucket', op: 'delete', bucket: 'old-bucket', metageneration: '7' }] });
    expect(orphan('Dataset', 'old_ds', deleting, { version: 'e9', contents: { count: 0, more: false } }))
      .toMatchObject({ verb: 'delete', steps: [{ kind: 'Dataset', op: 'delete', datasetId: 'old_ds', etag: 'e9' }] });
    expect(orphan('Secret', 'jobmatch-staging-old', deleting, { version: 's9' }))
      .toMatchObject({ verb: 'delete', steps: [{ kind: 'Secret', op: 'delete', secretId: 'jobmatch-staging-old', etag: 's9' }] });
  });

  it('refuses to delete a bucket or dataset that still holds data: Conflict saying what it holds', () => {
    expect(orphan('Bucket', 'old-bucket', deleting, { projectNumber: '42', version: '7', contents: { count: 3, more: false } }))
      .toMatchObject({ verb: 'conflict', steps: [], message: expect.stringContaining('holds 3 objects') });
    expect(orphan('Dataset', 'old_ds', deleting, { contents: { count: 1000, more: true } }))
      .toMatchObject({ verb: 'conflict', steps: [], message: expect.stringContaining('holds 1000+ tables') });
  });

  it('never deletes what is not ours by the full rule: managed-by missing, or a bucket of another project', () => {
    const { 'managed-by': _, ...stripped } = deleting;
    expect(orphan('Secret', 'jobmatch-staging-old', stripped, { version: 's9' })).toMatchObject({ verb: 'orphan', steps: [] });
    expect(orphan('Bucket', 'old-bucket', deleting, { projectNumber: '99', contents: { count: 0, more: false } })).toMatchObject({ verb: 'orphan', steps: [] });
  });

  it('records each resource\'s deletion policy as a label it keeps in sync', () => {
    const plan = diff(spec((d) => (d.spec.buckets[0].deletionPolicy = 'Delete')), inSync());
    expect(action(plan.actions, `Bucket/${BUCKET}`).changes).toEqual([{ field: 'labels.jobmatch-deletion-policy', before: 'retain', after: 'delete' }]);
  });
});

describe('readiness and contested bindings', () => {
  it('is ready only when in sync with every secret holding a value; a conflict is never in sync', () => {
    expect(isReady(diff(spec(), inSync()))).toBe(true);
    const waiting = inSync();
    waiting.secrets['jobmatch-staging-llm-api-key']!.versions = [];
    const plan = diff(spec(), waiting);
    expect([isInSync(plan), isReady(plan)]).toEqual([true, false]);
    const taken = inSync();
    taken.datasets.staging_gold!.labels = { 'jobmatch-environment': 'prod' };
    expect(isInSync(diff(spec(), taken))).toBe(false);
  });

  it('marks a binding one environment wants present and another absent as a conflict in both', () => {
    const staging = spec();
    const other = spec((d) => {
      d.spec.environment = 'qa';
      d.spec.iam = [{ member: SA, role: 'roles/bigquery.jobUser', resource: 'project', ensure: 'absent' }];
    });
    const contested = contestedBindings([staging, other]);
    expect([...contested.values()]).toEqual([expect.stringContaining('staging want this binding present and qa absent')]);
    const plan = diff(staging, inSync(), { contested });
    expect(action(plan.actions, `IAMBinding/project roles/bigquery.jobUser ${SA}`)).toMatchObject({ verb: 'conflict', steps: [] });
    expect(action(diff(other, inSync(), { contested }).actions, `IAMBinding/project roles/bigquery.jobUser ${SA}`)).toMatchObject({ verb: 'conflict', steps: [] });
  });
});

describe('IAM policy edits', () => {
  it('adds a member to an existing role, creates a role binding, removes members and drops empty bindings', () => {
    const before = [{ role: 'roles/a', members: ['user:x@y.z'] }, { role: 'roles/b', members: [SA] }, { role: 'roles/c', members: [SA], condition: { expression: 'e' } }];
    expect(editBindings(before, [{ role: 'roles/a', member: SA }, { role: 'roles/d', member: SA }], [{ role: 'roles/b', member: SA }, { role: 'roles/c', member: SA }])).toEqual([
      { role: 'roles/a', members: ['user:x@y.z', SA] }, { role: 'roles/c', members: [SA], condition: { expression: 'e' } }, { role: 'roles/d', members: [SA] },
    ]);
    expect(before[0]!.members).toEqual(['user:x@y.z']);
  });

  it('edits a dataset access list, keeping entries that are not grants', () => {
    const view = { view: { projectId: 'p', datasetId: 'd', tableId: 't' } };
    const access = [view, { role: 'OWNER', specialGroup: 'projectOwners' }, { role: 'READER', userByEmail: 'a@b.c' }];
    expect(editAccess(access, [{ role: 'roles/bigquery.dataEditor', member: SA }], [{ role: 'roles/bigquery.dataViewer', member: 'user:a@b.c' }]))
      .toEqual([view, { role: 'OWNER', specialGroup: 'projectOwners' }, { role: 'WRITER', userByEmail: SA.slice(15) }]);
    expect(editAccess(access, [{ role: 'roles/bigquery.dataViewer', member: 'user:a@b.c' }], [])).toEqual(access);
  });

  it.each([
    ['roles/bigquery.dataViewer', 'user:a@b.c', { role: 'READER', userByEmail: 'a@b.c' }],
    ['roles/bigquery.dataEditor', SA, { role: 'WRITER', userByEmail: SA.slice(15) }],
    ['roles/bigquery.dataOwner', 'group:g@b.c', { role: 'OWNER', groupByEmail: 'g@b.c' }],
    ['roles/bigquery.dataViewer', 'domain:example.com', { role: 'READER', domain: 'example.com' }],
    ['roles/bigquery.user', 'principal://x/y', { role: 'roles/bigquery.user', iamMember: 'principal://x/y' }],
  ])('maps %s for %s to a dataset access entry and back', (role, member, entry) => {
    expect(toAccessEntry(role, member)).toEqual(entry);
    expect(fromAccessEntry(entry)).toEqual({ role, member });
  });
});
