/**
 * CLI benchmark (not a test): `plan` as users run it — a new `node bin/jobmatch-operator.js` process per run —
 * of the staging example, in sync, against the sandbox in its own process. Two measures, several runs each:
 * - whole-process wall time (spawn to exit) at 0 latency: start-up, module loading, client set-up, the reads;
 * - at L = 50 ms per request, the span of the plan's requests in the sandbox's own request log (first
 *   arrival to last answer), ÷ L: how long the process keeps the sandbox busy once it starts talking to it.
 * `npm run bench:cli` (add `-- --json`, `-- --runs N`, or `-- --bin PATH` to measure another build's
 * bin/jobmatch-operator.js, such as a checkout of the code before); `npm run bench` runs it after the engine's.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { vmSeedFile } from './vm-seed.js';

const LATENCY_MS = 50;
const ownBin = fileURLToPath(new URL('../bin/jobmatch-operator.js', import.meta.url));
const staging = fileURLToPath(new URL('../manifests/examples/staging.yaml', import.meta.url));

interface LoggedRequest { time: string; durationMs: number; path: string }

export interface CliFigures {
  runs: number;
  /** Whole process, spawn to exit, at 0 latency: seconds, one per run. */
  wallSeconds: number[];
  /** Span of the plan's requests in the sandbox's log at L, ÷ L, one per run. */
  spanOverLatency: number[];
  /** Whole process at L, seconds, one per run. */
  wallSecondsAtLatency: number[];
  requests: number;
  latencyMs: number;
}

/** The sandbox is always this build's, so two builds' CLIs meet the same server; it holds staging's VM (its rollout waits for the external secrets). */
async function startSandbox(): Promise<{ url: string; stop: () => Promise<void> }> {
  const seed = vmSeedFile(['jobmatch-staging-vm']);
  const child = spawn(process.execPath, [ownBin, 'sandbox', '--port', '0', '--seed', seed.file], { stdio: ['ignore', 'pipe', 'ignore'] });
  const [line] = (await once(createInterface({ input: child.stdout! }), 'line')) as [string];
  return { url: /listening on (\S+)/.exec(line)![1]!, stop: async () => { child.kill('SIGTERM'); await once(child, 'exit'); seed.remove(); } };
}

/** One CLI run; its exit code and wall time (spawn to exit), in seconds. */
async function cli(bin: string, args: string[]): Promise<{ code: number; seconds: number; stderr: string }> {
  const started = performance.now();
  const child = spawn(process.execPath, [bin, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const [code] = (await once(child, 'exit')) as [number];
  return { code, seconds: (performance.now() - started) / 1000, stderr };
}

const config = (url: string, body: object) => fetch(`${url}/__sandbox/config`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

/** First arrival to last answer, in ms: the log records each request when answered, with its duration. */
export function requestSpanMs(log: LoggedRequest[]): number {
  const ends = log.map((r) => Date.parse(r.time));
  const starts = log.map((r, i) => ends[i]! - r.durationMs);
  return Math.max(...ends) - Math.min(...starts);
}

export const range = (values: number[], digits: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[0]!.toFixed(digits) === sorted.at(-1)!.toFixed(digits) ? sorted[0]!.toFixed(digits) : `${sorted[0]!.toFixed(digits)}–${sorted.at(-1)!.toFixed(digits)}`;
};

export async function cliBench(runs = 5, bin = ownBin): Promise<CliFigures> {
  const sb = await startSandbox();
  try {
    const plan = ['plan', '-f', staging, '--gcp-endpoint', sb.url, '--log-level', 'silent'];
    const applied = await cli(bin, ['apply', '-f', staging, '--gcp-endpoint', sb.url, '--log-level', 'silent']);
    if (applied.code !== 0) throw new Error(`apply exited ${applied.code}: ${applied.stderr}`);
    const checked = await cli(bin, plan);
    if (checked.code !== 0) throw new Error(`an in-sync plan exited ${checked.code}: ${checked.stderr}`);

    const wallSeconds: number[] = [];
    for (let i = 0; i < runs; i++) wallSeconds.push((await cli(bin, plan)).seconds);

    await config(sb.url, { latencyMs: LATENCY_MS });
    const spanOverLatency: number[] = [];
    const wallSecondsAtLatency: number[] = [];
    let requests = 0;
    for (let i = 0; i < runs; i++) {
      await fetch(`${sb.url}/__sandbox/reset-stats`, { method: 'POST' });
      const run = await cli(bin, plan);
      if (run.code !== 0) throw new Error(`plan exited ${run.code}: ${run.stderr}`);
      const { requests: log } = await (await fetch(`${sb.url}/__sandbox/requests?limit=1000`)).json() as { requests: LoggedRequest[] };
      requests = log.length;
      wallSecondsAtLatency.push(run.seconds);
      spanOverLatency.push(requestSpanMs(log) / LATENCY_MS);
    }
    return { runs, wallSeconds, spanOverLatency, wallSecondsAtLatency, requests, latencyMs: LATENCY_MS };
  } finally {
    await sb.stop();
  }
}

export function describeCli(f: CliFigures): string {
  return [
    `CLI, in-sync plan of staging, a new process per run (${f.runs} runs, min–max):`,
    `  whole process at 0 latency: ${range(f.wallSeconds, 2)} s`,
    `  span of its ${f.requests} requests in the sandbox log at L = ${f.latencyMs} ms: ${range(f.spanOverLatency, 2)} × L; whole process ${range(f.wallSecondsAtLatency, 2)} s`,
  ].join('\n');
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const arg = (name: string) => (process.argv.includes(name) ? process.argv[process.argv.indexOf(name) + 1] : undefined);
  const figures = await cliBench(Number(arg('--runs') ?? 5), arg('--bin') ?? ownBin);
  console.log(process.argv.includes('--json') ? JSON.stringify(figures) : describeCli(figures));
}
