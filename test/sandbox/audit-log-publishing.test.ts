/**
 * The sandbox as the Log Router: every write's Admin Activity entry, in Google's shape, published to the Pub/Sub
 * emulator (the real one from the Cloud SDK) on the topic of each sink that routes it; read back with a pull
 * subscription. Publishing never slows or fails the write it describes.
 */
import type { PubSub } from '@google-cloud/pubsub';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { driftEventsFilter } from '../../src/drift-events/audit-filter.js';
import { createGcpClients, type GcpClients } from '../../src/gcp/clients.js';
import { createComputeClients, type ComputeClients } from '../../src/gcp/compute-clients.js';
import { PRINCIPAL_HEADER, SOMEONE_ELSE, type AuditLogEntry } from '../../src/sandbox/audit-log.js';
import { startSandbox, type Sandbox } from '../../src/sandbox/server.js';
import { emulatorPubSub, readSubscription, usePubSubEmulator } from '../support/pubsub-emulator.js';
import { http, PROJECT, ZONE } from '../support/sandbox.js';

const OPERATOR = 'jobmatch-operator@job-match-v0.iam.gserviceaccount.com';
const ALL_TOPIC = 'audit-everything';
const DRIFT_TOPIC = 'jobmatch-drift-events';

const e = usePubSubEmulator();
let sandbox: Sandbox;
let clients: GcpClients;
let compute: ComputeClients;
let pubsub: PubSub;
let everything: ReturnType<typeof readSubscription>;
let drift: ReturnType<typeof readSubscription>;
const logged: string[] = [];

/** Topics and subscriptions on the emulator (it forgets them when restarted). */
async function makeTopics(): Promise<void> {
  for (const topic of [ALL_TOPIC, DRIFT_TOPIC]) {
    await pubsub.createTopic(topic);
    await pubsub.topic(topic).createSubscription(`${topic}-reader`);
  }
  everything = readSubscription(pubsub.subscription(`${ALL_TOPIC}-reader`));
  drift = readSubscription(pubsub.subscription(`${DRIFT_TOPIC}-reader`));
}

const sink = (name: string, topic: string, filter: string, extra: Record<string, unknown> = {}) =>
  http(`${sandbox.url}/v2/projects/${PROJECT}/sinks?uniqueWriterIdentity=true`, {
    method: 'POST', json: { name, destination: `pubsub.googleapis.com/projects/${PROJECT}/topics/${topic}`, filter, ...extra },
  });

beforeAll(async () => {
  sandbox = await startSandbox({ pubsubEmulator: e.emulator.host, log: (line) => logged.push(line) });
  clients = createGcpClients({ projectId: PROJECT, endpoint: sandbox.url });
  compute = await createComputeClients(sandbox.url);
  pubsub = await emulatorPubSub(e.emulator.host, PROJECT);
  await makeTopics();
  // Every entry but the sinks' own (the next sinks' creation would come first on the topic).
  expect((await sink('everything', ALL_TOPIC, 'logName:"cloudaudit.googleapis.com" -protoPayload.serviceName="logging.googleapis.com"')).status).toBe(200);
  expect((await sink('drift', DRIFT_TOPIC, driftEventsFilter(PROJECT))).status).toBe(200);
  // Sinks that must route nothing: disabled, or excluding everything.
  expect((await sink('disabled', ALL_TOPIC, '', { disabled: true })).status).toBe(200);
  expect((await sink('excluded', ALL_TOPIC, '', { exclusions: [{ name: 'all', filter: 'logName:"activity"' }] })).status).toBe(200);
});

beforeEach(async () => {
  await sandbox.auditLog.flush();
  sandbox.stats.reset();
});

afterAll(async () => {
  await everything?.close();
  await drift?.close();
  await pubsub?.close();
  await sandbox?.close();
});

/**
 * The next n entries on the catch-all topic, after every publish in flight is done, in the order of the writes
 * (Pub/Sub may deliver them in any order; the sandbox's clock is the same for all, so by their place in its log).
 */
