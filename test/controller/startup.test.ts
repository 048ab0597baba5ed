/**
 * Start-up against a real kube-apiserver (test/kube) with the real @kubernetes/client-node: ready means the first list
 * succeeded; until then the list is retried with a capped, jittered backoff that grows and resets only once a list
 * succeeds, and each failure says what to do (a 404: the CRD is not installed, with the kubectl command; a 403: the
 * verb and resource RBAC does not grant). The backoff is shortened here (100 ms → 800 ms) so nothing sleeps long.
 */
import { spawn } from 'node:child_process';
import { Readable } from 'node:stream';
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runReconcile } from '../../src/cli/reconcile-command.js';
import { startClusterController, type ClusterController } from '../../src/controller/cluster-runner.js';
import { ControllerMetrics } from '../../src/controller/metrics.js';
import { createActionLogger } from '../../src/engine/action-log.js';
import { PolicyWriter } from '../../src/engine/policy-writer.js';
import { GcpCaller } from '../../src/gcp/gcp-caller.js';
import { DEFAULT_IAM_POLICY } from '../../src/api/iam-policy.js';
import type { OperatorConfig } from '../../src/api/operator-config.js';
import { applyCrd, createNamespace, startKube, type Kube } from '../kube/cluster.js';
import { exampleDoc, NO_VM } from '../support/manifests.js';
import { until } from '../support/until.js';

const BIN = new URL('../../bin/jobmatch-operator.js', import.meta.url).pathname;
const CRD = new URL('../../crds/jobmatchenvironments.jobmatch.io.yaml', import.meta.url).pathname;
const BACKOFF = { initialMs: 100, maxMs: 800 };

interface LogLine { time: string; level: number; msg: string; retryInMs?: number; event?: string }

let kube: Kube;
const running: ClusterController[] = [];

beforeAll(async () => {
  kube = await startKube(); // no CRD yet
}, 30 * 60_000);

afterAll(async () => {
  for (const c of running.splice(0)) await c.stop().catch(() => undefined);
  await kube?.stop();
}, 60_000);

async function controllerAs(kc: k8s.KubeConfig, operatorConfig?: OperatorConfig) {
  const lines: LogLine[] = [];
  const logger = createActionLogger({ write: (l: string) => { for (const x of l.split('\n').filter(Boolean)) lines.push(JSON.parse(x) as LogLine); } } as unknown as NodeJS.WritableStream, 'info');
  const c = await startClusterController(kc, {
    concurrency: 1, listen: '127.0.0.1:0', logger, metrics: new ControllerMetrics(), leaderElection: false, shutdownGrace: '500',
    engine: { caller: new GcpCaller(), clientsFor: () => { throw new Error('no GCP in this test'); }, logger, execute: { policyWriter: new PolicyWriter() } },
    listWatchBackoff: BACKOFF, ...(operatorConfig ? { operatorConfig } : {}),
  });
  running.push(c);
  return { c, lines };
}

const readyz = async (c: ClusterController) => (await fetch(`${c.httpUrl}/readyz`)).status;
const readyzBody = async (c: ClusterController) => (await fetch(`${c.httpUrl}/readyz`)).text();
const retries = (lines: LogLine[], pattern: RegExp) => lines.filter((l) => l.retryInMs !== undefined && pattern.test(l.msg));

/** Each retry waits its announced delay, the delays double until the cap (jitter ±10%), and none exceeds it. */
function expectGrowingBackoff(attempts: LogLine[]) {
  const delays = attempts.map((l) => l.retryInMs!);
  const gaps = attempts.slice(1).map((l, i) => Date.parse(l.time) - Date.parse(attempts[i]!.time));
  const detail = JSON.stringify({ delays, gaps });
  expect(delays[0], detail).toBeLessThanOrEqual(BACKOFF.initialMs * 1.1);
  // Jittered: not exactly the doubling (each delay lands on it by chance about once in 20 to 160 draws).
  expect(delays.some((d, i) => d !== Math.min(BACKOFF.maxMs, BACKOFF.initialMs * 2 ** i)), detail).toBe(true);
  for (let i = 1; i < delays.length; i++) {
    expect(delays[i]!, detail).toBeLessThanOrEqual(BACKOFF.maxMs * 1.1);
    if (delays[i - 1]! < BACKOFF.maxMs * 0.9 / 1.1) expect(delays[i]! / delays[i - 1]!, detail).toBeGreaterThan(1.5);
    // Retried after its delay, not before (and not much later: a list on loopback takes milliseconds).
    expect(gaps[i - 1]!, detail).toBeGreaterThanOrEqual(delays[i - 1]! - 5);
    expect(gaps[i - 1]!, detail).toBeLessThan(delays[i - 1]! + 1000);
  }
}

