/**
 * Leader election between replicas whose wall clocks disagree (issue 14), against a real
 * kube-apiserver and etcd (test/kube). Each elector runs in a process of its own
 * (test/support/skewed-elector.ts) whose Date is 60 s ahead of or behind the machine's. The Lease's
 * renewTime, written on one replica's wall clock, means nothing on another's: a standby must judge
 * expiry by how long the record has gone unchanged on its own monotonic clock, as client-go does.
 *
 * Every start and stop of leading is recorded with CLOCK_MONOTONIC (the same clock in every process of
 * the machine) and the leading intervals of all replicas are checked never to overlap.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createInterface } from 'node:readline';
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNamespace, startKube, type Kube } from '../kube/cluster.js';

const ROOT = new URL('../..', import.meta.url).pathname;
const SCRIPT = new URL('../support/skewed-elector.ts', import.meta.url).pathname;
const LEASE = 'skewed';
const LEASE_SECONDS = 3;
const RENEW_DEADLINE_MS = 2000;
const RETRY_MS = 500;
/** How late the apiserver's watch may tell this process of a write that a replica's read already saw. */
const WATCH_LAG_MS = 250;
const SKEW_MS = 60_000;

const monotonicMs = () => Number(process.hrtime.bigint()) / 1e6;

interface ElectorEvent {
  event: 'ready' | 'started' | 'stopped' | 'exit';
  at: number;
  wallClockSkewMs?: number;
}

interface Replica {
  identity: string;
  child: ChildProcessWithoutNullStreams;
  events: ElectorEvent[];
  /** Monotonic time at which this process saw the child exit (and its output end), once it has. */
  exitedAt: number | undefined;
  exited: Promise<number | null>;
  /** The first event (already seen or still to come) that `ok` accepts; fails after timeoutMs, or at once if the process exits first. */
  next(what: string, ok: (e: ElectorEvent) => boolean, timeoutMs: number): Promise<ElectorEvent>;
  log(): string;
}

/** A Lease record as the watch delivered it, with the monotonic time it arrived. */
interface Seen {
  at: number;
  holder: string;
  renewTime: string;
  transitions: number;
}

let kube: Kube;
const replicas: Replica[] = [];
/** Called on every event of a replica, exit of one, and record of the Lease: what the waits below wake up on. */
const listeners = new Set<() => void>();
const notify = () => {
  for (const l of listeners) l();
};

