/**
 * Sharding on Leases (`run --shards N`) against a real kube-apiserver and etcd (test/kube), with replicas as separate
 * `run` processes of the built bundle and ONE sandbox as GCP. Every GCP request passes through a recording proxy that
 * notes the User-Agent's instance token (`controller/<uuid>`, which each replica logs at start), so every write is
 * attributed to the replica that made it: no environment may ever have two writers.
 *
 * Short Lease timings (8 s / 6 s / 1 s) keep it quick; the failover time measured is printed.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MEMBER_LABEL, SHARD_LABEL, shardOf } from '../../src/controller/shard.js';
import { startSandbox, type Sandbox } from '../../src/sandbox/server.js';
import { applyCrd, createNamespace, startKube, type Kube } from '../kube/cluster.js';
import { until } from '../support/until.js';

const BIN = new URL('../../bin/jobmatch-operator.js', import.meta.url).pathname;
const CRD = new URL('../../crds/jobmatchenvironments.jobmatch.io.yaml', import.meta.url).pathname;
const G = { group: 'jobmatch.io', version: 'v1alpha1', plural: 'jobmatchenvironments' };
const MERGE = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);
const SHARDS = 6;
// Short, but with room for a 2-core machine under load (a renewal must never miss its deadline only because the CPU is busy).
const LEASE = { duration: 8, renewDeadline: 6, retry: 1 };

interface Env {
  metadata: { name: string; namespace: string; uid?: string; generation?: number };
  spec: any;
  status?: { observedGeneration?: number; conditions?: { type: string; status: string }[] };
}

/** A GCP request as the proxy saw it: who (instance token), what, on which environment, when (ms, this machine's clock). */
interface Call {
  instance: string;
  method: string;
  path: string;
  env: string | undefined;
  status: number;
  start: number;
  end: number;
  /** Held by the proxy (Hold) before it was forwarded. */
  held?: boolean;
}

let kube: Kube;
let logDir: string;
let sandbox: Sandbox;
let proxy: Server;
let proxyUrl: string;
const calls: Call[] = [];
const replicas: Replica[] = [];

/**
 * Requests the proxy holds, unanswered, until the test lets them go: the first GET of each listed environment's bucket.
 * A reconcile of that environment is then provably in flight, for as long as the test wants.
 */
class Hold {
  /** Environment name → the held request (its arrival time, and how to forward it). */
  readonly held = new Map<string, { since: number; go: () => void }>();
  private readonly seen = new Set<string>();
  constructor(private readonly names: Set<string>) {}
  /** Whether to hold this request (each environment's first matching one only). */
  take(method: string, path: string, env: string | undefined): boolean {
    if (method !== 'GET' || !env || !this.names.has(env) || this.seen.has(env) || !path.startsWith(`/storage/v1/b/jobmatch-${env}-bronze`)) return false;
    this.seen.add(env);
    return true;
  }
  /** Lets every held request through; the time it did. */
  release(): number {
    const at = Date.now();
    for (const h of this.held.values()) h.go();
    return at;
  }
}
let hold: Hold | undefined;

/**
 * Forwards every request to the sandbox and records it; the environment is read from the path or the JSON body's name.
 * A request `hold` takes waits for its release (recorded `held`); one its client gives up while held is recorded with status 0.
 */
