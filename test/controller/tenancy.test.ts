/**
 * Tenancy: which namespace may drive which project and environment names, and as whom. Two namespaces with
 * two tenant service accounts, through the reconciler (the same code as in a cluster) against the sandbox:
 * the sandbox's request log shows who made every call.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import type { OperatorConfig } from '../../src/api/operator-config.js';
import { DEFAULT_IAM_POLICY } from '../../src/api/iam-policy.js';
import { Controller } from '../../src/controller/controller.js';
import { FINALIZER } from '../../src/controller/environment-object.js';
import { ControllerMetrics } from '../../src/controller/metrics.js';
import { createActionLogger } from '../../src/engine/action-log.js';
import { PolicyWriter } from '../../src/engine/policy-writer.js';
import { GcpClientPool } from '../../src/gcp/client-pool.js';
import { GcpCaller } from '../../src/gcp/gcp-caller.js';
import { sourceCredential } from '../../src/gcp/impersonation.js';
import { OPERATOR_PRINCIPAL } from '../../src/sandbox/principals.js';
import { FAST_RETRY } from '../support/engine.js';
import { leaks } from '../support/leaks.js';
import { type Doc, exampleDoc, mutated, NO_VM } from '../support/manifests.js';
import { MemoryStore } from '../support/memory-store.js';
import { PROJECT, useSandbox } from '../support/sandbox.js';

const s = useSandbox();
const Q = 'project-qq-1';
const SA_A = `jm-tenant-a@${PROJECT}.iam.gserviceaccount.com`;
const SA_B = `jm-tenant-b@${PROJECT}.iam.gserviceaccount.com`;
const config: OperatorConfig = {
  iamPolicy: DEFAULT_IAM_POLICY,
  tenants: [
    { namespaces: ['team-a'], projects: [PROJECT], environments: ['staging*'], serviceAccount: SA_A },
    { namespaceSelector: { matchLabels: { tenant: 'b' } }, projects: [Q], serviceAccount: SA_B },
    { namespaces: ['platform'], projects: [PROJECT], environments: ['prod'], adoptExisting: true },
  ],
};
let NAMESPACE_LABELS: Record<string, Record<string, string>>;

/** Team B's environment "qa" in project Q: the staging example renamed. */
function qa(d: Doc): void {
  d.metadata = { name: 'qa', namespace: 'team-b' };
  d.spec.environment = 'qa';
  d.spec.gcp.projectId = Q;
  d.spec.buckets[0].name = `jobmatch-qa-bronze-${Q}`;
  d.spec.datasets = [{ datasetId: 'qa_silver', env: 'BIGQUERY_SILVER_DATASET' }];
  d.spec.iam = [{ member: `serviceAccount:jobmatch-qa-vm@${Q}.iam.gserviceaccount.com`, role: 'roles/storage.objectViewer', resource: `bucket/jobmatch-qa-bronze-${Q}` }];
  delete d.spec.app.config.BIGQUERY_GOLD_DATASET;
}

let store: MemoryStore;
let controller: Controller;
let metrics: ControllerMetrics;

async function reconcile(...keys: string[]): Promise<void> {
  for (let pass = 0; pass < 3; pass++) {
    controller.enqueue(keys);
    await controller.queue.idle();
    if (keys.every((k) => store.statusOf(k)?.observedGeneration === store.get(k)?.manifest.metadata.generation)) return;
  }
}

beforeEach(async () => {
  NAMESPACE_LABELS = { 'team-b': { tenant: 'b' }, 'team-c': { tenant: 'c' } };
  s.sandbox.store.data = { projects: {}, buckets: {}, serial: 0 };
  await s.sandbox.seed({ serviceAccounts: [SA_A, SA_B].map((email) => ({ project: PROJECT, accountId: email.split('@')[0]!, tokenCreators: [OPERATOR_PRINCIPAL] })) });
  s.sandbox.stats.reset();
  store = new MemoryStore();
  metrics = new ControllerMetrics();
  const logger = createActionLogger({ write: (l: string) => (process.env.DEBUG_TENANCY ? process.stderr.write(l) : true) } as unknown as NodeJS.WritableStream, 'warn');
  const caller = new GcpCaller({ retry: FAST_RETRY });
  const pool = new GcpClientPool({ endpoint: s.url, timeoutMs: caller.policy.timeoutMs, source: await sourceCredential(s.url) });
  controller = new Controller({
    store, logger, metrics, concurrency: 4, config, namespaceLabels: (ns) => NAMESPACE_LABELS[ns],
    engine: { caller, logger, clientsFor: (project, identity) => pool.clientsFor(project, identity), execute: { policyWriter: new PolicyWriter() } },
  });
});

