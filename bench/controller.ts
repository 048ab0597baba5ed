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
import { vmSeedFile } from './vm-seed.js';

const bin = fileURLToPath(new URL('../bin/jobmatch-operator.js', import.meta.url));
const IDLE_SECONDS = 10;
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

async function gcpStats(url: string): Promise<{ reads: number; writes: number }> {
  return (await fetch(`${url}/__sandbox/stats`)).json() as Promise<{ reads: number; writes: number }>;
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

async function measure(count: number) {
  // Every environment's VM exists (its rollout waits for the external secrets: Synced, Deployed False SecretsMissing).
  const seed = vmSeedFile(Array.from({ length: count }, (_, i) => `jobmatch-e${String(i).padStart(4, '0')}-vm`));
  const sandbox = spawn(process.execPath, [bin, 'sandbox', '--port', '0', '--seed', seed.file], { stdio: ['ignore', 'pipe', 'ignore'] });
  const sandboxUrl = /listening on (\S+)/.exec(await firstLine(sandbox))![1]!;
  const dir = mkdtempSync(join(tmpdir(), 'jme-bench-'));
  for (let i = 0; i < count; i++) writeFileSync(join(dir, `e${String(i).padStart(4, '0')}.yaml`), environmentText(i));
  const port = 20000 + Math.floor(Math.random() * 20000);

  const nodeFlags = (process.env.JME_BENCH_CONTROLLER_NODE_FLAGS ?? '').split(' ').filter(Boolean);
  const controller = spawn(process.execPath, [...nodeFlags, bin, 'run', '--manifests', dir, '--gcp-endpoint', sandboxUrl, '--listen', `127.0.0.1:${port}`, '--log-level', 'silent', '--concurrency', '8'],
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
  try {
    const started = performance.now();
    for (;;) {
      if (Object.keys(latest).length === count && Object.values(latest).every(synced)) break;
      giveUpAfter(started, SYNCED_DEADLINE_SECONDS, `${count} environments Synced`, latest);
      await new Promise((r) => setTimeout(r, 100));
    }
    const toSyncedSeconds = (performance.now() - started) / 1000;
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
      environments: count, toSyncedSeconds: Number(toSyncedSeconds.toFixed(1)), idle, peakRssMb: hwmMb(pid),
      editToSyncedMs: { p50: Math.round(latencies[Math.floor(latencies.length * 0.5)]!), p99: Math.round(latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * 0.99))]!) },
    };
  } finally {
    controller.kill('SIGTERM');
    await once(controller, 'exit');
    sandbox.kill('SIGTERM');
    await once(sandbox, 'exit');
    rmSync(dir, { recursive: true, force: true });
    seed.remove();
  }
}

export async function controllerBench(counts: number[] = [100, 1000]) {
  const spec = loadManifests([{ file: 's', text: stagingText }]).environments[0]!.spec;
  const readsPerResync = minimalReads(spec, KINDS);
  const results = [];
  for (const count of counts) results.push(await measure(count));
  return { readsPerEnvironmentPerHourAtDefaultResync: Math.round(readsPerResync * 3600 / (spec.policy.resyncSeconds ?? 600)), readsPerResync, results };
}

export function describeController(r: Awaited<ReturnType<typeof controllerBench>>): string {
  const lines = ['controller (run --manifests, its own process, sandbox at 0 latency, --concurrency 8):'];
  for (const x of r.results) {
    lines.push(`  ${x.environments} environments: all Synced in ${x.toSyncedSeconds} s; at rest over ${IDLE_SECONDS} s: CPU ${x.idle.cpuPercent}%, RSS ${x.idle.rssMb} MB (peak ${x.peakRssMb} MB), ${x.idle.statusWrites} status writes, ${x.idle.gcpRequests} GCP requests; spec edit → Synced p50 ${x.editToSyncedMs.p50} ms, p99 ${x.editToSyncedMs.p99} ms`);
  }
  lines.push(`  GCP reads per environment per hour at the default resync (600 s): ${r.readsPerEnvironmentPerHourAtDefaultResync} (${r.readsPerResync} a resync); status writes at rest: 0 per hour when the line above says 0`);
  return lines.join('\n');
}

if (process.argv[1]?.endsWith('controller.ts')) {
  const counts = process.argv.slice(2).map(Number).filter((n) => n > 0);
  console.log(describeController(await controllerBench(counts.length ? counts : undefined)));
}
