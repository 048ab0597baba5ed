/**
 * What the GitOps tools make of the controller's real objects: environments reconciled by the controller against
 * a real kube-apiserver (test/kube) and the sandbox, read back from the apiserver, and judged by kstatus' own
 * status.Compute (what Flux uses) and by docs/argocd-health.lua run in gopher-lua as Argo CD runs it
 * (test/gitops-check, Go, built once and cached).
 */
import { readFileSync } from 'node:fs';
import * as k8s from '@kubernetes/client-node';
import { parse } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startClusterController, type ClusterController } from '../../src/controller/cluster-runner.js';
import { ControllerMetrics } from '../../src/controller/metrics.js';
import { createActionLogger } from '../../src/engine/action-log.js';
import { PolicyWriter } from '../../src/engine/policy-writer.js';
import { createGcpClients } from '../../src/gcp/clients.js';
import { GcpCaller } from '../../src/gcp/gcp-caller.js';
import { applyCrd, createNamespace, startKube, type Kube } from '../kube/cluster.js';
import { FAST_RETRY } from '../support/engine.js';
import { ensureGitOpsCheck, gitOpsVerdicts, type GitOpsVerdict } from '../support/gitops-check.js';
import { withoutVm } from '../support/manifests.js';
import { PROJECT, useSandbox } from '../support/sandbox.js';
import { until } from '../support/until.js';

const CRD = new URL('../../crds/jobmatchenvironments.jobmatch.io.yaml', import.meta.url).pathname;
const STAGING = parse(readFileSync(new URL('../../manifests/examples/staging.yaml', import.meta.url), 'utf8')) as Env;
const G = { group: 'jobmatch.io', version: 'v1alpha1', plural: 'jobmatchenvironments' };
const MERGE = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);

interface Env {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace: string; generation?: number; annotations?: Record<string, string> };
  spec: any;
  status?: any;
}

const s = useSandbox();
let kube: Kube;
const running: ClusterController[] = [];
let output = '';

beforeAll(async () => {
  kube = await startKube();
  await applyCrd(kube, CRD);
  await ensureGitOpsCheck();
}, 30 * 60_000);

afterAll(async () => {
  for (const c of running.splice(0)) await c.stop().catch(() => undefined);
  await kube?.stop();
}, 60_000);

/** An environment of its own (names from `id`), without a VM, so tests never share a GCP resource. */
function environment(ns: string, id: string, mutate?: (e: Env) => void): Env {
  const e = structuredClone(STAGING);
  e.metadata = { name: id, namespace: ns };
  e.spec.environment = id;
  e.spec.buckets[0].name = `jobmatch-${id}-bronze`;
  e.spec.datasets = e.spec.datasets.map((d: any) => ({ ...d, datasetId: d.datasetId.replace('staging', id.replaceAll('-', '_')) }));
  e.spec.iam = e.spec.iam.map((b: any) => ({
    ...b, member: b.member.replace('jobmatch-staging-vm', `jobmatch-${id}-vm`),
    resource: b.resource.replace('jobmatch-staging-bronze-job-match-v0', `jobmatch-${id}-bronze`).replace(/staging_/, `${id.replaceAll('-', '_')}_`),
  }));
  withoutVm(e);
  mutate?.(e);
  return e;
}

async function startController(ns: string): Promise<ClusterController> {
  const clients = createGcpClients({ projectId: PROJECT, endpoint: s.url });
  const logger = createActionLogger({ write: (l: string) => { output += l; } } as unknown as NodeJS.WritableStream, 'info');
  const c = await startClusterController(kube.kubeconfig, {
    namespace: ns, concurrency: 2, listen: '127.0.0.1:0', logger, metrics: new ControllerMetrics(),
    engine: { caller: new GcpCaller({ retry: FAST_RETRY }), clientsFor: () => clients, logger, execute: { policyWriter: new PolicyWriter() } },
    leaderElection: false, shutdownGrace: '1000',
  });
  running.push(c);
  return c;
}

async function stopController(c: ClusterController): Promise<void> {
  running.splice(running.indexOf(c), 1);
  await c.stop();
}

const api = () => kube.kubeconfig.makeApiClient(k8s.CustomObjectsApi);
const get = async (ns: string, name: string) => (await api().getNamespacedCustomObject({ ...G, namespace: ns, name })) as Env;
const create = (e: Env) => api().createNamespacedCustomObject({ ...G, namespace: e.metadata.namespace, body: e });
const patch = (ns: string, name: string, body: object) => api().patchNamespacedCustomObject({ ...G, namespace: ns, name, body }, MERGE);
const condition = (e: Env, type: string) => e.status?.conditions?.find((c: any) => c.type === type);
const reason = (ns: string, name: string, want: string) => until(`${ns}/${name} Ready reason ${want}`, () => get(ns, name), (e) => condition(e, 'Ready')?.reason === want,
  { timeoutMs: 60_000, detail: () => output.split('\n').slice(-30).join('\n') });

/** kstatus' and Argo CD's verdict on one object as the apiserver returns it. */
async function verdict(e: Env): Promise<GitOpsVerdict> {
  const [v] = await gitOpsVerdicts([e]);
  return v!;
}

