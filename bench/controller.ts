/**
 * Controller benchmark (not a test): `run --manifests DIR` in its own process, as it runs for real,
 * against the sandbox in another. For 100 and 1,000 environments: time to all Synced, then at rest
 * (in sync, resyncs due later) the process's RSS and CPU, status writes (the Kubernetes writes of the
 * cluster mode; goal 0) and GCP requests; then a spec edit → Synced latency, p50/p99. Every environment's VM is
 * in the sandbox; no agent runs, so each rollout waits for the external secrets (SecretsMissing: Synced, not Deployed).
 * `npm run bench:controller` (100 and 1,000; `npm run bench` runs 100, and 1,000 with `-- --full`).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { loadManifests } from '../src/api/manifests.js';
import { minimalReads } from '../src/engine/observe.js';
import { KINDS } from '../src/kinds/registry.js';
import { environmentText, stagingText } from './environments.js';
import { imageNodeFlags } from './image-node-flags.js';
import { vmSeedFile } from './vm-seed.js';

const bin = fileURLToPath(new URL('../bin/jobmatch-operator.js', import.meta.url));
const IDLE_SECONDS = Number(process.env.JME_BENCH_IDLE_SECONDS ?? 10);
const EDITS = 20;

async function firstLine(child: ChildProcess): Promise<string> {
  const [line] = (await once(createInterface({ input: child.stdout! }), 'line')) as [string];
  return line;
}

const procStat = (pid: number) => {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime + stime, in seconds (USER_HZ = 100)
};
const rssMb = (pid: number) => Math.round(Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024);
const hwmMb = (pid: number) => Math.round(Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024);

async function gcpStats(url: string): Promise<{ reads: number; writes: number; byApi: Record<string, Record<string, number>> }> {
  return (await fetch(`${url}/__sandbox/stats`)).json() as never;
}

const NODE_FLAGS = (process.env.JME_BENCH_CONTROLLER_NODE_FLAGS ?? imageNodeFlags()).split(' ').filter(Boolean);

export interface ControllerBenchOptions {
  /** run --gcp-qps: the cold sync is then bounded by the busiest API's calls / qps. */
  gcpQps?: number;
}

/** Where the memory is at rest, from the controller's own /metrics (prom-client's Node.js metrics), in MB. */
async function heapAtRest(http: string): Promise<Record<string, number>> {
  const text = await (await fetch(`${http}/metrics`)).text();
  const mb = (re: RegExp) => Math.round(Number(re.exec(text)?.[1] ?? NaN) / 1048576);
  return {
    heapUsed: mb(/^nodejs_heap_size_used_bytes (\S+)/m), heapTotal: mb(/^nodejs_heap_size_total_bytes (\S+)/m),
    external: mb(/^nodejs_external_memory_bytes (\S+)/m),
    newSpace: mb(/^nodejs_heap_space_size_total_bytes\{space="new"\} (\S+)/m), oldSpace: mb(/^nodejs_heap_space_size_total_bytes\{space="old"\} (\S+)/m),
    largeObjectSpace: mb(/^nodejs_heap_space_size_total_bytes\{space="large_object"\} (\S+)/m),
  };
}

type Status = { observedGeneration?: number; conditions?: { type: string; status: string }[] };

const synced = (s: { conditions?: { type: string; status: string }[] } | undefined) => s?.conditions?.some((c) => c.type === 'Synced' && c.status === 'True') ?? false;

/** A benchmark never hangs: past the deadline it stops, with a status that is not Synced. */
const SYNCED_DEADLINE_SECONDS = 300;
function giveUpAfter(started: number, seconds: number, what: string, all: Record<string, { conditions?: { type: string; status: string }[] } | undefined>): void {
  const invalid = Object.entries(all).find(([, s]) => s?.conditions?.some((c) => c.type === 'Synced' && (c as { reason?: string }).reason === 'InvalidSpec'));
  if (invalid) throw new Error(`${invalid[0]} is InvalidSpec: ${JSON.stringify(invalid[1]?.conditions?.[0])}`);
  if (performance.now() - started < seconds * 1000) return;
  const stuck = Object.entries(all).find(([, s]) => !synced(s));
  throw new Error(`no ${what} within ${seconds} s${stuck ? `; e.g. ${stuck[0]}: ${JSON.stringify(stuck[1]?.conditions)}` : ''}`);
}

