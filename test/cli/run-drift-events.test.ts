/**
 * `run --drift-events` as a process: the real Pub/Sub emulator, the sandbox publishing audit entries, the
 * subscription made by `drift-events setup`. Its own writes are recognised (by the User-Agent audit logs
 * record), someone else's are healed at once although the resync is 6 h away.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDriftEventsClients } from '../../src/drift-events/drift-events-clients.js';
import { setupDriftEvents } from '../../src/drift-events/drift-events-setup.js';
import { createGcpClients } from '../../src/gcp/clients.js';
import { startSandbox, type Sandbox } from '../../src/sandbox/server.js';
import { leaks } from '../support/leaks.js';
import { exampleText, NO_VM } from '../support/manifests.js';
import { startPubSubEmulator, type PubSubEmulator } from '../support/pubsub-emulator.js';
import { until } from '../support/until.js';
import { PROJECT } from '../support/sandbox.js';

const BIN = new URL('../../bin/jobmatch-operator.js', import.meta.url).pathname;
const BUCKET = 'jobmatch-staging-bronze-job-match-v0';

let emulator: PubSubEmulator;
let sandbox: Sandbox;
let dir: string;
let child: ChildProcess | undefined;
let log = '';

/** The process answers once it is up: errors until then are "not yet"; its log says why it is not. */
const POLL = { timeoutMs: 30_000, tolerateErrors: true, detail: () => log };

beforeAll(async () => {
  emulator = await startPubSubEmulator();
  sandbox = await startSandbox({ pubsubEmulator: emulator.host, seed: { projects: [{ projectId: PROJECT, projectNumber: '123456789012' }] } });
  const clients = await createDriftEventsClients({ projectId: PROJECT, gcpEndpoint: sandbox.url, pubsubEmulator: emulator.host });
  await setupDriftEvents({ ...clients, projectNumber: async () => '123456789012' }, { project: PROJECT }).finally(() => clients.close());
  dir = mkdtempSync(join(tmpdir(), 'jme-run-drift-'));
  writeFileSync(join(dir, 'staging.yaml'), exampleText('staging', NO_VM));
}, 120_000);

afterAll(async () => {
  child?.kill('SIGKILL');
  await sandbox?.close();
  await emulator?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('run --drift-events', () => {
  it('refuses a subscription that is not projects/P/subscriptions/S, before starting', async () => {
    const bad = spawn(process.execPath, [BIN, 'run', '--manifests', dir, '--gcp-endpoint', sandbox.url, '--drift-events', 'jobmatch-operator'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    bad.stderr!.on('data', (d: Buffer) => (stderr += d));
    const code = await new Promise((resolve) => bad.on('exit', resolve));
    expect(code).toBe(1);
    expect(stderr).toMatch(/--drift-events must name a subscription as projects\/PROJECT\/subscriptions\/NAME/);
  });

  it('heals a change made elsewhere within seconds, ignores its own writes, reports DriftEvents, and stops with 0', { timeout: 90_000 }, async () => {
    child = spawn(process.execPath, [BIN, 'run', '--manifests', dir, '--gcp-endpoint', sandbox.url, '--listen', '127.0.0.1:0', '--log-level', 'info',
      '--drift-events', `projects/${PROJECT}/subscriptions/jobmatch-operator`, '--pubsub-emulator', emulator.host], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout!.on('data', (d: Buffer) => (log += d));
    child.stderr!.on('data', (d: Buffer) => (log += d));
    const url = (await until('the HTTP port', async () => /"http":"(http:\/\/[^"]+)"/.exec(log)?.[1], (u) => u !== undefined, POLL))!;
    const status = async () => ((await (await fetch(`${url}/status`)).json()) as Record<string, { conditions?: { type: string; status: string }[] }>)['jobmatch/staging'];
    const conditionOf = async (type: string) => (await status())?.conditions?.find((c) => c.type === type)?.status;
    await until('Synced', () => conditionOf('Synced'), (s) => s === 'True', POLL);
    await until('DriftEvents True', () => conditionOf('DriftEvents'), (s) => s === 'True', POLL);
    const metric = async (outcome: string) => Number(new RegExp(`jobmatch_drift_events_total\\{outcome="${outcome}"\\} (\\d+)`).exec(await (await fetch(`${url}/metrics`)).text())?.[1] ?? 0);
    await until('its own writes recognised', () => metric('own'), (n) => n > 10, POLL);
    expect(await metric('matched')).toBe(0);
    const someoneElse = createGcpClients({ projectId: PROJECT, endpoint: sandbox.url });
    await someoneElse.storage.bucket(BUCKET).setMetadata({ versioning: { enabled: false } });
    await until('versioning healed', async () => (await someoneElse.storage.bucket(BUCKET).getMetadata())[0].versioning?.enabled, (v) => v === true, { ...POLL, timeoutMs: 15_000 });
    expect(await metric('matched')).toBeGreaterThanOrEqual(1);
    // The values it generated appear in nothing it printed or serves.
    const values = Object.values(sandbox.store.data.projects).flatMap((p) => Object.values(p.secrets))
      .flatMap((secret) => secret.versions.map((v) => Buffer.from(v.data, 'base64').toString()));
    expect(values.length).toBeGreaterThan(0);
    const served = JSON.stringify(await (await fetch(`${url}/status`)).json()) + await (await fetch(`${url}/metrics`)).text();
    expect(leaks(values, log + served)).toEqual([]);
    child.kill('SIGTERM');
    const code = await new Promise((resolve) => child!.on('exit', resolve));
    expect(code).toBe(0);
  });
});
