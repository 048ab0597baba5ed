/**
 * A shard handed over past its grace period: the reconciles of its environments still in flight are cancelled
 * (that environment's alone) and waited for, so the Lease is released only once none of them can write.
 */
import { describe, expect, it } from 'vitest';
import { Controller } from '../../src/controller/controller.js';
import { ControllerMetrics } from '../../src/controller/metrics.js';
import { createActionLogger } from '../../src/engine/action-log.js';
import { PolicyWriter } from '../../src/engine/policy-writer.js';
import { GcpCaller } from '../../src/gcp/gcp-caller.js';
import { FAST_RETRY } from '../support/engine.js';
import { exampleText } from '../support/manifests.js';
import { MemoryStore } from '../support/memory-store.js';
import { PROJECT, http, useSandbox } from '../support/sandbox.js';
import { createGcpClients } from '../../src/gcp/clients.js';

const s = useSandbox();

describe('handing a shard over', () => {
  it('cancels its reconciles still in flight after the grace period, waits for them, and nothing is written', async () => {
    // The bucket's read never answers: the reconcile is held in flight until it is cancelled (the client deadline is 60 s).
    const rule = await http(`${s.url}/__sandbox/config`, { method: 'PUT', json: { faultRules: [{ operation: 'buckets.get', phase: 'before', status: 'timeout' }] } });
    expect(rule.status, rule.text).toBe(200);
    const store = new MemoryStore();
    const key = store.put(exampleText('staging', { vm: false }));
    await store.addFinalizer(store.get(key)!);
    const lines: string[] = [];
    const logger = createActionLogger({ write: (l: string) => lines.push(l) } as unknown as NodeJS.WritableStream, 'info');
    const clients = createGcpClients({ projectId: PROJECT, endpoint: s.url, timeoutMs: 60_000 });
    const controller = new Controller({
      store, logger, metrics: new ControllerMetrics(), concurrency: 2,
      engine: { caller: new GcpCaller({ retry: FAST_RETRY }), clientsFor: () => clients, logger, execute: { policyWriter: new PolicyWriter() } },
    });
    controller.enqueue([key]);
    await expect.poll(() => s.sandbox.stats.snapshot().byApi.storage?.['buckets.get'] ?? 0).toBeGreaterThan(0);
    expect(controller.queue.active).toBe(1);

    const settledInGrace = await controller.release([key], 20);

    expect(settledInGrace).toBe(false);
    expect(controller.queue.active).toBe(0); // cancelled and ended before release() resolved
    expect(s.sandbox.stats.snapshot().writes).toBe(0);
    expect(lines.join('')).toMatch(/cancel/i);
    await controller.stop(0);
  });
});
