/**
 * Engine benchmark (not a test): the seed's staging environment against the sandbox (own process) with
 * L = 50 ms of latency on every API request, then 100 environments at once, in this process; then the CLI
 * as users run it, a process per run (bench/cli.ts); the controller in its own process (bench/controller.ts); the
 * VM rollout with the real agent (bench/rollout.ts). The sandbox holds every VM the manifests declare; their
 * rollouts wait for the external secrets (SecretsMissing). Figures, not assertions.
 * `npm run bench` (add `-- --json` for one JSON object, `-- --full` for the controller at 1,000 environments too).
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { loadManifests, type LoadedEnvironment } from '../src/api/manifests.js';
import { silentLogger } from '../src/engine/action-log.js';
import { minimalReads } from '../src/engine/observe.js';
import { KINDS } from '../src/kinds/registry.js';
import { PolicyWriter } from '../src/engine/policy-writer.js';
import { reconcileEnvironment, type ReconcileReport } from '../src/engine/reconcile.js';
import { createGcpClients, type GcpClients } from '../src/gcp/clients.js';
import { GcpCaller } from '../src/gcp/gcp-caller.js';
import type { Plan } from '../src/plan/types.js';
import { cliBench, describeCli } from './cli.js';
import { controllerBench, describeController } from './controller.js';
import { benchDriftEvents, printDriftEvents } from './drift-events.js';
import { describeRollout, rolloutBench } from './rollout.js';
import { vmSeedFile } from './vm-seed.js';

const LATENCY_MS = 50;
const bin = fileURLToPath(new URL('../bin/jobmatch-operator.js', import.meta.url));
const stagingText = readFileSync(new URL('../manifests/examples/staging.yaml', import.meta.url), 'utf8');

interface SandboxProcess { url: string; stop: () => Promise<void> }

/** The sandbox, holding every VM the benchmark's manifests declare (their rollouts wait for the external secrets). */
async function sandbox(): Promise<SandboxProcess> {
  const seed = vmSeedFile(['jobmatch-staging-vm', ...Array.from({ length: 100 }, (_, i) => `jobmatch-env-${String(i + 1).padStart(3, '0')}-vm`)]);
  const child = spawn(process.execPath, [bin, 'sandbox', '--port', '0', '--latency-ms', String(LATENCY_MS), '--seed', seed.file], { stdio: ['ignore', 'pipe', 'ignore'] });
  const [line] = (await once(createInterface({ input: child.stdout! }), 'line')) as [string];
  return { url: /listening on (\S+)/.exec(line)![1]!, stop: async () => { child.kill('SIGTERM'); await once(child, 'exit'); seed.remove(); } };
}

async function stats(url: string): Promise<{ reads: number; writes: number }> {
  return (await fetch(`${url}/__sandbox/stats`)).json() as Promise<{ reads: number; writes: number }>;
}
const resetStats = (url: string) => fetch(`${url}/__sandbox/reset-stats`, { method: 'POST' });

/** Sequential round trips an apply of this plan needs at the least: observe, the longest chain of writes (an IAM edit on a resource created first is a read + a write), observe again. */
export function criticalPath(plan: Plan): number {
  const byId = new Map(plan.actions.map((a) => [a.id, a]));
  const chain = (id: string): number => {
    const a = byId.get(id)!;
    if (a.kind !== 'IAMBinding') return a.steps.length;
    if (!a.dependsOn) return 1;
    const dep = byId.get(a.dependsOn)!;
    // After a create, IAM waits only for the container (the first step); after a dataset or an update, for the whole action.
    return 2 + (dep.verb === 'create' && dep.kind !== 'Dataset' ? 1 : dep.steps.length);
  };
  return 2 + Math.max(0, ...plan.actions.filter((a) => a.steps.length > 0).map((a) => chain(a.id)));
}

function environments(count: number): LoadedEnvironment[] {
  const docs = Array.from({ length: count }, (_, i) => {
    const n = String(i + 1).padStart(3, '0');
    return stagingText
      .replaceAll('jobmatch-staging-bronze-job-match-v0', `jobmatch-env-${n}-bronze-job-match-v0`)
      .replaceAll('staging_silver', `env_${n}_silver`).replaceAll('staging_gold', `env_${n}_gold`)
      .replaceAll('jobmatch-staging-vm', `jobmatch-env-${n}-vm`)
      .replace('name: staging', `name: env-${n}`).replace('environment: staging', `environment: env-${n}`);
  });
  const { environments: loaded, errors } = loadManifests([{ file: 'bench', text: docs.join('\n---\n') }]);
  if (errors.length > 0) throw new Error(JSON.stringify(errors.slice(0, 3)));
  return loaded;
}

