/**
 * /metrics as a GKE operator reads it: prom-client's process and Node metrics, drift counted only when it is
 * drift, one condition series per environment, and no drift-events gauge unless drift events are on. Through the
 * reconciler over an in-memory object store, against the sandbox.
 */
import { describe, expect, it } from 'vitest';
import { Controller } from '../../src/controller/controller.js';
import { ControllerMetrics } from '../../src/controller/metrics.js';
import { createActionLogger } from '../../src/engine/action-log.js';
import { PolicyWriter } from '../../src/engine/policy-writer.js';
import { createGcpClients } from '../../src/gcp/clients.js';
import { GcpCaller } from '../../src/gcp/gcp-caller.js';
import { FAST_RETRY } from '../support/engine.js';
import { exampleText, NO_VM } from '../support/manifests.js';
import { MemoryStore } from '../support/memory-store.js';
import { PROJECT, useSandbox } from '../support/sandbox.js';

const s = useSandbox();
const BUCKET = 'jobmatch-staging-bronze-job-match-v0';

/** The value of one series in the Prometheus text, or undefined when absent. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `)
    ? Object.entries(labels).every(([k, v]) => l.includes(`${k}="${v}"`)) : false);
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

describe('the controller\'s metrics', () => {
  it('count drift only when it is drift, show each environment\'s conditions, and include the process metrics', async () => {
    const store = new MemoryStore();
    const logger = createActionLogger({ write: () => true } as unknown as NodeJS.WritableStream, 'silent');
    const metrics = new ControllerMetrics();
    const clients = createGcpClients({ projectId: PROJECT, endpoint: s.url });
    const controller = new Controller({ store, logger, metrics, concurrency: 1, engine: { caller: new GcpCaller({ retry: FAST_RETRY }), clientsFor: () => clients, logger, execute: { policyWriter: new PolicyWriter() } } });
    const key = store.put(exampleText('staging', NO_VM));
    const reconcile = async () => {
      controller.enqueue([key]);
      await controller.queue.idle();
    };
    await reconcile(); // the finalizer
    await reconcile(); // the cold create: everything created, nothing drifted
    await reconcile(); // in sync
    let text = await metrics.registry.metrics();
    expect(text).not.toMatch(/^jobmatch_drift_detected_total\{/m);
    expect(sample(text, 'jobmatch_environment_condition', { namespace: 'jobmatch', name: 'staging', condition: 'Synced', status: 'True' })).toBe(1);
    expect(sample(text, 'jobmatch_environment_condition', { namespace: 'jobmatch', name: 'staging', condition: 'Synced', status: 'False' })).toBe(0);
    expect(sample(text, 'process_cpu_user_seconds_total')).toBeGreaterThan(0);
    expect(sample(text, 'nodejs_heap_size_used_bytes')).toBeGreaterThan(0);
    expect(text).not.toMatch(/jobmatch_drift_events_up/); // drift events are off

    await s.clients.storage.bucket(BUCKET).setMetadata({ versioning: { enabled: false } });
    await reconcile();
    text = await metrics.registry.metrics();
    expect(sample(text, 'jobmatch_drift_detected_total', { kind: 'Bucket' })).toBe(1);
    expect(text.match(/^jobmatch_drift_detected_total\{/gm)).toHaveLength(1);

    controller.forget([key]);
    text = await metrics.registry.metrics();
    expect(text).not.toMatch(/jobmatch_environment_condition\{/);
    metrics.driftEventsUp(true);
    expect(sample(await metrics.registry.metrics(), 'jobmatch_drift_events_up')).toBe(1);
  });
});
