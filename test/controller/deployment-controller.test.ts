/**
 * The VM rollout from the controller (run --manifests), against the sandbox with the real agent under sh:
 * Deployed in status, a restart mid-rollout that resumes waiting, the redeploy annotation, and twenty
 * environments rolled out at once with bounded concurrency.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Controller } from '../../src/controller/controller.js';
import { DirectoryStore } from '../../src/controller/directory-store.js';
import { ControllerMetrics } from '../../src/controller/metrics.js';
import { metadataEvent } from '../../src/sandbox/compute-api.js';
import { silentLogger } from '../../src/engine/action-log.js';
import { PolicyWriter } from '../../src/engine/policy-writer.js';
import { createGcpClients } from '../../src/gcp/clients.js';
import { GcpCaller } from '../../src/gcp/gcp-caller.js';
import { FAST_RETRY } from '../support/engine.js';
import { PROJECT, ZONE, useSandbox } from '../support/sandbox.js';
import { startAgent, startHealthServer, stopAllAgents, type Agent, type HealthServer } from '../support/vm-agent.js';

const s = useSandbox({}, { compute: true });
let dir: string;
let health: HealthServer;
const running: Controller[] = [];

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'jme-deploy-'));
  s.sandbox.store.data = { projects: {}, buckets: {}, serial: 0 };
  health = await startHealthServer(200);
});

afterEach(async () => {
  for (const c of running.splice(0)) await c.stop(0);
  await stopAllAgents();
  await health.close();
  rmSync(dir, { recursive: true, force: true });
});

/** A VM in the sandbox, its agent, and a manifest deploying to it (only the app: no buckets, datasets or secrets). */
async function environment(id: string, config: Record<string, string> = { GREETING: 'hello' }, healthSeconds = 10): Promise<Agent> {
  const seed = { projects: [{ projectId: PROJECT, projectNumber: '123456789012', instances: [{ name: `vm-${id}`, zone: ZONE, serviceAccount: `vm-${id}@${PROJECT}.iam.gserviceaccount.com` }] }] };
  const seeded = await fetch(`${s.url}/__sandbox/seed`, { method: 'POST', body: JSON.stringify(seed) });
  expect(seeded.status).toBe(200);
  const agent = await startAgent({ metadataUrl: `${s.sandbox.metadataUrl(PROJECT, ZONE, `vm-${id}`)}/computeMetadata/v1`, environment: id });
  writeManifest(id, agent, config, undefined, healthSeconds);
  return agent;
}

function writeManifest(id: string, agent: Agent, config: Record<string, string>, annotations?: Record<string, string>, healthSeconds = 10): void {
  writeFileSync(join(dir, `${id}.yaml`), stringify({
    apiVersion: 'jobmatch.io/v1alpha1', kind: 'JobMatchEnvironment', metadata: { name: id, namespace: 'jobmatch', ...(annotations ? { annotations } : {}) },
    spec: {
      environment: id, gcp: { projectId: PROJECT, location: 'EU' }, vm: { name: `vm-${id}`, zone: ZONE },
      app: { config, compose: { ref: 'main', directory: agent.dir }, healthCheck: { url: health.url, timeoutSeconds: healthSeconds } },
      // The agent reads the deploy key the operator generates, with the VM's service account.
      iam: [{ member: `serviceAccount:vm-${id}@${PROJECT}.iam.gserviceaccount.com`, role: 'roles/secretmanager.secretAccessor', resource: 'secret/deploy-key' }],
    },
  }));
}

async function start(concurrency = 2): Promise<{ store: DirectoryStore; controller: Controller }> {
  const logger = silentLogger();
  const store = new DirectoryStore(dir, logger);
  const clients = createGcpClients({ projectId: PROJECT, endpoint: s.url });
  const engine = { caller: new GcpCaller({ retry: FAST_RETRY }), clientsFor: () => clients, logger, execute: { policyWriter: new PolicyWriter() }, rolloutPolling: { initialMs: 20, maxMs: 200 } };
  const controller = new Controller({ store, engine, logger, metrics: new ControllerMetrics(), concurrency });
  running.push(controller);
  controller.enqueue(await store.load());
  return { store, controller };
}

const deployed = (store: DirectoryStore, id: string) => store.statusOf(`jobmatch/${id}`)?.conditions?.find((c) => c.type === 'Deployed');
const setMetadataCalls = () => s.sandbox.stats.snapshot().byApi.compute?.['instances.setMetadata'] ?? 0;
const ups = (agent: Agent) => agent.calls().filter((c) => c.tool === 'docker' && c.command === 'up').length;