describe('what Flux (kstatus) and Argo CD read from the controller\'s objects', () => {
  let ns: string;
  let controller: ClusterController;
  const objects: Record<string, Env> = {};

  beforeAll(async () => {
    ns = await createNamespace(kube, 'gitops');
    // An unlabelled bucket where "taken" wants its own: a Conflict (adoptExisting is false).
    await s.clients.storage.createBucket('jobmatch-taken-bronze', { location: 'EU' });
    await create(environment(ns, 'fresh'));
    objects.fresh = await get(ns, 'fresh'); // no controller yet: no status at all
    for (const e of [
      environment(ns, 'waiting'),
      environment(ns, 'ready'),
      environment(ns, 'taken'),
      environment(ns, 'bad', (x) => (x.spec.app.config.NOTES = 'sk-proj-Abcdefghijklmnopqrstuvwxyz0123456789ABCD')),
      environment(ns, 'greedy', (x) => x.spec.iam.push({ resource: 'project', role: 'roles/owner', member: x.spec.iam[0].member })),
      environment(ns, 'paused', (x) => (x.metadata.annotations = { 'jobmatch.io/paused': 'true' })),
    ]) await create(e);
    controller = await startController(ns);
    await reason(ns, 'ready', 'SecretsMissing');
    for (const name of ['llm-api-key', 'france-travail-api-key']) {
      await s.clients.secrets.addSecretVersion({ parent: `projects/${PROJECT}/secrets/jobmatch-ready-${name}`, payload: { data: Buffer.from('x') } });
    }
    controller.controller.queue.add(`${ns}/ready`);
    objects.ready = await reason(ns, 'ready', 'Ready');
    // A later object claiming "ready"'s bucket: a Conflict between two objects.
    await create(environment(ns, 'second', (x) => {
      x.spec.buckets[0].name = 'jobmatch-ready-bronze';
      x.spec.iam = x.spec.iam.map((b: any) => ({ ...b, resource: b.resource.replace('jobmatch-second-bronze', 'jobmatch-ready-bronze') }));
    }));
    objects.waiting = await reason(ns, 'waiting', 'SecretsMissing');
    objects.taken = await reason(ns, 'taken', 'Conflict');
    objects.second = await reason(ns, 'second', 'Conflict');
    objects.bad = await reason(ns, 'bad', 'InvalidSpec');
    objects.greedy = await reason(ns, 'greedy', 'PolicyViolation');
    objects.paused = await reason(ns, 'paused', 'Paused');
    // A spec edit the controller has not seen yet (it is stopped): the status describes generation 1.
    await stopController(controller);
    await patch(ns, 'ready', { spec: { buckets: [{ ...objects.ready.spec.buckets[0], versioning: false }] } });
    objects.edited = await get(ns, 'ready');
  }, 120_000);

  it.each([
    // name, kstatus, Argo CD, its message
    ['waiting', 'InProgress', 'Progressing', /^SecretsMissing: 2 secret\(s\) still need a value/],
    ['ready', 'Current', 'Healthy', /every resource matches the manifest/],
    ['taken', 'Failed', 'Degraded', /^Conflict: 2 resource\(s\) in conflict: see status\.resources/],
    ['second', 'Failed', 'Degraded', /^Conflict: .*bucket jobmatch-ready-bronze is already claimed by gitops\/ready/],
    ['bad', 'Failed', 'Degraded', /^InvalidSpec: .*spec\.app\.config\.NOTES/],
    ['greedy', 'Failed', 'Degraded', /^PolicyViolation: .*roles\/owner/],
    ['paused', 'InProgress', 'Suspended', /jobmatch\.io\/paused is "true"/],
    ['edited', 'InProgress', 'Progressing', /reconcile generation 2/],
  ] as const)('%s: kstatus %s, Argo CD %s', async (name, kstatus, argocd, message) => {
    const v = await verdict(objects[name]!);
    expect(v.kstatus.status, JSON.stringify(v)).toBe(kstatus);
    expect(v.argocd.status, JSON.stringify(v)).toBe(argocd);
    expect(v.argocd.message).toMatch(message);
  });

  it('judges a new object with no status yet Progressing in Argo CD; kstatus (no conditions, no observedGeneration) calls it Current', async () => {
    expect(objects.fresh!.status).toBeUndefined();
    const v = await verdict(objects.fresh!);
    expect(v.argocd).toEqual({ status: 'Progressing', message: 'Waiting for the operator\'s first reconcile' });
    // kstatus' fallback for an object without any condition; nothing the controller can write before it has seen the object.
    expect(v.kstatus.status).toBe('Current');
  });

  it('says why in kstatus\' message: Stalled\'s for a failure, the generation for an edit not yet seen', async () => {
    expect((await verdict(objects.taken!)).kstatus.message).toBe('2 resource(s) in conflict: see status.resources');
    expect((await verdict(objects.edited!)).kstatus.message).toBe('JobMatchEnvironment generation is 2, but latest observed generation is 1');
  });

  it.each([
    // name, Reconciling, Stalled, their reason
    ['waiting', 'True', 'False', 'SecretsMissing'],
    ['ready', 'False', 'False', 'Ready'],
    ['taken', 'False', 'True', 'Conflict'],
    ['second', 'False', 'True', 'Conflict'],
    ['bad', 'False', 'True', 'InvalidSpec'],
    ['greedy', 'False', 'True', 'PolicyViolation'],
    ['paused', 'False', 'False', 'Paused'],
  ] as const)('%s: Reconciling %s, Stalled %s (%s), with observedGeneration', (name, reconciling, stalled, why) => {
    const e = objects[name]!;
    expect(condition(e, 'Reconciling')).toMatchObject({ status: reconciling, reason: why, observedGeneration: e.metadata.generation });
    expect(condition(e, 'Stalled')).toMatchObject({ status: stalled, reason: why, observedGeneration: e.metadata.generation });
    expect(e.status.observedGeneration).toBe(e.metadata.generation);
  });
});