async function run(url: string, envs: LoadedEnvironment[], mode: 'plan' | 'apply'): Promise<{ seconds: number; reports: ReconcileReport[] }> {
  const clients = new Map<string, GcpClients>();
  const ctx = {
    caller: new GcpCaller(),
    clientsFor: (p: string) => clients.get(p) ?? clients.set(p, createGcpClients({ projectId: p, endpoint: url })).get(p)!,
    logger: silentLogger(),
    execute: { policyWriter: new PolicyWriter() },
  };
  ctx.clientsFor('job-match-v0');
  const started = performance.now();
  const reports = await Promise.all(envs.map((e) => reconcileEnvironment(e, mode, ctx)));
  return { seconds: (performance.now() - started) / 1000, reports };
}

async function main() {
  const json = process.argv.includes('--json');
  const sb = await sandbox();
  let engine: object = {};
  try {
    const single = loadManifests([{ file: 'staging', text: stagingText }]).environments;
    const L = LATENCY_MS / 1000;

    // Warm-up: the first calls of a process load the clients' protos and stubs; a controller pays that once.
    await run(sb.url, environments(1).map((e) => ({ ...e, spec: { ...e.spec, environment: 'warm-up' } })), 'plan');
    const cold = await run(sb.url, single, 'apply');
    const depth = criticalPath(cold.reports[0]!.plan);
    await resetStats(sb.url);
    const plan = await run(sb.url, single, 'plan');
    const planStats = await stats(sb.url);
    await resetStats(sb.url);
    await run(sb.url, single, 'apply');
    const inSyncApply = await stats(sb.url);

    const many = environments(100);
    await resetStats(sb.url);
    const coldMany = await run(sb.url, many, 'apply');
    const coldManyStats = await stats(sb.url);
    await resetStats(sb.url);
    const planMany = await run(sb.url, many, 'plan');
    const planManyStats = await stats(sb.url);
    const failures = [...coldMany.reports, ...planMany.reports].filter((r) => Object.values(r.results ?? {}).some((x) => x.outcome === "error")).length;

    const result = {
      latencyMs: LATENCY_MS,
      inSyncPlanWallSeconds: Number(plan.seconds.toFixed(3)),
      inSyncPlanWallOverLatency: Number((plan.seconds / L).toFixed(2)),
      coldApplyWallSeconds: Number(cold.seconds.toFixed(3)),
      coldApplyCriticalPath: depth,
      coldApplyWallOverCriticalPath: Number((cold.seconds / (depth * L)).toFixed(2)),
      inSyncReads: planStats.reads,
      minimalReads: minimalReads(single[0]!.spec, KINDS),
      inSyncReadsOverMinimal: Number((planStats.reads / minimalReads(single[0]!.spec, KINDS)).toFixed(2)),
      inSyncPlanWrites: planStats.writes,
      inSyncWrites: inSyncApply.writes,
      envs100: {
        coldApplyWallSeconds: Number(coldMany.seconds.toFixed(2)),
        coldApplyRequests: coldManyStats.reads + coldManyStats.writes,
        wallSeconds: Number(planMany.seconds.toFixed(2)),
        reads: planManyStats.reads,
        writes: planManyStats.writes,
        peakRssMb: Math.round(process.resourceUsage().maxRSS / 1024),
        failedEnvironments: failures,
      },
      concurrencyPerApi: 16,
      node: process.version,
    };
    if (json) engine = result;
    else {
      console.log(`staging, L = ${LATENCY_MS} ms per request, in process:`);
      console.log(`  in-sync plan: ${result.inSyncPlanWallSeconds} s = ${result.inSyncPlanWallOverLatency} × L; ${result.inSyncReads} reads (minimal ${result.minimalReads}, ratio ${result.inSyncReadsOverMinimal}), ${result.inSyncPlanWrites} writes`);
      console.log(`  cold apply: ${result.coldApplyWallSeconds} s = ${result.coldApplyWallOverCriticalPath} × (critical path ${depth} × L)`);
      console.log(`  in-sync apply: ${result.inSyncWrites} writes`);
      console.log(`100 environments at once: cold apply ${result.envs100.coldApplyWallSeconds} s (${result.envs100.coldApplyRequests} requests); in-sync plan ${result.envs100.wallSeconds} s, ${result.envs100.reads} reads, ${result.envs100.writes} writes; peak RSS ${result.envs100.peakRssMb} MB; ${failures} failed`);
    }
  } finally {
    await sb.stop();
  }
  // Then the CLI, with this process idle: its runs are processes of their own, against a sandbox of their own.
  const cli = await cliBench(5);
  if (!json) console.log(describeCli(cli));
  // Then the controller as it runs for real: its own process, 100 environments (and 1,000 with --full: about 2.5
  // minutes more on 2 cores; `npm run bench:controller` measures both).
  const controller = await controllerBench(process.argv.includes('--full') ? [100, 1000] : [100]);
  if (!json) console.log(describeController(controller));
  // Then the VM rollout: config change → Deployed with the real agent, through the engine and the controller.
  const rollout = await rolloutBench();
  if (!json) console.log(describeRollout(rollout));
  // Then drift events: drift → healed through the real Pub/Sub emulator, and the reads they save.
  const driftEvents = await benchDriftEvents(30);
  if (json) console.log(JSON.stringify({ ...engine, cli, controller, rollout, driftEvents }));
  else printDriftEvents(driftEvents);
}

await main();