const stalled = (key: string) => store.statusOf(key)?.conditions?.find((c) => c.type === 'Stalled');
const synced = (key: string) => store.statusOf(key)?.conditions?.find((c) => c.type === 'Synced');

describe('tenancy', () => {
  it("makes each namespace's calls as its own service account, never as the other's or the operator's", async () => {
    const a = store.put(mutated((d) => (d.metadata.namespace = 'team-a'), 'staging', NO_VM));
    const b = store.put(mutated(qa, 'staging', NO_VM));
    await reconcile(a, b);
    expect(synced(a), JSON.stringify(store.statusOf(a)?.resources)).toMatchObject({ status: 'True' });
    expect(synced(b), JSON.stringify(store.statusOf(b)?.resources)).toMatchObject({ status: 'True' });
    const calls = s.sandbox.stats.requests().filter((r) => r.api !== 'iamcredentials');
    const mine = (r: { path: string; query: string }, env: 'staging' | 'qa') => `${r.path}${r.query}`.includes(env === 'qa' ? Q : 'staging');
    const aCalls = calls.filter((r) => mine(r, 'staging'));
    const bCalls = calls.filter((r) => mine(r, 'qa'));
    expect(aCalls.filter((r) => r.method !== 'GET').length).toBeGreaterThan(10);
    expect(bCalls.filter((r) => r.method !== 'GET').length).toBeGreaterThan(3);
    expect(new Set(aCalls.map((r) => r.principal))).toEqual(new Set([`serviceAccount:${SA_A}`]));
    expect(new Set(bCalls.map((r) => r.principal))).toEqual(new Set([`serviceAccount:${SA_B}`]));
    // The operator's own identity only mints the tenants' tokens (each cached: once per identity).
    const mints = s.sandbox.stats.requests().filter((r) => r.api === 'iamcredentials');
    expect(mints.map((r) => r.principal)).toEqual([OPERATOR_PRINCIPAL, OPERATOR_PRINCIPAL]);
    expect(calls.filter((r) => r.principal === OPERATOR_PRINCIPAL)).toEqual([]);
    // The values generated as the tenants appear in no status, Event or metric.
    const values = Object.values(s.sandbox.store.data.projects).flatMap((p) => Object.values(p.secrets)).flatMap((x) => x.versions.map((v) => Buffer.from(v.data, 'base64').toString()));
    expect(values.length).toBeGreaterThan(0);
    expect(leaks(values, JSON.stringify(store.list()) + JSON.stringify(store.events) + await metrics.registry.metrics())).toEqual([]);
  });

  it.each([
    ['a namespace mapped to its project uses another', (d: Doc) => { qa(d); d.metadata = { name: 'q', namespace: 'team-a' }; d.spec.environment = 'staging-q'; d.spec.buckets[0].name = `jobmatch-staging-q-${Q}`; d.spec.iam = []; }, 'team-a/q', 'ProjectNotAllowed', /namespace team-a may not use project project-qq-1 \(it may use: job-match-v0\)/],
    ['a namespace allowed only staging* declares prod in the shared project, before prod exists', (d: Doc) => { d.metadata = { name: 'prod', namespace: 'team-a' }; }, 'team-a/prod', 'EnvironmentNotAllowed', /may not declare environment "prod" in project job-match-v0 \(it may declare: staging\*\)/],
    ['a namespace whose tenant does not allow adoption sets spec.policy.adoptExisting', (d: Doc) => { d.metadata.namespace = 'team-a'; d.spec.policy = { ...d.spec.policy, adoptExisting: true }; }, 'team-a/staging', 'AdoptionNotAllowed', /namespace team-a may not adopt existing resources \(spec\.policy\.adoptExisting\) in project job-match-v0: its tenant does not allow it/],
    ['a namespace removes a binding of the shared project (ensure: absent on resource project)', (d: Doc) => { d.metadata.namespace = 'team-a'; d.spec.iam.push({ member: 'serviceAccount:jobmatch-prod-vm@job-match-v0.iam.gserviceaccount.com', role: 'roles/logging.logWriter', resource: 'project', ensure: 'absent' }); }, 'team-a/staging', 'PolicyViolation', /^spec\.iam\[\d+\]\.ensure: with tenants, a manifest may not remove a binding of the project itself/],
    ['a namespace no tenant selects', (d: Doc) => { d.metadata = { name: 'staging', namespace: 'team-c' }; }, 'team-c/staging', 'ProjectNotAllowed', /namespace team-c is not a tenant of this operator/],
  ])('refuses %s: Stalled, an Event, the metric, zero GCP calls', async (_name, mutate, key, reason, message) => {
    const put = store.put(mutated(mutate, _name.includes('prod') ? 'prod' : 'staging', NO_VM));
    expect(put).toBe(key);
    await reconcile(key);
    expect(stalled(key)).toMatchObject({ status: 'True', reason });
    expect(stalled(key)!.message).toMatch(message);
    expect(store.events.filter((e) => e.key === key && e.reason === reason)).toHaveLength(1);
    expect(store.get(key)!.manifest.metadata.finalizers ?? []).toEqual([]);
    expect(await metrics.registry.getSingleMetricAsString('jobmatch_refused_total')).toContain(`reason="${reason}"} 1`);
    expect(s.sandbox.stats.snapshot().total).toBe(0);
  });

  it('a tenant whose service account the operator may not impersonate gets the permission error, and nothing is written', async () => {
    s.sandbox.store.data = { projects: {}, buckets: {}, serial: 0 };
    await s.sandbox.seed({ serviceAccounts: [{ project: PROJECT, accountId: 'jm-tenant-a', tokenCreators: [] }] });
    s.sandbox.stats.reset();
    const a = store.put(mutated((d) => (d.metadata.namespace = 'team-a'), 'staging', NO_VM));
    await reconcile(a);
    expect(synced(a)?.status).toBe('False');
    expect(JSON.stringify(store.statusOf(a)?.resources)).toMatch(/iam\.serviceAccounts\.getAccessToken/);
    expect(s.sandbox.stats.snapshot().writes).toBe(0);
  });

  it("a refused environment takes no part in claims or bindings: team-a's older \"prod\" neither blocks prod's own nor keeps its grants from being written", async () => {
    const squatter = store.put(mutated((d) => {
      d.metadata = { name: 'prod', namespace: 'team-a' };
      d.spec.iam = d.spec.iam.map((b: object) => ({ ...b, ensure: 'absent' }));
    }, 'prod', NO_VM));
    const prod = store.put(mutated((d) => (d.metadata = { name: 'prod', namespace: 'platform' }), 'prod', NO_VM));
    expect(store.get(squatter)!.manifest.metadata.creationTimestamp! < store.get(prod)!.manifest.metadata.creationTimestamp!).toBe(true);
    await reconcile(squatter, prod);
    expect(stalled(squatter)).toMatchObject({ status: 'True', reason: 'EnvironmentNotAllowed' });
    expect(stalled(prod), JSON.stringify(store.statusOf(prod)?.conditions)).toMatchObject({ status: 'False' });
    expect(synced(prod), JSON.stringify(store.statusOf(prod)?.resources)).toMatchObject({ status: 'True' });
    // Every binding prod declares was granted, whatever team-a asked to be absent.
    const declared = (exampleDoc('prod', NO_VM).spec.iam as { resource: string; role: string; member: string }[]).map(({ resource, role, member }) => ({ resource, role, member }));
    expect(declared.length).toBeGreaterThan(0);
    expect(store.statusOf(prod)?.inventory?.bindings).toEqual(expect.arrayContaining(declared));
    expect(s.sandbox.stats.requests().filter((r) => r.method !== 'GET' && r.principal !== OPERATOR_PRINCIPAL)).toEqual([]);
  });

  it("a refused environment declaring prod's grants does not keep them when prod's own environment is deleted", async () => {
    const squatter = store.put(mutated((d) => (d.metadata = { name: 'prod', namespace: 'team-a' }), 'prod', NO_VM));
    const prod = store.put(mutated((d) => (d.metadata = { name: 'prod', namespace: 'platform' }), 'prod', NO_VM));
    await reconcile(squatter, prod);
    const granted = store.statusOf(prod)?.inventory?.bindings ?? [];
    expect(granted.length).toBeGreaterThan(0);
    store.delete(prod);
    await reconcile(prod);
    expect(store.get(prod)).toBeUndefined();
    const cleanedUp = store.events.find((e) => e.key === prod && e.reason === 'CleanedUp');
    expect(cleanedUp?.message).not.toMatch(/declared by another environment/);
    const [policy] = await s.clients.projects.getIamPolicy({ resource: `projects/${PROJECT}` });
    const left = (policy.bindings ?? []).flatMap((b) => (b.members ?? []).map((m) => `${b.role} ${m}`));
    for (const b of granted.filter((x) => x.resource === 'project')) expect(left).not.toContain(`${b.role} ${b.member}`);
    expect(granted.some((x) => x.resource === 'project')).toBe(true);
    expect(stalled(squatter)).toMatchObject({ status: 'True', reason: 'EnvironmentNotAllowed' });
  });

  it("never compares with another namespace's environment: team-a's staging naming prod learns nothing of platform's prod", async () => {
    const prod = store.put(mutated((d) => {
      d.metadata = { name: 'prod', namespace: 'platform' };
      d.spec.buckets[0].versioning = false;
    }, 'prod', NO_VM));
    const staging = store.put(mutated((d) => {
      d.metadata.namespace = 'team-a';
      d.spec.parity = { reference: 'prod' };
    }, 'staging', NO_VM));
    await reconcile(prod, staging);
    expect(synced(prod)).toMatchObject({ status: 'True' });
    const parity = store.statusOf(staging)?.conditions?.find((c) => c.type === 'ParityDrift');
    expect(parity).toMatchObject({ status: 'Unknown', reason: 'ReferenceNotFound' });
    expect(parity!.message).toMatch(/in this namespace \(the operator has tenants/);
    expect(JSON.stringify(store.statusOf(staging)) + JSON.stringify(store.events.filter((e) => e.key === staging))).not.toMatch(/versioning|false in prod/);
    expect(await metrics.registry.metrics()).not.toMatch(/jobmatch_parity_differences\{namespace="team-a"/);
  });

  it("a namespace losing its tenant label stops holding what it claimed: the project's other environments are decided again", async () => {
    NAMESPACE_LABELS['team-d'] = { tenant: 'b' };
    const first = store.put(mutated((d) => { qa(d); d.metadata = { name: 'qa', namespace: 'team-d' }; }, 'staging', NO_VM));
    const second = store.put(mutated(qa, 'staging', NO_VM));
    await reconcile(first, second);
    expect(stalled(second)).toMatchObject({ status: 'True', reason: 'Conflict' });
    delete NAMESPACE_LABELS['team-d'];
    const affected = controller.reconciler.affectedByNamespace('team-d');
    expect(affected.sort()).toEqual([first, second].sort());
    controller.enqueue(affected);
    await controller.queue.idle();
    // Reconciled by that enqueue alone: past the claims, its first pass adds the finalizer (the next one syncs).
    expect(store.get(second)!.manifest.metadata.finalizers).toEqual([FINALIZER]);
    await reconcile(second);
    expect(stalled(first)).toMatchObject({ status: 'True', reason: 'ProjectNotAllowed' });
    expect(synced(second), JSON.stringify(store.statusOf(second)?.conditions)).toMatchObject({ status: 'True' });
    expect(controller.reconciler.affectedByNamespace('team-a')).toEqual([]);
  });

  it("a tenant allowed to adopt does: platform's prod takes over its existing, unlabelled bucket", async () => {
    const bucket = 'jobmatch-bronze-job-match-v0';
    await s.clients.storage.createBucket(bucket, { location: 'EU' });
    const prod = store.put(mutated((d) => {
      d.metadata = { name: 'prod', namespace: 'platform' };
      d.spec.policy = { ...d.spec.policy, adoptExisting: true };
    }, 'prod', NO_VM));
    await reconcile(prod);
    expect(synced(prod), JSON.stringify(store.statusOf(prod)?.resources)).toMatchObject({ status: 'True' });
    const [metadata] = await s.clients.storage.bucket(bucket).getMetadata();
    expect(metadata.labels).toMatchObject({ 'jobmatch-environment': 'prod' });
  });
});
