/**
 * The chart installed by the real Helm (v4.3.2) on a real kube-apiserver (test/kube): Helm installs the CRD from
 * crds/ and the operator's objects; the real controller process, run as the chart's ServiceAccount (its token, so
 * exactly the chart's RBAC) with the chart's ConfigMap as its --config file and the Deployment's own arguments,
 * reconciles a JobMatchEnvironment against the GCP sandbox; every option rendered at once passes the apiserver's
 * server-side dry run; `helm upgrade` changes the live objects; `helm uninstall` removes the operator and leaves the
 * CRD and the JobMatchEnvironments. There is no kubelet: nothing waits for pods.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { applyCrd, createNamespace, startKube, type Kube } from '../kube/cluster.js';
import { ensureHelm } from '../support/helm.js';
import { exampleDoc, NO_VM, type Doc as Manifest } from '../support/manifests.js';
import { PROJECT, useSandbox } from '../support/sandbox.js';
import { until } from '../support/until.js';
import { CHART, documents, EVERYTHING, exec, Helm, key, NAMESPACE, one, PACKAGE_VERSION, RELEASE, ROOT, type Doc } from './chart-support.js';

const BIN = join(ROOT, 'bin/jobmatch-operator.js');
const CRD_NAME = 'jobmatchenvironments.jobmatch.io';
const G = { group: 'jobmatch.io', version: 'v1alpha1', plural: 'jobmatchenvironments' };
const TENANT_NS = 'helm-team';
const OTHER_NS = 'helm-other';
/** The chart's default config with one tenant: proves the process runs with the ConfigMap the chart wrote. */
const CONFIG = {
  apiVersion: 'jobmatch.io/v1alpha1', kind: 'OperatorConfig',
  iamPolicy: { allowedRoles: {}, allowDomainMembers: false },
  tenants: [{ namespaces: [TENANT_NS], projects: [PROJECT] }],
};
/** The objects the chart installs in its namespace and cluster-wide (with the default values). */
const OPERATOR_OBJECTS = [
  ['clusterrole', 'jobmatch-operator'], ['clusterrolebinding', 'jobmatch-operator'],
  ['serviceaccount', 'jobmatch-operator'], ['configmap', 'jobmatch-operator-config'], ['deployment', 'jobmatch-operator'],
  ['poddisruptionbudget', 'jobmatch-operator'], ['role', 'jobmatch-operator-leader-election'], ['rolebinding', 'jobmatch-operator-leader-election'],
  ['service', 'jobmatch-operator-metrics'],
] as const;

const s = useSandbox();
let kube: Kube;
let helm: Helm | undefined;
let setupError: unknown;
let dir: string;
let child: ChildProcess | undefined;
let log = '';

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'jobmatch-helm-install-'));
  const [h, k] = await Promise.allSettled([ensureHelm(), startKube()]);
  if (k.status === 'fulfilled') kube = k.value;
  if (h.status === 'fulfilled') helm = new Helm(h.value);
  setupError = h.status === 'rejected' ? h.reason : k.status === 'rejected' ? k.reason : undefined;
}, 30 * 60_000);

afterAll(async () => {
  child?.kill('SIGKILL');
  await kube?.stop();
  helm?.dispose();
  if (dir) rmSync(dir, { recursive: true, force: true });
}, 60_000);

/** Helm and the apiserver; every test fails with the reason when either could not be had (a throwing beforeAll would skip them). */
const h = (): Helm => {
  if (setupError) throw setupError;
  return helm!;
};
const kubectl = async (args: string[], input?: string) => {
  const out = await exec('kubectl', ['--kubeconfig', kube.kubeconfigPath, ...args], input !== undefined ? { input } : {});
  if (out.code !== 0) throw new Error(`kubectl ${args.join(' ')} exited ${out.code}:\n${out.stderr}${out.stdout}`);
  return out.stdout;
};
/** A live object as JSON, or undefined when it does not exist. */
const live = async (kind: string, name: string, namespace?: string): Promise<Doc | undefined> => {
  const out = await kubectl(['get', kind, name, ...(namespace ? ['-n', namespace] : []), '--ignore-not-found', '-o', 'json']);
  return out.trim() ? (JSON.parse(out) as Doc) : undefined;
};
const helmArgs = (verb: string, values: object) => [verb, RELEASE, CHART, '--namespace', NAMESPACE, '--kubeconfig', kube.kubeconfigPath, '-f', h().valuesFile(values)];

const custom = () => kube.kubeconfig.makeApiClient(k8s.CustomObjectsApi);
const getEnv = async (ns: string, name: string) => (await custom().getNamespacedCustomObject({ ...G, namespace: ns, name })) as Manifest;
const condition = (e: Manifest, type: string) => e.status?.conditions?.find((c: { type: string }) => c.type === type);

