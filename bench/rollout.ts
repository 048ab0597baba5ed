/**
 * Rollout benchmark (not a test): a config change → Deployed, end to end. The sandbox (in this process, 0 latency)
 * holds staging's VM; the real VM agent (vm-agent/jobmatch-agent.sh under sh) long-polls its metadata server
 * (wait_for_change), started by test/support/vm-agent.ts with the demo's docker and git stand-ins (vm-agent/demo/)
 * and a health URL answering 200. EDITS successive edits of app.config, each applied through the engine (reconcileEnvironment
 * 'apply', the default rollout polling), then EDITS through the controller (run --manifests' loop: the watched file
 * edited → status Deployed at the new hash); the API calls of one rollout; the cost of an in-sync reconcile of an
 * environment with a VM. Figures, never assertions. `tsx bench/rollout.ts` (`-- --json`); part of `npm run bench`.
 */
import { mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseDocument } from 'yaml';
import { configHash } from '../src/api/env-file.js';
import { loadManifests, type LoadedEnvironment } from '../src/api/manifests.js';
import { secretId } from '../src/api/naming.js';
import { Controller } from '../src/controller/controller.js';
import { DirectoryStore } from '../src/controller/directory-store.js';
import type { EnvironmentStatus } from '../src/controller/inventory.js';
import { ControllerMetrics } from '../src/controller/metrics.js';
import { silentLogger } from '../src/engine/action-log.js';
import { minimalReads } from '../src/engine/observe.js';
import { PolicyWriter } from '../src/engine/policy-writer.js';
import { reconcileEnvironment, type ReconcileContext, type ReconcileReport } from '../src/engine/reconcile.js';
import { createGcpClients } from '../src/gcp/clients.js';
import { GcpCaller } from '../src/gcp/gcp-caller.js';
import { DEFAULT_ROLLOUT_POLLING } from '../src/kinds/deployment/deployment-client.js';
import { KINDS } from '../src/kinds/registry.js';
import type { StatsSnapshot } from '../src/sandbox/request-stats.js';
import { startSandbox, type Sandbox } from '../src/sandbox/server.js';
import { startAgent, startHealthServer, stopAllAgents, type Agent } from '../test/support/vm-agent.js';
import { PROJECT, vmOf, ZONE } from './vm-seed.js';

const EDITS = 20;
const LATENCY_MS = 50;
const VM = 'jobmatch-staging-vm';
const DEMO_STAND_INS = fileURLToPath(new URL('../vm-agent/demo', import.meta.url));
const stagingText = readFileSync(new URL('../manifests/examples/staging.yaml', import.meta.url), 'utf8');

/** Nearest-rank percentile of values (ms), rounded. */
const percentile = (values: number[], p: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return Math.round(sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!);
};
const summary = (values: number[]) => ({ p50: percentile(values, 50), p95: percentile(values, 95), max: percentile(values, 100) });
const median = (values: number[]) => percentile(values, 50);
/** `run` awaited `times` times, one after the other. */
async function sequence(times: number, run: () => Promise<number>): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < times; i++) out.push(await run());
  return out;
}

/** Staging deploying into the agent's directory, health on the bench's server, and app.config BENCH_EDIT = edit. */
function manifestText(agent: Agent, healthUrl: string, edit: number): string {
  const doc = parseDocument(stagingText);
  doc.setIn(['spec', 'app', 'compose', 'directory'], agent.dir);
  doc.setIn(['spec', 'app', 'healthCheck', 'url'], healthUrl);
  doc.setIn(['spec', 'app', 'healthCheck', 'timeoutSeconds'], 30);
  doc.setIn(['spec', 'app', 'config', 'BENCH_EDIT'], String(edit));
  return String(doc);
}

function load(text: string): LoadedEnvironment {
  const { environments, errors } = loadManifests([{ file: 'staging.yaml', text }]);
  if (errors.length > 0) throw new Error(errors.map((e) => e.message).join('; '));
  return environments[0]!;
}

/** Requests by the operator (every API but the metadata server) and by the agent (the metadata server). */
function split(s: StatsSnapshot) {
  const agent = Object.values(s.byApi.metadata ?? {}).reduce((n, x) => n + x, 0);
  const agentWrites = s.byApi.metadata?.['guestAttributes.put'] ?? 0;
  const compute = s.byApi.compute ?? {};
  return {
    operatorReads: s.reads - (agent - agentWrites), operatorWrites: s.writes - agentWrites, agentRequests: agent, agentWrites,
    setMetadata: compute['instances.setMetadata'] ?? 0, getGuestAttributes: compute['instances.getGuestAttributes'] ?? 0,
    instancesGet: compute['instances.get'] ?? 0, operationWaits: (compute['zoneOperations.wait'] ?? 0) + (compute['zoneOperations.get'] ?? 0),
  };
}

function deployed(report: ReconcileReport): boolean {
  const action = report.plan.actions.find((a) => a.kind === 'Deployment');
  return action !== undefined && report.results?.[action.id]?.outcome === 'ok' && report.after?.actions.find((a) => a.kind === 'Deployment')?.verb === 'none';
}

