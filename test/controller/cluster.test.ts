/**
 * The controller against a real kube-apiserver and etcd (test/kube), with the sandbox as GCP and the
 * real @kubernetes/client-node: status, finalizer, Events, inventory, deletion policies, leader
 * election, RBAC of manifests/install, an apiserver restart. The first run builds the binaries
 * (10–17 min on 2 cores, cached afterwards).
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { parse, stringify } from 'yaml';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_IAM_POLICY } from '../../src/api/iam-policy.js';
import type { OperatorConfig } from '../../src/api/operator-config.js';
import { runReconcile } from '../../src/cli/reconcile-command.js';
import { PLAN_MARKER } from '../../src/cli/plan-markdown.js';
import { gfmProblems } from '../support/gfm.js';
import { startClusterController, type ClusterController } from '../../src/controller/cluster-runner.js';
import { LeaderElector } from '../../src/controller/leader-election.js';
import { ControllerMetrics } from '../../src/controller/metrics.js';
import { createActionLogger, silentLogger } from '../../src/engine/action-log.js';
import { PolicyWriter } from '../../src/engine/policy-writer.js';
import { createGcpClients } from '../../src/gcp/clients.js';
import { GcpCaller } from '../../src/gcp/gcp-caller.js';
import { applyCrd, createNamespace, startKube, type Kube } from '../kube/cluster.js';
import { until } from '../support/until.js';
import { FAST_RETRY } from '../support/engine.js';
import { leaks } from '../support/leaks.js';
import { withoutVm } from '../support/manifests.js';
import { PROJECT, useSandbox } from '../support/sandbox.js';

const BIN = new URL('../../bin/jobmatch-operator.js', import.meta.url).pathname;
const CRD = new URL('../../crds/jobmatchenvironments.jobmatch.io.yaml', import.meta.url).pathname;
const STAGING = parse(readFileSync(new URL('../../manifests/examples/staging.yaml', import.meta.url), 'utf8')) as Env;
const G = { group: 'jobmatch.io', version: 'v1alpha1', plural: 'jobmatchenvironments' };
const MERGE = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);

interface Env {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace: string; generation?: number; resourceVersion?: string; annotations?: Record<string, string>; finalizers?: string[] };
  spec: any;
  status?: any;
}

const s = useSandbox();
let kube: Kube;
let output = '';
const running: ClusterController[] = [];

beforeAll(async () => {
  kube = await startKube();
  await applyCrd(kube, CRD);
}, 30 * 60_000);

afterAll(async () => {
  for (const c of running.splice(0)) await c.stop().catch(() => undefined);
  await kube?.stop();
}, 60_000);

/** An environment of its own (names from `id`), so tests never share a GCP resource. */
function environment(ns: string, id: string, mutate?: (e: Env) => void): Env {
  const e = structuredClone(STAGING);
  e.metadata = { name: id, namespace: ns };
  e.spec.environment = id;
  e.spec.buckets[0].name = `jobmatch-${id}-bronze`;
  e.spec.datasets = e.spec.datasets.map((d: any) => ({ ...d, datasetId: d.datasetId.replace('staging', id.replaceAll('-', '_')) }));
  e.spec.iam = e.spec.iam.map((b: any) => ({
    ...b, member: b.member.replace('jobmatch-staging-vm', `jobmatch-${id}-vm`),
    resource: b.resource.replace('jobmatch-staging-bronze-job-match-v0', `jobmatch-${id}-bronze`).replace(/staging_/, `${id.replaceAll('-', '_')}_`),
  }));
  // No VM here: the rollout is tested in deployment-controller.test.ts; these tests are about the cluster.
  withoutVm(e);
  mutate?.(e);
  return e;
}