function startProxy(target: string): Promise<Server> {
  const upstream = new URL(target);
  const server = createServer((req, res) => {
    const start = Date.now();
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      let named = '';
      if (body.length > 0 && body.length < 65_536) {
        try {
          named = String((JSON.parse(body.toString('utf8')) as { name?: unknown }).name ?? '');
        } catch {
          named = '';
        }
      }
      const ua = String(req.headers['user-agent'] ?? '');
      const env = /jobmatch-(s[ab]\d{3})-bronze/.exec(`${req.url} ${named}`)?.[1];
      const call = (status: number, held: boolean): Call => ({
        instance: /controller\/[0-9a-f-]+/.exec(ua)?.[0] ?? `(none: ${ua.slice(0, 60)})`, method: req.method ?? 'GET', path: req.url ?? '',
        env, status, start, end: Date.now(), ...(held ? { held } : {}),
      });
      const held = hold?.take(req.method ?? 'GET', req.url ?? '', env) === true;
      const forward = () => {
        if (res.destroyed) return; // its client gave up while it was held
        const out = httpRequest({ host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers }, (up) => {
          res.writeHead(up.statusCode ?? 502, up.headers);
          up.pipe(res);
          up.on('end', () => calls.push(call(up.statusCode ?? 0, held)));
        });
        out.on('error', () => res.destroy());
        out.end(body);
      };
      if (!held) return forward();
      res.on('close', () => {
        if (!res.writableFinished) calls.push(call(0, true));
      });
      hold!.held.set(env!, { since: start, go: forward });
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

interface Replica {
  child: ChildProcess;
  lines: () => Record<string, any>[];
  log: () => string;
  exited: Promise<number | null>;
  /** From its start line: the Lease holder identity and the User-Agent instance token. */
  identity: () => string | undefined;
  instance: () => string | undefined;
}

/**
 * A replica's stdout and stderr go to a file, never a pipe: a child writing its log into a pipe this (busy) process
 * reads late would block on the write, its event loop and its Lease renewals with it.
 */
function startReplica(ns: string, leaseNs: string, extra: string[] = []): Replica {
  const file = join(logDir, `replica-${replicas.length}.log`);
  const fd = openSync(file, 'w');
  const child = spawn(process.execPath, [BIN, 'run', '--kubeconfig', kube.kubeconfigPath, '--namespace', ns, '--leader-election-namespace', leaseNs,
    '--gcp-endpoint', proxyUrl, '--listen', '127.0.0.1:0', '--log-level', 'info', '--shards', String(SHARDS),
    '--lease-duration', String(LEASE.duration), '--lease-renew-deadline', String(LEASE.renewDeadline), '--lease-retry-period', String(LEASE.retry), ...extra],
  { stdio: ['ignore', fd, fd] });
  closeSync(fd);
  const parsed: Record<string, any>[] = [];
  let offset = 0;
  /** The lines written so far, parsed once each. */
  const lines = () => {
    const text = readFileSync(file);
    const end = text.lastIndexOf(10) + 1;
    if (end > offset) {
      for (const l of text.subarray(offset, end).toString('utf8').split('\n')) if (l.startsWith('{')) parsed.push(JSON.parse(l) as Record<string, any>);
      offset = end;
    }
    return parsed;
  };
  const start = () => lines().find((l) => l.event === 'start');
  const r: Replica = {
    child, lines,
    log: () => readFileSync(file, 'utf8').split('\n').filter((l) => !l.includes('"environment"') && !l.includes('"event":"status"')).slice(-40).join('\n'),
    exited: new Promise((resolve) => child.on('exit', (code) => resolve(code))),
    identity: () => start()?.identity, instance: () => start()?.instance,
  };
  replicas.push(r);
  return r;
}

beforeAll(async () => {
  logDir = mkdtempSync(join(tmpdir(), 'jme-sharding-'));
  kube = await startKube();
  await applyCrd(kube, CRD);
  sandbox = await startSandbox();
  proxy = await startProxy(sandbox.url);
  proxyUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
}, 30 * 60_000);

afterAll(async () => {
  for (const r of replicas) r.child.kill('SIGKILL');
  await Promise.all(replicas.map((r) => r.exited));
  await new Promise((resolve) => proxy?.close(resolve));
  await sandbox?.close();
  await kube?.stop();
  if (logDir && !process.env.KEEP_SHARDING_LOGS) rmSync(logDir, { recursive: true, force: true });
}, 60_000);

const objects = () => kube.kubeconfig.makeApiClient(k8s.CustomObjectsApi);
const leases = () => kube.kubeconfig.makeApiClient(k8s.CoordinationV1Api);
const list = async (ns: string) => ((await objects().listNamespacedCustomObject({ ...G, namespace: ns })) as { items: Env[] }).items;
const synced = (e: Env, generation = 1) => e.status?.observedGeneration === generation && e.status.conditions?.some((c) => c.type === 'Synced' && c.status === 'True') === true;

function environment(ns: string, name: string): Env & Record<string, unknown> {
  return {
    apiVersion: 'jobmatch.io/v1alpha1', kind: 'JobMatchEnvironment', metadata: { name, namespace: ns },
    spec: { environment: name, envMode: 'staging', gcp: { projectId: 'job-match-v0', location: 'EU' }, buckets: [{ name: `jobmatch-${name}-bronze`, env: 'GCS_BUCKET', versioning: true }] },
  };
}

async function createAll(ns: string, names: string[]): Promise<void> {
  for (let i = 0; i < names.length; i += 25) {
    await Promise.all(names.slice(i, i + 25).map((name) => objects().createNamespacedCustomObject({ ...G, namespace: ns, body: environment(ns, name) })));
  }
}

/** Shard index → holder identity ('' when released or absent). */
async function holders(leaseNs: string): Promise<string[]> {
  const items = (await leases().listNamespacedLease({ namespace: leaseNs, labelSelector: SHARD_LABEL })).items;
  const byShard = new Array<string>(SHARDS).fill('');
  for (const l of items) byShard[Number(l.metadata?.labels?.[SHARD_LABEL])] = l.spec?.holderIdentity ?? '';
  return byShard;
}

const countOf = (hs: string[], identity: string | undefined) => hs.filter((h) => h === identity).length;
const isWrite = (c: Call) => c.method !== 'GET';
/** The environment (name) → the instance tokens that wrote to it, among `cs`. */
function writers(cs: Call[]): Map<string, Set<string>> {
  const m = new Map<string, Set<string>>();
  for (const c of cs.filter((x) => isWrite(x) && x.env)) m.set(c.env!, (m.get(c.env!) ?? new Set()).add(c.instance));
  return m;
}
const bucketInserts = (cs: Call[]) => cs.filter((c) => c.method === 'POST' && c.path.startsWith('/storage/v1/b?') && c.env);

describe('sharding on Leases (run --shards)', () => {
  it('three replicas share 300 environments 2 shards each with one writer per environment; after a SIGKILL the others take its shards over within the lease duration and rebalance 3/3', { timeout: 150_000 }, async () => {
    const ns = await createNamespace(kube, 'shard-envs');
    const leaseNs = await createNamespace(kube, 'shard-leases');
    const started = Date.now();
    const rs = [startReplica(ns, leaseNs), startReplica(ns, leaseNs), startReplica(ns, leaseNs)];
    const detail = () => rs.map((r, i) => `--- replica ${i} (pid ${r.child.pid})\n${r.log()}`).join('\n');
    await until('three replicas started', async () => rs.map((r) => r.identity()), (ids) => ids.every((x) => x !== undefined), { timeoutMs: 30_000, detail });
    const ids = rs.map((r) => r.identity()!);
    const balanced = await until('2 shards each', () => holders(leaseNs), (hs) => ids.every((id) => countOf(hs, id) === 2), { timeoutMs: 30_000, detail });
    process.stderr.write(`three replicas balanced 2/2/2 ${Date.now() - started} ms after they started\n`);

    const names = Array.from({ length: 300 }, (_, i) => `sa${String(i).padStart(3, '0')}`);
    const t0 = Date.now();
    await createAll(ns, names);
    let items = await until('300 Synced', () => list(ns), (xs) => xs.length === 300 && xs.every((e) => synced(e)), { timeoutMs: 90_000, everyMs: 500, detail });
    process.stderr.write(`300 environments Synced ${Date.now() - t0} ms after the first create\n`);

    // Balance held throughout: still each shard one holder, 2 per replica, and no replica stopped.
    expect(rs.map((r) => r.child.exitCode), detail()).toEqual([null, null, null]);
    expect(await holders(leaseNs)).toEqual(balanced);
    const shardOfName = new Map(items.map((e) => [e.metadata.name, shardOf(e.metadata.uid!, SHARDS)]));
    const instanceOf = new Map(rs.map((r) => [r.identity()!, r.instance()!]));
    // No two writers: every environment's GCP writes came from one replica, the owner of its shard.
    const w = writers(calls);
    expect(w.size).toBe(300);
    const wrong = [...w].filter(([env, who]) => who.size !== 1 || !who.has(instanceOf.get(balanced[shardOfName.get(env)!]!)!));
    expect(wrong.map(([env, who]) => `${env}: ${[...who].join(', ')}`)).toEqual([]);
    // Each bucket created exactly once, and no request answered 409 (no duplicate create).
    const inserts = bucketInserts(calls);
    expect(inserts.length).toBe(300);
    expect(new Set(inserts.map((c) => c.env)).size).toBe(300);
    expect(calls.filter((c) => c.status === 409)).toEqual([]);
    const writesPerEnv = calls.filter((c) => isWrite(c) && c.env).length / 300;
    process.stderr.write(`GCP writes per environment: ${writesPerEnv.toFixed(2)} (all from its shard's owner)\n`);

    // SIGKILL one replica; edit some of its environments at once: the others must reconcile them once its Leases expire.
    const victim = rs[1]!;
    const survivors = [rs[0]!, rs[2]!];
    const victimShards = balanced.flatMap((h, i) => (h === victim.identity() ? [i] : []));
    const victimEnvs = items.filter((e) => victimShards.includes(shardOfName.get(e.metadata.name)!)).slice(0, 12);
    const killedAt = Date.now();
    victim.child.kill('SIGKILL');
    await victim.exited;
    const afterKill = calls.length;
    await Promise.all(victimEnvs.map((e) => objects().patchNamespacedCustomObject({ ...G, namespace: ns, name: e.metadata.name, body: { spec: { buckets: [{ ...e.spec.buckets[0], versioning: false }] } } }, MERGE)));
    const takenOver = await until('the victim\'s shards taken over', () => holders(leaseNs), (hs) => victimShards.every((s) => hs[s] !== '' && hs[s] !== victim.identity()), { timeoutMs: 30_000, detail });
    const takeoverMs = Date.now() - killedAt;
    const names12 = new Set(victimEnvs.map((e) => e.metadata.name));
    items = await until('the edited environments Synced at generation 2', () => list(ns), (xs) => xs.filter((e) => names12.has(e.metadata.name)).every((e) => synced(e, 2)), { timeoutMs: 30_000, everyMs: 100, detail });
    const resyncedMs = Date.now() - killedAt;
    process.stderr.write(`after SIGKILL: shards taken over in ${takeoverMs} ms, its 12 edited environments Synced at the new generation in ${resyncedMs} ms (lease ${LEASE.duration} s, retry ${LEASE.retry} s)\n`);
    // Never before the victim's Leases could have expired (last renewal at most one retry period before the kill)...
    expect(takeoverMs).toBeGreaterThanOrEqual((LEASE.duration - LEASE.retry) * 1000);
    // ...and within the lease duration plus a couple of rounds, then one reconcile.
    expect(takeoverMs).toBeLessThanOrEqual((LEASE.duration + 4 * LEASE.retry) * 1000 + 2000);
    expect(resyncedMs - takeoverMs).toBeLessThanOrEqual(8000);
    for (const s of victimShards) expect(survivors.map((r) => r.identity())).toContain(takenOver[s]);

    // Rebalanced: 3 shards each; the edits were written by the new owners only.
    const rebalanced = await until('3 shards each', () => holders(leaseNs), (hs) => survivors.every((r) => countOf(hs, r.identity()) === 3), { timeoutMs: 20_000, detail });
    const since = writers(calls.slice(afterKill));
    for (const e of victimEnvs) {
      const owner = instanceOf.get(rebalanced[shardOfName.get(e.metadata.name)!]!);
      expect([...(since.get(e.metadata.name) ?? [])], e.metadata.name).toEqual([owner]);
    }
    expect(calls.slice(afterKill).filter((c) => c.instance === victim.instance())).toEqual([]);
    expect(calls.filter((c) => c.status === 409)).toEqual([]);
    // The dead replica's member Lease is deleted after twice its duration: no garbage growth.
    await until('the dead member Lease deleted', async () => (await leases().listNamespacedLease({ namespace: leaseNs, labelSelector: MEMBER_LABEL })).items.length, (n) => n === 2, { timeoutMs: 20_000, detail });

    // SIGTERM: exit 0, every shard Lease released, member Leases gone.
    for (const r of survivors) r.child.kill('SIGTERM');
    expect(await Promise.all(survivors.map((r) => r.exited))).toEqual([0, 0]);
    expect(await holders(leaseNs)).toEqual(new Array(SHARDS).fill(''));
    expect((await leases().listNamespacedLease({ namespace: leaseNs, labelSelector: MEMBER_LABEL })).items).toEqual([]);
  });

  it('a second replica joining takes half the shards: the first hands each over only once its reconcile in flight has ended, then releases it, and only then does the new owner act on it', { timeout: 90_000 }, async () => {
    const ns = await createNamespace(kube, 'shard-join');
    const leaseNs = await createNamespace(kube, 'shard-join-leases');
    // The environments first, with no replica running: their UIDs, so their shards, are known before any reconcile.
    const names: string[] = [];
    const more = async (n: number) => {
      const next = Array.from({ length: n }, (_, i) => `sb${String(names.length + i).padStart(3, '0')}`);
      await createAll(ns, next);
      names.push(...next);
    };
    await more(40);
    let created = await list(ns);
    // One environment per shard is held in flight (40 random UIDs leave a shard without any 0.4% of the time: add some then).
    while (new Set(created.map((e) => shardOf(e.metadata.uid!, SHARDS))).size < SHARDS) {
      await more(10);
      created = await list(ns);
    }
    const shardOfName = new Map(created.map((e) => [e.metadata.name, shardOf(e.metadata.uid!, SHARDS)]));
    const gated = new Map<number, string>(); // shard → its held environment
    for (const name of [...names].sort()) if (!gated.has(shardOfName.get(name)!)) gated.set(shardOfName.get(name)!, name);
    hold = new Hold(new Set(gated.values()));
    const callsBefore = calls.length;

    // The first replica alone takes every shard and reconciles; each shard's held environment stays in flight
    // (--concurrency 8: six held, the others go on).
    const first = startReplica(ns, leaseNs, ['--concurrency', '8']);
    let second: Replica | undefined;
    const detail = () => [first, second].flatMap((r) => (r ? [`--- pid ${r.child.pid}\n${r.log()}`] : [])).join('\n') + `\nheld: ${[...hold!.held.keys()].join(', ')}`;
    await until('the first holding every shard, a reconcile of each in flight', () => holders(leaseNs),
      (hs) => first.identity() !== undefined && countOf(hs, first.identity()) === SHARDS && hold!.held.size === SHARDS, { timeoutMs: 30_000, detail });
    const heldAt = Date.now();

    // The second joins: the first hands 3 shards over, each with its reconcile still in flight.
    second = startReplica(ns, leaseNs);
    const handing = (await until('the first handing 3 shards over', () => first.lines().filter((l) => l.event === 'shards' && /^handing shard \d+ over$/.test(String(l.msg))),
      (ls) => ls.length >= 3, { timeoutMs: 30_000, detail }));
    const handingAt = new Map(handing.map((l) => [Number(l.shard), Date.parse(String(l.time))]));
    const handed = [...handingAt.keys()].sort();
    expect(handed.length, detail()).toBe(3);
    // While they are in flight the Leases stay the first's, renewed: a round after the handover began, still held.
    await until('the handed-over Leases renewed by the first after the handover began', () => leases().listNamespacedLease({ namespace: leaseNs, labelSelector: SHARD_LABEL }),
      (ls) => handed.every((s) => {
        const l = ls.items.find((x) => Number(x.metadata?.labels?.[SHARD_LABEL]) === s);
        return l !== undefined && l.spec?.holderIdentity === first.identity() && new Date(l.spec?.renewTime ?? 0).getTime() > handingAt.get(s)!;
      }), { timeoutMs: 10_000, everyMs: 100, detail });
    expect(first.lines().filter((l) => l.event === 'shards' && /^released shard/.test(String(l.msg))), detail()).toEqual([]);
    expect(countOf(await holders(leaseNs), second.identity())).toBe(0);
    expect(hold.held.size).toBe(SHARDS);
    // Meanwhile each held environment is edited (its bucket's versioning off): the reconcile in flight read the old
    // spec, so whoever owns the shard next must write (the bucket's patch) — on a handed-over shard, the second.
    const edited = new Set(gated.values());
    await Promise.all([...edited].map((name) => objects().patchNamespacedCustomObject({ ...G, namespace: ns, name, body: { spec: { buckets: [{ name: `jobmatch-${name}-bronze`, env: 'GCS_BUCKET', versioning: false }] } } }, MERGE)));
    // Let the held requests go: the reconciles end, then the Leases go, then the second takes them.
    const openedAt = hold.release();
    const hs = await until('3 shards each', () => holders(leaseNs), (h) => second!.identity() !== undefined && countOf(h, first.identity()) === 3 && countOf(h, second!.identity()) === 3, { timeoutMs: 30_000, detail });
    const items = await until(`${names.length} Synced, the edited ones at generation 2`, () => list(ns), (xs) => xs.length === names.length && xs.every((e) => synced(e, edited.has(e.metadata.name) ? 2 : 1)), { timeoutMs: 60_000, everyMs: 250, detail });
    hold = undefined;
    expect(items.map((e) => e.metadata.name).sort()).toEqual([...names].sort());

    const released = first.lines().filter((l) => l.event === 'shards' && /^released shard \d+$/.test(String(l.msg)));
    expect(released.map((l) => Number(l.shard)).sort()).toEqual(handed);
    expect(handed).toEqual(hs.flatMap((h, i) => (h === second!.identity() ? [i] : [])));
    const mine = calls.slice(callsBefore);
    const order: string[] = [];
    for (const r of released) {
      const shard = Number(r.shard);
      const at = Date.parse(String(r.time));
      // Until the first takes it back, if it does (the second failing to renew, on a machine too busy): never here.
      expect(first.lines().find((l) => l.event === 'shards' && l.msg === `acquired shard ${shard}` && Date.parse(String(l.time)) > at), `shard ${shard} acquired again by the first`).toBeUndefined();
      const envs = new Set(names.filter((n) => shardOfName.get(n) === shard));
      const objectsOf = new Set([...envs].map((n) => `${ns}/${n}`));
      const firstCalls = mine.filter((c) => c.instance === first.instance() && c.env && envs.has(c.env));
      const secondCalls = mine.filter((c) => c.instance === second!.instance() && c.env && envs.has(c.env));
      // 1. A reconcile was in flight when the handover began: the held request, made before, answered (or given up) after.
      const heldCall = firstCalls.find((c) => c.held && c.env === gated.get(shard));
      expect(heldCall, `shard ${shard}: the held request of ${gated.get(shard)}`).toBeDefined();
      expect(heldCall!.start).toBeLessThanOrEqual(heldAt);
      expect(heldCall!.start).toBeLessThan(handingAt.get(shard)!);
      expect(heldCall!.end).toBeGreaterThanOrEqual(handingAt.get(shard)!);
      // Answered only once let go (status 0: the replica gave it up, its reconcile cancelled past the grace period).
      if (heldCall!.status !== 0) expect(heldCall!.end).toBeGreaterThanOrEqual(openedAt);
      // 2. It ended before the release: no GCP call of the first on the shard still open at the release, none after,
      //    and no action-log line about its environments after it.
      const firstEnd = Math.max(...firstCalls.map((c) => c.end));
      expect(firstEnd, `shard ${shard}: the first's last call ended before the release`).toBeLessThanOrEqual(at);
      expect(first.lines().filter((l) => objectsOf.has(String(l.object)) && Date.parse(String(l.time)) > at), `shard ${shard}`).toEqual([]);
      // 3. The new owner acquires it after the release, and its first write (the edited environment's bucket patch),
      //    like any request of it on the shard, comes after.
      const acquired = second!.lines().find((l) => l.event === 'shards' && l.msg === `acquired shard ${shard}`);
      expect(acquired, `shard ${shard} acquired by the second`).toBeDefined();
      expect(Date.parse(String(acquired!.time))).toBeGreaterThanOrEqual(at);
      const secondWrites = secondCalls.filter((c) => isWrite(c) && c.env === gated.get(shard));
      expect(secondWrites.length, `shard ${shard}: the second wrote ${gated.get(shard)}'s edit`).toBeGreaterThan(0);
      const secondFirst = Math.min(...secondCalls.map((c) => c.start));
      const secondFirstWrite = Math.min(...secondWrites.map((c) => c.start));
      expect(secondFirst, `shard ${shard}: the second's first request after the release`).toBeGreaterThanOrEqual(at);
      order.push(`shard ${shard}: held call made ${handingAt.get(shard)! - heldCall!.start} ms before the handover began, ended +${heldCall!.end - handingAt.get(shard)!} ms${heldCall!.status === 0 ? ' (cancelled)' : ''}, Lease released +${at - handingAt.get(shard)!} ms, acquired by the second +${Date.parse(String(acquired!.time)) - handingAt.get(shard)!} ms, its first write +${secondFirstWrite - handingAt.get(shard)!} ms`);
    }
    // One writer at a time: an environment written by both (only an edited one of a handed-over shard) was written by
    // the first, then by the second, never overlapping; every other one by one replica.
    const overlapping = [...writers(mine)].filter(([, who]) => who.size !== 1).flatMap(([env]) => {
      const ws = mine.filter((c) => isWrite(c) && c.env === env);
      const firstLast = Math.max(...ws.filter((c) => c.instance === first.instance()).map((c) => c.end));
      const secondFirst = Math.min(...ws.filter((c) => c.instance === second!.instance()).map((c) => c.start));
      return edited.has(env) && handed.includes(shardOfName.get(env)!) && firstLast <= secondFirst ? [] : [`${env}: first until ${firstLast}, second from ${secondFirst}`];
    });
    expect(overlapping).toEqual([]);
    expect(bucketInserts(mine).length).toBe(names.length);
    expect(mine.filter((c) => c.status === 409)).toEqual([]);
    process.stderr.write(`voluntary handover, each of the 3 shards with a reconcile held in flight (requests let go ${openedAt - Math.min(...handingAt.values())} ms after the first handover began):\n  ${order.join('\n  ')}\n`);
    for (const r of [first, second]) r.child.kill('SIGTERM');
    expect(await Promise.all([first.exited, second.exited])).toEqual([0, 0]);
  });
});
