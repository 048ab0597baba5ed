/**
 * The store's memory at scale, on the real apiserver: the list comes in pages, managedFields is not cached, and
 * with sharding another shard's object is held as its summary (spec and status gone, in the informer's cache too)
 * until its shard is gained and it is read whole again.
 */
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { objectKey } from '../../src/controller/environment-object.js';
import { KubeStore } from '../../src/controller/kube-store.js';
import { silentLogger } from '../../src/engine/action-log.js';
import { applyCrd, createNamespace, startKube, type Kube } from '../kube/cluster.js';
import { until } from '../support/until.js';
import { environmentObject } from '../../bench/environments.js';

const CRD = new URL('../../crds/jobmatchenvironments.jobmatch.io.yaml', import.meta.url).pathname;
const G = { group: 'jobmatch.io', version: 'v1alpha1', plural: 'jobmatchenvironments' };
const COUNT = 12;

let kube: Kube;
let namespace: string;

const body = (i: number) => environmentObject(i, { namespace, vm: false });

beforeAll(async () => {
  kube = await startKube();
  await applyCrd(kube, CRD);
  namespace = await createNamespace(kube, 'store');
  const api = kube.kubeconfig.makeApiClient(k8s.CustomObjectsApi);
  for (let i = 0; i < COUNT; i++) await api.createNamespacedCustomObject({ ...G, namespace, body: body(i) });
}, 30 * 60_000);

afterAll(async () => kube?.stop());

describe('KubeStore at scale', () => {
  it('lists in pages, caches no managedFields, and holds another shard’s objects as summaries until they are read whole', async () => {
    const even = (key: string) => Number(key.split('/e')[1]) % 2 === 0;
    const e = (i: number) => `${namespace}/e${String(i).padStart(4, '0')}`;
    const summarized: string[] = [];
    const store = new KubeStore(kube.kubeconfig, { namespace, logger: silentLogger(), listPageSize: 5, onChange: () => undefined });
    store.compact({
      keep: (o) => even(objectKey(o)),
      summarize: (o) => {
        summarized.push(objectKey(o));
        return { order: o.manifest.metadata.creationTimestamp ?? '', stamp: String(o.manifest.metadata.generation) };
      },
    });
    await store.start();
    try {
      expect(store.synced).toBe(true);
      expect(store.listPages).toBe(3); // 12 objects, 5 a page
      await until('the odd objects summarised', () => store.list().filter((o) => o.summary).length, (n) => n === COUNT / 2);
      const kept = store.list().filter((o) => !o.summary);
      expect(kept.map(objectKey).every(even)).toBe(true);
      expect(kept.every((o) => o.manifest.spec && !('managedFields' in o.manifest.metadata))).toBe(true);
      const stub = store.get(e(1))!;
      expect(stub.manifest.spec).toBeUndefined();
      expect(stub.status).toBeUndefined();
      expect(stub.manifest.metadata.uid).toBeTruthy(); // the shard is decided on it
      expect([...summarized].sort()).toEqual(store.list().filter((o) => o.summary).map(objectKey).sort());

      // Its shard gained: read whole again.
      await store.hydrate([e(1), e(2)]);
      expect(store.get(e(1))!.summary).toBeUndefined();
      expect(store.get(e(1))!.manifest.spec.buckets?.[0]?.name).toBe('jobmatch-e0001-bronze');
      // Handed over: summarised.
      store.compactKeys([e(2)]);
      expect(store.get(e(2))!.summary).toBeDefined();
      expect(store.get(e(2))!.manifest.spec).toBeUndefined();
    } finally {
      await store.stop();
    }
  });
});
