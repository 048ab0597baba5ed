/**
 * Sharding benchmark (not a test): N environments (default 10,000) across R replicas (default 4) of `run --shards S`
 * (default 8), on the real kube-apiserver and etcd of test/kube, with ONE sandbox process as GCP at 0 latency.
 *
 * For each variant (without VMs: no spec.vm; with VMs: each VM seeded in the sandbox, so its rollout waits for the
 * external secrets, Synced): the N environments are created first (bounded concurrency), then the R replicas start,
 * each its own process with its own --listen port and its log in a file. Measured: time from the replicas' start to
 * all N Synced (at their generation; read by ONE watch of the namespace, re-listed only when the watch ends), the GCP
 * requests of the cold sync by API (sandbox /__sandbox/stats), the apiserver's writes by resource (its own
 * apiserver_request_total), the CPU seconds each process spent; then after `--idle` seconds at rest (default 30): per
 * replica the shards and environments it owns, RSS, peak RSS (VmHWM), heap figures from its /metrics and CPU over
 * the rest; the GCP requests at rest (goal 0) and the apiserver writes at rest (Lease renewals only, goal: no status).
 *
 *   npm run bench:shards -- [--environments N] [--replicas R] [--shards S] [--vms on|off|both] [--idle SECONDS]
 *                           [--deadline SECONDS] [--concurrency C] [--no-restart] [--replica-log-level L] [--json]
 *
 * JME_BENCH_REPLICA_NODE_FLAGS: node flags for the replicas (default: the image's NODE_OPTIONS; {i}: the replica's index), e.g. "--cpu-prof --cpu-prof-dir=/tmp/p{i}".
 * A replica that exits (e.g. 1 after failing to renew its Leases for --lease-renew-deadline) is started again on the
 * same port, as its Deployment would restart it; each exit is printed with its reason (--no-restart: stop there).
 *
 * Never hangs: past --deadline (default max(300, 0.12 s × N)) it prints what it measured, marked as not all Synced.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { createServer, type AddressInfo } from 'node:net';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { imageNodeFlags } from './image-node-flags.js';
import { fileURLToPath } from 'node:url';
import * as k8s from '@kubernetes/client-node';
import pLimit from 'p-limit';
import { shardOf } from '../src/controller/shard.js';
import { applyCrd, createNamespace, startKube, type Kube } from '../test/kube/cluster.js';
import { environmentObject, vmNameOf, widthFor } from './environments.js';
import { vmSeedFile } from './vm-seed.js';

const BIN = fileURLToPath(new URL('../bin/jobmatch-operator.js', import.meta.url));
const CRD = fileURLToPath(new URL('../crds/jobmatchenvironments.jobmatch.io.yaml', import.meta.url));
const G = { group: 'jobmatch.io', version: 'v1alpha1', plural: 'jobmatchenvironments' };
const NS = 'jobmatch';
const LEASE_NS = 'jobmatch-system';
/** SIGINT or SIGTERM: the variant stops where it is and cleans up (replicas, sandbox, apiserver, temp files). */
let interrupted = false;

/** Objects created at once by the bench (through @kubernetes/client-node). */
const CREATE_CONCURRENCY = 32;

interface Options {
  environments: number;
  replicas: number;
  shards: number;
  vms: ('off' | 'on')[];
  idleSeconds: number;
  deadlineSeconds: number;
  concurrency: number;
  /** A replica that exits is started again, as its Deployment would (off: the variant stops there). */
  restart: boolean;
  replicaLogLevel: string;
  json: boolean;
}