async function measure(count: number, options: ControllerBenchOptions) {
  // Every environment's VM exists (its rollout waits for the external secrets: Synced, Deployed False SecretsMissing).
  const seed = vmSeedFile(Array.from({ length: count }, (_, i) => `jobmatch-e${String(i).padStart(4, '0')}-vm`));
  const sandbox = spawn(process.execPath, [bin, 'sandbox', '--port', '0', '--seed', seed.file], { stdio: ['ignore', 'pipe', 'ignore'] });
  const sandboxUrl = /listening on (\S+)/.exec(await firstLine(sandbox))![1]!;
  const dir = mkdtempSync(join(tmpdir(), 'jme-bench-'));
  for (let i = 0; i < count; i++) writeFileSync(join(dir, `e${String(i).padStart(4, '0')}.yaml`), environmentText(i));
  const port = 20000 + Math.floor(Math.random() * 20000);
  const http = `http://127.0.0.1:${port}`;

  const qps = options.gcpQps ? ['--gcp-qps', String(options.gcpQps)] : [];
  const controller = spawn(process.execPath, [...NODE_FLAGS, bin, 'run', '--manifests', dir, '--gcp-endpoint', sandboxUrl, '--listen', `127.0.0.1:${port}`, '--log-level', 'silent', '--concurrency', '8', ...qps],
    { stdio: ['ignore', 'pipe', 'inherit'] });
  // Statuses are read from the status lines the directory mode prints, not by polling /status: the benchmark costs the controller nothing.
  let statusLines = 0;
  const latest: Record<string, Status> = {};
  createInterface({ input: controller.stdout! }).on('line', (l) => {
    if (!l.startsWith('{"object"')) return;
    statusLines++;
    const { object, status } = JSON.parse(l) as { object: string; status: Status };
    latest[object] = status;
  });
  // Where the memory is when the resident size peaks during the cold sync: a sample every 2 s.
  let atPeak: { rssMb: number; atSecond: number; heap: Record<string, number> } | undefined;
  const spawned = performance.now();
  const sampler = setInterval(() => {
    const rss = rssMb(controller.pid!);
    const atSecond = Math.round((performance.now() - spawned) / 1000);
    if (rss > (atPeak?.rssMb ?? 0)) void heapAtRest(http).then((heap) => (atPeak = { rssMb: rss, atSecond, heap }), () => undefined);
  }, 2000);
  try {
    const started = performance.now();
    for (;;) {
      if (Object.keys(latest).length === count && Object.values(latest).every(synced)) break;
      giveUpAfter(started, options.gcpQps ? 3 * SYNCED_DEADLINE_SECONDS : SYNCED_DEADLINE_SECONDS, `${count} environments Synced`, latest);
      await new Promise((r) => setTimeout(r, 100));
    }
    const toSyncedSeconds = (performance.now() - started) / 1000;
    clearInterval(sampler);
    // What the QPS limit allows: each API's calls take calls / qps seconds at best; the busiest API bounds the sync.
    const coldByApi = Object.fromEntries(Object.entries((await gcpStats(sandboxUrl)).byApi).map(([api, ops]) => [api, Object.values(ops).reduce((a, b) => a + b, 0)]));
    const qpsBoundSeconds = options.gcpQps ? Math.max(...Object.values(coldByApi)) / options.gcpQps : undefined;
    // Let the first resyncs' settling writes (Created → InSync) pass: resync is 600 s, so force none; just wait a moment.
    await new Promise((r) => setTimeout(r, 1000));
    const pid = controller.pid!;
    const cpu0 = procStat(pid);
    const writes0 = statusLines;
    const gcp0 = await gcpStats(sandboxUrl);
    await new Promise((r) => setTimeout(r, IDLE_SECONDS * 1000));
    const idle = {
      cpuPercent: Number((((procStat(pid) - cpu0) / IDLE_SECONDS) * 100).toFixed(2)),
      rssMb: rssMb(pid),
      statusWrites: statusLines - writes0,
      gcpRequests: (await gcpStats(sandboxUrl)).reads + (await gcpStats(sandboxUrl)).writes - gcp0.reads - gcp0.writes,
    };
    const heap = await heapAtRest(http);
    // Spec edit → Synced at the new generation, one environment at a time.
    const latencies: number[] = [];
    for (let e = 0; e < EDITS; e++) {
      const i = e % count;
      const key = `jobmatch/e${String(i).padStart(4, '0')}`;
      const before = latest[key]?.observedGeneration ?? 0;
      const t0 = performance.now();
      // Each edit flips that environment's versioning: first pass off, second pass back on.
      writeFileSync(join(dir, `e${String(i).padStart(4, '0')}.yaml`), environmentText(i, Math.floor(e / count) % 2 === 1));
      for (;;) {
        const s = latest[key];
        if ((s?.observedGeneration ?? 0) > before && synced(s)) break;
        giveUpAfter(t0, 60, `${key} Synced after an edit`, { [key]: s });
        await new Promise((r) => setTimeout(r, 10));
      }
      latencies.push(performance.now() - t0);
    }
    latencies.sort((a, b) => a - b);
    return {
      environments: count, toSyncedSeconds: Number(toSyncedSeconds.toFixed(1)), coldByApi,
      ...(qpsBoundSeconds !== undefined ? { gcpQps: options.gcpQps, qpsBoundSeconds: Number(qpsBoundSeconds.toFixed(1)), ofQpsBound: Number((toSyncedSeconds / qpsBoundSeconds).toFixed(2)) } : {}),
      idle, heap, peakRssMb: hwmMb(pid), ...(atPeak ? { atPeak } : {}),
      editToSyncedMs: { p50: Math.round(latencies[Math.floor(latencies.length * 0.5)]!), p99: Math.round(latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * 0.99))]!) },
    };
  } finally {
    clearInterval(sampler);
    controller.kill('SIGTERM');
    await once(controller, 'exit');
    sandbox.kill('SIGTERM');
    await once(sandbox, 'exit');
    rmSync(dir, { recursive: true, force: true });
    seed.remove();
  }
}