async function throughEngine(sandbox: Sandbox, ctx: ReconcileContext, text: (edit: number) => string) {
  const latencies: number[] = [];
  const agentMs: number[] = [];
  const noticeMs: number[] = [];
  const calls: ReturnType<typeof split>[] = [];
  for (let edit = 1; edit <= EDITS; edit++) {
    const env = load(text(edit));
    sandbox.stats.reset();
    const started = performance.now();
    const report = await reconcileEnvironment(env, 'apply', ctx);
    latencies.push(performance.now() - started);
    const ended = Date.now();
    if (!deployed(report)) throw new Error(`edit ${edit} was not deployed: ${JSON.stringify(report.results)}`);
    // The request log: when the push was answered, and when the agent wrote applied-hash (its last report).
    const log = sandbox.stats.requests();
    const pushed = Date.parse(log.find((r) => r.op === 'instances.setMetadata')!.time);
    const applied = Date.parse(log.findLast((r) => r.op === 'guestAttributes.put' && r.path.endsWith('/applied-hash'))!.time);
    agentMs.push(applied - pushed);
    noticeMs.push(ended - applied);
    calls.push(split(sandbox.stats.snapshot()));
  }
  return { latencies, agentMs, noticeMs, calls };
}

async function throughController(ctx: ReconcileContext, text: (edit: number) => string, first: number) {
  const dir = mkdtempSync(join(tmpdir(), 'jme-bench-rollout-'));
  const file = join(dir, 'staging.yaml');
  writeFileSync(file, text(first));
  const logger = silentLogger();
  const store = new DirectoryStore(dir, logger);
  const listeners = new Set<(s: EnvironmentStatus) => void>();
  const write = store.writeStatus.bind(store);
  store.writeStatus = async (object, status) => {
    await write(object, status);
    for (const listener of [...listeners]) listener(status);
  };
  const deployedAt = (hash: string) => new Promise<void>((resolve) => {
    const listener = (s: EnvironmentStatus) => {
      if (s.deployedConfigHash === hash && s.conditions?.some((c) => c.type === 'Deployed' && c.status === 'True')) {
        listeners.delete(listener);
        resolve();
      }
    };
    listeners.add(listener);
  });
  // Resyncs far apart: only the edits wake the controller.
  const controller = new Controller({ store, engine: ctx, logger, metrics: new ControllerMetrics(), concurrency: 4, resyncSeconds: 3600 });
  const latencies: number[] = [];
  try {
    const ready = deployedAt(configHash(load(text(first)).spec));
    controller.enqueue(await store.load());
    store.watch((keys, removed) => {
      controller.forget(removed);
      controller.enqueue(keys);
    });
    await ready;
    for (let edit = first + 1; edit <= first + EDITS; edit++) {
      const next = text(edit);
      const seen = deployedAt(configHash(load(next).spec));
      const started = performance.now();
      writeFileSync(join(dir, '.next'), next);
      renameSync(join(dir, '.next'), file);
      await seen;
      latencies.push(performance.now() - started);

    }
  } finally {
    await controller.stop(1000);
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
  return latencies;
}

export async function rolloutBench() {
  const vm = vmOf(VM);
  const sandbox = await startSandbox({ seed: { projects: [{ projectId: PROJECT, instances: [vm] }] } });
  const health = await startHealthServer(200);
  try {
    // The demo's docker and git (vm-agent/demo/): constant cost a call, as a VM's own (the recording stand-ins slow down as their record grows).
    const agent = await startAgent({ metadataUrl: `${sandbox.metadataUrl(PROJECT, ZONE, VM)}/computeMetadata/v1`, env: { PATH: `${DEMO_STAND_INS}:${process.env.PATH ?? '/usr/bin:/bin'}` } });
    const ups = () => agent.log().split('(demo: no container started)').length - 1;
    const text = (edit: number) => manifestText(agent, health.url, edit);
    const clients = createGcpClients({ projectId: PROJECT, endpoint: sandbox.url });
    const ctx: ReconcileContext = { caller: new GcpCaller(), clientsFor: () => clients, logger: silentLogger(), execute: { policyWriter: new PolicyWriter() } };

    // The environment created, the external secrets given values (no rollout starts before), then a first rollout.
    const spec = load(text(0)).spec;
    await reconcileEnvironment(load(text(0)), 'apply', ctx);
    for (const s of spec.secrets.filter((x) => x.source === 'external')) {
      await clients.secrets.addSecretVersion({ parent: `projects/${PROJECT}/secrets/${secretId(spec.environment, s.name)}`, payload: { data: Buffer.from('bench') } });
    }
    if (!deployed(await reconcileEnvironment(load(text(0)), 'apply', ctx))) throw new Error('the first rollout did not deploy');

    const upsBefore = ups();
    const engine = await throughEngine(sandbox, ctx, text);
    const upsDuring = ups() - upsBefore;
    const controller = await throughController(ctx, text, EDITS);

    // An in-sync reconcile of the environment with its VM: reads only. Counted with a fresh context (what a new run
    // reads, the project number included), timed with the warm one (as the controller runs).
    const inSync = load(text(2 * EDITS));
    const freshClients = createGcpClients({ projectId: PROJECT, endpoint: sandbox.url });
    sandbox.stats.reset();
    await reconcileEnvironment(inSync, 'plan', { ...ctx, caller: new GcpCaller(), clientsFor: () => freshClients });
    const plan = split(sandbox.stats.snapshot());
    sandbox.stats.reset();
    const applyReport = await reconcileEnvironment(inSync, 'apply', ctx);
    const apply = split(sandbox.stats.snapshot());
    const timed = async () => {
      const started = performance.now();
      await reconcileEnvironment(inSync, 'plan', ctx);
      return performance.now() - started;
    };
    const planMs = median(await sequence(5, timed));
    sandbox.faults.update({ latencyMs: LATENCY_MS });
    const planAtLatencyMs = median(await sequence(5, timed));
    sandbox.faults.update({ latencyMs: 0 });

    const perRollout = (key: keyof ReturnType<typeof split>) => median(engine.calls.map((c) => c[key]));
    return {
      edits: EDITS,
      polling: DEFAULT_ROLLOUT_POLLING,
      engine: {
        editToDeployedMs: summary(engine.latencies), agentMs: summary(engine.agentMs), operatorNoticeMs: summary(engine.noticeMs),
        composeUpsPerRollout: upsDuring / EDITS,
        perRollout: {
          setMetadata: perRollout('setMetadata'), getGuestAttributes: perRollout('getGuestAttributes'), instancesGet: perRollout('instancesGet'),
          operationWaits: perRollout('operationWaits'), operatorReads: perRollout('operatorReads'), operatorWrites: perRollout('operatorWrites'),
          agentRequests: perRollout('agentRequests'), agentWrites: perRollout('agentWrites'),
        },
      },
      controller: { editToDeployedMs: summary(controller) },
      inSync: {
        planReads: plan.operatorReads, minimalReads: minimalReads(inSync.spec, KINDS), vmReads: plan.instancesGet + plan.getGuestAttributes,
        planWrites: plan.operatorWrites, applyWrites: apply.operatorWrites, applyReads: apply.operatorReads, applyInSync: applyReport.results !== undefined && Object.keys(applyReport.results).length === 0,
        planMs, planAtLatencyOverL: Number((planAtLatencyMs / LATENCY_MS).toFixed(2)), latencyMs: LATENCY_MS,
      },
    };
  } finally {
    await stopAllAgents();
    await health.close();
    await sandbox.close();
  }
}

export function describeRollout(r: Awaited<ReturnType<typeof rolloutBench>>): string {
  const ms = (s: { p50: number; p95: number; max: number }) => `p50 ${s.p50} ms, p95 ${s.p95} ms, max ${s.max} ms`;
  const p = r.engine.perRollout;
  return [
    `VM rollout of staging (sandbox in process, 0 latency; the real agent under sh, long-polling the metadata server; the demo's docker/git stand-ins), ${r.edits} app.config edits:`,
    `  through the engine (apply, rollout polling ${r.polling.initialMs} ms ×1.5 up to ${r.polling.maxMs} ms): edit → Deployed ${ms(r.engine.editToDeployedMs)}`,
    `    of which setMetadata answered → the agent's applied-hash written: ${ms(r.engine.agentMs)}; then until apply returned: ${ms(r.engine.operatorNoticeMs)}`,
    `    per rollout (median): ${p.setMetadata} setMetadata, ${p.getGuestAttributes} getGuestAttributes (2 in the observes before and after, ${p.getGuestAttributes - 2} polls), `
      + `${p.instancesGet} instances.get, ${p.operationWaits} zone-operation wait; the operator's requests: ${p.operatorReads} reads, ${p.operatorWrites} writes; `
      + `the agent's to the metadata server: ${p.agentRequests} (${p.agentWrites} guest-attribute writes); docker compose up ${r.engine.composeUpsPerRollout} per rollout`,
    `  through the controller (the watched manifest edited → status Deployed at the new hash): ${ms(r.controller.editToDeployedMs)}`,
    `  in-sync reconcile of staging with its VM: plan ${r.inSync.planReads} reads (minimal ${r.inSync.minimalReads}; the VM's ${r.inSync.vmReads}: instances.get and getGuestAttributes), `
      + `${r.inSync.planWrites} writes; ${r.inSync.planMs} ms at 0 latency, ${r.inSync.planAtLatencyOverL} × L at L = ${r.inSync.latencyMs} ms (median of 5, warm clients); apply (warm) ${r.inSync.applyReads} reads, ${r.inSync.applyWrites} writes`,
  ].join('\n');
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const r = await rolloutBench();
  console.log(process.argv.includes('--json') ? JSON.stringify(r) : describeRollout(r));
}
