/**
 * Tenancy: which namespace may drive which project and environment names, and as whom. Two namespaces with
 * two tenant service accounts, through the reconciler (the same code as in a cluster) against the sandbox:
 * the sandbox's request log shows who made every call.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import type { OperatorConfig } from '../../src/api/operator-config.js';
import { DEFAULT_IAM_POLICY } from '../../src/api/iam-policy.js';
import { Controller } from '../../src/controller/controller.js';
import { ControllerMetrics } from '../../src/controller/metrics.js';
import { createActionLogger } from '../../src/engine/action-log.js';
import { PolicyWriter } from '../../src/engine/policy-writer.js';
import { GcpClientPool } from '../../src/gcp/client-pool.js';
import { GcpCaller } from '../../src/gcp/gcp-caller.js';
import { sourceCredential } from '../../src/gcp/impersonation.js';
import { OPERATOR_PRINCIPAL } from '../../src/sandbox/principals.js';
import { FAST_RETRY } from '../support/engine.js';
import { leaks } from '../support/leaks.js';
import { type Doc, mutated, NO_VM } from '../support/manifests.js';
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
  ],
};
const NAMESPACE_LABELS: Record<string, Record<string, string>> = { 'team-b': { tenant: 'b' }, 'team-c': { tenant: 'c' } };

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
});
