/**
 * Aggregated Events against a real kube-apiserver (test/kube): an Event that has expired (its TTL, or
 * someone deleted it) is created anew, instead of every later patch answering 404 and the event being lost.
 */
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EnvironmentObject } from '../../src/controller/environment-object.js';
import { KubeStore } from '../../src/controller/kube-store.js';
import { createActionLogger } from '../../src/engine/action-log.js';
import { createNamespace, startKube, type Kube } from '../kube/cluster.js';

let kube: Kube;
let log = '';

beforeAll(async () => {
  kube = await startKube();
}, 30 * 60_000);

afterAll(async () => {
  await kube?.stop();
}, 60_000);

const object = (namespace: string, name: string): EnvironmentObject => ({
  manifest: { apiVersion: 'jobmatch.io/v1alpha1', kind: 'JobMatchEnvironment', metadata: { name, namespace, uid: '0b6f3a52-0000-4000-8000-000000000001' }, spec: {} as never },
});

describe('aggregated Events that outlive their TTL', () => {
  it('bumps one Event for the same reason and message, and creates it anew once the Event object is gone', async () => {
    const ns = await createNamespace(kube, 'events-ttl');
    const core = kube.kubeconfig.makeApiClient(k8s.CoreV1Api);
    const store = new KubeStore(kube.kubeconfig, {
      logger: createActionLogger({ write: (l: string) => { log += l; } } as unknown as NodeJS.WritableStream, 'info'),
      onChange: () => undefined,
    });
    const env = object(ns, 'ttl');
    const ours = async () => (await core.listNamespacedEvent({ namespace: ns })).items.filter((e) => e.reason === 'Created');

    await store.event(env, 'Normal', 'Created', 'bucket jobmatch-ttl-bronze');
    await store.event(env, 'Normal', 'Created', 'bucket jobmatch-ttl-bronze');
    let events = await ours();
    expect(events.map((e) => e.count)).toEqual([2]);

    // What the apiserver does when the Event's TTL (--event-ttl, 1 h by default) runs out.
    await core.deleteNamespacedEvent({ name: events[0]!.metadata!.name!, namespace: ns });
    await store.event(env, 'Normal', 'Created', 'bucket jobmatch-ttl-bronze');
    events = await ours();
    expect(events, log).toHaveLength(1);
    expect(events[0]).toMatchObject({ count: 1, message: 'bucket jobmatch-ttl-bronze', involvedObject: { name: 'ttl', kind: 'JobMatchEnvironment' } });
    expect(log).not.toMatch(/could not record an Event/);

    // …and the new one aggregates again.
    await store.event(env, 'Normal', 'Created', 'bucket jobmatch-ttl-bronze');
    expect((await ours()).map((e) => [e.metadata?.name, e.count])).toEqual([[events[0]!.metadata!.name, 2]]);
  });
});