async function controllerAs(kc: k8s.KubeConfig, ns: string | undefined, extra: { leaderElection?: boolean; leaseNamespace?: string; concurrency?: number; operatorConfig?: OperatorConfig } = {}) {
  const logger = createActionLogger({ write: (l: string) => { output += l; } } as unknown as NodeJS.WritableStream, 'info');
  const clients = createGcpClients({ projectId: PROJECT, endpoint: s.url });
  const c = await startClusterController(kc, {
    ...(ns ? { namespace: ns } : {}), concurrency: extra.concurrency ?? 4, listen: '127.0.0.1:0', logger, metrics: new ControllerMetrics(),
    engine: { caller: new GcpCaller({ retry: FAST_RETRY }), clientsFor: () => clients, logger, execute: { policyWriter: new PolicyWriter() } },
    leaderElection: extra.leaderElection ?? false, ...(extra.leaseNamespace ? { leaderElectionNamespace: extra.leaseNamespace } : {}),
    leaseTimings: { leaseDurationSeconds: 3, renewDeadlineMs: 2000, retryPeriodMs: 300 }, shutdownGrace: '1000',
    ...(extra.operatorConfig ? { operatorConfig: extra.operatorConfig } : {}),
  });
  running.push(c);
  return c;
}

const api = () => kube.kubeconfig.makeApiClient(k8s.CustomObjectsApi);
const get = async (ns: string, name: string) => (await api().getNamespacedCustomObject({ ...G, namespace: ns, name })) as Env;
const create = (e: Env) => api().createNamespacedCustomObject({ ...G, namespace: e.metadata.namespace, body: e });
const patch = (ns: string, name: string, body: object) => api().patchNamespacedCustomObject({ ...G, namespace: ns, name, body }, MERGE);
const condition = (e: Env, type: string) => e.status?.conditions?.find((c: any) => c.type === type);
const events = async (ns: string) => (await kube.kubeconfig.makeApiClient(k8s.CoreV1Api).listNamespacedEvent({ namespace: ns })).items;
/** Events are recorded after the status is written: wait for one rather than race it. */
const eventSeen = (ns: string, reason: string, test: (e: k8s.CoreV1Event) => boolean = () => true) =>
  until(`a ${reason} Event in ${ns}`, () => events(ns), (evs) => evs.some((e) => e.reason === reason && test(e)));


const synced = (ns: string, name: string, generation?: number) => until(`${ns}/${name} Synced`, () => get(ns, name),
  (e) => condition(e, 'Synced')?.status === 'True' && (generation === undefined || e.status?.observedGeneration === generation));

