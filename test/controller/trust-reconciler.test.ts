/**
 * The controller revokes only its own grants, writes nothing on a resource that changed hands, and its
 * finalizer tells the truth — each a reproduction of the trust review, run through the reconciler
 * (the same code as in a cluster) over an in-memory object store, against the sandbox.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { Controller } from '../../src/controller/controller.js';
import { ControllerMetrics } from '../../src/controller/metrics.js';
import { createActionLogger } from '../../src/engine/action-log.js';
import { PolicyWriter } from '../../src/engine/policy-writer.js';
import { createGcpClients } from '../../src/gcp/clients.js';
import { GcpCaller } from '../../src/gcp/gcp-caller.js';
import { FAST_RETRY } from '../support/engine.js';
import { type Doc, mutated, NO_VM } from '../support/manifests.js';
import { MemoryStore } from '../support/memory-store.js';
import { PROJECT, useSandbox } from '../support/sandbox.js';

const s = useSandbox();
const BUCKET = 'jobmatch-staging-bronze-job-match-v0';
const STAGING_SA = 'serviceAccount:jobmatch-staging-vm@job-match-v0.iam.gserviceaccount.com';
const JOB_USER = { resource: 'project', role: 'roles/bigquery.jobUser', member: STAGING_SA };
const BUCKET_GRANT = { resource: `bucket/${BUCKET}`, role: 'roles/storage.objectAdmin', member: STAGING_SA };
const STAGING = 'jobmatch/staging';

let store: MemoryStore;
let controller: Controller;
let enqueued: string[];

function start(): void {
  store = new MemoryStore();
  const logger = createActionLogger({ write: () => true } as unknown as NodeJS.WritableStream, 'silent');
  const clients = createGcpClients({ projectId: PROJECT, endpoint: s.url });
  controller = new Controller({ store, logger, metrics: new ControllerMetrics(), concurrency: 2, engine: { caller: new GcpCaller({ retry: FAST_RETRY }), clientsFor: () => clients, logger, execute: { policyWriter: new PolicyWriter() } } });
  enqueued = [];
  const add = controller.queue.add.bind(controller.queue);
  controller.queue.add = (key: string) => {
    enqueued.push(key);
    add(key);
  };
}

/** Reconciles these objects; the first pass of a new object only adds the finalizer, so it runs until each has a status. */
async function reconcile(...keys: string[]): Promise<void> {
  for (let pass = 0; pass < 3; pass++) {
    controller.enqueue(keys);
    await controller.queue.idle();
    if (keys.every((k) => !store.get(k) || store.statusOf(k)?.observedGeneration === store.get(k)!.manifest.metadata.generation)) return;
  }
}

const put = (mutate: (d: Doc) => void = () => undefined, name: 'staging' | 'prod' = 'staging') => store.put(mutated(mutate, name, NO_VM));
const dropBinding = (b: typeof JOB_USER) => (d: Doc) => {
  d.spec.iam = d.spec.iam.filter((x: typeof JOB_USER) => !(x.resource === b.resource && x.role === b.role && x.member === b.member));
};

async function projectMembers(role: string): Promise<string[]> {
  const [policy] = await s.clients.projects.getIamPolicy({ resource: `projects/${PROJECT}` });
  return (policy.bindings ?? []).filter((b) => b.role === role).flatMap((b) => b.members ?? []);
}

async function grantOnProject(role: string, member: string): Promise<void> {
  const [policy] = await s.clients.projects.getIamPolicy({ resource: `projects/${PROJECT}` });
  await s.clients.projects.setIamPolicy({ resource: `projects/${PROJECT}`, policy: { ...policy, bindings: [...(policy.bindings ?? []), { role, members: [member] }] } });
}

async function bucketMembers(role: string): Promise<string[]> {
  const [policy] = await s.clients.storage.bucket(BUCKET).iam.getPolicy({ requestedPolicyVersion: 3 });
  return policy.bindings.filter((b) => b.role === role).flatMap((b) => b.members);
}

const writes = () => s.sandbox.stats.snapshot().writes;
const events = (reason: string, key = STAGING) => store.events.filter((e) => e.key === key && e.reason === reason);

beforeEach(() => {
  s.sandbox.store.data = { projects: {}, buckets: {}, serial: 0 };
  start();
});

