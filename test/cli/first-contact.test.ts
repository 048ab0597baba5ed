/** What a platform engineer meets first, run as they run it (the built binary in its own process). */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { runReconcile } from '../../src/cli/reconcile-command.js';
import { FAST_RETRY } from '../support/engine.js';
import { leaks } from '../support/leaks.js';
import { exampleText, NO_VM } from '../support/manifests.js';
import { useSandbox } from '../support/sandbox.js';

const bin = fileURLToPath(new URL('../../bin/jobmatch-operator.js', import.meta.url));
const staging = fileURLToPath(new URL('../../manifests/examples/staging.yaml', import.meta.url));
const s = useSandbox();
const home = mkdtempSync(join(tmpdir(), 'jme-home-'));
afterAll(() => rmSync(home, { recursive: true, force: true }));
/** The example without its VM (no VM in this sandbox: the rollout is tested in test/engine/deployment.test.ts). */
const stagingNoVm = join(home, 'staging.yaml');
writeFileSync(stagingNoVm, exampleText('staging', NO_VM));

/** A clean environment: no credentials anywhere, no metadata server probe, no endpoint unless given. */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const { GOOGLE_APPLICATION_CREDENTIALS: _, JOBMATCH_GCP_ENDPOINT: __, ...rest } = process.env;
  return { ...rest, HOME: home, CLOUDSDK_CONFIG: home, METADATA_SERVER_DETECTION: 'none', ...extra };
}

function run(args: string[], env: NodeJS.ProcessEnv = cleanEnv()): Promise<{ code: number | null; stdout: string; stderr: string; ms: number }> {
  const started = Date.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [bin, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d));
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    child.on('close', (code) => resolve({ code, stdout, stderr, ms: Date.now() - started }));
  });
}

function listen(server: Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port)));
}

describe('an endpoint that accepts and never answers', () => {
  it('ends the run at its deadline (--timeout), says what was not done, exits 1 and leaves no socket open', async () => {
    const sockets = new Set<Socket>();
    const server = createServer((socket) => {
      sockets.add(socket);
      socket.resume(); // read the request, never answer
      socket.on('close', () => sockets.delete(socket));
    });
    const port = await listen(server);
    const result = await run(['plan', '-f', staging, '--gcp-endpoint', `http://127.0.0.1:${port}`, '--timeout', '2', '--log-level', 'silent']);
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/deadline \(--timeout 2s\) passed/);
    expect(result.ms).toBeLessThan(15_000);
    // The process is gone, so every connection it opened closes.
    await Promise.all([...sockets].map((socket) => new Promise((resolve) => (socket.destroyed ? resolve(undefined) : socket.on('close', resolve)))));
    expect(sockets.size).toBe(0);
    server.close();
  });
});

describe('first-contact errors are one line a person can act on', () => {
  it('an unreachable endpoint is one error for the run, not one per resource', async () => {
    const server = createServer();
    const port = await listen(server);
    await new Promise((resolve) => server.close(resolve));
    const text = await run(['plan', '-f', staging, '--gcp-endpoint', `http://127.0.0.1:${port}`, '--log-level', 'silent']);
    expect(text.code).toBe(1);
    expect(text.stderr.trim().split('\n')).toEqual([expect.stringMatching(/^error: cannot reach http:\/\/127\.0\.0\.1:\d+ .*is the sandbox running\?/)]);
    const json = await run(['plan', '-f', staging, '--gcp-endpoint', `http://127.0.0.1:${port}`, '-o', 'json', '--log-level', 'silent']);
    expect(JSON.parse(json.stdout)).toMatchObject({ kind: 'JobMatchPlan', ready: false, error: { message: expect.stringContaining('cannot reach') } });
  });

  it('no Google credentials names the three fixes, with no stack trace or warning noise; -o json is still JSON', async () => {
    const text = await run(['plan', '-f', staging]);
    expect(text.code).toBe(1);
    const lines = text.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^error: no Google credentials found.*gcloud auth application-default login.*GOOGLE_APPLICATION_CREDENTIALS.*--gcp-endpoint/);
    expect(text.stderr).not.toMatch(/MetadataLookupWarning|\n\s+at /);
    const json = await run(['plan', '-f', staging, '-o', 'json']);
    expect(JSON.parse(json.stdout).error.message).toMatch(/no Google credentials/);
  });
});

