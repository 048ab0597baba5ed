/**
 * Drift in seconds: the controller subscribed to audit-log entries through the real Pub/Sub emulator, the
 * sandbox publishing an Admin Activity entry for every write it serves (as the Log Router would), set up by
 * `drift-events setup`. The resync is on a clock the test moves by hand, so nothing here is healed by a
 * resync unless the test says so.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PubSub } from '@google-cloud/pubsub';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ownWrites } from '../../src/controller/drift-events.js';
import { Controller } from '../../src/controller/controller.js';
import { DirectoryStore } from '../../src/controller/directory-store.js';
import { ControllerMetrics } from '../../src/controller/metrics.js';
import { createDriftEventsClients } from '../../src/drift-events/drift-events-clients.js';
import { setupDriftEvents } from '../../src/drift-events/drift-events-setup.js';
import { silentLogger } from '../../src/engine/action-log.js';
import { PolicyWriter } from '../../src/engine/policy-writer.js';
import { createGcpClients, type GcpClients } from '../../src/gcp/clients.js';
import { GcpCaller } from '../../src/gcp/gcp-caller.js';
import { createPubSub } from '../../src/gcp/pubsub-client.js';
import { startSandbox, type Sandbox } from '../../src/sandbox/server.js';
import { manualClock } from '../support/clock.js';
import { leaks } from '../support/leaks.js';
import { until } from '../support/until.js';
import { FAST_RETRY } from '../support/engine.js';
import { exampleText, NO_VM } from '../support/manifests.js';
import { startPubSubEmulator, type PubSubEmulator } from '../support/pubsub-emulator.js';
import { PROJECT } from '../support/sandbox.js';

const KEY = 'jobmatch/staging';
const BUCKET = 'jobmatch-staging-bronze-job-match-v0';
const SUBSCRIPTION = `projects/${PROJECT}/subscriptions/jobmatch-operator`;
const INSTANCE = 'controller/test-instance';


let emulator: PubSubEmulator;
let sandbox: Sandbox;
let dir: string;
let controller: Controller;
let store: DirectoryStore;
let metrics: ControllerMetrics;
let clients: GcpClients;
let operatorClients: GcpClients;
let pubsub: PubSub;
let time: ReturnType<typeof manualClock>;
let reconciles = 0;

async function setup(): Promise<void> {
  const setupClients = await createDriftEventsClients({ projectId: PROJECT, gcpEndpoint: sandbox.url, pubsubEmulator: emulator.host });
  try {
    await setupDriftEvents({ ...setupClients, projectNumber: async () => '123456789012' }, { project: PROJECT });
  } finally {
    await setupClients.close();
  }
}

async function outcomes(): Promise<Record<string, number>> {
  const { values } = await metrics.driftEvents.get();
  return Object.fromEntries(values.map((v) => [String(v.labels.outcome), v.value]));
}

const total = async () => Object.values(await outcomes()).reduce((a, b) => a + b, 0);

/** Events arrive asynchronously: polled every 20 ms, for 15 s unless a step says otherwise. */
const POLL = { timeoutMs: 15_000, everyMs: 20 };

/** Every audit entry published so far has reached the controller (any outcome). */
async function drained(): Promise<void> {
  await sandbox.auditLog.flush();
  const published = sandbox.stats.snapshot().auditLog?.published ?? 0;
  await until('every published entry to be received', total, (n) => n >= published, POLL);
  await until('no environment due', () => controller.driftEvents!.settled, (v) => v, POLL);
  await controller.queue.idle();
}

const condition = (type: string) => store.statusOf(KEY)?.conditions?.find((c) => c.type === type);

beforeAll(async () => {
  emulator = await startPubSubEmulator();
  sandbox = await startSandbox({ pubsubEmulator: emulator.host, seed: { projects: [{ projectId: PROJECT, projectNumber: '123456789012' }] } });
  await setup();
  dir = mkdtempSync(join(tmpdir(), 'jme-drift-'));
  writeFileSync(join(dir, 'staging.yaml'), exampleText('staging', NO_VM));
  const logger = silentLogger();
  store = new DirectoryStore(dir, logger);
  metrics = new ControllerMetrics();
  clients = createGcpClients({ projectId: PROJECT, endpoint: sandbox.url }); // someone else
  operatorClients = createGcpClients({ projectId: PROJECT, endpoint: sandbox.url, userAgent: `jobmatch-operator/test ${INSTANCE}` });
  pubsub = await createPubSub(PROJECT, emulator.host);
  time = manualClock();
  controller = new Controller({
    store, logger, metrics, concurrency: 2, clock: time.clock,
    engine: { caller: new GcpCaller({ retry: FAST_RETRY }), clientsFor: () => operatorClients, logger, execute: { policyWriter: new PolicyWriter() } },
    driftEvents: { pubsub, subscription: SUBSCRIPTION, isOwnWrite: ownWrites(INSTANCE, []), probeMs: 200, coalesceMs: 300 },
  });
  const reconcile = controller.reconciler.reconcile.bind(controller.reconciler);
  controller.reconciler.reconcile = async (key) => {
    reconciles += 1;
    return reconcile(key);
  };
  await controller.startDriftEvents();
  controller.enqueue(await store.load());
  await controller.queue.idle();
  // The external secrets get values (a person's writes: events for this environment).
  for (const name of ['llm-api-key', 'france-travail-api-key']) {
    await clients.secrets.addSecretVersion({ parent: `projects/${PROJECT}/secrets/jobmatch-staging-${name}`, payload: { data: Buffer.from('x') } });
  }
  await drained();
}, 120_000);

