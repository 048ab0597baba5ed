/**
 * What the GitOps tools make of a VM rollout: the controller (run --manifests) against the sandbox with the real
 * agent under sh, and its objects judged by kstatus and docs/argocd-health.lua (test/gitops-check). A rollout the
 * agent failed needs a person (Stalled, Failed, Degraded); one that timed out is awaited again (Reconciling).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import type { Condition } from '../../src/api/types.js';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Controller } from '../../src/controller/controller.js';
import { DirectoryStore } from '../../src/controller/directory-store.js';
import { ControllerMetrics } from '../../src/controller/metrics.js';
import { silentLogger } from '../../src/engine/action-log.js';
import { PolicyWriter } from '../../src/engine/policy-writer.js';
import { createGcpClients } from '../../src/gcp/clients.js';
import { GcpCaller } from '../../src/gcp/gcp-caller.js';
import { FAST_RETRY } from '../support/engine.js';
import { ensureGitOpsCheck, gitOpsVerdicts, type GitOpsVerdict } from '../support/gitops-check.js';
import { PROJECT, ZONE, useSandbox } from '../support/sandbox.js';
import { startAgent, startHealthServer, stopAllAgents, type HealthServer } from '../support/vm-agent.js';

const s = useSandbox({}, { compute: true });
let dir: string;
let health: HealthServer;
const running: Controller[] = [];

beforeAll(async () => {
  await ensureGitOpsCheck();
}, 10 * 60_000);

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'jme-kstatus-rollout-'));
  s.sandbox.store.data = { projects: {}, buckets: {}, serial: 0 };
  health = await startHealthServer(200);
});

afterEach(async () => {
  for (const c of running.splice(0)) await c.stop(0);
  await stopAllAgents();
  await health.close();
  rmSync(dir, { recursive: true, force: true });
});

/** A VM in the sandbox, with its agent when `agent`, and a manifest deploying only the app to it. */
async function environment(id: string, { agent = true, healthSeconds = 10 } = {}): Promise<void> {
  const seed = { projects: [{ projectId: PROJECT, projectNumber: '123456789012', instances: [{ name: `vm-${id}`, zone: ZONE, serviceAccount: `vm-${id}@${PROJECT}.iam.gserviceaccount.com` }] }] };
  expect((await fetch(`${s.url}/__sandbox/seed`, { method: 'POST', body: JSON.stringify(seed) })).status).toBe(200);
  const started = agent ? await startAgent({ metadataUrl: `${s.sandbox.metadataUrl(PROJECT, ZONE, `vm-${id}`)}/computeMetadata/v1`, environment: id }) : undefined;
  writeFileSync(join(dir, `${id}.yaml`), stringify({
    apiVersion: 'jobmatch.io/v1alpha1', kind: 'JobMatchEnvironment', metadata: { name: id, namespace: 'jobmatch' },
    spec: {
      environment: id, gcp: { projectId: PROJECT, location: 'EU' }, vm: { name: `vm-${id}`, zone: ZONE },
      app: { config: { GREETING: 'hello' }, compose: { ref: 'main', ...(started ? { directory: started.dir } : {}) }, healthCheck: { url: health.url, timeoutSeconds: healthSeconds } },
      iam: [{ member: `serviceAccount:vm-${id}@${PROJECT}.iam.gserviceaccount.com`, role: 'roles/secretmanager.secretAccessor', resource: 'secret/deploy-key' }],
    },
  }));
}

/** Runs the controller over the directory until its queue is idle; the object as the store holds it, judged. */
async function reconcileAndJudge(id: string): Promise<{ verdict: GitOpsVerdict; condition: (type: string) => Condition | undefined }> {
  const logger = silentLogger();
  const store = new DirectoryStore(dir, logger);
  const clients = createGcpClients({ projectId: PROJECT, endpoint: s.url });
  const engine = { caller: new GcpCaller({ retry: FAST_RETRY }), clientsFor: () => clients, logger, execute: { policyWriter: new PolicyWriter() }, rolloutPolling: { initialMs: 20, maxMs: 200 } };
  const controller = new Controller({ store, engine, logger, metrics: new ControllerMetrics(), concurrency: 1 });
  running.push(controller);
  controller.enqueue(await store.load());
  await controller.queue.idle();
  const object = store.get(`jobmatch/${id}`)!;
  const [verdict] = await gitOpsVerdicts([{ ...object.manifest, status: object.status }]);
  return { verdict: verdict!, condition: (type) => object.status?.conditions?.find((c) => c.type === type) };
}

describe('a VM rollout as Flux and Argo CD see it', () => {
  it('deployed: Current and Healthy', async () => {
    await environment('fine');
    const { verdict, condition } = await reconcileAndJudge('fine');
    expect(condition('Deployed')).toMatchObject({ status: 'True' });
    expect(condition('Stalled')).toMatchObject({ status: 'False', reason: 'Ready' });
    expect(verdict).toMatchObject({ kstatus: { status: 'Current' }, argocd: { status: 'Healthy' } });
  });

  it('failed by the agent (RolloutFailed): Stalled with the agent\'s words, kstatus Failed, Argo CD Degraded', async () => {
    health.status = 500;
    await environment('sick', { healthSeconds: 2 });
    const { verdict, condition } = await reconcileAndJudge('sick');
    expect(condition('Deployed')).toMatchObject({ status: 'False', reason: 'RolloutFailed' });
    expect(condition('Stalled')).toMatchObject({ status: 'True', reason: 'RolloutFailed', message: expect.stringMatching(/^the VM agent failed the rollout: .*health check/) });
    expect(condition('Reconciling')).toMatchObject({ status: 'False', reason: 'RolloutFailed' });
    expect(verdict.kstatus).toMatchObject({ status: 'Failed', message: expect.stringMatching(/health check/) });
    expect(verdict.argocd).toMatchObject({ status: 'Degraded', message: expect.stringMatching(/^RolloutFailed: the VM agent failed the rollout: /) });
  });

  it('not acknowledged in time (RolloutTimeout): Reconciling, kstatus InProgress, Argo CD Progressing', async () => {
    await environment('mute', { agent: false, healthSeconds: 1 });
    const { verdict, condition } = await reconcileAndJudge('mute');
    expect(condition('Deployed')).toMatchObject({ status: 'False', reason: 'RolloutTimeout' });
    expect(condition('Reconciling')).toMatchObject({ status: 'True' });
    expect(condition('Stalled')).toMatchObject({ status: 'False' });
    expect(verdict).toMatchObject({ kstatus: { status: 'InProgress' }, argocd: { status: 'Progressing' } });
  });
});
