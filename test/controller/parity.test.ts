/**
 * ParityDrift: an environment naming spec.parity.reference is compared with its reference's spec by the controller
 * (over a watched directory, against the sandbox): a condition, a Warning Event when it becomes True, a gauge.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { Controller } from '../../src/controller/controller.js';
import { DirectoryStore } from '../../src/controller/directory-store.js';
import { ControllerMetrics } from '../../src/controller/metrics.js';
import { createActionLogger } from '../../src/engine/action-log.js';
import { PolicyWriter } from '../../src/engine/policy-writer.js';
import { createGcpClients } from '../../src/gcp/clients.js';
import { GcpCaller } from '../../src/gcp/gcp-caller.js';
import { FAST_RETRY } from '../support/engine.js';
import { exampleDoc, exampleText, NO_VM } from '../support/manifests.js';
import { PROJECT, useSandbox } from '../support/sandbox.js';

const s = useSandbox();
const STAGING = 'jobmatch/staging';
const PROD = 'jobmatch/prod';
let dir: string;
let output: string;

async function start() {
  const logger = createActionLogger({ write: (l: string) => { output += l; } } as unknown as NodeJS.WritableStream, 'info');
  const store = new DirectoryStore(dir, logger, { printStatus: () => {} });
  const clients = createGcpClients({ projectId: PROJECT, endpoint: s.url });
  const engine = { caller: new GcpCaller({ retry: FAST_RETRY }), clientsFor: () => clients, logger, execute: { policyWriter: new PolicyWriter() } };
  const metrics = new ControllerMetrics({ processMetrics: false });
  const controller = new Controller({ store, engine, logger, metrics, concurrency: 2 });
  controller.enqueue(await store.load());
  await controller.queue.idle();
  return {
    store, metrics,
    parity: (key = STAGING) => store.statusOf(key)?.conditions?.find((c) => c.type === 'ParityDrift'),
    ready: (key = STAGING) => store.statusOf(key)?.conditions?.find((c) => c.type === 'Ready'),
    reconcile: async (...keys: string[]) => {
      await store.rescan();
      for (const k of keys) controller.queue.add(k);
      await controller.queue.idle();
    },
  };
}

const parityEvents = () => output.split('\n').filter((l) => l.includes('"k8s-event"') && l.includes('"reason":"ParityDrift"'));

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'jme-parity-'));
  output = '';
  s.sandbox.store.data = { projects: {}, buckets: {}, serial: 0 };
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('the ParityDrift condition', () => {
  it('is False (SameShape) for staging beside prod, True with the first differences once prod\'s shape moves, with one Event and the gauge; Ready is untouched', async () => {
    writeFileSync(join(dir, 'staging.yaml'), exampleText('staging', NO_VM));
    writeFileSync(join(dir, 'prod.yaml'), exampleText('prod', NO_VM));
    const h = await start();
    expect(h.parity()).toMatchObject({ status: 'False', reason: 'SameShape', message: 'same shape as prod, apart from 3 expected difference(s)' });
    expect(h.parity(PROD)).toBeUndefined(); // prod names no reference
    const readyBefore = h.ready();

    const prod = exampleDoc('prod', NO_VM);
    prod.spec.buckets[0].versioning = false;
    writeFileSync(join(dir, 'prod.yaml'), stringify(prod));
    await h.reconcile(PROD, STAGING);
    expect(h.parity()).toMatchObject({ status: 'True', reason: 'ShapeDiffers', message: '1 difference(s) from prod: buckets[bronze].versioning: true here, false in prod' });
    expect(h.ready()?.status).toBe(readyBefore?.status);
    expect(parityEvents()).toHaveLength(1);
    expect(await h.metrics.registry.metrics()).toMatch(/jobmatch_parity_differences\{namespace="jobmatch",name="staging"\} 1/);

    await h.reconcile(STAGING);
    expect(parityEvents()).toHaveLength(1); // still True: no new Event

    // prod's new spec is enough: staging, naming it as its reference, is reconciled again.
    writeFileSync(join(dir, 'prod.yaml'), exampleText('prod', NO_VM));
    await h.reconcile(PROD);
    expect(h.parity()?.reason).toBe('SameShape');
    expect(await h.metrics.registry.metrics()).toMatch(/jobmatch_parity_differences\{namespace="jobmatch",name="staging"\} 0/);
  });

  it('is Unknown (ReferenceNotFound) while no environment has the reference\'s name', async () => {
    writeFileSync(join(dir, 'staging.yaml'), exampleText('staging', NO_VM));
    const h = await start();
    expect(h.parity()).toMatchObject({ status: 'Unknown', reason: 'ReferenceNotFound' });
    expect(await h.metrics.registry.metrics()).not.toMatch(/jobmatch_parity_differences\{/);
  });
});