afterAll(async () => {
  await controller?.stop(0);
  await pubsub?.close();
  await sandbox?.close();
  await emulator?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('drift events', () => {
  it('the setup is idempotent: a second run changes nothing', async () => {
    const setupClients = await createDriftEventsClients({ projectId: PROJECT, gcpEndpoint: sandbox.url, pubsubEmulator: emulator.host });
    try {
      const again = await setupDriftEvents({ ...setupClients, projectNumber: async () => '123456789012' }, { project: PROJECT });
      expect(again.changed).toBe(false);
    } finally {
      await setupClients.close();
    }
  });

  it("costs no reconcile for the operator's own writes, and says DriftEvents True", async () => {
    expect(condition('Synced')?.status).toBe('True');
    expect(condition('DriftEvents')).toMatchObject({ status: 'True', reason: 'Receiving' });
    const before = reconciles;
    const own = (await outcomes()).own ?? 0;
    expect(own).toBeGreaterThan(10); // the buckets, datasets, secrets and grants it made
    // A write of the operator's own, now: received, recognised, no reconcile.
    await operatorClients.storage.bucket(BUCKET).setMetadata({ labels: { team: 'data' } });
    await drained();
    expect((await outcomes()).own).toBe(own + 1);
    expect(reconciles).toBe(before);
  });

  it('heals a bucket whose versioning someone turned off, within seconds, with no resync due', async () => {
    const before = reconciles;
    const started = performance.now();
    await clients.storage.bucket(BUCKET).setMetadata({ versioning: { enabled: false } });
    await until('versioning healed', async () => (await clients.storage.bucket(BUCKET).getMetadata())[0].versioning?.enabled, (v) => v === true, POLL);
    console.log(`drift → healed through the emulator: ${Math.round(performance.now() - started)} ms`);
    await drained();
    expect(condition('DriftDetected')).toMatchObject({ status: 'True', message: expect.stringMatching(/Bucket .*versioning/) });
    expect(reconciles - before).toBeGreaterThanOrEqual(1);
  });

  it('heals a dataset description, a removed IAM binding and a disabled secret version the same way', async () => {
    const [silver] = await clients.bigquery.dataset('staging_silver').getMetadata();
    await clients.bigquery.dataset('staging_silver').setMetadata({ description: 'tampered' });
    const [policy] = await clients.secrets.getIamPolicy({ resource: `projects/${PROJECT}/secrets/jobmatch-staging-postgres-password` });
    await clients.secrets.setIamPolicy({ resource: `projects/${PROJECT}/secrets/jobmatch-staging-postgres-password`, policy: { ...policy, bindings: [] } });
    const [versions] = await clients.secrets.listSecretVersions({ parent: `projects/${PROJECT}/secrets/jobmatch-staging-postgres-password` });
    await clients.secrets.disableSecretVersion({ name: versions.find((v) => v.state === 'ENABLED')!.name! });
    await until('the dataset description back', async () => (await clients.bigquery.dataset('staging_silver').getMetadata())[0].description, (v) => v === silver.description, POLL);
    await until('the binding back', async () => (await clients.secrets.getIamPolicy({ resource: `projects/${PROJECT}/secrets/jobmatch-staging-postgres-password` }))[0].bindings?.length ?? 0, (n) => n > 0, POLL);
    await until('an enabled version again', async () => (await clients.secrets.listSecretVersions({ parent: `projects/${PROJECT}/secrets/jobmatch-staging-postgres-password` }))[0].some((v) => v.state === 'ENABLED'), (v) => v, POLL);
    await drained();
    expect(condition('Synced')?.status).toBe('True');
  });

  it('turns a burst of 1,000 events for one environment into one or two reconciles', async () => {
    await drained();
    const before = reconciles;
    const matched = (await outcomes()).matched ?? 0;
    const topic = (await createPubSub(PROJECT, emulator.host)).topic('jobmatch-drift-events');
    const entry = (i: number) => ({
      insertId: `burst-${i}`, logName: `projects/${PROJECT}/logs/cloudaudit.googleapis.com%2Factivity`,
      protoPayload: { '@type': 'type.googleapis.com/google.cloud.audit.AuditLog', serviceName: 'storage.googleapis.com', methodName: 'storage.buckets.update', resourceName: `projects/_/buckets/${BUCKET}`, authenticationInfo: { principalEmail: 'someone@example.com' } },
    });
    await Promise.all(Array.from({ length: 1000 }, (_, i) => topic.publishMessage({ json: entry(i) })));
    await until('1,000 matched', async () => (await outcomes()).matched ?? 0, (n) => n >= matched + 1000, POLL);
    await until('the burst reconciled', () => reconciles, (n) => n > before, POLL);
    await controller.queue.idle();
    expect(reconciles - before).toBeGreaterThanOrEqual(1);
    expect(reconciles - before).toBeLessThanOrEqual(2);
  });

  it('acks and counts malformed, foreign and duplicate messages, and keeps going', async () => {
    await drained();
    const before = await outcomes();
    const topic = (await createPubSub(PROJECT, emulator.host)).topic('jobmatch-drift-events');
    const foreign = { insertId: 'foreign-1', protoPayload: { serviceName: 'storage.googleapis.com', methodName: 'storage.buckets.update', resourceName: 'projects/_/buckets/somebody-elses-bucket' } };
    const dup = { insertId: 'dup-1', protoPayload: { serviceName: 'storage.googleapis.com', methodName: 'storage.buckets.update', resourceName: `projects/_/buckets/${BUCKET}` } };
    await topic.publishMessage({ data: Buffer.from('not json at all') });
    await topic.publishMessage({ json: { no: 'protoPayload' } });
    await topic.publishMessage({ json: foreign });
    await topic.publishMessage({ json: dup });
    await topic.publishMessage({ json: dup });
    const after = await until('five outcomes', outcomes, (o) => (o.malformed ?? 0) - (before.malformed ?? 0) === 2 && (o.unknown ?? 0) - (before.unknown ?? 0) === 1 && (o.duplicate ?? 0) - (before.duplicate ?? 0) === 1, POLL);
    expect((after.matched ?? 0) - (before.matched ?? 0)).toBe(1);
    await controller.queue.idle();
    // Still subscribed: a real drift is still healed.
    await clients.storage.bucket(BUCKET).setMetadata({ versioning: { enabled: false } });
    await until('versioning healed', async () => (await clients.storage.bucket(BUCKET).getMetadata())[0].versioning?.enabled, (v) => v === true, POLL);
  });

  it('never puts a generated secret value in a status or an audit entry', () => {
    const generated = Object.values(sandbox.store.data.projects).flatMap((p) => Object.values(p.secrets))
      .flatMap((secret) => secret.versions.map((v) => Buffer.from(v.data, 'base64').toString())).filter((v) => v.length >= 16);
    expect(generated.length).toBeGreaterThan(0);
    expect(leaks(generated, JSON.stringify(store.allStatuses()) + JSON.stringify(sandbox.auditLog.entries()))).toEqual([]);
  });

  it('says DriftEvents False while the emulator is down, the resync still heals, and events flow again once it is back', async () => {
    await drained();
    await emulator.stop();
    await until('DriftEvents False', () => condition('DriftEvents')?.status, (s) => s === 'False', POLL);
    expect(condition('DriftEvents')?.reason).toBe('SubscriberDown');
    // A drift while no event can arrive: healed by the resync (6 h by default with drift events: the clock moves 7 h).
    await clients.storage.bucket(BUCKET).setMetadata({ versioning: { enabled: false } });
    await time.advance(7 * 3600_000);
    await until('versioning healed by the resync', async () => (await clients.storage.bucket(BUCKET).getMetadata())[0].versioning?.enabled, (v) => v === true, POLL);
    // Back (empty: an emulator keeps nothing), set up again, and events flow without a restart.
    await emulator.restart();
    await setup();
    await until('DriftEvents True', () => condition('DriftEvents')?.status, (s) => s === 'True', { ...POLL, timeoutMs: 30_000 });
    await clients.storage.bucket(BUCKET).setMetadata({ versioning: { enabled: false } });
    await until('versioning healed by an event', async () => (await clients.storage.bucket(BUCKET).getMetadata())[0].versioning?.enabled, (v) => v === true, { ...POLL, timeoutMs: 30_000 });
  });
});