describe('start-up', () => {
  it('as a process (the bundle) without the CRD: keeps running, not ready and saying why, retries at growing intervals; SIGTERM exits 0', async () => {
    const child = spawn(process.execPath, [BIN, 'run', '--kubeconfig', kube.kubeconfigPath, '--no-leader-election', '--gcp-endpoint', 'http://127.0.0.1:9', '--listen', '127.0.0.1:0'],
      { env: { PATH: process.env.PATH ?? '' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      const lines = () => out.split('\n').filter(Boolean).map((l) => JSON.parse(l) as LogLine & { http?: string });
      const missing = /the CRD jobmatchenvironments\.jobmatch\.io is not installed/;
      // The default backoff: about 1 s, then about 2 s.
      await until('two failed lists', () => retries(lines(), missing).length, (n) => n >= 2, { timeoutMs: 10_000, detail: () => `${out}\n${err}` });
      const url = lines().find((l) => l.event === 'start')!.http!;
      const res = await fetch(`${url}/readyz`);
      expect(res.status).toBe(503);
      expect(await res.text()).toContain('kubectl apply --server-side -k manifests/install/crd');
      const [first, second] = retries(lines(), missing);
      expect(first!.retryInMs).toBeGreaterThanOrEqual(900);
      expect(second!.retryInMs).toBeGreaterThanOrEqual(1800);
      expect(Date.parse(second!.time) - Date.parse(first!.time)).toBeGreaterThanOrEqual(first!.retryInMs! - 5);
      expect(err).toBe('');
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
  });

  it('plan --cluster without the CRD: one line saying so, with the command, exit 1', async () => {
    let stderr = '';
    const run = await runReconcile({ stdout: () => undefined, stderr: (t) => (stderr += t), stdin: Readable.from([]), env: {} }, 'plan',
      { cluster: true, kubeconfig: kube.kubeconfigPath, gcpEndpoint: 'http://127.0.0.1:9', logLevel: 'silent' });
    expect(run.code).toBe(1);
    expect(stderr).toBe('error: cannot read JobMatchEnvironments from the cluster: cannot list JobMatchEnvironments: the CRD jobmatchenvironments.jobmatch.io is not installed (404); '
      + 'install it, in its own step: `kubectl apply --server-side -k manifests/install/crd`\n');
  });

  it('without the CRD: not ready, says the CRD is missing once per backoff step with growing intervals; the CRD applied: ready', async () => {
    const { c, lines } = await controllerAs(kube.kubeconfig);
    expect(await readyz(c)).toBe(503);
    const missing = /the CRD jobmatchenvironments\.jobmatch\.io is not installed/;
    await until('five failed lists', () => retries(lines, missing).length, (n) => n >= 5, { timeoutMs: 10_000, detail: () => JSON.stringify(lines.slice(-5)) });
    expect(await readyz(c)).toBe(503);
    expect(c.store.synced).toBe(false);
    expect(await readyzBody(c)).toMatch(/^not ready: cannot list JobMatchEnvironments: the CRD jobmatchenvironments\.jobmatch\.io is not installed/);
    const attempts = retries(lines, missing);
    for (const l of attempts) expect(l.msg).toContain('kubectl apply --server-side -k manifests/install/crd');
    expectGrowingBackoff(attempts);

    await applyCrd(kube, CRD);
    await until('/readyz 200 once the CRD is there', () => readyz(c), (code) => code === 200, { timeoutMs: 5_000 });
    expect(c.store.synced).toBe(true);
    expect(await readyzBody(c)).toBe('ok\n');
    const after = retries(lines, missing).length;
    await new Promise((resolve) => setTimeout(resolve, 2 * BACKOFF.maxMs));
    expect(retries(lines, missing).length).toBe(after); // listed once: no more retries
    await c.stop();
    running.splice(running.indexOf(c), 1);
  });

  it('with a token RBAC does not allow to list: names the verb and the resource; allowed to list but not watch: ready, and names watch', async () => {
    const ns = await createNamespace(kube, 'startup-rbac');
    const token = await kube.serviceAccountToken(ns, 'nobody');
    const { c, lines } = await controllerAs(kube.kubeConfigForToken(token));
    const forbidden = (verb: string) => new RegExp(`may not ${verb} jobmatchenvironments\\.jobmatch\\.io`);
    await until('three refused lists', () => retries(lines, forbidden('list')).length, (n) => n >= 3, { timeoutMs: 10_000, detail: () => JSON.stringify(lines.slice(-5)) });
    expect(await readyz(c)).toBe(503);
    const refused = retries(lines, forbidden('list'));
    for (const l of refused) {
      expect(l.msg).toContain('grant the verb "list" on jobmatchenvironments in API group jobmatch.io');
      expect(l.msg).toContain('system:serviceaccount:startup-rbac:nobody');
    }
    expectGrowingBackoff(refused);

    // list, but not watch.
    const rbac = kube.kubeconfig.makeApiClient(k8s.RbacAuthorizationV1Api);
    await rbac.createClusterRole({ body: { metadata: { name: 'startup-list-only' }, rules: [{ apiGroups: ['jobmatch.io'], resources: ['jobmatchenvironments'], verbs: ['list'] }] } });
    await rbac.createClusterRoleBinding({ body: {
      metadata: { name: 'startup-list-only' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'startup-list-only' },
      subjects: [{ kind: 'ServiceAccount', name: 'nobody', namespace: ns }],
    } });
    await until('/readyz 200 once it may list', () => readyz(c), (code) => code === 200, { timeoutMs: 5_000 });
    await until('the refused watch reported', () => retries(lines, forbidden('watch')).length, (n) => n >= 1, { timeoutMs: 5_000, detail: () => JSON.stringify(lines.slice(-5)) });
    expect(retries(lines, forbidden('watch'))[0]!.msg).toContain('grant the verb "watch" on jobmatchenvironments in API group jobmatch.io');
  });

  it('with tenants selected by label and a token that may not list namespaces: not ready, names namespaces, retries with the backoff; granted: ready', async () => {
    const ns = await createNamespace(kube, 'startup-tenants');
    const token = await kube.serviceAccountToken(ns, 'tenants');
    const rbac = kube.kubeconfig.makeApiClient(k8s.RbacAuthorizationV1Api);
    const bind = async (name: string, rules: k8s.V1PolicyRule[]) => {
      await rbac.createClusterRole({ body: { metadata: { name }, rules } });
      await rbac.createClusterRoleBinding({ body: {
        metadata: { name }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name },
        subjects: [{ kind: 'ServiceAccount', name: 'tenants', namespace: ns }],
      } });
    };
    await bind('startup-tenants-jme', [
      { apiGroups: ['jobmatch.io'], resources: ['jobmatchenvironments', 'jobmatchenvironments/status'], verbs: ['list', 'watch', 'patch'] },
      { apiGroups: [''], resources: ['events'], verbs: ['create', 'patch'] },
    ]);
    // A tenant's environment, in a namespace its labels make a tenant's.
    const core = kube.kubeconfig.makeApiClient(k8s.CoreV1Api);
    const tenantNs = await createNamespace(kube, 'startup-tenant-data');
    await core.patchNamespace({ name: tenantNs, body: { metadata: { labels: { 'jobmatch.io/tenant': 'data' } } } }, k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch));
    const objects = kube.kubeconfig.makeApiClient(k8s.CustomObjectsApi);
    const G = { group: 'jobmatch.io', version: 'v1alpha1', plural: 'jobmatchenvironments' };
    const env = exampleDoc('staging', NO_VM);
    env.metadata = { name: 'staging', namespace: tenantNs };
    await objects.createNamespacedCustomObject({ ...G, namespace: tenantNs, body: env });
    const get = async () => (await objects.getNamespacedCustomObject({ ...G, namespace: tenantNs, name: 'staging' })) as { metadata: { finalizers?: string[] }; status?: { conditions?: { type: string; reason: string }[] } };
    const tenants = [{ namespaceSelector: { matchLabels: { 'jobmatch.io/tenant': 'data' } }, projects: ['job-match-v0'], environments: ['*'] }];
    const { c, lines } = await controllerAs(kube.kubeConfigForToken(token), { iamPolicy: DEFAULT_IAM_POLICY, tenants } as OperatorConfig);
    const forbidden = /may not list namespaces/;
    await until('three refused namespace lists', () => retries(lines, forbidden).length, (n) => n >= 3, { timeoutMs: 10_000, detail: () => JSON.stringify(lines.slice(-5)) });
    expect(c.store.synced).toBe(true); // the environments are listed; the namespaces' labels are not known
    expect(await readyz(c)).toBe(503);
    expect(await readyzBody(c)).toMatch(/^not ready: forbidden \(403\): this identity may not list namespaces .*grant get, list and watch on namespaces/);
    expectGrowingBackoff(retries(lines, forbidden));

    // Decided while its namespace's labels were unknown: not a tenant's, refused (no finalizer, zero GCP calls).
    const refused = await until('refused while the labels are unknown', get, (x) => x.status?.conditions?.some((k) => k.type === 'Stalled' && k.reason === 'ProjectNotAllowed') ?? false, { timeoutMs: 10_000 });
    expect(refused.metadata.finalizers ?? []).toEqual([]);

    await bind('startup-tenants-ns', [{ apiGroups: [''], resources: ['namespaces'], verbs: ['get', 'list', 'watch'] }]);
    await until('/readyz 200 once it may list namespaces', () => readyz(c), (code) => code === 200, { timeoutMs: 5_000 });
    // Once the labels are known every environment is reconciled again: this one is a tenant's (its first pass adds the finalizer).
    await until('reconciled again as a tenant\'s', get, (x) => x.metadata.finalizers?.includes('jobmatch.io/cleanup') ?? false, { timeoutMs: 10_000 });
  });
});