describe('the controller in a cluster', () => {
  it('reconciles a new object through one engine, follows spec edits, and a no-op resync writes nothing to Kubernetes or GCP', async () => {
    const ns = await createNamespace(kube, 'ctl-basic');
    const c = await controllerAs(kube.kubeconfig, ns);
    await create(environment(ns, 'basic'));
    let e = await synced(ns, 'basic', 1);
    expect(e.metadata.finalizers).toEqual(['jobmatch.io/cleanup']);
    expect(condition(e, 'Ready')).toMatchObject({ status: 'False', reason: 'SecretsMissing', observedGeneration: 1 });
    expect(e.status.exports).toMatchObject({ GCS_BUCKET: 'jobmatch-basic-bronze' });
    await patch(ns, 'basic', { spec: { buckets: [{ ...e.spec.buckets[0], versioning: false }] } });
    e = await synced(ns, 'basic', 2);
    expect((await s.clients.storage.bucket('jobmatch-basic-bronze').getMetadata())[0].versioning?.enabled).toBe(false);
    // A resync of an object in sync: the same status, so no write; reads only in GCP. (The first
    // resync after a change still writes once: Updated becomes InSync, DriftDetected settles.)
    c.controller.queue.add(`${ns}/basic`);
    await c.controller.queue.idle();
    const before = { rv: (await get(ns, 'basic')).metadata.resourceVersion, events: (await events(ns)).length };
    s.sandbox.stats.reset();
    c.controller.queue.add(`${ns}/basic`);
    await c.controller.queue.idle();
    expect(s.sandbox.stats.snapshot()).toMatchObject({ writes: 0 });
    expect(s.sandbox.stats.snapshot().reads).toBeGreaterThan(10);
    const statusLines = output.split('\n').filter((l) => l.includes('"event":"status"') && l.includes('ctl-basic/basic'));
    expect({ rv: (await get(ns, 'basic')).metadata.resourceVersion, events: (await events(ns)).length }, statusLines.slice(-2).join('\n')).toEqual(before);
  });

  it('heals drift made through Google\'s client; with policy Report it only says so; paused writes nothing; reconcile-at forces a reconcile', async () => {
    const ns = await createNamespace(kube, 'ctl-drift');
    const c = await controllerAs(kube.kubeconfig, ns);
    await create(environment(ns, 'drift'));
    await synced(ns, 'drift', 1);
    const bucket = s.clients.storage.bucket('jobmatch-drift-bronze');
    await bucket.setMetadata({ versioning: { enabled: false } });
    c.controller.queue.add(`${ns}/drift`); // the resync, due now
    let e = await until('drift healed', () => get(ns, 'drift'), (x) => condition(x, 'DriftDetected')?.status === 'True');
    expect(condition(e, 'DriftDetected')).toMatchObject({ reason: 'DriftHealed', message: expect.stringContaining('versioning') });
    expect((await bucket.getMetadata())[0].versioning?.enabled).toBe(true);
    await eventSeen(ns, 'Updated', (ev) => ev.message?.includes('jobmatch-drift-bronze') ?? false);

    await patch(ns, 'drift', { spec: { policy: { drift: 'Report' } } });
    await synced(ns, 'drift', 2).catch(() => undefined);
    await bucket.setMetadata({ versioning: { enabled: false } });
    c.controller.queue.add(`${ns}/drift`);
    e = await until('drift reported', () => get(ns, 'drift'), (x) => condition(x, 'DriftDetected')?.reason === 'DriftReported');
    expect((await bucket.getMetadata())[0].versioning?.enabled).toBe(false);

    await patch(ns, 'drift', { metadata: { annotations: { 'jobmatch.io/paused': 'true' } }, spec: { policy: { drift: 'Heal' } } });
    e = await until('paused', () => get(ns, 'drift'), (x) => condition(x, 'Ready')?.reason === 'Paused');
    expect((await bucket.getMetadata())[0].versioning?.enabled).toBe(false);

    s.sandbox.stats.reset();
    await patch(ns, 'drift', { metadata: { annotations: { 'jobmatch.io/paused': 'false', 'jobmatch.io/reconcile-at': new Date().toISOString() } } });
    await until('healed after unpausing', () => bucket.getMetadata().then((m) => m[0].versioning?.enabled), (v) => v === true);
    expect(s.sandbox.stats.snapshot().writes).toBeGreaterThan(0);
  });

  it('revokes a binding it granted once it leaves the spec, and reports an invalid spec with zero GCP calls', async () => {
    const ns = await createNamespace(kube, 'ctl-inventory');
    await controllerAs(kube.kubeconfig, ns);
    await create(environment(ns, 'inv'));
    let e = await synced(ns, 'inv', 1);
    expect(e.status.inventory.bindings).toHaveLength(8);
    const member = 'serviceAccount:jobmatch-inv-vm@job-match-v0.iam.gserviceaccount.com';
    const projectRoles = async () => ((await s.clients.projects.getIamPolicy({ resource: `projects/${PROJECT}` }))[0].bindings ?? []).filter((b) => b.members?.includes(member)).map((b) => b.role);
    expect(await projectRoles()).toEqual(['roles/bigquery.jobUser']);
    await patch(ns, 'inv', { spec: { iam: e.spec.iam.filter((b: any) => b.resource !== 'project') } });
    e = await synced(ns, 'inv', 2);
    expect(await projectRoles()).toEqual([]);
    expect(e.status.inventory.bindings).toHaveLength(7);

    s.sandbox.stats.reset();
    await create(environment(ns, 'bad', (x) => (x.spec.app.config.NOTES = 'sk-proj-Abcdefghijklmnopqrstuvwxyz0123456789ABCD')));
    const bad = await until('InvalidSpec', () => get(ns, 'bad'), (x) => condition(x, 'Ready')?.reason === 'InvalidSpec');
    expect(condition(bad, 'Ready').message).toMatch(/spec\.app\.config\.NOTES/);
    expect(s.sandbox.stats.requests().filter((r) => r.path.includes('-bad-') || r.path.includes('_bad_'))).toEqual([]);
  });

  it('plan --cluster shows what the controller would do, with the inventory: a dropped binding is a `-`', async () => {
    const ns = await createNamespace(kube, 'ctl-plan');
    await controllerAs(kube.kubeconfig, ns);
    await create(environment(ns, 'pc'));
    const e = await synced(ns, 'pc', 1);
    await patch(ns, 'pc', { metadata: { annotations: { 'jobmatch.io/paused': 'true' } } });
    await until('paused', () => get(ns, 'pc'), (x) => condition(x, 'Ready')?.reason === 'Paused');
    await patch(ns, 'pc', { spec: { iam: e.spec.iam.filter((b: any) => b.resource !== 'project') } });
    let stdout = '';
    const run = await runReconcile({ stdout: (t) => (stdout += t), stderr: () => undefined, stdin: Readable.from([]), env: {} }, 'plan',
      { cluster: true, kubeconfig: kube.kubeconfigPath, namespace: ns, name: 'pc', gcpEndpoint: s.url, logLevel: 'silent', retry: FAST_RETRY });
    expect(run.code).toBe(2);
    expect(stdout).toMatch(/- IAMBinding project roles\/bigquery\.jobUser serviceAccount:jobmatch-pc-vm@/);
    // The same plan as a pull-request comment (plan --cluster -o markdown): same exit code, the marker first.
    let markdown = '';
    const md = await runReconcile({ stdout: (t) => (markdown += t), stderr: () => undefined, stdin: Readable.from([]), env: {} }, 'plan',
      { cluster: true, kubeconfig: kube.kubeconfigPath, namespace: ns, name: 'pc', gcpEndpoint: s.url, logLevel: 'silent', retry: FAST_RETRY, output: 'markdown' });
    expect(md.code).toBe(2);
    expect(markdown.startsWith(`${PLAN_MARKER}\n`)).toBe(true);
    expect(gfmProblems(markdown)).toEqual([]);
    expect(markdown).toContain('| 🗑️ delete | IAMBinding | `project roles/bigquery.jobUser serviceAccount:jobmatch-pc-vm@');
  });

  it('tenancy in a cluster: a namespace selected by its labels may use its project; one outside it is Stalled, with zero GCP calls, and plan --cluster --policy says the same', async () => {
    const core = kube.kubeconfig.makeApiClient(k8s.CoreV1Api);
    const ns = await createNamespace(kube, 'ctl-tenant');
    await core.patchNamespace({ name: ns, body: { metadata: { labels: { 'jobmatch.io/tenant': 'data' } } } }, MERGE);
    const tenants = [{ namespaceSelector: { matchLabels: { 'jobmatch.io/tenant': 'data' } }, projects: [PROJECT], environments: ['tn-*'] }];
    await controllerAs(kube.kubeconfig, ns, { operatorConfig: { iamPolicy: DEFAULT_IAM_POLICY, tenants } });
    await create(environment(ns, 'tn-ok'));
    await synced(ns, 'tn-ok', 1);
    s.sandbox.stats.reset();
    await create(environment(ns, 'other'));
    const refused = await until('EnvironmentNotAllowed', () => get(ns, 'other'), (x) => condition(x, 'Stalled')?.reason === 'EnvironmentNotAllowed');
    expect(condition(refused, 'Stalled').status).toBe('True');
    expect(condition(refused, 'Stalled').message).toMatch(/may not declare environment "other" in project job-match-v0 \(it may declare: tn-\*\)/);
    expect(refused.metadata.finalizers ?? []).toEqual([]);
    await eventSeen(ns, 'EnvironmentNotAllowed', (e) => e.involvedObject.name === 'other');
    expect(s.sandbox.stats.requests().filter((r) => r.path.includes('other'))).toEqual([]);

    const dir = mkdtempSync(join(tmpdir(), 'jme-policy-'));
    const policy = join(dir, 'config.yaml');
    writeFileSync(policy, stringify({ apiVersion: 'jobmatch.io/v1alpha1', kind: 'OperatorConfig', tenants }));
    let stderr = '';
    const run = await runReconcile({ stdout: () => undefined, stderr: (t) => (stderr += t), stdin: Readable.from([]), env: {} }, 'plan',
      { cluster: true, kubeconfig: kube.kubeconfigPath, namespace: ns, policy, gcpEndpoint: s.url, logLevel: 'silent', retry: FAST_RETRY });
    rmSync(dir, { recursive: true, force: true });
    expect(run.code).toBe(1);
    expect(stderr).toMatch(/ctl-tenant\/other: EnvironmentNotAllowed: namespace ctl-tenant may not declare environment "other"/);
    expect(run.reports.map((r) => r.environment)).toEqual(['tn-ok']);

    // The namespace loses its label: it is no longer a tenant, and its environment stalls too.
    await core.patchNamespace({ name: ns, body: { metadata: { labels: { 'jobmatch.io/tenant': null } } } }, MERGE);
    const orphaned = await until('ProjectNotAllowed', () => get(ns, 'tn-ok'), (x) => condition(x, 'Stalled')?.reason === 'ProjectNotAllowed');
    expect(condition(orphaned, 'Stalled').message).toMatch(/namespace ctl-tenant is not a tenant of this operator/);
  });

  it("keeps someone else's grant as preexisting, never revokes it, and forgets it in the stored status once the spec drops it", async () => {
    const ns = await createNamespace(kube, 'ctl-preexisting');
    await controllerAs(kube.kubeconfig, ns);
    const member = 'serviceAccount:jobmatch-pre-vm@job-match-v0.iam.gserviceaccount.com';
    const [policy] = await s.clients.projects.getIamPolicy({ resource: `projects/${PROJECT}` });
    await s.clients.projects.setIamPolicy({ resource: `projects/${PROJECT}`, policy: { ...policy, bindings: [...(policy.bindings ?? []), { role: 'roles/bigquery.jobUser', members: [member] }] } });
    await create(environment(ns, 'pre'));
    const e = await synced(ns, 'pre', 1);
    const binding = { resource: 'project', role: 'roles/bigquery.jobUser', member };
    expect(e.status.inventory.preexisting).toEqual([binding]);
    expect(e.status.inventory.bindings).not.toContainEqual(binding);
    await patch(ns, 'pre', { spec: { iam: e.spec.iam.filter((b: any) => b.resource !== 'project') } });
    const after = await until('preexisting forgotten', () => get(ns, 'pre'), (x) => x.status?.observedGeneration === 2 && x.status.inventory.preexisting === undefined);
    expect(after.status.inventory.bindings).not.toContainEqual(binding);
    const [now] = await s.clients.projects.getIamPolicy({ resource: `projects/${PROJECT}` });
    expect((now.bindings ?? []).filter((b) => b.role === 'roles/bigquery.jobUser').flatMap((b) => b.members ?? [])).toContain(member);
    const notRevoked = (await events(ns)).filter((x) => x.reason === 'NotRevoked');
    expect(notRevoked).toHaveLength(1);
    expect(notRevoked[0]!.count ?? 1).toBe(1);
    expect((await events(ns)).filter((x) => x.reason === 'Revoked')).toEqual([]);
  });

  it('gives the later of two objects claiming one bucket a Conflict, and reconciles the first', async () => {
    const ns = await createNamespace(kube, 'ctl-claims');
    await controllerAs(kube.kubeconfig, ns);
    await create(environment(ns, 'first'));
    await synced(ns, 'first', 1);
    await create(environment(ns, 'second', (x) => {
      x.spec.buckets[0].name = 'jobmatch-first-bronze';
      x.spec.iam = x.spec.iam.map((b: any) => ({ ...b, resource: b.resource.replace('jobmatch-second-bronze', 'jobmatch-first-bronze') }));
    }));
    const second = await until('Conflict', () => get(ns, 'second'), (x) => condition(x, 'Ready')?.reason === 'Conflict');
    expect(condition(second, 'Ready').message).toContain('bucket jobmatch-first-bronze is already claimed by ctl-claims/first');
  });

  it('on delete applies each deletion policy: Delete deletes (only when empty), Retain releases, orphan-on-delete lets go', async () => {
    const ns = await createNamespace(kube, 'ctl-delete');
    await controllerAs(kube.kubeconfig, ns);
    const keep = environment(ns, 'keep');
    const drop = environment(ns, 'drop', (x) => {
      x.spec.buckets[0].deletionPolicy = 'Delete';
      x.spec.datasets = x.spec.datasets.map((d: any) => ({ ...d, deletionPolicy: 'Delete' }));
      x.spec.secrets = x.spec.secrets.map((d: any) => ({ ...d, deletionPolicy: 'Delete' }));
    });
    await create(keep);
    await create(drop);
    await synced(ns, 'keep', 1);
    await synced(ns, 'drop', 1);
    // A file in the Delete bucket: the finalizer must hold until it is emptied or orphaned.
    await s.clients.storage.bucket('jobmatch-drop-bronze').file('a.json').save('{}', { resumable: false });
    await api().deleteNamespacedCustomObject({ ...G, namespace: ns, name: 'drop' });
    await until('CleanupBlocked', () => events(ns), (evs) => evs.some((ev) => ev.reason === 'CleanupBlocked' && ev.message?.includes('holds 1 objects')));
    const blocked = await until('CleanupBlocked in status', () => get(ns, 'drop'), (x) => condition(x, 'Ready')?.reason === 'CleanupBlocked');
    expect(condition(blocked, 'Ready').message).toContain('holds 1 objects');
    expect(blocked.metadata.finalizers).toEqual(['jobmatch.io/cleanup']);
    expect((await s.clients.bigquery.dataset('drop_silver').exists())[0]).toBe(false);
    await patch(ns, 'drop', { metadata: { annotations: { 'jobmatch.io/orphan-on-delete': 'true' } } });
    await until('drop gone', () => get(ns, 'drop').then(() => 'there', () => 'gone'), (v) => v === 'gone');
    expect((await s.clients.storage.bucket('jobmatch-drop-bronze').exists())[0]).toBe(true);

    await api().deleteNamespacedCustomObject({ ...G, namespace: ns, name: 'keep' });
    await until('keep gone', () => get(ns, 'keep').then(() => 'there', () => 'gone'), (v) => v === 'gone');
    const labels = (await s.clients.storage.bucket('jobmatch-keep-bronze').getMetadata())[0].labels ?? {};
    expect(labels).toEqual({ team: 'data', layer: 'bronze' });
    const projectRoles = ((await s.clients.projects.getIamPolicy({ resource: `projects/${PROJECT}` }))[0].bindings ?? [])
      .filter((b) => b.members?.includes('serviceAccount:jobmatch-keep-vm@job-match-v0.iam.gserviceaccount.com'));
    expect(projectRoles).toEqual([]);
  });

  it('works with only the RBAC of manifests/install (a ServiceAccount token), which the apiserver accepts as a server-side dry run', async () => {
    await createNamespace(kube, 'jobmatch-system'); // a server-side dry run cannot create the namespace its objects go in
    const out = execFileSync('kubectl', ['--kubeconfig', kube.kubeconfigPath, 'apply', '-k', 'manifests/install', '--dry-run=server'], { encoding: 'utf8' });
    expect(out).toMatch(/clusterrole\.rbac\.authorization\.k8s\.io\/jobmatch-operator (created|configured|unchanged) \(server dry run\)/);
    execFileSync('kubectl', ['--kubeconfig', kube.kubeconfigPath, 'apply', '-k', 'manifests/install'], { encoding: 'utf8' });
    const token = await kube.serviceAccountToken('jobmatch-system', 'jobmatch-operator');
    const ns = await createNamespace(kube, 'ctl-rbac');
    const c = await controllerAs(kube.kubeConfigForToken(token), undefined, { leaderElection: true, leaseNamespace: 'jobmatch-system' });
    try { // this controller watches every namespace: it must not outlive the test, whatever happens in it
      await until('leader', async () => c.elector?.isLeader, (v) => v === true);
      await create(environment(ns, 'rbac'));
      await synced(ns, 'rbac', 1);
      await eventSeen(ns, 'Created');
    } finally {
      await c.stop();
      running.splice(running.indexOf(c), 1);
    }
    const lease = await kube.kubeconfig.makeApiClient(k8s.CoordinationV1Api).readNamespacedLease({ name: 'jobmatch-operator', namespace: 'jobmatch-system' });
    expect(lease.spec?.holderIdentity ?? '').toBe(''); // released on stop
  });

  it('elects one leader of two replicas (no duplicate writes), and the standby takes over when the leader stops', async () => {
    const ns = await createNamespace(kube, 'ctl-leader');
    await createNamespace(kube, 'ctl-leases');
    const a = await controllerAs(kube.kubeconfig, ns, { leaderElection: true, leaseNamespace: 'ctl-leases' });
    await until('a leads', async () => a.elector?.isLeader, (v) => v === true);
    const b = await controllerAs(kube.kubeconfig, ns, { leaderElection: true, leaseNamespace: 'ctl-leases' });
    s.sandbox.stats.reset();
    await create(environment(ns, 'leader'));
    await synced(ns, 'leader', 1);
    await a.controller.queue.idle();
    expect(b.elector?.isLeader).toBe(false);
    expect(s.sandbox.stats.snapshot().byApi.storage?.['buckets.insert']).toBe(1);
    const leases = kube.kubeconfig.makeApiClient(k8s.CoordinationV1Api);
    const holder = async () => (await leases.readNamespacedLease({ name: 'jobmatch-operator', namespace: 'ctl-leases' })).spec?.holderIdentity ?? '';
    const leaderIdentity = await holder();
    await a.stop();
    running.splice(running.indexOf(a), 1);
    // Released on stop: no longer a's, so the standby need not wait for the lease to expire.
    expect(await holder()).not.toBe(leaderIdentity);
    await until('b leads', async () => b.elector?.isLeader, (v) => v === true, { timeoutMs: 10_000 });
    await patch(ns, 'leader', { spec: { buckets: [{ ...(await get(ns, 'leader')).spec.buckets[0], versioning: false }] } });
    await synced(ns, 'leader', 2);
  });

  it('releases the Lease on stop even when the stop lands in the middle of a renewal', async () => {
    const leaseNs = await createNamespace(kube, 'ctl-release');
    const leases = kube.kubeconfig.makeApiClient(k8s.CoordinationV1Api);
    const logger = silentLogger();
    for (let round = 0; round < 20; round++) {
      let led!: () => void;
      const leading = new Promise<void>((resolve) => (led = resolve));
      const elector = new LeaderElector(kube.kubeconfig, {
        namespace: leaseNs, name: 'race', identity: `replica-${round}`, retryPeriodMs: 1, logger, onStartedLeading: () => led(), onStoppedLeading: () => undefined,
      });
      elector.start();
      await leading;
      await new Promise((resolve) => setTimeout(resolve, round % 5)); // stop at varying points of the renewal loop
      await elector.stop();
      const lease = await leases.readNamespacedLease({ name: 'race', namespace: leaseNs });
      expect(lease.spec?.holderIdentity ?? '', `round ${round}`).toBe('');
    }
  });

  it('as processes: SIGKILL the leader and the standby takes over within the lease duration; SIGTERM exits 0 and releases the Lease', async () => {
    const ns = await createNamespace(kube, 'ctl-processes');
    await createNamespace(kube, 'ctl-proc-leases');
    const leases = kube.kubeconfig.makeApiClient(k8s.CoordinationV1Api);
    const holder = async () => (await leases.readNamespacedLease({ name: 'jobmatch-operator', namespace: 'ctl-proc-leases' }).catch(() => undefined))?.spec?.holderIdentity ?? '';
    const start = () => {
      const child = spawn(process.execPath, [BIN, 'run', '--kubeconfig', kube.kubeconfigPath, '--namespace', ns, '--leader-election-namespace', 'ctl-proc-leases',
        '--gcp-endpoint', s.url, '--listen', '127.0.0.1:0', '--log-level', 'info'], { stdio: ['ignore', 'pipe', 'pipe'] });
      let log = '';
      child.stdout.on('data', (d: Buffer) => (log += d));
      child.stderr.on('data', (d: Buffer) => (log += d));
      return { child, log: () => log, exited: new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code))) };
    };
    const first = start();
    const firstHolder = await until('a leader', holder, (h) => h !== '', { timeoutMs: 30_000 });
    const second = start();
    await until('the standby is up', async () => second.log(), (l) => l.includes('"event":"start"'), { timeoutMs: 30_000 });
    const leader = firstHolder.includes(`_${first.child.pid}_`) ? first : second;
    const standby = leader === first ? second : first;
    const killedAt = Date.now();
    leader.child.kill('SIGKILL');
    await until('the standby leads', holder, (h) => h.includes(`_${standby.child.pid}_`), { timeoutMs: 30_000 });
    const takeoverMs = Date.now() - killedAt;
    process.stderr.write(`leader takeover after SIGKILL: ${takeoverMs} ms (lease 15 s, retry 2 s)\n`);
    // Never while the killed leader's lease (15 s from its last renewal, at most 2 s before the kill) is still valid.
    expect(takeoverMs).toBeGreaterThanOrEqual(12_000);
    standby.child.kill('SIGTERM');
    expect(await standby.exited).toBe(0);
    expect(await holder()).toBe('');
  }, 90_000);

  it('recovers from an apiserver restart without restarting, and keeps reconciling', async () => {
    const ns = await createNamespace(kube, 'ctl-restart');
    await controllerAs(kube.kubeconfig, ns);
    await create(environment(ns, 'restart'));
    await synced(ns, 'restart', 1);
    await kube.restart();
    await patch(ns, 'restart', { spec: { buckets: [{ ...(await get(ns, 'restart')).spec.buckets[0], versioning: false }] } });
    await synced(ns, 'restart', 2);
  }, 60_000);

  it('brings 50 environments to Synced with at most --concurrency reconciles at once', async () => {
    const ns = await createNamespace(kube, 'ctl-fifty');
    const c = await controllerAs(kube.kubeconfig, ns, { concurrency: 4 });
    let peak = 0;
    const sampler = setInterval(() => (peak = Math.max(peak, c.controller.queue.active)), 5);
    const started = Date.now();
    await Promise.all(Array.from({ length: 50 }, (_, i) => create(environment(ns, `e${String(i).padStart(2, '0')}`))));
    await until('50 Synced', async () => (await api().listNamespacedCustomObject({ ...G, namespace: ns }) as { items: Env[] }).items,
      (items) => items.length === 50 && items.every((e) => condition(e, 'Synced')?.status === 'True'), { timeoutMs: 180_000 });
    clearInterval(sampler);
    process.stderr.write(`50 environments Synced in ${Date.now() - started} ms; peak concurrent reconciles ${peak}; test process RSS ${Math.round(process.memoryUsage().rss / 2 ** 20)} MB\n`);
    expect(peak).toBeLessThanOrEqual(4);
    expect(peak).toBeGreaterThan(1);
  }, 240_000);

  it('never writes a secret value to Kubernetes or its own log', async () => {
    const values = Object.values(s.sandbox.store.data.projects).flatMap((p) => Object.values(p.secrets)).flatMap((x) => x.versions.map((v) => Buffer.from(v.data, 'base64').toString())).filter((v) => v.length >= 16);
    expect(values.length).toBeGreaterThan(4);
    const everything = JSON.stringify(await api().listClusterCustomObject(G)) + JSON.stringify(await kube.kubeconfig.makeApiClient(k8s.CoreV1Api).listEventForAllNamespaces()) + output;
    expect(leaks(values, everything)).toEqual([]);
  });
});