function parseArgs(argv: string[]): Options {
  const value = (name: string) => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const int = (name: string, dflt: number, min = 1) => {
    const v = value(name);
    if (v === undefined) return dflt;
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be an integer ≥ ${min}, not ${v}`);
    return n;
  };
  const environments = int('environments', 10_000);
  const vms = value('vms') ?? 'both';
  if (!['on', 'off', 'both'].includes(vms)) throw new Error(`--vms must be on, off or both, not ${vms}`);
  return {
    environments, replicas: int('replicas', 4), shards: int('shards', 8), vms: vms === 'both' ? ['off', 'on'] : [vms as 'on' | 'off'],
    idleSeconds: int('idle', 30, 0), deadlineSeconds: int('deadline', Math.max(300, Math.ceil(environments * 0.12))),
    concurrency: int('concurrency', 8), restart: !argv.includes('--no-restart'), replicaLogLevel: value('replica-log-level') ?? 'warn', json: argv.includes('--json'),
  };
}

// ---------------------------------------------------------------------------------------------
// Processes: CPU and memory from /proc.

/** utime + stime of a process, in seconds (USER_HZ = 100); NaN once it is gone. */
function cpuSeconds(pid: number | undefined): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return NaN;
  }
}
const statusMb = (pid: number, field: 'VmRSS' | 'VmHWM') => Math.round(Number(new RegExp(`${field}:\\s+(\\d+)`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024);
const uptime = () => `load average ${loadavg().map((x) => x.toFixed(2)).join(', ')}`;
const round1 = (x: number) => Math.round(x * 10) / 10;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

interface Replica {
  index: number;
  child: ChildProcess;
  pid: number;
  port: number;
  log: string;
  exitCode: number | string | null | undefined;
  exited: Promise<void>;
}

/** A replica: `run --shards S`, its stdout and stderr into a file (never a pipe this busy process might drain late). */
function startReplica(kube: Kube, sandboxUrl: string, o: Options, port: number, logDir: string, index: number): Replica {
  const log = join(logDir, `replica-${index}.log`);
  const fd = openSync(log, 'a');
  const nodeFlags = (process.env.JME_BENCH_REPLICA_NODE_FLAGS ?? imageNodeFlags()).split(' ').filter(Boolean).map((f) => f.replaceAll('{i}', String(index)));
  const child = spawn(process.execPath, [...nodeFlags, BIN, 'run', '--kubeconfig', kube.kubeconfigPath, '--namespace', NS, '--leader-election-namespace', LEASE_NS,
    '--gcp-endpoint', sandboxUrl, '--listen', `127.0.0.1:${port}`, '--log-level', o.replicaLogLevel, '--shards', String(o.shards), '--concurrency', String(o.concurrency)],
  { stdio: ['ignore', fd, fd] });
  closeSync(fd);
  const r: Replica = { index, child, pid: child.pid!, port, log, exitCode: undefined, exited: Promise.resolve() };
  r.exited = new Promise((resolve) => child.on('exit', (code, signal) => {
    r.exitCode = code ?? signal;
    resolve();
  }));
  return r;
}

async function stop(child: ChildProcess, exited: Promise<unknown>, graceMs = 10_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

// ---------------------------------------------------------------------------------------------
// Metrics: the replicas' /metrics, the apiserver's, the sandbox's stats.

interface ReplicaFigures {
  shards: number[];
  environments: number;
  rssMb: number;
  peakRssMb: number;
  cpuPercentAtRest: number;
  /** MB, from its /metrics. */
  heap: Record<string, number>;
  /** Exits during the variant, each with its reason (restarted unless --no-restart). */
  exits: string[];
  /** CPU seconds of the cold sync, its restarted processes included. */
  coldSyncCpuSeconds: number;
  exitCode?: number | string | null;
}

async function replicaMetrics(port: number): Promise<{ shards: number[]; heap: Record<string, number> }> {
  const text = await fetch(`http://127.0.0.1:${port}/metrics`).then((r) => r.text(), () => '');
  if (!text) return { shards: [], heap: {} }; // not listening (yet, or any more)
  const mb = (re: RegExp) => Math.round(Number(re.exec(text)?.[1] ?? NaN) / 1048576);
  const heap: Record<string, number> = {
    heapUsed: mb(/^nodejs_heap_size_used_bytes (\S+)/m), heapTotal: mb(/^nodejs_heap_size_total_bytes (\S+)/m), external: mb(/^nodejs_external_memory_bytes (\S+)/m),
  };
  for (const m of text.matchAll(/^nodejs_heap_space_size_total_bytes\{space="([^"]+)"\} (\S+)/gm)) heap[`space:${m[1]}`] = Math.round(Number(m[2]) / 1048576);
  const shards = [...text.matchAll(/^jobmatch_shard_owner\{shard="(\d+)"\} 1$/gm)].map((m) => Number(m[1])).sort((a, b) => a - b);
  return { shards, heap };
}

/**
 * The apiserver's writes so far (apiserver_request_total, every verb but reads and watches), by resource[/subresource];
 * and its LISTs and WATCHes, by resource, under "LIST resource" and "WATCH resource" (a relisting informer shows there).
 */
async function apiserverWrites(kube: Kube): Promise<Record<string, number>> {
  const text = await new Promise<string>((resolve, reject) => {
    const req = httpsRequest(`${kube.url}/metrics`, { ca: readFileSync(kube.caPath), headers: { authorization: `Bearer ${kube.adminToken}` } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
  const out: Record<string, number> = {};
  for (const m of text.matchAll(/^apiserver_request_total\{([^}]*)\} (\S+)$/gm)) {
    const labels = Object.fromEntries([...m[1]!.matchAll(/(\w+)="([^"]*)"/g)].map((l) => [l[1], l[2]]));
    if (['GET', 'CONNECT'].includes(labels.verb!)) continue;
    const resource = labels.subresource ? `${labels.resource}/${labels.subresource}` : labels.resource!;
    const key = labels.verb === 'LIST' || labels.verb === 'WATCH' ? `${labels.verb} ${resource}` : resource;
    out[key] = (out[key] ?? 0) + Number(m[2]);
  }
  return out;
}

const minus = (a: Record<string, number>, b: Record<string, number>) =>
  Object.fromEntries(Object.entries(a).map(([k, v]) => [k, v - (b[k] ?? 0)]).filter(([, v]) => (v as number) > 0));

interface SandboxStats {
  total: number;
  reads: number;
  writes: number;
  byApi: Record<string, Record<string, number>>;
}
const sandboxStats = async (url: string) => (await fetch(`${url}/__sandbox/stats`)).json() as Promise<SandboxStats>;

// ---------------------------------------------------------------------------------------------
// Statuses: one watch of the namespace, re-listed (paged) whenever it ends.

type Env = { metadata: { name: string; uid: string; generation?: number; resourceVersion?: string }; status?: { observedGeneration?: number; conditions?: { type: string; status: string; reason?: string; message?: string }[] } };

class Statuses {
  readonly uid = new Map<string, string>();
  private readonly synced = new Set<string>();
  invalid: string | undefined;
  private abort: AbortController | undefined;
  private closed = false;
  relists = 0;
  events = 0;

  constructor(private readonly kube: Kube) {}

  get count(): number {
    return this.synced.size;
  }

  private note(e: Env): void {
    const name = e.metadata.name;
    this.uid.set(name, e.metadata.uid);
    const s = e.status?.conditions?.find((c) => c.type === 'Synced');
    if (s?.reason === 'InvalidSpec') this.invalid ??= `${name}: ${s.message}`;
    if (s?.status === 'True' && e.status?.observedGeneration === (e.metadata.generation ?? 1)) this.synced.add(name);
    else this.synced.delete(name);
  }

  /** A paged list (500 a page), then a watch from its resourceVersion. */
  async start(): Promise<void> {
    const api = this.kube.kubeconfig.makeApiClient(k8s.CustomObjectsApi);
    let _continue: string | undefined;
    let rv = '';
    this.synced.clear();
    do {
      const page = (await api.listNamespacedCustomObject({ ...G, namespace: NS, limit: 500, _continue })) as { items: Env[]; metadata: { continue?: string; resourceVersion: string } };
      for (const e of page.items) this.note(e);
      _continue = page.metadata.continue || undefined;
      rv = page.metadata.resourceVersion;
    } while (_continue);
    const restart = () => {
      if (this.closed) return;
      this.relists++;
      setTimeout(() => void this.start().catch(restart), 1000);
    };
    this.abort = await new k8s.Watch(this.kube.kubeconfig).watch(`/apis/${G.group}/${G.version}/namespaces/${NS}/${G.plural}`, { resourceVersion: rv, allowWatchBookmarks: true },
      (type, obj: Env) => {
        this.events++;
        if (type === 'ADDED' || type === 'MODIFIED') this.note(obj);
        else if (type === 'DELETED') this.synced.delete(obj.metadata.name);
      }, () => restart());
  }

  close(): void {
    this.closed = true;
    this.abort?.abort();
  }
}

// ---------------------------------------------------------------------------------------------

interface VariantResult {
  variant: 'no VM' | 'with VMs';
  environments: number;
  replicas: number;
  shards: number;
  concurrency: number;
  createSeconds: number;
  allSynced: boolean;
  synced: number;
  toSyncedSeconds: number;
  /** CPU seconds spent during the cold sync, per process. */
  coldSyncCpuSeconds: Record<string, number>;
  gcpColdSync: { total: number; reads: number; writes: number; byApi: Record<string, Record<string, number>> };
  apiserverWritesColdSync: Record<string, number>;
  idleSeconds: number;
  gcpRequestsAtRest: number | undefined;
  apiserverWritesAtRest: Record<string, number> | undefined;
  replicaFigures: ReplicaFigures[];
  watchEvents: number;
  loadBefore: string;
  loadAfter: string;
}

async function variant(o: Options, vms: boolean): Promise<VariantResult> {
  const loadBefore = uptime();
  const n = o.environments;
  const width = widthFor(n);
  const logDir = mkdtempSync(join(tmpdir(), 'jme-bench-shards-'));
  const kube = await startKube();
  const seed = vms ? vmSeedFile(Array.from({ length: n }, (_, i) => vmNameOf(i, width))) : undefined;
  const sandbox = spawn(process.execPath, [BIN, 'sandbox', '--port', '0', ...(seed ? ['--seed', seed.file] : [])], { stdio: ['ignore', 'pipe', 'ignore'] });
  const sandboxExited = once(sandbox, 'exit');
  const replicas: Replica[] = [];
  const statuses = new Statuses(kube);
  let keepLogs = false;
  try {
    const lines = createInterface({ input: sandbox.stdout! }); // drained for as long as the sandbox runs
    const [first] = (await once(lines, 'line')) as [string];
    const sandboxUrl = /listening on (\S+)/.exec(first)![1]!;
    await applyCrd(kube, CRD);
    await createNamespace(kube, NS);
    await createNamespace(kube, LEASE_NS);

    // Create the N environments, CREATE_CONCURRENCY at a time.
    const api = kube.kubeconfig.makeApiClient(k8s.CustomObjectsApi);
    const limit = pLimit(CREATE_CONCURRENCY);
    const c0 = performance.now();
    await Promise.all(Array.from({ length: n }, (_, i) => limit(() => interrupted ? Promise.reject(new Error('interrupted')) : api.createNamespacedCustomObject({ ...G, namespace: NS, body: environmentObject(i, { namespace: NS, vm: vms, width }) }))));
    const createSeconds = round1((performance.now() - c0) / 1000);
    process.stderr.write(`${vms ? 'with VMs' : 'no VM'}: ${n} environments created in ${createSeconds} s; ${uptime()}\n`);

    await statuses.start();
    await fetch(`${sandboxUrl}/__sandbox/reset-stats`, { method: 'POST' });
    const writes0 = await apiserverWrites(kube);
    const others = () => ({ sandbox: sandbox.pid, apiserver: kube.pids().apiserver, etcd: kube.pids().etcd });
    const ports = new Set<number>();
    while (ports.size < o.replicas) ports.add(await freePort());
    const started = performance.now();
    for (const port of ports) replicas.push(startReplica(kube, sandboxUrl, o, port, logDir, replicas.length));
    const others0 = Object.fromEntries(Object.entries(others()).map(([k, pid]) => [k, cpuSeconds(pid)]));
    const benchCpu0 = process.cpuUsage();
    // Per replica slot, across its restarts: CPU of the processes gone, the last CPU and peak RSS seen of the current one.
    const slot = replicas.map(() => ({ cpuGone: 0, cpuLast: 0, peakMb: 0, exits: [] as string[] }));
    const sample = () => {
      for (const r of replicas) {
        if (r.exitCode !== undefined) continue;
        const c = cpuSeconds(r.pid);
        if (Number.isFinite(c)) slot[r.index]!.cpuLast = c;
        try {
          slot[r.index]!.peakMb = Math.max(slot[r.index]!.peakMb, statusMb(r.pid, 'VmHWM'));
        } catch {
          // exited meanwhile
        }
      }
    };

    // Until all Synced, or the deadline. A replica that exits is started again (as its Deployment would), and noted.
    let lastProgress = started;
    let lastSample = 0;
    for (;;) {
      if (statuses.invalid) throw new Error(`InvalidSpec: ${statuses.invalid}`);
      if (statuses.count === n) break;
      if (interrupted) throw new Error('interrupted');
      if (performance.now() - lastSample > 2000) {
        lastSample = performance.now();
        sample();
      }
      const gone = replicas.find((r) => r.exitCode !== undefined);
      if (gone) {
        keepLogs = true;
        const why = readFileSync(gone.log, 'utf8').split('\n').filter((l) => l.includes('"level":60') || (l.includes('"level":50') && l.includes('"event":"shards"'))).map((l) => /"msg":"([^"]*)"/.exec(l)?.[1] ?? l.slice(0, 120));
        const reason = `exit ${gone.exitCode} at ${Math.round((performance.now() - started) / 1000)} s${why.length ? `: ${[...new Set(why)].slice(-3).join('; ')}` : ''}`;
        slot[gone.index]!.exits.push(reason);
        slot[gone.index]!.cpuGone += slot[gone.index]!.cpuLast;
        slot[gone.index]!.cpuLast = 0;
        process.stderr.write(`  replica ${gone.index} ${reason} (log ${gone.log})\n`);
        if (!o.restart) break;
        writeFileSync(gone.log, ''); // the next process's log; the reasons are kept above
        replicas[gone.index] = startReplica(kube, sandboxUrl, o, gone.port, logDir, gone.index);
      }
      if (performance.now() - started > o.deadlineSeconds * 1000) {
        process.stderr.write(`  deadline: ${statuses.count}/${n} Synced after ${o.deadlineSeconds} s\n`);
        break;
      }
      if (performance.now() - lastProgress > 30_000) {
        lastProgress = performance.now();
        process.stderr.write(`  ${Math.round((lastProgress - started) / 1000)} s: ${statuses.count}/${n} Synced; RSS MB ${replicas.map((r) => (r.exitCode === undefined ? statusMb(r.pid, 'VmRSS') : '-')).join('/')}; exits ${slot.map((x) => x.exits.length).join('/')}; ${uptime()}\n`);
      }
      await new Promise((r) => setTimeout(r, 250));
    }
    sample();
    const toSyncedSeconds = round1((performance.now() - started) / 1000);
    const allSynced = statuses.count === n;
    const benchCpu = process.cpuUsage(benchCpu0);
    const coldSyncCpuSeconds: Record<string, number> = Object.fromEntries(slot.map((x, i) => [`replica${i}`, round1(x.cpuGone + x.cpuLast)]));
    for (const [k, pid] of Object.entries(others())) coldSyncCpuSeconds[k] = round1(cpuSeconds(pid) - others0[k]!);
    coldSyncCpuSeconds.bench = round1((benchCpu.user + benchCpu.system) / 1e6);
    const gcp = await sandboxStats(sandboxUrl);
    const writes1 = await apiserverWrites(kube);

    // At rest: every replica in sync, resyncs due later (600 s). The last statuses' follow-up writes pass in a moment:
    // the window starts 2 s after the last Synced.
    let gcpRequestsAtRest: number | undefined;
    let apiserverWritesAtRest: Record<string, number> | undefined;
    let cpuRest0 = replicas.map((r) => cpuSeconds(r.pid));
    if (allSynced) {
      await new Promise((r) => setTimeout(r, 2000));
      cpuRest0 = replicas.map((r) => cpuSeconds(r.pid));
      const gcpRest0 = (await sandboxStats(sandboxUrl)).total;
      const writesRest0 = await apiserverWrites(kube);
      await new Promise((r) => setTimeout(r, o.idleSeconds * 1000));
      gcpRequestsAtRest = (await sandboxStats(sandboxUrl)).total - gcpRest0;
      apiserverWritesAtRest = minus(await apiserverWrites(kube), writesRest0);
    }
    const restSeconds = allSynced ? o.idleSeconds : 0;
    sample();
    const countByShard = new Array<number>(o.shards).fill(0);
    for (const uid of statuses.uid.values()) countByShard[shardOf(uid, o.shards)]!++;
    const replicaFigures: ReplicaFigures[] = [];
    for (const [i, r] of replicas.entries()) {
      const alive = r.exitCode === undefined;
      const m = alive ? await replicaMetrics(r.port) : { shards: [], heap: {} };
      const rest = alive && restSeconds > 0 ? round1(((cpuSeconds(r.pid) - cpuRest0[i]!) / restSeconds) * 100) : NaN;
      replicaFigures.push({
        shards: m.shards, environments: m.shards.reduce((sum, s) => sum + countByShard[s]!, 0),
        rssMb: alive ? statusMb(r.pid, 'VmRSS') : NaN, peakRssMb: slot[i]!.peakMb, cpuPercentAtRest: rest, heap: m.heap,
        exits: slot[i]!.exits, coldSyncCpuSeconds: coldSyncCpuSeconds[`replica${i}`]!, ...(alive ? {} : { exitCode: r.exitCode }),
      });
    }
    return {
      variant: vms ? 'with VMs' : 'no VM', environments: n, replicas: o.replicas, shards: o.shards, concurrency: o.concurrency, createSeconds,
      allSynced, synced: statuses.count, toSyncedSeconds, coldSyncCpuSeconds,
      gcpColdSync: { total: gcp.total, reads: gcp.reads, writes: gcp.writes, byApi: gcp.byApi },
      apiserverWritesColdSync: minus(writes1, writes0), idleSeconds: restSeconds, gcpRequestsAtRest, apiserverWritesAtRest,
      replicaFigures, watchEvents: statuses.events, loadBefore, loadAfter: uptime(),
    };
  } finally {
    statuses.close();
    await Promise.all(replicas.map((r) => stop(r.child, r.exited)));
    await stop(sandbox, sandboxExited);
    await kube.stop();
    seed?.remove();
    if (keepLogs) process.stderr.write(`replica logs kept in ${logDir}\n`);
    else rmSync(logDir, { recursive: true, force: true });
  }
}

const fmt = (x: number) => x.toLocaleString('en-US');

export function describeVariant(r: VariantResult): string {
  const byApi = Object.entries(r.gcpColdSync.byApi).map(([api, ops]) => `${api} ${fmt(Object.values(ops).reduce((a, b) => a + b, 0))}`).join(', ');
  const reps = r.replicaFigures.map((f, i) => f.exitCode !== undefined
    ? `r${i} exited (${f.exitCode})`
    : `r${i} ${f.shards.length} shards/${fmt(f.environments)} envs RSS ${f.rssMb} MB peak ${f.peakRssMb} MB ${f.heap.heapUsed === undefined ? 'heap -' : `heap ${f.heap.heapUsed}/${f.heap.heapTotal} MB (old ${f.heap['space:old']}, new ${f.heap['space:new']}, ext ${f.heap.external})`}${Number.isFinite(f.cpuPercentAtRest) ? ` CPU ${f.cpuPercentAtRest}%` : ''}${f.exits.length ? `, ${f.exits.length} exits (${f.exits[0]})` : ''}`).join('; ');
  const head = `${fmt(r.environments)} environments, ${r.variant}, ${r.replicas} replicas, ${r.shards} shards, --concurrency ${r.concurrency}: `
    + (r.allSynced ? `all Synced in ${r.toSyncedSeconds} s` : `NOT all Synced: ${fmt(r.synced)} in ${r.toSyncedSeconds} s`)
    + ` (created in ${r.createSeconds} s before)`;
  const cpu = Object.entries(r.coldSyncCpuSeconds).map(([k, v]) => `${k} ${v}`).join(', ');
  const rest = r.gcpRequestsAtRest === undefined ? 'no rest measured'
    : `at rest over ${r.idleSeconds} s: GCP requests ${r.gcpRequestsAtRest}, apiserver writes ${JSON.stringify(r.apiserverWritesAtRest)}`;
  return `${head}; cold sync: GCP ${fmt(r.gcpColdSync.total)} requests (${fmt(r.gcpColdSync.reads)} reads, ${fmt(r.gcpColdSync.writes)} writes; ${byApi}), apiserver writes (and LISTs, WATCHes) ${JSON.stringify(r.apiserverWritesColdSync)}, CPU s ${cpu}; ${rest}; ${reps}; ${r.loadBefore} before, ${r.loadAfter} after`;
}

if (process.argv[1]?.endsWith('shards.ts')) {
  const o = parseArgs(process.argv.slice(2));
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => {
    process.stderr.write(`${signal}: stopping the variant and cleaning up\n`);
    interrupted = true;
  });
  // What was built (npm run build builds the working tree): the commit, and the files of src/ changed since.
  const git = (args: string[]) => execFileSync('git', args, { cwd: fileURLToPath(new URL('..', import.meta.url)), encoding: 'utf8' });
  const changed = git(['status', '--porcelain', '--', 'src']).split('\n').filter(Boolean).map((l) => l.slice(3));
  const build = `${git(['rev-parse', '--short', 'HEAD']).trim()}${changed.length ? ` + uncommitted src (${changed.join(', ')})` : ''}`;
  process.stderr.write(`bench:shards ${new Date().toISOString()} on ${cpus().length} cores, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}, build ${build}; ${uptime()}\n`);
  const results: VariantResult[] = [];
  for (const v of o.vms) {
    const r = await variant(o, v === 'on');
    results.push(r);
    console.log(describeVariant(r));
  }
  if (o.json) console.log(JSON.stringify({ date: new Date().toISOString(), cores: cpus().length, memGiB: Math.round(totalmem() / 2 ** 30), node: process.version, build, results }));
}