export async function controllerBench(counts: number[] = [100, 1000], options: ControllerBenchOptions = {}) {
  const spec = loadManifests([{ file: 's', text: stagingText }]).environments[0]!.spec;
  const readsPerResync = minimalReads(spec, KINDS);
  const results = [];
  for (const count of counts) results.push(await measure(count, options));
  return { readsPerEnvironmentPerHourAtDefaultResync: Math.round(readsPerResync * 3600 / (spec.policy.resyncSeconds ?? 600)), readsPerResync, results };
}

export function describeController(r: Awaited<ReturnType<typeof controllerBench>>): string {
  const lines = [`controller (run --manifests, its own process, node ${NODE_FLAGS.join(' ') || '(no flags)'}, sandbox at 0 latency, --concurrency 8):`];
  for (const x of r.results) {
    const bound = x.qpsBoundSeconds !== undefined ? ` (--gcp-qps ${x.gcpQps}: the busiest API allows ${x.qpsBoundSeconds} s, ${x.ofQpsBound}×)` : '';
    lines.push(`  ${x.environments} environments: all Synced in ${x.toSyncedSeconds} s${bound}, GCP calls ${JSON.stringify(x.coldByApi)}; at rest over ${IDLE_SECONDS} s: CPU ${x.idle.cpuPercent}%, RSS ${x.idle.rssMb} MB (peak ${x.peakRssMb} MB${x.atPeak ? `, heap MB near it ${JSON.stringify(x.atPeak)}` : ''}; heap MB ${JSON.stringify(x.heap)}), ${x.idle.statusWrites} status writes, ${x.idle.gcpRequests} GCP requests; spec edit → Synced p50 ${x.editToSyncedMs.p50} ms, p99 ${x.editToSyncedMs.p99} ms`);
  }
  lines.push(`  GCP reads per environment per hour at the default resync (600 s): ${r.readsPerEnvironmentPerHourAtDefaultResync} (${r.readsPerResync} a resync); status writes at rest: 0 per hour when the line above says 0`);
  return lines.join('\n');
}

if (process.argv[1]?.endsWith('controller.ts')) {
  const args = process.argv.slice(2);
  const counts = args.map(Number).filter((n) => n > 0);
  const qps = Number(args.find((a) => a.startsWith('--gcp-qps='))?.split('=')[1]);
  console.log(describeController(await controllerBench(counts.length ? counts : undefined, qps > 0 ? { gcpQps: qps } : {})));
}
