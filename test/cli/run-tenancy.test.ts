/**
 * `run --config` as a process, from the bundle the image ships: a tenant's environment is reconciled as the
 * service account the operator impersonates for its namespace (the sandbox records who called), another
 * namespace's environment is Stalled with zero calls, and a configuration that is not valid stops it at start.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OPERATOR_PRINCIPAL } from '../../src/sandbox/principals.js';
import { startSandbox, type Sandbox } from '../../src/sandbox/server.js';
import { leaks } from '../support/leaks.js';
import { mutated, NO_VM } from '../support/manifests.js';
import { PROJECT } from '../support/sandbox.js';
import { until } from '../support/until.js';

const BIN = new URL('../../bin/jobmatch-operator.js', import.meta.url).pathname;
const SA = `jm-team-a@${PROJECT}.iam.gserviceaccount.com`;
const CONFIG = `apiVersion: jobmatch.io/v1alpha1
kind: OperatorConfig
tenants:
  - namespaces: [team-a]
    projects: [${PROJECT}]
    environments: ["staging*"]
    serviceAccount: ${SA}
`;

let sandbox: Sandbox;
let dir: string;
let child: ChildProcess | undefined;
let log = '';
const POLL = { timeoutMs: 30_000, tolerateErrors: true, detail: () => log };

beforeAll(async () => {
  sandbox = await startSandbox({ seed: { serviceAccounts: [{ project: PROJECT, accountId: 'jm-team-a', tokenCreators: [OPERATOR_PRINCIPAL] }] } });
  dir = mkdtempSync(join(tmpdir(), 'jme-run-tenancy-'));
  writeFileSync(join(dir, 'config.yaml'), CONFIG);
  writeFileSync(join(dir, 'bad.yaml'), CONFIG.replace('projects:', 'project:'));
  const manifests = join(dir, 'manifests');
  spawnSync('mkdir', [manifests]);
  writeFileSync(join(manifests, 'staging.yaml'), mutated((d) => (d.metadata.namespace = 'team-a'), 'staging', NO_VM));
  writeFileSync(join(manifests, 'prod.yaml'), mutated((d) => (d.metadata.namespace = 'team-b'), 'prod', NO_VM));
});

afterAll(async () => {
  child?.kill('SIGKILL');
  await sandbox?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('run --config', () => {
  it('refuses a configuration that is not valid, before starting, naming the field', () => {
    const run = spawnSync(process.execPath, [BIN, 'run', '--manifests', join(dir, 'manifests'), '--config', join(dir, 'bad.yaml'), '--gcp-endpoint', sandbox.url], { encoding: 'utf8', timeout: 30_000 });
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(/--config .*bad\.yaml is not a valid OperatorConfig; nothing was done:[\s\S]*bad\.yaml:5: tenants\[0\]\.project: unknown field — fix: did you mean "projects"/);
    expect(sandbox.stats.snapshot().total).toBe(0);
  });

  it("reconciles a tenant's environment as its service account and stalls another namespace's, from the bundle", { timeout: 60_000 }, async () => {
    child = spawn(process.execPath, [BIN, 'run', '--manifests', join(dir, 'manifests'), '--config', join(dir, 'config.yaml'), '--gcp-endpoint', sandbox.url, '--listen', '127.0.0.1:0'], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout!.on('data', (d: Buffer) => (log += d));
    child.stderr!.on('data', (d: Buffer) => (log += d));
    const url = (await until('the HTTP port', async () => /"http":"(http:\/\/[^"]+)"/.exec(log)?.[1], (u) => u !== undefined, POLL))!;
    type Status = Record<string, { conditions?: { type: string; status: string; reason: string; message: string }[] }>;
    const condition = async (key: string, type: string) => ((await (await fetch(`${url}/status`)).json()) as Status)[key]?.conditions?.find((c) => c.type === type);
    await until('staging Synced', () => condition('team-a/staging', 'Synced'), (c) => c?.status === 'True', POLL);
    const stalled = await until('prod Stalled', () => condition('team-b/prod', 'Stalled'), (c) => c?.status === 'True', POLL);
    expect(stalled!.reason).toBe('ProjectNotAllowed');
    const calls = sandbox.stats.requests();
    expect(calls.filter((r) => r.api === 'iamcredentials').map((r) => r.principal)).toEqual([OPERATOR_PRINCIPAL]);
    const work = calls.filter((r) => r.api !== 'iamcredentials');
    expect(work.filter((r) => r.method !== 'GET').length).toBeGreaterThan(10);
    expect(new Set(work.map((r) => r.principal))).toEqual(new Set([`serviceAccount:${SA}`]));
    expect(work.filter((r) => `${r.path}${r.query}`.includes('prod'))).toEqual([]);
    expect(await (await fetch(`${url}/metrics`)).text()).toMatch(/jobmatch_refused_total\{reason="ProjectNotAllowed"\} 1/);
    const values = Object.values(sandbox.store.data.projects).flatMap((p) => Object.values(p.secrets)).flatMap((s) => s.versions.map((v) => Buffer.from(v.data, 'base64').toString()));
    expect(values.length).toBeGreaterThan(0);
    expect(leaks(values, log)).toEqual([]);
    child.kill('SIGTERM');
    expect(await new Promise((resolve) => child!.on('exit', resolve))).toBe(0);
  });
});