async function nextEntries(n: number): Promise<{ entry: AuditLogEntry; attributes: Record<string, string> }[]> {
  await sandbox.auditLog.flush();
  const order = sandbox.auditLog.entries().map((x) => x.insertId);
  return (await everything.next(n)).map((m) => ({ entry: m.json as AuditLogEntry, attributes: m.attributes }))
    .sort((a, b) => order.indexOf(a.entry.insertId) - order.indexOf(b.entry.insertId));
}

describe('audit-log entries published through the Log Router', () => {
  it('publishes a bucket created by someone else and updated by the operator, in the real entry shape', async () => {
    const [bucket] = await clients.storage.createBucket('jobmatch-audit-bucket', { location: 'EU' });
    const patched = await http(`${sandbox.url}/storage/v1/b/jobmatch-audit-bucket`, {
      method: 'PATCH', json: { versioning: { enabled: false } }, headers: { [PRINCIPAL_HEADER]: OPERATOR, 'user-agent': 'jobmatch-operator/0.1.0' },
    });
    expect(patched.status).toBe(200);
    const [created, updated] = await nextEntries(2);
    expect(created!.entry).toMatchObject({
      logName: `projects/${PROJECT}/logs/cloudaudit.googleapis.com%2Factivity`,
      severity: 'NOTICE',
      resource: { type: 'gcs_bucket', labels: { project_id: PROJECT, bucket_name: bucket.name, location: 'eu' } },
      protoPayload: {
        '@type': 'type.googleapis.com/google.cloud.audit.AuditLog',
        serviceName: 'storage.googleapis.com',
        methodName: 'storage.buckets.create',
        resourceName: 'projects/_/buckets/jobmatch-audit-bucket',
        authenticationInfo: { principalEmail: SOMEONE_ELSE },
        authorizationInfo: [{ resource: 'projects/_/buckets/jobmatch-audit-bucket', permission: 'storage.buckets.create', granted: true }],
        resourceLocation: { currentLocations: ['eu'] },
      },
    });
    expect(created!.entry.protoPayload.requestMetadata.callerSuppliedUserAgent).toMatch(/gcloud-node-storage/);
    expect(created!.entry.protoPayload.requestMetadata.callerIp).toBe('127.0.0.1');
    expect(updated!.entry.protoPayload).toMatchObject({
      methodName: 'storage.buckets.update', authenticationInfo: { principalEmail: OPERATOR },
      requestMetadata: { callerSuppliedUserAgent: 'jobmatch-operator/0.1.0' },
    });
    for (const { entry, attributes } of [created!, updated!]) {
      expect(entry.insertId).toMatch(/^[a-z0-9]{8,}$/);
      expect(Date.parse(entry.timestamp)).toBeGreaterThan(Date.now() - 60_000);
      expect(attributes).toEqual({ 'logging.googleapis.com/timestamp': entry.timestamp });
    }
    expect(created!.entry.insertId).not.toBe(updated!.entry.insertId);
  });

  it('publishes a bucket IAM change as storage.setIamPermissions with its policy delta', async () => {
    const bucket = clients.storage.bucket('jobmatch-audit-bucket');
    const [policy] = await bucket.iam.getPolicy();
    policy.bindings.push({ role: 'roles/storage.objectViewer', members: ['user:someone@example.com'] });
    await bucket.iam.setPolicy(policy);
    const { entry } = (await nextEntries(1))[0]!;
    expect(entry.protoPayload).toMatchObject({
      methodName: 'storage.setIamPermissions',
      resourceName: 'projects/_/buckets/jobmatch-audit-bucket',
      serviceData: {
        '@type': 'type.googleapis.com/google.iam.v1.logging.AuditData',
        policyDelta: { bindingDeltas: [{ action: 'ADD', role: 'roles/storage.objectViewer', member: 'user:someone@example.com' }] },
      },
    });
  });

  it('publishes a dataset patch as DatasetService.PatchDataset on projects/P/datasets/D', async () => {
    await clients.bigquery.createDataset('audit_ds', { location: 'EU' });
    await clients.bigquery.dataset('audit_ds').setMetadata({ labels: { layer: 'gold' } });
    const [created, patched] = await nextEntries(2);
    expect(created!.entry.protoPayload.methodName).toBe('google.cloud.bigquery.v2.DatasetService.InsertDataset');
    expect(patched!.entry).toMatchObject({
      resource: { type: 'bigquery_dataset', labels: { project_id: PROJECT, dataset_id: 'audit_ds' } },
      protoPayload: {
        serviceName: 'bigquery.googleapis.com',
        methodName: 'google.cloud.bigquery.v2.DatasetService.PatchDataset',
        resourceName: `projects/${PROJECT}/datasets/audit_ds`,
        authenticationInfo: { principalEmail: SOMEONE_ELSE },
        metadata: { '@type': 'type.googleapis.com/google.cloud.audit.BigQueryAuditMetadata', datasetChange: { reason: 'PATCH' } },
      },
    });
  });

  it('publishes secret writes under the project number, and never the payload', async () => {
    const number = sandbox.store.project(PROJECT).projectNumber;
    const parent = `projects/${PROJECT}`;
    await clients.secrets.createSecret({ parent, secretId: 'jobmatch-staging-AUDIT', secret: { replication: { automatic: {} } } });
    const payload = 'not-a-real-secret-value-7f3a';
    const [version] = await clients.secrets.addSecretVersion({ parent: `${parent}/secrets/jobmatch-staging-AUDIT`, payload: { data: Buffer.from(payload) } });
    await clients.secrets.disableSecretVersion({ name: version.name! });
    const messages = (await nextEntries(3)).map((m) => ({ json: m.entry, data: JSON.stringify(m.entry) }));
    expect(messages.map((m) => m.json.protoPayload.methodName)).toEqual([
      'google.cloud.secretmanager.v1.SecretManagerService.CreateSecret',
      'google.cloud.secretmanager.v1.SecretManagerService.AddSecretVersion',
      'google.cloud.secretmanager.v1.SecretManagerService.DisableSecretVersion',
    ]);
    expect(messages.map((m) => m.json.protoPayload.resourceName)).toEqual([
      `projects/${number}/secrets/jobmatch-staging-AUDIT`, `projects/${number}/secrets/jobmatch-staging-AUDIT`, `projects/${number}/secrets/jobmatch-staging-AUDIT/versions/1`,
    ]);
    expect(messages[0]!.json.resource).toEqual({
      type: 'audited_resource',
      labels: { service: 'secretmanager.googleapis.com', method: 'google.cloud.secretmanager.v1.SecretManagerService.CreateSecret', project_id: PROJECT },
    });
    for (const m of messages) {
      expect(m.data).not.toContain(payload);
      expect(m.data).not.toContain(Buffer.from(payload).toString('base64'));
    }
  });

  it("publishes the project's IAM policy change as cloudresourcemanager SetIamPolicy with its delta", async () => {
    const [policy] = await clients.projects.getIamPolicy({ resource: `projects/${PROJECT}` });
    await clients.projects.setIamPolicy({
      resource: `projects/${PROJECT}`,
      policy: { ...policy, bindings: [...(policy.bindings ?? []), { role: 'roles/viewer', members: ['user:auditor@example.com'] }] },
    });
    const { entry } = (await nextEntries(1))[0]!;
    expect(entry).toMatchObject({
      resource: { type: 'project', labels: { project_id: PROJECT } },
      protoPayload: {
        serviceName: 'cloudresourcemanager.googleapis.com', methodName: 'SetIamPolicy', resourceName: `projects/${PROJECT}`,
        serviceData: { policyDelta: { bindingDeltas: [{ action: 'ADD', role: 'roles/viewer', member: 'user:auditor@example.com' }] } },
      },
    });
  });

  it("publishes a VM's setMetadata as v1.compute.instances.setMetadata on gce_instance", async () => {
    await sandbox.seed({ projects: [{ projectId: PROJECT, instances: [{ name: 'jobmatch-audit-vm', zone: ZONE }] }] });
    const [instance] = await compute.instances.get({ project: PROJECT, zone: ZONE, instance: 'jobmatch-audit-vm' });
    await compute.instances.setMetadata({
      project: PROJECT, zone: ZONE, instance: 'jobmatch-audit-vm',
      metadataResource: { fingerprint: instance.metadata!.fingerprint!, items: [{ key: 'jobmatch-config-hash', value: 'sha256:abc' }] },
    });
    const { entry } = (await nextEntries(1))[0]!;
    expect(entry).toMatchObject({
      resource: { type: 'gce_instance', labels: { project_id: PROJECT, zone: ZONE, instance_id: String(instance.id) } },
      protoPayload: {
        serviceName: 'compute.googleapis.com',
        methodName: 'v1.compute.instances.setMetadata',
        resourceName: `projects/${PROJECT}/zones/${ZONE}/instances/jobmatch-audit-vm`,
      },
      operation: { producer: 'compute.googleapis.com', first: true, last: true },
    });
  });

  it('publishes nothing for reads, nor for a write the handler refuses', async () => {
    await clients.storage.bucket('jobmatch-audit-bucket').getMetadata();
    await clients.storage.getBuckets();
    await clients.bigquery.dataset('audit_ds').getMetadata();
    await clients.secrets.getSecret({ name: `projects/${PROJECT}/secrets/jobmatch-staging-AUDIT` });
    await clients.secrets.accessSecretVersion({ name: `projects/${PROJECT}/secrets/jobmatch-staging-AUDIT/versions/1` }).catch(() => undefined);
    await clients.projects.getIamPolicy({ resource: `projects/${PROJECT}` });
    await compute.instances.get({ project: PROJECT, zone: ZONE, instance: 'jobmatch-audit-vm' });
    expect((await http(`${sandbox.url}/storage/v1/b/jobmatch-no-such-bucket`, { method: 'PATCH', json: {} })).status).toBe(404);
    await sandbox.auditLog.flush();
    expect(sandbox.stats.snapshot().auditLog).toEqual({ entries: 0, matched: 0, published: 0, failed: 0 });
    expect(sandbox.stats.snapshot().reads).toBeGreaterThanOrEqual(7);
    // The next message on the topic is the next write's: nothing was queued before it.
    await clients.storage.bucket('jobmatch-audit-bucket').setMetadata({ labels: { after: 'reads' } });
    const { entry } = (await nextEntries(1))[0]!;
    expect(entry.protoPayload.methodName).toBe('storage.buckets.update');
  });

  it("routes by each sink's filter: the drift sink takes the operator's resources only; disabled and excluding sinks take nothing", async () => {
    await clients.storage.createBucket('other-team-bucket');
    await clients.storage.bucket('jobmatch-audit-bucket').setMetadata({ labels: { routed: 'yes' } });
    await sandbox.auditLog.flush();
    // Two entries, each on the catch-all topic once (the disabled and excluding sinks add nothing), one on the drift topic.
    expect(sandbox.stats.snapshot().auditLog).toMatchObject({ entries: 2, matched: 3, published: 3, failed: 0 });
    expect((await nextEntries(2)).map((m) => m.entry.protoPayload.resourceName)).toEqual(['projects/_/buckets/other-team-bucket', 'projects/_/buckets/jobmatch-audit-bucket']);
    const fromDrift = await drift.next(1);
    expect(fromDrift[0]!.json.protoPayload.resourceName).toBe('projects/_/buckets/jobmatch-audit-bucket');
    expect(drift.received.every((m) => m.json.protoPayload.resourceName !== 'projects/_/buckets/other-team-bucket')).toBe(true);
  });

  it('keeps the entries for the control plane', async () => {
    await clients.storage.bucket('jobmatch-audit-bucket').setMetadata({ labels: { kept: 'yes' } });
    await nextEntries(1);
    const { body } = await http(`${sandbox.url}/__sandbox/audit-log?limit=1`);
    expect(body.entries).toHaveLength(1);
    expect(body.entries[0].protoPayload.methodName).toBe('storage.buckets.update');
    const flushed = await http(`${sandbox.url}/__sandbox/audit-log/flush`, { method: 'POST' });
    // On the catch-all topic and, a jobmatch- bucket, on the drift topic.
    expect(flushed.body).toMatchObject({ entries: 1, published: 2, failed: 0 });
  });
});