describe('only our own grants are revoked', () => {
  it('records a declared binding that already existed as someone else\'s, and never revokes it when the manifest drops it (said once)', async () => {
    await grantOnProject(JOB_USER.role, JOB_USER.member);
    await reconcile(put());
    const inventory = store.statusOf(STAGING)!.inventory!;
    expect(inventory.bindings).not.toContainEqual(JOB_USER);
    expect(inventory.preexisting).toContainEqual(JOB_USER);
    expect(inventory.bindings).toContainEqual(BUCKET_GRANT);

    put(dropBinding(JOB_USER));
    await reconcile(STAGING);
    expect(await projectMembers(JOB_USER.role)).toContain(STAGING_SA);
    expect(events('Revoked')).toEqual([]);
    expect(events('NotRevoked')).toHaveLength(1);
    expect(events('NotRevoked')[0]!.message).toMatch(/not granted by this operator.*left in place/);
    expect(store.statusOf(STAGING)!.inventory!.preexisting ?? []).toEqual([]);
    await reconcile(STAGING);
    expect(events('NotRevoked')).toHaveLength(1);
  });

  it('revokes what it granted itself when the manifest drops it', async () => {
    await reconcile(put());
    expect(store.statusOf(STAGING)!.inventory!.bindings).toContainEqual(JOB_USER);
    put(dropBinding(JOB_USER));
    await reconcile(STAGING);
    expect(await projectMembers(JOB_USER.role)).not.toContain(STAGING_SA);
    expect(events('Revoked')).toHaveLength(1);
  });

  it('adopts an existing binding only with spec.policy.adoptExisting, and then owns its revocation', async () => {
    await grantOnProject(JOB_USER.role, JOB_USER.member);
    await reconcile(put((d) => (d.spec.policy = { ...d.spec.policy, adoptExisting: true })));
    expect(store.statusOf(STAGING)!.inventory!.bindings).toContainEqual(JOB_USER);
    put((d) => {
      dropBinding(JOB_USER)(d);
      d.spec.policy = { ...d.spec.policy, adoptExisting: true };
    });
    await reconcile(STAGING);
    expect(await projectMembers(JOB_USER.role)).not.toContain(STAGING_SA);
  });
});

describe('no write on a resource that changed hands', () => {
  it('does not revoke an inventory binding on a bucket that meanwhile belongs to prod', async () => {
    await reconcile(put());
    expect(store.statusOf(STAGING)!.inventory!.bindings).toContainEqual(BUCKET_GRANT);
    // Staging drops the bucket and its grant; the bucket is handed to prod behind its back.
    put((d) => {
      d.spec.buckets = [];
      d.spec.iam = d.spec.iam.filter((b: typeof JOB_USER) => b.resource !== BUCKET_GRANT.resource);
      delete d.spec.app.config.GCS_BUCKET;
    });
    await s.clients.storage.bucket(BUCKET).setMetadata({ labels: { 'jobmatch-environment': 'prod', 'managed-by': 'jobmatch-operator', 'jobmatch-deletion-policy': 'retain' } });
    s.sandbox.stats.reset();
    await reconcile(STAGING);
    expect(s.sandbox.stats.requests().filter((r) => r.path.includes(`/b/${BUCKET}`) && r.method !== 'GET')).toEqual([]);
    expect(await bucketMembers(BUCKET_GRANT.role)).toContain(STAGING_SA);
    expect(events('Revoked')).toEqual([]);
    expect(events('Conflict').map((e) => e.message).join('\n')).toMatch(/no longer declared and is not this environment's/);
  });
});

describe('the finalizer tells the truth', () => {
  it('never revokes a binding another live environment declares, and re-enqueues that environment', async () => {
    await reconcile(put());
    expect(store.statusOf(STAGING)!.inventory!.bindings).toContainEqual(JOB_USER);
    const prod = put((d) => d.spec.iam.push({ member: STAGING_SA, role: JOB_USER.role, resource: 'project' }), 'prod');
    await reconcile(prod);
    store.delete(STAGING);
    enqueued = [];
    await reconcile(STAGING);
    expect(store.events.filter((e) => e.key === STAGING && e.type === 'Warning'), JSON.stringify(store.statusOf(STAGING)?.conditions)).toEqual([]);
    expect(store.get(STAGING)).toBeUndefined();
    expect(await projectMembers(JOB_USER.role)).toContain(STAGING_SA);
    expect(events('CleanedUp')[0]!.message).toMatch(/left in place, declared by another environment: IAMBinding project roles\/bigquery\.jobUser .*jobmatch\/prod/);
    expect(enqueued).toContain(prod);
  });

  it.each([
    ['suspended', (key: string) => put((d) => (d.spec.policy = { ...d.spec.policy, suspend: true })) && key, /spec\.policy\.suspend is true/],
    ['paused', (key: string) => (store.annotate(key, { 'jobmatch.io/paused': 'true' }), key), /jobmatch\.io\/paused is "true"/],
  ])('releases nothing when a %s environment is deleted, says so, lists what stays, and lets it go', async (_name, hold, why) => {
    await reconcile(put((d) => (d.spec.datasets[0].deletionPolicy = 'Delete')));
    hold(STAGING);
    await reconcile(STAGING);
    s.sandbox.stats.reset();
    store.delete(STAGING);
    await reconcile(STAGING);
    expect(writes()).toBe(0);
    expect(store.get(STAGING)).toBeUndefined();
    expect(events('CleanedUp')).toEqual([]);
    const [released] = events('NothingReleased');
    expect(released!.message).toMatch(why);
    expect(released!.message).toMatch(/nothing was released or revoked in GCP; what stays: .*Dataset staging_silver.*IAMBinding project roles\/bigquery\.jobUser/);
    expect(await projectMembers(JOB_USER.role)).toContain(STAGING_SA);
    expect((await s.clients.bigquery.dataset('staging_silver').exists())[0]).toBe(true);
  });
});