describe("the Google SDK's own debug log", () => {
  it('never prints a secret value, even with GOOGLE_SDK_NODE_LOGGING=*', async () => {
    const result = await run(['apply', '-f', stagingNoVm, '--gcp-endpoint', s.url], cleanEnv({ GOOGLE_SDK_NODE_LOGGING: '*' }));
    expect(result.code, result.stdout).toBe(0);
    const values = Object.values(s.sandbox.store.data.projects).flatMap((p) => Object.values(p.secrets))
      .flatMap((secret) => secret.versions.map((v) => Buffer.from(v.data, 'base64').toString()));
    expect(values).toHaveLength(2);
    expect(result.stderr).toMatch(/getIamPolicy request/); // the SDK's debug log was on
    expect(leaks(values, result.stdout + result.stderr)).toEqual([]);
  });
});

describe('the action log on a terminal and in a pipe', () => {
  const reconcile = async (mode: 'plan' | 'apply', stderrTty: boolean, extra: { logFile?: string; logLevel?: string } = {}) => {
    let stdout = '';
    let stderr = '';
    const run = await runReconcile({ stdout: (t) => (stdout += t), stderr: (t) => (stderr += t), stdin: Readable.from([exampleText('staging', NO_VM)]), env: {} },
      mode, { filename: ['-'], gcpEndpoint: s.url, retry: FAST_RETRY, ...extra }, { color: false, stderrTty });
    return { stdout, stderr, run, lines: stderr.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, any>) };
  };
  const plan = (stderrTty: boolean, logFile?: string) => reconcile('plan', stderrTty, logFile ? { logFile } : {});

  it('goes to --log-file, at info, when one is given', async () => {
    const file = join(home, 'actions.log');
    expect((await plan(true, file)).stderr).toBe('');
    const lines = readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { event?: string });
    expect(lines.filter((l) => l.event === 'action').length).toBeGreaterThan(10);
  });

  it('stays out of the way of the human plan on a TTY', async () => {
    expect((await plan(true)).stderr).toBe('');
  });

  it('carries only warnings and errors from a piped plan (it used to be a JSON line per observation and planned action)', async () => {
    const piped = await plan(false);
    expect(piped.stderr).toBe('');
    expect(piped.stdout).toMatch(/Ready: no \(/);
  });

  it('gives today\'s full log with --log-level info: the observations and every planned action, as JSON lines', async () => {
    const { lines } = await reconcile('plan', false, { logLevel: 'info' });
    expect(lines.every((l) => l.app === 'jobmatch-operator')).toBe(true);
    expect(lines.filter((l) => l.event === 'observe')).toHaveLength(1);
    expect(lines.filter((l) => l.event === 'action' && l.outcome === 'planned').length).toBeGreaterThan(10);
  });

  it('logs every write a piped apply makes, one JSON line each, and nothing it only observed', async () => {
    const fresh = exampleText('staging', NO_VM).replaceAll('staging', 'pipedlog').replace('envMode: pipedlog', 'envMode: staging'); // its own resources: all created here
    let stderr = '';
    const { reports } = await runReconcile({ stdout: () => {}, stderr: (t) => (stderr += t), stdin: Readable.from([fresh]), env: {} },
      'apply', { filename: ['-'], gcpEndpoint: s.url, retry: FAST_RETRY }, { color: false, stderrTty: false });
    const lines = stderr.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, any>);
    const written = reports.flatMap((r) => r.plan.actions.filter((a) => r.results?.[a.id]?.outcome === 'ok').map((a) => `${a.verb} ${a.kind} ${a.name}`));
    expect(written.length).toBeGreaterThan(5);
    expect(lines.map((l) => `${l.verb} ${l.kind} ${l.name}`).sort()).toEqual(written.sort());
    expect(lines.every((l) => l.event === 'action' && l.outcome === 'ok' && l.severity === 'INFO' && l.environment === 'pipedlog')).toBe(true);
  });
});