/** Resolves with the first value `find` returns; rejects with what `fail` returns, or after timeoutMs. Woken by notify(). */
function when<T>(what: string, find: () => T | undefined, fail: () => string | undefined, timeoutMs: number, detail: () => string): Promise<T> {
  return new Promise((resolve, reject) => {
    const check = () => {
      const failure = fail();
      const found = find();
      if (failure !== undefined) done(() => reject(new Error(failure)));
      else if (found !== undefined) done(() => resolve(found));
    };
    const timer = setTimeout(() => done(() => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}\n${detail()}`))), timeoutMs);
    const done = (settle: () => void) => {
      clearTimeout(timer);
      listeners.delete(check);
      settle();
    };
    listeners.add(check);
    check();
  });
}

beforeAll(async () => {
  kube = await startKube();
}, 30 * 60_000);

afterAll(async () => {
  for (const r of replicas) if (r.exitedAt === undefined) r.child.kill('SIGKILL');
  await Promise.all(replicas.map((r) => r.exited));
  await kube?.stop();
}, 60_000);

function replica(ns: string, identity: string, skewMs: number): Replica {
  const child = spawn(process.execPath, ['--import', 'tsx', SCRIPT, kube.kubeconfigPath, ns, LEASE, identity, String(skewMs), String(LEASE_SECONDS), String(RENEW_DEADLINE_MS), String(RETRY_MS)],
    { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d));
  const events: ElectorEvent[] = [];
  const r: Replica = {
    identity, child, events, exitedAt: undefined,
    // 'close', not 'exit': by then every line it printed has been read.
    exited: new Promise((resolve) => child.on('close', (code) => {
      r.exitedAt = monotonicMs();
      resolve(code);
      notify();
    })),
    log: () => `--- ${identity} (pid ${child.pid}) events: ${JSON.stringify(events)}\n--- ${identity} stderr:\n${stderr.split('\n').slice(-30).join('\n')}`,
    next: (what, ok, timeoutMs) => when(what, () => events.find(ok), () => (r.exitedAt !== undefined && !events.some(ok) ? `${identity} exited before ${what}\n${r.log()}` : undefined), timeoutMs, () => r.log()),
  };
  createInterface({ input: child.stdout }).on('line', (line) => {
    events.push(JSON.parse(line) as ElectorEvent);
    notify();
  });
  replicas.push(r);
  return r;
}

/** Watches the Lease: every record written, with the monotonic time it arrived here. */
async function watchLease(ns: string) {
  const seen: Seen[] = [];
  const controller = await new k8s.Watch(kube.kubeconfig).watch(`/apis/coordination.k8s.io/v1/namespaces/${ns}/leases`, { fieldSelector: `metadata.name=${LEASE}` },
    (_phase, lease: k8s.V1Lease) => {
      const spec = lease.spec ?? {};
      seen.push({ at: monotonicMs(), holder: spec.holderIdentity ?? '', renewTime: new Date(spec.renewTime as unknown as string).toISOString(), transitions: spec.leaseTransitions ?? 0 });
      notify();
    }, () => undefined);
  return {
    seen,
    stop: () => controller.abort(),
    /** The first record `ok` accepts; fails after timeoutMs, or as soon as `fail` says so (on any event of a replica too). */
    next: (what: string, ok: (s: Seen) => boolean, timeoutMs: number, fail: () => string | undefined = () => undefined) =>
      when(what, () => seen.find(ok), fail, timeoutMs, () => `the Lease as seen last: ${JSON.stringify(seen.slice(-5))}`),
  };
}

/** The intervals during which a replica led: from each "started" to the next "stopped", or to its exit. */
function leadingIntervals(r: Replica): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  let from: number | undefined;
  for (const e of r.events) {
    if (e.event === 'started') from = e.at;
    if (e.event === 'stopped' && from !== undefined) {
      out.push([from, e.at]);
      from = undefined;
    }
  }
  if (from !== undefined) out.push([from, r.exitedAt ?? Infinity]);
  return out;
}

describe('leader election with skewed wall clocks (real apiserver, one process per replica)', () => {
  it('never two leaders: a standby whose clock runs ahead waits while the leader renews; a standby takes over ~one lease duration after the last renewal on its own clock, however its clock is skewed', async () => {
    const ns = await createNamespace(kube, 'leader-clock-skew');
    const lease = await watchLease(ns);
    try {
      // 1. The leader's wall clock is 60 s behind, so the renewTime it writes is 60 s in the past.
      const behind = replica(ns, 'behind', -SKEW_MS);
      const behindLeads = await behind.next('"behind" to lead', (e) => e.event === 'started', 15_000);
      expect(behind.events.find((e) => e.event === 'ready')?.wallClockSkewMs).toBeCloseTo(-SKEW_MS, -2);

      // 2. A standby whose wall clock is 60 s ahead: by its clock the leader's renewTime is 57 s stale,
      //    yet the leader keeps renewing. It must not take over, for two lease durations and more.
      const ahead = replica(ns, 'ahead', SKEW_MS);
      const aheadReady = await ahead.next('"ahead" to start its elector', (e) => e.event === 'ready', 15_000);
      const windowMs = 2 * LEASE_SECONDS * 1000 + 500;
      const aheadLed = () => ahead.events.some((e) => e.event === 'started')
        ? `two leaders: "ahead" (wall clock +60 s) took the Lease at +${Math.round(ahead.events.find((e) => e.event === 'started')!.at - aheadReady.at)} ms while "behind" kept renewing it (last renewal seen ${Math.round(monotonicMs() - lease.seen.filter((s) => s.holder === 'behind').at(-1)!.at)} ms ago)\n${behind.log()}\n${ahead.log()}`
        : undefined;
      await lease.next(`a renewal by "behind" ${windowMs} ms after "ahead" started`, (s) => s.holder === 'behind' && s.at > aheadReady.at + windowMs, windowMs + 5000, aheadLed);
      expect(aheadLed()).toBeUndefined();
      expect(behind.events.filter((e) => e.event === 'stopped')).toEqual([]);
      const renewals = lease.seen.filter((s) => s.holder === 'behind' && s.at > aheadReady.at);
      expect(renewals.length, 'renewals by "behind" in the window').toBeGreaterThanOrEqual(windowMs / (RETRY_MS + 500));
      // What is written is still each replica's wall clock, for humans: "behind"'s renewTime is ~60 s in the past.
      expect(Date.parse(renewals.at(-1)!.renewTime) - Date.now()).toBeLessThan(-SKEW_MS + 5000);

      // 3. The leader dies without releasing. "ahead" takes over once the record it last saw has gone
      //    unchanged for the lease duration on its own clock: not sooner (whatever its wall clock says), not much later.
      behind.child.kill('SIGKILL');
      await behind.exited;
      const lastByBehind = lease.seen.filter((s) => s.holder === 'behind').at(-1)!;
      const aheadLeads = await ahead.next('"ahead" to take over from the killed leader', (e) => e.event === 'started', LEASE_SECONDS * 1000 + 5000);
      const afterBehind = aheadLeads.at - lastByBehind.at;
      process.stderr.write(`"ahead" (+60 s) took over ${Math.round(afterBehind)} ms after the last renewal by "behind" (lease ${LEASE_SECONDS} s, retry ${RETRY_MS} ms)\n`);
      expect(afterBehind).toBeGreaterThanOrEqual(LEASE_SECONDS * 1000 - WATCH_LAG_MS);
      expect(afterBehind).toBeLessThanOrEqual(LEASE_SECONDS * 1000 + RETRY_MS + 1500);
      expect(aheadLeads.at).toBeGreaterThan(behind.exitedAt!);

      // 4. Now a standby whose wall clock is 60 s behind: by its clock the leader's renewTime lies 60 s
      //    in the future. Once the leader dies it must still take over after about one lease duration.
      const behind2 = replica(ns, 'behind-2', -SKEW_MS);
      const behind2Ready = await behind2.next('"behind-2" to start its elector', (e) => e.event === 'ready', 15_000);
      await lease.next('a renewal by "ahead" after "behind-2" started', (s) => s.holder === 'ahead' && s.at > behind2Ready.at + RETRY_MS, 5000);
      expect(behind2.events.filter((e) => e.event === 'started')).toEqual([]);
      const aheadRenewal = lease.seen.filter((s) => s.holder === 'ahead').at(-1)!;
      expect(Date.parse(aheadRenewal.renewTime) - Date.now()).toBeGreaterThan(SKEW_MS - 5000);
      ahead.child.kill('SIGKILL');
      await ahead.exited;
      const lastByAhead = lease.seen.filter((s) => s.holder === 'ahead').at(-1)!;
      const behind2Leads = await behind2.next('"behind-2" to take over from the killed leader', (e) => e.event === 'started', LEASE_SECONDS * 1000 + 5000);
      const afterAhead = behind2Leads.at - lastByAhead.at;
      process.stderr.write(`"behind-2" (−60 s) took over ${Math.round(afterAhead)} ms after the last renewal by "ahead"\n`);
      expect(afterAhead).toBeGreaterThanOrEqual(LEASE_SECONDS * 1000 - WATCH_LAG_MS);
      expect(afterAhead).toBeLessThanOrEqual(LEASE_SECONDS * 1000 + RETRY_MS + 1500);

      // 5. SIGTERM releases the Lease.
      behind2.child.kill('SIGTERM');
      expect(await behind2.exited).toBe(0);
      const released = await lease.next('the Lease released', (s) => s.holder === '', 5000);
      expect(released.transitions).toBe(2); // created by "behind", taken over by "ahead", then by "behind-2"

      // Never two leaders at once, over the whole run.
      const intervals = [behind, ahead, behind2].flatMap((r) => leadingIntervals(r).map(([from, to]) => ({ who: r.identity, from, to })));
      expect(intervals.map((i) => i.who)).toEqual(['behind', 'ahead', 'behind-2']);
      for (const a of intervals) for (const b of intervals) {
        if (a !== b) expect(a.to <= b.from || b.to <= a.from, `${a.who} [${a.from}, ${a.to}] overlaps ${b.who} [${b.from}, ${b.to}]`).toBe(true);
      }
      expect(behindLeads.at).toBeLessThan(aheadLeads.at);
    } finally {
      lease.stop();
    }
  }, 45_000);
});