/** The staging example without its VM and without the secrets a person must fill (so it can become Ready), renamed. */
function environment(ns: string, id: string): Manifest {
  const e = exampleDoc('staging', NO_VM);
  const external = new Set(e.spec.secrets.filter((x: { source: string }) => x.source === 'external').map((x: { name: string }) => `secret/${x.name}`));
  e.metadata = { name: id, namespace: ns };
  e.spec.environment = id;
  e.spec.secrets = e.spec.secrets.filter((x: { source: string }) => x.source !== 'external');
  e.spec.buckets[0].name = `jobmatch-${id}-bronze`;
  e.spec.datasets = e.spec.datasets.map((d: { datasetId: string }) => ({ ...d, datasetId: d.datasetId.replace('staging', id.replaceAll('-', '_')) }));
  e.spec.iam = e.spec.iam.filter((b: { resource: string }) => !external.has(b.resource)).map((b: { member: string; resource: string }) => ({
    ...b, member: b.member.replace('jobmatch-staging-vm', `jobmatch-${id}-vm`),
    resource: b.resource.replace('jobmatch-staging-bronze-job-match-v0', `jobmatch-${id}-bronze`).replace(/staging_/, `${id.replaceAll('-', '_')}_`),
  }));
  return e;
}

describe('the chart on a real apiserver', () => {
  it('helm install: the CRD from crds/ and the operator\'s objects, labelled by Helm, in the new namespace', async () => {
    const out = await h().ok([...helmArgs('install', { config: CONFIG }), '--create-namespace']);
    expect(out).toMatch(/STATUS: deployed/);
    // NOTES.txt: the CRD's handling, and the Workload Identity placeholder still to be set.
    expect(out).toContain('never upgrades or deletes it');
    expect(out).toContain('WARNING: serviceAccount.gcpServiceAccount is still the placeholder jobmatch-operator@PROJECT_ID.iam.gserviceaccount.com');
    const crd = await live('crd', CRD_NAME);
    expect(crd, 'Helm did not install the CRD from crds/').toBeDefined();
    const shipped = parse(readFileSync(join(CHART, 'crds', `${CRD_NAME}.yaml`), 'utf8'));
    expect(crd!.spec.versions.map((v: { name: string }) => v.name)).toEqual(shipped.spec.versions.map((v: { name: string }) => v.name));
    expect(crd!.metadata.annotations).toMatchObject(shipped.metadata.annotations);
    expect(crd!.metadata.labels?.['app.kubernetes.io/managed-by']).toBeUndefined(); // crds/ are not part of the release
    for (const [kind, name] of OPERATOR_OBJECTS) {
      const obj = await live(kind, name, NAMESPACE);
      expect(obj, `${kind}/${name}`).toBeDefined();
      expect(obj!.metadata.labels, `${kind}/${name}`).toMatchObject({ 'app.kubernetes.io/managed-by': 'Helm', 'app.kubernetes.io/instance': RELEASE, 'app.kubernetes.io/name': 'jobmatch-operator' });
      expect(obj!.metadata.annotations, `${kind}/${name}`).toMatchObject({ 'meta.helm.sh/release-name': RELEASE, 'meta.helm.sh/release-namespace': NAMESPACE });
    }
    const deployment = (await live('deployment', 'jobmatch-operator', NAMESPACE))!;
    expect(deployment.spec.template.spec.containers[0].image).toBe(`ghcr.io/jobmatch/jobmatch-operator:${PACKAGE_VERSION}`);
    const release = JSON.parse(await h().ok(['list', '--namespace', NAMESPACE, '--kubeconfig', kube.kubeconfigPath, '-o', 'json'])) as Array<{ name: string; status: string; revision: string | number; app_version: string }>;
    expect(release).toMatchObject([{ name: RELEASE, status: 'deployed', app_version: PACKAGE_VERSION }]);
  });

  it('the controller process, as the chart\'s ServiceAccount with the chart\'s config and arguments, reconciles an environment to Ready', { timeout: 90_000 }, async () => {
    // What a pod of the Deployment would run: its arguments, its ConfigMap's config.yaml as the file, its token.
    const deployment = (await live('deployment', 'jobmatch-operator', NAMESPACE))!;
    const container = deployment.spec.template.spec.containers[0];
    const mount = container.volumeMounts.find((m: { name: string }) => m.name === 'config').mountPath as string;
    const configMap = (await live('configmap', deployment.spec.template.spec.volumes.find((v: { name: string }) => v.name === 'config').configMap.name, NAMESPACE))!;
    for (const [file, text] of Object.entries(configMap.data as Record<string, string>)) writeFileSync(join(dir, file), text);
    const args = (container.args as string[]).map((a) => (a.startsWith(`${mount}/`) ? join(dir, a.slice(mount.length + 1)) : a));
    expect(args).toEqual(['run', '--config', join(dir, 'config.yaml')]);
    const token = await kube.serviceAccountToken(NAMESPACE, deployment.spec.template.spec.serviceAccountName);
    const kubeconfig = join(dir, 'kubeconfig');
    // In a pod the Lease's namespace is the ServiceAccount's (its mounted namespace file); here, the context's.
    const config = parse(kube.kubeConfigForToken(token, 'jobmatch-operator').exportConfig()) as { contexts: Array<{ context: { namespace?: string } }> };
    for (const c of config.contexts) c.context.namespace = NAMESPACE;
    writeFileSync(kubeconfig, stringify(config), { mode: 0o600 });

    await createNamespace(kube, TENANT_NS);
    await createNamespace(kube, OTHER_NS);
    await custom().createNamespacedCustomObject({ ...G, namespace: TENANT_NS, body: environment(TENANT_NS, 'helm-ready') });
    await custom().createNamespacedCustomObject({ ...G, namespace: OTHER_NS, body: environment(OTHER_NS, 'helm-refused') });

    // Leader election on, as in the pod: the Lease in the release namespace, with the chart's Role.
    child = spawn(process.execPath, [BIN, ...args, '--kubeconfig', kubeconfig, '--gcp-endpoint', s.url, '--listen', '127.0.0.1:0'], {
      env: { PATH: process.env.PATH ?? '', POD_NAMESPACE: NAMESPACE, POD_NAME: 'jobmatch-operator-0' }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout!.on('data', (d: Buffer) => (log += d));
    child.stderr!.on('data', (d: Buffer) => (log += d));
    const poll = { timeoutMs: 45_000, detail: () => log.slice(-4000) };
    const ready = await until('helm-team/helm-ready Ready', () => getEnv(TENANT_NS, 'helm-ready'), (e) => condition(e, 'Ready')?.status === 'True', poll);
    expect(condition(ready, 'Synced')).toMatchObject({ status: 'True' });
    expect(ready.metadata.finalizers).toEqual(['jobmatch.io/cleanup']);
    expect(ready.status.resources).toContainEqual(expect.objectContaining({ kind: 'Bucket', name: 'jobmatch-helm-ready-bronze' }));
    expect((await s.clients.storage.bucket('jobmatch-helm-ready-bronze').exists())[0]).toBe(true);
    expect((await s.clients.bigquery.dataset('helm_ready_silver').exists())[0]).toBe(true);
    // The tenants of the chart's config: another namespace is refused, with no GCP call about it.
    const refused = await until('helm-other/helm-refused Stalled', () => getEnv(OTHER_NS, 'helm-refused'), (e) => condition(e, 'Stalled')?.status === 'True', poll);
    expect(condition(refused, 'Stalled').reason).toBe('ProjectNotAllowed');
    expect(s.sandbox.stats.requests().filter((r) => `${r.path}${r.query}`.includes('helm-refused') || `${r.path}${r.query}`.includes('helm_refused'))).toEqual([]);
    // It led through the chart's Role: the Lease in the release namespace names this process.
    const lease = await kube.kubeconfig.makeApiClient(k8s.CoordinationV1Api).readNamespacedLease({ name: 'jobmatch-operator', namespace: NAMESPACE });
    expect(lease.spec?.holderIdentity).toMatch(new RegExp(`^${hostname()}_${child.pid}_`));
    expect(log, 'the chart\'s RBAC refused a call').not.toMatch(/is forbidden|may not (get|list|watch|create|update|patch|delete)\b/);
    child.kill('SIGTERM');
    expect(await new Promise((resolve) => child!.on('exit', resolve))).toBe(0);
    child = undefined;
  });

  it('every option rendered at once passes the apiserver\'s server-side dry run (PodMonitoring and ServiceMonitor against stand-in CRDs)', async () => {
    // Minimal CRDs of the two monitoring groups (any object accepted): the dry run then checks their group, version,
    // kind and scope, not their fields (those are each project's schema, not installed here).
    const standIns = join(dir, 'monitoring-crds.yaml');
    writeFileSync(standIns, [standInCrd('monitoring.googleapis.com', 'PodMonitoring', 'podmonitorings'), standInCrd('monitoring.coreos.com', 'ServiceMonitor', 'servicemonitors')].map((d) => stringify(d)).join('---\n'));
    await applyCrd(kube, standIns);
    const rendered = await h().ok(['template', RELEASE, CHART, '--namespace', NAMESPACE, '-f', h().valuesFile(EVERYTHING)]);
    const docs = documents(rendered);
    expect(docs.map((d) => d.kind)).toEqual(expect.arrayContaining(['PodMonitoring', 'ServiceMonitor', 'Deployment', 'ServiceAccount']));
    // --force-conflicts: the installed release's fields belong to Helm's field manager; a dry run persists nothing.
    const out = await kubectl(['apply', '--server-side', '--force-conflicts', '--dry-run=server', '-f', '-'], rendered);
    for (const d of docs) expect(out, key(d)).toMatch(new RegExp(`${d.metadata.name} serverside-applied \\(server dry run\\)`));
    expect(out.trim().split('\n')).toHaveLength(docs.length);
  });

  it('helm upgrade with changed values changes the live objects, and leaves the CRD alone', async () => {
    const crdBefore = (await live('crd', CRD_NAME))!.metadata.resourceVersion;
    const deploymentBefore = (await live('deployment', 'jobmatch-operator', NAMESPACE))!;
    const out = await h().ok(helmArgs('upgrade', {
      config: CONFIG, replicaCount: 1, extraArgs: ['--concurrency', '2'], podDisruptionBudget: { enabled: false },
      serviceAccount: { gcpServiceAccount: 'jobmatch-operator@helm-project.iam.gserviceaccount.com' },
      image: { digest: `sha256:${'cd'.repeat(32)}` },
    }));
    expect(out).toMatch(/REVISION: 2/);
    expect(out).not.toContain('WARNING'); // the Workload Identity annotation is set now
    const deployment = (await live('deployment', 'jobmatch-operator', NAMESPACE))!;
    expect(deployment.spec.replicas).toBe(1);
    expect(deployment.spec.template.spec.containers[0].args).toEqual(['run', '--config', '/etc/jobmatch-operator/config.yaml', '--concurrency', '2']);
    expect(deployment.spec.template.spec.containers[0].image).toBe(`ghcr.io/jobmatch/jobmatch-operator@sha256:${'cd'.repeat(32)}`);
    // The same config: the same checksum (a rollout is the Deployment's own doing, for the args and image).
    expect(deployment.spec.template.metadata.annotations['checksum/config']).toBe(deploymentBefore.spec.template.metadata.annotations['checksum/config']);
    expect(deployment.metadata.generation).toBeGreaterThan(deploymentBefore.metadata.generation);
    expect((await live('serviceaccount', 'jobmatch-operator', NAMESPACE))!.metadata.annotations?.['iam.gke.io/gcp-service-account']).toBe('jobmatch-operator@helm-project.iam.gserviceaccount.com');
    expect(await live('poddisruptionbudget', 'jobmatch-operator', NAMESPACE)).toBeUndefined();
    expect((await live('crd', CRD_NAME))!.metadata.resourceVersion).toBe(crdBefore);
    const history = JSON.parse(await h().ok(['history', RELEASE, '--namespace', NAMESPACE, '--kubeconfig', kube.kubeconfigPath, '-o', 'json'])) as Array<{ revision: number; status: string }>;
    expect(history.map((r) => [r.revision, r.status])).toEqual([[1, 'superseded'], [2, 'deployed']]);
  });

  it('helm uninstall removes the operator\'s objects; the CRD and the JobMatchEnvironments stay', async () => {
    const out = await h().ok(['uninstall', RELEASE, '--namespace', NAMESPACE, '--kubeconfig', kube.kubeconfigPath]);
    expect(out).toMatch(/release "jobmatch-operator" uninstalled/);
    for (const [kind, name] of OPERATOR_OBJECTS) expect(await live(kind, name, NAMESPACE), `${kind}/${name}`).toBeUndefined();
    expect(await live('crd', CRD_NAME)).toBeDefined();
    const envs = JSON.parse(await kubectl(['get', 'jobmatchenvironments', '--all-namespaces', '-o', 'json'])).items as Doc[];
    expect(envs.map(key).sort()).toEqual([`JobMatchEnvironment/${OTHER_NS}/helm-refused`, `JobMatchEnvironment/${TENANT_NS}/helm-ready`]);
    expect(envs.find((e) => e.metadata.name === 'helm-ready')!.metadata.deletionTimestamp).toBeUndefined();
    expect((await s.clients.storage.bucket('jobmatch-helm-ready-bronze').exists())[0]).toBe(true);
  });
});

function standInCrd(group: string, kind: string, plural: string) {
  return {
    apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinition',
    metadata: { name: `${plural}.${group}` },
    spec: {
      group, scope: 'Namespaced', names: { kind, plural, singular: kind.toLowerCase(), listKind: `${kind}List` },
      versions: [{ name: 'v1', served: true, storage: true, schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } } }],
    },
  };
}
