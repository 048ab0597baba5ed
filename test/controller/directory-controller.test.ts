/**
 * The controller loop over a watched directory (run --manifests), against the sandbox: the same
 * reconciler as in a cluster, with status in memory and a state file.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Controller } from '../../src/controller/controller.js';
import { DirectoryStore } from '../../src/controller/directory-store.js';
import { ControllerMetrics } from '../../src/controller/metrics.js';
import { conditionStatus } from '../../src/controller/status.js';
import { createActionLogger } from '../../src/engine/action-log.js';
import { PolicyWriter } from '../../src/engine/policy-writer.js';
import { createGcpClients } from '../../src/gcp/clients.js';
import { GcpCaller } from '../../src/gcp/gcp-caller.js';
import { FAST_RETRY } from '../support/engine.js';
import { leaks } from '../support/leaks.js';
import { exampleText, mutated, NO_VM } from '../support/manifests.js';
import { PROJECT, useSandbox } from '../support/sandbox.js';

const s = useSandbox();
const BUCKET = 'jobmatch-staging-bronze-job-match-v0';
const KEY = 'jobmatch/staging';
let dir: string;
let output: string;

interface Harness {
  store: DirectoryStore;
  controller: Controller;
  statusWrites: () => number;
  reconcile: (key?: string) => Promise<void>;
}

async function start(stateFile?: string): Promise<Harness> {
  const logger = createActionLogger({ write: (l: string) => { output += l; } } as unknown as NodeJS.WritableStream, "info");
  const store = new DirectoryStore(dir, logger, { ...(stateFile ? { stateFile } : {}), printStatus: (l) => (output += l) });
  let writes = 0;
  const write = store.writeStatus.bind(store);
  store.writeStatus = async (o, st) => {
    writes += 1;
    await write(o, st);
  };
  const clients = createGcpClients({ projectId: PROJECT, endpoint: s.url });
  const engine = { caller: new GcpCaller({ retry: FAST_RETRY }), clientsFor: () => clients, logger, execute: { policyWriter: new PolicyWriter() } };
  const controller = new Controller({ store, engine, logger, metrics: new ControllerMetrics(), concurrency: 2 });
  const keys = await store.load();
  controller.enqueue(keys);
  await controller.queue.idle();
  return {
    store, controller, statusWrites: () => writes,
    reconcile: async (key = KEY) => {
      controller.queue.add(key);
      await controller.queue.idle();
    },
  };
}

const ready = (h: Harness, key = KEY) => conditionStatus(h.store.statusOf(key), 'Ready');
const condition = (h: Harness, type: 'Ready' | 'Synced' | 'DriftDetected', key = KEY) => h.store.statusOf(key)?.conditions?.find((c) => c.type === type);

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'jme-run-'));
  output = '';
  s.sandbox.store.data = { projects: {}, buckets: {}, serial: 0 };
  // The external secrets get values, so the environment can be Ready.
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

async function giveExternalSecretsValues() {
  for (const name of ['llm-api-key', 'france-travail-api-key']) {
    await s.clients.secrets.addSecretVersion({ parent: `projects/${PROJECT}/secrets/jobmatch-staging-${name}`, payload: { data: Buffer.from('test') } });
  }
}

describe('the controller over a directory', () => {
  it('creates an environment, becomes Ready, and a no-op resync writes nothing to GCP or the status', async () => {
    writeFileSync(join(dir, 'staging.yaml'), exampleText('staging', NO_VM));
    const h = await start();
    expect(condition(h, 'Synced')?.status).toBe('True');
    expect(condition(h, 'Ready')).toMatchObject({ status: 'False', reason: 'SecretsMissing' });
    await giveExternalSecretsValues();
    await h.reconcile();
    expect(ready(h)).toBe('True');
    const writes = h.statusWrites();
    s.sandbox.stats.reset();
    await h.reconcile();
    expect(s.sandbox.stats.snapshot().writes).toBe(0);
    expect(h.statusWrites()).toBe(writes);
    const inventory = h.store.statusOf(KEY)!.inventory!;
    expect(inventory.resources.map((r) => r.name)).toContain(BUCKET);
    expect(inventory.bindings).toHaveLength(8);
    await h.controller.stop(100);
  });

  it('heals drift made through Google\'s own client at the next reconcile, and says so in DriftDetected', async () => {
    writeFileSync(join(dir, 'staging.yaml'), exampleText('staging', NO_VM));
    const h = await start();
    await s.clients.storage.bucket(BUCKET).setMetadata({ versioning: { enabled: false } });
    await h.reconcile();
    expect(condition(h, 'DriftDetected')).toMatchObject({ status: 'True', reason: 'DriftHealed', message: expect.stringContaining('versioning') });
    expect((await s.clients.storage.bucket(BUCKET).getMetadata())[0].versioning?.enabled).toBe(true);
    expect(h.store.statusOf(KEY)!.lastDriftTime).toBeDefined();
    await h.controller.stop(100);
  });

  it('revokes a binding it granted once the entry leaves the spec', async () => {
    writeFileSync(join(dir, 'staging.yaml'), exampleText('staging', NO_VM));
    const h = await start();
    const member = 'serviceAccount:jobmatch-staging-vm@job-match-v0.iam.gserviceaccount.com';
    const projectRoles = async () => ((await s.clients.projects.getIamPolicy({ resource: `projects/${PROJECT}` }))[0].bindings ?? []).filter((b) => b.members?.includes(member)).map((b) => b.role);
    expect(await projectRoles()).toEqual(['roles/bigquery.jobUser']);
    writeFileSync(join(dir, 'staging.yaml'), mutated((d) => (d.spec.iam = d.spec.iam.filter((b: { resource: string }) => b.resource !== 'project')), 'staging', NO_VM));
    await h.store.rescan();
    await h.reconcile();
    expect(await projectRoles()).toEqual([]);
    expect(h.store.statusOf(KEY)!.inventory!.bindings.some((b) => b.resource === 'project')).toBe(false);
    await h.controller.stop(100);
  });

  it('reports an invalid spec as InvalidSpec with every message, and makes no GCP call', async () => {
    writeFileSync(join(dir, 'staging.yaml'), mutated((d) => {
      d.spec.buckets[0].name = 'Bad..Name';
      d.spec.envMode = 'production';
    }, 'staging', NO_VM));
    s.sandbox.stats.reset();
    const h = await start();
    expect(condition(h, 'Ready')).toMatchObject({ status: 'False', reason: 'InvalidSpec', message: expect.stringMatching(/envMode[\s\S]*buckets\[0\]\.name|buckets\[0\]\.name[\s\S]*envMode/) });
    expect(s.sandbox.stats.snapshot().total).toBe(0);
    await h.controller.stop(100);
  });

  it('gives the later of two objects claiming one bucket a Conflict, and never blocks the other', async () => {
    writeFileSync(join(dir, 'a-staging.yaml'), exampleText('staging', NO_VM));
    const h = await start();
    writeFileSync(join(dir, 'b-other.yaml'), mutated((d) => {
      d.metadata.name = 'other';
      d.spec.environment = 'other';
      d.spec.datasets = [];
      d.spec.secrets = [];
      d.spec.iam = [];
    }, 'staging', NO_VM));
    const { changed } = await h.store.rescan();
    expect(changed).toEqual(['jobmatch/other']);
    await h.reconcile('jobmatch/other');
    expect(condition(h, 'Ready', 'jobmatch/other')).toMatchObject({ status: 'False', reason: 'Conflict', message: expect.stringContaining(`bucket ${BUCKET} is already claimed by jobmatch/staging`) });
    await h.reconcile();
    expect(condition(h, 'Synced')?.status).toBe('True');
    await h.controller.stop(100);
  });

  it('writes nothing while paused, and says Paused', async () => {
    writeFileSync(join(dir, 'staging.yaml'), mutated((d) => (d.metadata.annotations = { 'jobmatch.io/paused': 'true' }), 'staging', NO_VM));
    s.sandbox.stats.reset();
    const h = await start();
    expect(s.sandbox.stats.snapshot().writes).toBe(0);
    expect(condition(h, 'Ready')).toMatchObject({ status: 'False', reason: 'Paused' });
    await h.controller.stop(100);
  });

  it('keeps statuses and inventories in the state file across a restart, and never writes a secret value', async () => {
    writeFileSync(join(dir, 'staging.yaml'), exampleText('staging', NO_VM));
    const state = join(dir, '..', `${dir.split('/').pop()}-state.json`);
    const first = await start(state);
    await first.controller.stop(100);
    await first.store.close();
    const second = await start(state);
    expect(second.store.statusOf(KEY)!.inventory!.bindings).toHaveLength(8);
    await second.controller.stop(100);
    const values = Object.values(s.sandbox.store.data.projects).flatMap((p) => Object.values(p.secrets)).flatMap((x) => x.versions.map((v) => Buffer.from(v.data, 'base64').toString())).filter((v) => v.length >= 16);
    expect(values).toHaveLength(2);
    expect(leaks(values, output + readFileSync(state, 'utf8'))).toEqual([]);
    rmSync(state, { force: true });
  });
});
