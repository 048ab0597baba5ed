/**
 * The test cluster itself (test/kube): a real kube-apiserver and etcd serve the CRD and a
 * JobMatchEnvironment through @kubernetes/client-node: create, read, /status merge patch, watch,
 * an apiserver restart on the same etcd, RBAC for the operator's identity, ServiceAccount tokens.
 * The first run builds the binaries in beforeAll (10–17 min on 2 cores, then cached).
 */
import { readFileSync } from 'node:fs';
import * as k8s from '@kubernetes/client-node';
import { parse } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyCrd, createNamespace, startKube, type Kube } from './cluster.js';

const CRD = new URL('../../crds/jobmatchenvironments.jobmatch.io.yaml', import.meta.url).pathname;
const STAGING = new URL('../../manifests/examples/staging.yaml', import.meta.url).pathname;
const G = { group: 'jobmatch.io', version: 'v1alpha1', plural: 'jobmatchenvironments' };

interface Env {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace: string; generation?: number; resourceVersion?: string };
  spec: Record<string, unknown>;
  status?: { observedGeneration?: number; conditions?: Array<Record<string, unknown>> };
}

describe('a real kube-apiserver and etcd (test/kube)', () => {
  let kube: Kube | undefined;
  const manifest = parse(readFileSync(STAGING, 'utf8')) as Env;
  const ns = manifest.metadata.namespace;
  const name = manifest.metadata.name;

  beforeAll(async () => {
    kube = await startKube();
  }, 30 * 60_000); // the first run builds kube-apiserver and etcd with Go (10–17 min on 2 cores)

  afterAll(async () => {
    await kube?.stop();
  }, 60_000);

  const k = () => {
    if (!kube) throw new Error('the cluster did not start');
    return kube;
  };
  const objects = () => k().kubeconfig.makeApiClient(k8s.CustomObjectsApi);

  it('serves the version it was built as, on loopback', async () => {
    const v = await k().kubeconfig.makeApiClient(k8s.VersionApi).getCode();
    expect(v.gitVersion).toBe('v1.37.2');
    expect(k().url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
  });

  it('establishes the CRD', async () => {
    const [crd] = await applyCrd(k(), CRD);
    expect(crd?.metadata?.name).toBe('jobmatchenvironments.jobmatch.io');
    // As written: its CEL rules, defaults and enums reach the apiserver (a raw object's dashed keys were dropped).
    const spec = crd!.spec.versions[0]!.schema!.openAPIV3Schema!.properties!.spec!;
    expect(spec.x_kubernetes_validations?.length).toBeGreaterThan(5);
    expect(spec.properties!.policy!.properties!.drift!._enum).toEqual(['Heal', 'Report']);
    // Applying again (replace) is fine.
    await applyCrd(k(), CRD);
  }, 60_000);

  it('creates, reads, patches /status, watches, and keeps it across an apiserver restart', async () => {
    await createNamespace(k(), ns);
    const created = (await objects().createNamespacedCustomObject({ ...G, namespace: ns, body: manifest })) as Env;
    expect(created.metadata.generation).toBe(1);

    const read = (await objects().getNamespacedCustomObject({ ...G, namespace: ns, name })) as Env;
    expect(read.spec.environment).toBe('staging');
    expect((read.spec.gcp as { projectId: string }).projectId).toBe('job-match-v0');

    // Watch from the start: the existing object comes as ADDED, the status patch as MODIFIED.
    const events: Array<{ type: string; obj: Env }> = [];
    let watchDone: unknown = 'open';
    const sawModified = new Promise<void>((resolve) => {
      const check = () => events.some((e) => e.type === 'MODIFIED' && e.obj.status?.observedGeneration === 1);
      const timer = setInterval(() => check() && (clearInterval(timer), resolve()), 20);
    });
    const watch = await new k8s.Watch(k().kubeconfig).watch(
      `/apis/${G.group}/${G.version}/namespaces/${ns}/${G.plural}`,
      {},
      (type, obj: Env) => events.push({ type, obj }),
      (err) => (watchDone = err),
    );
    try {
      await expect.poll(() => events.map((e) => e.type), { timeout: 10_000 }).toContain('ADDED');

      const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
      const patched = (await objects().patchNamespacedCustomObjectStatus(
        {
          ...G,
          namespace: ns,
          name,
          body: {
            status: {
              observedGeneration: 1,
              conditions: [{ type: 'Ready', status: 'True', reason: 'Reconciled', message: 'smoke', lastTransitionTime: now }],
            },
          },
        },
        k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
      )) as Env;
      expect(patched.status?.observedGeneration).toBe(1);
      expect(patched.metadata.generation).toBe(1); // status edits do not bump generation

      await Promise.race([sawModified, new Promise((_, reject) => setTimeout(() => reject(new Error(`no MODIFIED event: ${JSON.stringify(events.map((e) => e.type))}`)), 10_000))]);
    } finally {
      watch.abort();
    }
    await expect.poll(() => watchDone, { timeout: 5_000 }).not.toBe('open'); // done() follows abort()

    const before = k().pids().apiserver;
    await k().restart();
    expect(k().pids().apiserver).not.toBe(before);
    const again = (await objects().getNamespacedCustomObject({ ...G, namespace: ns, name })) as Env;
    expect(again.status?.conditions?.[0]).toMatchObject({ type: 'Ready', status: 'True', reason: 'Reconciled' });
    expect(again.spec).toEqual(read.spec);
  }, 120_000);

  it('authorizes the operator\'s identity by RBAC only, and issues ServiceAccount tokens', async () => {
    const asOperator = (await k().kubeConfigFor('jobmatch-operator')).makeApiClient(k8s.CustomObjectsApi);
    await expect(asOperator.listNamespacedCustomObject({ ...G, namespace: ns })).rejects.toMatchObject({ code: 403 });

    const rbac = k().kubeconfig.makeApiClient(k8s.RbacAuthorizationV1Api);
    await rbac.createNamespacedRole({
      namespace: ns,
      body: { metadata: { name: 'reader' }, rules: [{ apiGroups: [G.group], resources: [G.plural], verbs: ['get', 'list', 'watch'] }] },
    });
    await rbac.createNamespacedRoleBinding({
      namespace: ns,
      body: {
        metadata: { name: 'reader' },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'reader' },
        subjects: [
          { kind: 'User', name: 'jobmatch-operator', apiGroup: 'rbac.authorization.k8s.io' },
          { kind: 'Group', name: 'readers', apiGroup: 'rbac.authorization.k8s.io' },
          { kind: 'ServiceAccount', name: 'operator', namespace: ns },
        ],
      },
    });
    await expect.poll(async () => ((await asOperator.listNamespacedCustomObject({ ...G, namespace: ns })) as { items: unknown[] }).items.length, { timeout: 10_000 }).toBe(1);

    // A client-certificate user, by group.
    const asReader = (await k().kubeConfigFor('someone', ['readers'])).makeApiClient(k8s.CustomObjectsApi);
    expect(((await asReader.listNamespacedCustomObject({ ...G, namespace: ns })) as { items: unknown[] }).items).toHaveLength(1);
    await expect(asReader.deleteNamespacedCustomObject({ ...G, namespace: ns, name })).rejects.toMatchObject({ code: 403 });

    // A ServiceAccount token from the TokenRequest API.
    const token = await k().serviceAccountToken(ns, 'operator');
    const asSa = k().kubeConfigForToken(token, 'operator');
    const review = await asSa.makeApiClient(k8s.AuthenticationV1Api).createSelfSubjectReview({ body: {} });
    expect(review.status?.userInfo?.username).toBe(`system:serviceaccount:${ns}:operator`);
    expect(((await asSa.makeApiClient(k8s.CustomObjectsApi).getNamespacedCustomObject({ ...G, namespace: ns, name })) as Env).metadata.name).toBe(name);
  }, 60_000);
});