describe('the VM rollout from the controller', () => {
  it('sets Deployed True with deployedConfigHash once the agent applied the config, then writes nothing more', async () => {
    const agent = await environment('solo');
    const { store, controller } = await start();
    await controller.queue.idle();
    expect(deployed(store, 'solo')).toMatchObject({ status: 'True', reason: 'Deployed' });
    const status = store.statusOf('jobmatch/solo')!;
    expect(status.deployedConfigHash).toBe(status.configHash);
    expect(await agent.guest()).toMatchObject({ 'applied-hash': status.configHash, status: 'ok' });
    expect(status.resources).toContainEqual({ kind: 'Deployment', name: `${ZONE}/vm-solo`, state: 'Updated' });
    s.sandbox.stats.reset();
    controller.queue.add('jobmatch/solo');
    await controller.queue.idle();
    expect(s.sandbox.stats.snapshot().writes).toBe(0);
    expect(ups(agent)).toBe(1);
  });

  it('a failed health check makes Deployed False with the agent\'s message (RolloutFailed)', async () => {
    health.status = 500;
    await environment('sick', { GREETING: 'hello' }, 2); // the operator waits 4 s: the agent verifies, pulls, ups, then fails the health check after 2 s
    const { store, controller } = await start();
    await controller.queue.idle();
    expect(deployed(store, 'sick')).toMatchObject({ status: 'False', reason: 'RolloutFailed', message: expect.stringMatching(/health check/) });
  });

  it('says RolloutTimeout when no agent answers within twice the health timeout', async () => {
    const seed = { projects: [{ projectId: PROJECT, projectNumber: '123456789012', instances: [{ name: 'vm-mute', zone: ZONE }] }] };
    await s.sandbox.seed(seed);
    writeFileSync(join(dir, 'mute.yaml'), stringify({
      apiVersion: 'jobmatch.io/v1alpha1', kind: 'JobMatchEnvironment', metadata: { name: 'mute', namespace: 'jobmatch' },
      spec: { environment: 'mute', gcp: { projectId: PROJECT, location: 'EU' }, vm: { name: 'vm-mute', zone: ZONE }, app: { compose: { ref: 'main' }, healthCheck: { url: health.url, timeoutSeconds: 1 } } },
    }));
    const { store, controller } = await start();
    await controller.queue.idle();
    expect(deployed(store, 'mute')).toMatchObject({ status: 'False', reason: 'RolloutTimeout', message: expect.stringMatching(/did not acknowledge sha256:[0-9a-f]{64} within 2 s .*journalctl -u jobmatch-agent/) });
    expect(setMetadataCalls()).toBe(1);
  });

  it('resumes waiting after a restart mid-rollout instead of pushing again: one setMetadata, one up', async () => {
    const agent = await environment('restart');
    agent.standIns.blockPull();
    const first = await start();
    await agent.waitFor(({ calls }) => calls.some((c) => c.command === 'pull'), { what: 'the agent to start pulling' });
    await first.controller.stop(0); // cancels the reconcile that is waiting for the agent
    expect(setMetadataCalls()).toBe(1);
    const second = await start();
    agent.standIns.releasePull();
    await second.controller.queue.idle();
    expect(deployed(second.store, 'restart')).toMatchObject({ status: 'True' });
    expect(setMetadataCalls()).toBe(1);
    expect(ups(agent)).toBe(1);
  });

  it('converges with one up when the agent is killed mid-rollout and restarted', async () => {
    const agent = await environment('killed');
    agent.standIns.blockPull();
    const { store, controller } = await start();
    await agent.waitFor(({ calls }) => calls.some((c) => c.command === 'pull'), { what: 'the agent to start pulling' });
    await agent.kill();
    await agent.restart();
    await agent.waitFor(({ calls }) => calls.filter((c) => c.command === 'pull').length === 2, { what: 'the restarted agent to pull again' });
    agent.standIns.releasePull();
    await controller.queue.idle();
    expect(deployed(store, 'killed')).toMatchObject({ status: 'True' });
    expect(ups(agent)).toBe(1);
    expect(setMetadataCalls()).toBe(1);
  });

  it('rolls the same config out once more for each new jobmatch.io/redeploy-at', async () => {
    const agent = await environment('again');
    const { store, controller } = await start();
    await controller.queue.idle();
    expect(ups(agent)).toBe(1);
    writeManifest('again', agent, { GREETING: 'hello' }, { 'jobmatch.io/redeploy-at': '2026-11-26T08:00:00Z' });
    await store.load();
    controller.queue.add('jobmatch/again');
    await controller.queue.idle();
    expect(ups(agent)).toBe(2);
    expect(deployed(store, 'again')).toMatchObject({ status: 'True' });
    controller.queue.add('jobmatch/again');
    await controller.queue.idle();
    expect(ups(agent)).toBe(2); // the same annotation value: already applied
  });

  it('rolls twenty environments out at once, at most `concurrency` rollouts in flight, all Deployed', async () => {
    const ids = Array.from({ length: 20 }, (_, i) => `fleet-${i}`);
    const agents = await Promise.all(ids.map((id) => environment(id)));
    // At every push, count the VMs told a config their agent has not acknowledged yet.
    let inFlight = 0;
    const project = () => s.sandbox.store.project(PROJECT);
    const count = () => Object.values(project().instances).filter((inst) => {
      const hash = ((inst.resource.metadata as { items?: { key: string; value: string }[] }).items ?? []).find((i) => i.key === 'jobmatch-config-hash')?.value;
      return hash !== undefined && inst.guestAttributes['jobmatch/applied-hash'] !== hash;
    }).length;
    for (const id of ids) s.sandbox.store.events.on(metadataEvent(project(), ZONE, `vm-${id}`), () => (inFlight = Math.max(inFlight, count())));
    const concurrency = 4;
    const { store, controller } = await start(concurrency);
    await controller.queue.idle();
    for (const id of ids) expect(deployed(store, id), id).toMatchObject({ status: 'True' });
    expect(setMetadataCalls()).toBe(20);
    expect(inFlight).toBeGreaterThan(0);
    expect(inFlight).toBeLessThanOrEqual(concurrency);
    for (const agent of agents) expect(readFileSync(join(agent.dir, '.env'), 'utf8')).toMatch(/^GREETING=hello$/m);
    // Twenty real agents under sh on two cores: 16 s alone, over 20 s beside another test run. It is a bound, not a speed check.
  }, 90_000);
});
