/**
 * A new JobMatchEnvironment has no status, which kstatus reads as Current. The controller's first pass (the one that
 * adds the finalizer) writes Reconciling=True before any GCP call, so Flux and Argo CD see it in progress from then
 * on; the reconcile that follows writes the full status.
 */
import { describe, expect, it } from 'vitest';
import { EnvironmentReconciler } from '../../src/controller/reconciler.js';
import { silentLogger } from '../../src/engine/action-log.js';
import { PolicyWriter } from '../../src/engine/policy-writer.js';
import { createGcpClients } from '../../src/gcp/clients.js';
import { GcpCaller } from '../../src/gcp/gcp-caller.js';
import { FAST_RETRY } from '../support/engine.js';
import { gitOpsVerdicts } from '../support/gitops-check.js';
import { mutated, NO_VM } from '../support/manifests.js';
import { MemoryStore } from '../support/memory-store.js';
import { PROJECT, useSandbox } from '../support/sandbox.js';

const s = useSandbox();

describe('the first reconcile of a new object', () => {
  it('says Reconciling before any GCP call: kstatus InProgress, Argo CD Progressing, where no status was Current', { timeout: 10 * 60_000 }, async () => {
    const store = new MemoryStore();
    const key = store.put(mutated(() => undefined, 'staging', NO_VM));
    const logger = silentLogger();
    const clients = createGcpClients({ projectId: PROJECT, endpoint: s.url });
    const reconciler = new EnvironmentReconciler({ store, logger, engine: { caller: new GcpCaller({ retry: FAST_RETRY }), clientsFor: () => clients, logger, execute: { policyWriter: new PolicyWriter() } } });
    const judged = async () => {
      const o = store.get(key)!;
      return (await gitOpsVerdicts([{ ...o.manifest, ...(o.status ? { status: o.status } : {}) }]))[0]!;
    };
    expect((await judged()).kstatus.status).toBe('Current');

    expect(await reconciler.reconcile(key)).toEqual({ requeueAfterMs: 0 });
    expect(s.sandbox.stats.snapshot()).toMatchObject({ reads: 0, writes: 0 });
    const first = store.get(key)!;
    expect(first.manifest.metadata.finalizers).toEqual(['jobmatch.io/cleanup']);
    const since = first.status?.conditions?.[0]?.lastTransitionTime;
    expect(first.status?.observedGeneration).toBeUndefined();
    expect(first.status?.conditions).toEqual([
      { type: 'Reconciling', status: 'True', reason: 'Progressing', message: 'first reconcile: observing GCP', lastTransitionTime: expect.any(String), observedGeneration: 1 },
    ]);
    expect(await judged()).toMatchObject({
      kstatus: { status: 'InProgress', message: 'first reconcile: observing GCP' },
      argocd: { status: 'Progressing', message: 'Waiting for the operator to reconcile generation 1' },
    });

    await reconciler.reconcile(key);
    const second = store.get(key)!.status!;
    expect(second.observedGeneration).toBe(1);
    expect(second.conditions?.find((c) => c.type === 'Reconciling')).toMatchObject({ status: 'True', reason: 'SecretsMissing', lastTransitionTime: since });
    expect(second.conditions?.find((c) => c.type === 'Stalled')).toMatchObject({ status: 'False' });
    expect(await judged()).toMatchObject({ kstatus: { status: 'InProgress' }, argocd: { status: 'Progressing', message: expect.stringMatching(/^SecretsMissing: /) } });
  });
});