describe('the controller when the apiserver closes its watches', () => {
  let short: Kube | undefined;
  afterAll(async () => short?.stop(), 60_000);

  it('re-watches and keeps reconciling (--min-request-timeout 2 s: every watch is closed by the server within 2–4 s)', async () => {
    short = await startKube({ apiserverFlags: ['--min-request-timeout=2'] });
    await applyCrd(short, CRD);
    const ns = await createNamespace(short, 'ctl-rewatch');
    const logger = createActionLogger({ write: (l: string) => { output += l; } } as unknown as NodeJS.WritableStream, 'info');
    const clients = createGcpClients({ projectId: PROJECT, endpoint: s.url });
    const c = await startClusterController(short.kubeconfig, {
      namespace: ns, concurrency: 2, listen: '127.0.0.1:0', logger, metrics: new ControllerMetrics(), leaderElection: false,
      engine: { caller: new GcpCaller({ retry: FAST_RETRY }), clientsFor: () => clients, logger, execute: { policyWriter: new PolicyWriter() } },
    });
    try {
      const objects = short.kubeconfig.makeApiClient(k8s.CustomObjectsApi);
      const read = async () => (await objects.getNamespacedCustomObject({ ...G, namespace: ns, name: 'rewatch' })) as Env;
      await objects.createNamespacedCustomObject({ ...G, namespace: ns, body: environment(ns, 'rewatch') });
      await until('Synced', read, (e) => condition(e, 'Synced')?.status === 'True');
      await new Promise((r) => setTimeout(r, 5000)); // the server closes the watch at least once meanwhile
      const e = await read();
      await objects.patchNamespacedCustomObject({ ...G, namespace: ns, name: 'rewatch', body: { spec: { buckets: [{ ...e.spec.buckets[0], versioning: false }] } } }, MERGE);
      await until('the edit reconciled after the watch was closed', read, (x) => x.status?.observedGeneration === 2 && condition(x, 'Synced')?.status === 'True');
    } finally {
      await c.stop();
    }
  }, 120_000);
});