describe('audit-log publishing when the emulator is down', () => {
  it('never fails or slows the write, counts the failures, logs once, and publishes again once the emulator is back', async () => {
    // A sandbox of its own, that gives up on a publish after 300 ms.
    const down = await startSandbox({ pubsubEmulator: e.emulator.host, publishTimeoutMs: 300, log: (line) => logged.push(line) });
    const storage = createGcpClients({ projectId: PROJECT, endpoint: down.url }).storage;
    try {
      const created = await http(`${down.url}/v2/projects/${PROJECT}/sinks`, {
        method: 'POST', json: { name: 'all', destination: `pubsub.googleapis.com/projects/${PROJECT}/topics/${ALL_TOPIC}`, filter: 'protoPayload.serviceName="storage.googleapis.com"' },
      });
      expect(created.status).toBe(200);
      down.stats.reset(); // the sink's own creation is an entry too
      await storage.createBucket('jobmatch-down-bucket');
      await down.auditLog.flush();
      expect(down.stats.snapshot().auditLog).toEqual({ entries: 1, matched: 1, published: 1, failed: 0 });
      await everything.next(1);
      await everything.close();
      await drift.close();

      const t0 = performance.now();
      const jvm = e.emulator.pid!;
      await e.emulator.stop();
      // The whole process group is gone: no JVM left behind.
      expect(() => process.kill(-jvm, 0)).toThrow();
      logged.length = 0;
      for (const value of ['one', 'two']) {
        const started = performance.now();
        await storage.bucket('jobmatch-down-bucket').setMetadata({ labels: { down: value } });
        expect(performance.now() - started).toBeLessThan(1000);
      }
      await down.auditLog.flush();
      const failedAfter = performance.now() - t0;
      expect(down.stats.snapshot().auditLog).toEqual({ entries: 3, matched: 3, published: 1, failed: 2 });
      expect(logged).toHaveLength(1);
      expect(logged[0]).toMatch(/^sandbox: cannot publish audit-log entries to projects\/job-match-v0\/topics\/audit-everything on the Pub\/Sub emulator at 127\.0\.0\.1:\d+ \(.+\); the writes themselves succeed/);

      await e.emulator.restart();
      await makeTopics();
      await storage.bucket('jobmatch-down-bucket').setMetadata({ labels: { down: 'over' } });
      await down.auditLog.flush();
      const [back] = await everything.next(1);
      expect(back!.json.protoPayload).toMatchObject({ methodName: 'storage.buckets.update', resourceName: 'projects/_/buckets/jobmatch-down-bucket' });
      expect(down.stats.snapshot().auditLog).toEqual({ entries: 4, matched: 4, published: 2, failed: 2 });
      console.log(`emulator down: publishes failed after ${Math.round(failedAfter)} ms; restarted in ${Math.round(e.emulator.startMs)} ms; published again ${Math.round(performance.now() - t0)} ms after the stop`);
    } finally {
      await down.close();
    }
  }, 90_000); // it restarts a JVM, which on a busy 2-core machine takes seconds
});
