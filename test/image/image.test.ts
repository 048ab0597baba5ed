/**
 * The container image of a release (`npm run release`, release-build.ts), loaded from its OCI archive and run
 * for real with podman.
 *
 * No registry here, so the Dockerfile's two bases are passed in as build arguments: local images assembled
 * from the Node 24 running this test (containers.ts). Everything else is the Dockerfile users build: `npm ci`
 * (from the npm registry) and `npm run build` in the build stage, the runtime stage as shipped. One build per
 * run of this file (about 1–3 minutes on 2 cores); the bases are cached by Node version. release-checks.ts
 * checks the rest of the release this same build made: install.yaml on the real apiserver, the chart, the SBOM.
 *
 * Then: the image prints its version; `run --manifests` reconciles a directory against a sandbox on the host
 * with the settings the Deployment uses (read-only root, uid 65532, --init) and answers /healthz; SIGTERM
 * (podman stop) ends it with exit 0 within 5 s.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { chmodSync, copyFileSync, mkdtempSync, readFileSync, realpathSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { imageExists, localBases, requireContainerTools, tool } from './containers.js';
import { buildRelease, type Release } from './release-build.js';
import { releaseTests } from './release-checks.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string };
const IMAGE = `localhost/jobmatch-operator:test-${process.pid}-${Date.now()}`;
const CONTAINER = `jobmatch-operator-test-${process.pid}-${Date.now()}`;
const MAX_IMAGE_BYTES = 450e6;

let release: Release | undefined;
let sandbox: ChildProcess | undefined;
let sandboxUrl = '';
let manifestsDir = '';
const containers: string[] = [];

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** The host's sandbox: `jobmatch-operator sandbox --port 0`, whose first stdout line says where it listens. */
async function startSandbox(): Promise<string> {
  sandbox = spawn(process.execPath, [join(root, 'bin/jobmatch-operator.js'), 'sandbox', '--host', '127.0.0.1', '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    const timer = setTimeout(() => reject(new Error(`the sandbox did not start in 20 s: ${out}${err}`)), 20_000);
    sandbox!.stderr!.on('data', (d) => (err += d));
    sandbox!.stdout!.on('data', (d) => {
      out += d;
      const url = /listening on (http:\/\/\S+)/.exec(out)?.[1];
      if (url) {
        clearTimeout(timer);
        resolve(url);
      }
    });
    sandbox!.on('exit', (code) => reject(new Error(`the sandbox exited (${code}): ${out}${err}`)));
  });
}

async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms${last ? ` (${String(last)})` : ''}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function running(name: string): Promise<boolean> {
  return (await tool('podman', ['inspect', '--format', '{{.State.Running}}', name])).stdout.trim() === 'true';
}

async function logsOf(name: string): Promise<string> {
  return tool('podman', ['logs', name]).then(
    (r) => `${r.stdout}${r.stderr}`.slice(-4000),
    (e: Error) => e.message,
  );
}

/**
 * Set-up failures (the tools missing above all) are rethrown by every test: a throwing beforeAll would leave
 * the tests reported as skipped, and this test must fail, with the install hint, when it cannot run.
 */
let setupError: unknown;
function setUp(): void {
  if (setupError) throw setupError;
}

beforeAll(async () => {
  try {
    await buildAndStart();
  } catch (error) {
    setupError = error;
  }
}, 1_200_000);

async function buildAndStart(): Promise<void> {
  requireContainerTools();
  const started = Date.now();
  const bases = await localBases(realpathSync(process.execPath));
  const basesMs = Date.now() - started;
  release = await buildRelease(bases);
  // The archive as users get it: loaded, then tagged with this run's name.
  const loaded = (await tool('podman', ['load', '--quiet', '--input', release.archive])).stdout;
  const name = /Loaded image(?:\(s\))?: (\S+)/.exec(loaded)?.[1];
  if (!name) throw new Error(`podman load said: ${loaded}`);
  await tool('podman', ['tag', name, IMAGE]);
  await tool('podman', ['rmi', name]);
  console.log(`image: local bases ${bases.created.length ? `assembled in ${basesMs} ms` : 'cached'}, release built in ${Date.now() - started - basesMs} ms`);
  sandboxUrl = await startSandbox();
  // Readable by the container's uid 65532 (mkdtemp makes it 0700).
  manifestsDir = mkdtempSync(join(tmpdir(), 'jobmatch-image-manifests-'));
  chmodSync(manifestsDir, 0o755);
  copyFileSync(join(root, 'manifests/examples/staging.yaml'), join(manifestsDir, 'staging.yaml'));
  chmodSync(join(manifestsDir, 'staging.yaml'), 0o644);
}

afterAll(async () => {
  for (const name of containers) await tool('podman', ['rm', '--force', '--time', '0', name]).catch(() => undefined);
  if (await imageExists(IMAGE)) await tool('podman', ['rmi', '--force', IMAGE]).catch(() => undefined);
  sandbox?.kill('SIGTERM');
  if (manifestsDir) rmSync(manifestsDir, { recursive: true, force: true });
  if (release) rmSync(dirname(release.dir), { recursive: true, force: true });
}, 60_000);

describe('the container image', () => {
  it('runs as 65532 with no shell, `node bin/jobmatch-operator.js run` by default, and is of a sensible size', async () => {
    setUp();
    const [config] = JSON.parse((await tool('podman', ['image', 'inspect', IMAGE])).stdout) as [
      { Size: number; Config: { User: string; Entrypoint: string[]; Cmd: string[]; WorkingDir: string } },
    ];
    expect(config.Config.User).toBe('65532:65532');
    expect(config.Config.Entrypoint).toEqual(['node', '/app/bin/jobmatch-operator.js']);
    expect(config.Config.Cmd).toEqual(['run']);
    console.log(`image size: ${(config.Size / 1e6).toFixed(0)} MB`);
    expect(config.Size, 'image size in bytes').toBeLessThan(MAX_IMAGE_BYTES);
    await expect(tool('podman', ['run', '--rm', '--entrypoint', '/bin/sh', IMAGE, '-c', 'true'])).rejects.toThrow(/sh/);
  }, 60_000);

  it('prints its version and the commit the release was built from', async () => {
    setUp();
    const { stdout } = await tool('podman', ['run', '--rm', '--read-only', IMAGE, '--version']);
    expect(stdout.trim()).toBe(`${pkg.version} (commit ${release!.revision.slice(0, 12)}${release!.revision.endsWith('-dirty') ? '-dirty' : ''})`);
  }, 60_000);

  it('carries the OCI labels of its version, commit, source and licence', async () => {
    setUp();
    const [config] = JSON.parse((await tool('podman', ['image', 'inspect', IMAGE])).stdout) as { Config: { Labels: Record<string, string> } }[];
    expect(config!.Config.Labels).toMatchObject({
      'org.opencontainers.image.version': pkg.version,
      'org.opencontainers.image.revision': release!.revision,
      'org.opencontainers.image.source': 'https://github.com/jobmatch/jobmatch-operator',
      'org.opencontainers.image.licenses': 'Apache-2.0',
    });
  }, 60_000);

  it('runs the controller on a manifest directory against the sandbox, answers /healthz, and stops on SIGTERM with exit 0 within 5 s', async () => {
    setUp();
    const listen = await freePort();
    containers.push(CONTAINER);
    await tool('podman', [
      'run', '--detach', '--name', CONTAINER,
      '--network', 'host', '--read-only', '--init', '--user', '65532:65532',
      '--cap-drop', 'ALL', '--security-opt', 'no-new-privileges',
      '--volume', `${manifestsDir}:/manifests:ro`,
      IMAGE,
      'run', '--manifests', '/manifests', '--gcp-endpoint', sandboxUrl, '--listen', `127.0.0.1:${listen}`,
    ]);
    const base = `http://127.0.0.1:${listen}`;
    const healthz = await until('/healthz answers 200', 30_000, async () => {
      const status = await fetch(`${base}/healthz`).then((r) => r.status, () => 0);
      if (status === 200) return 'ok';
      return (await running(CONTAINER)) ? undefined : 'exited';
    }).catch((error: Error) => error.message);
    if (healthz !== 'ok') throw new Error(`${healthz === 'exited' ? 'the container exited' : healthz}\ncontainer log:\n${await logsOf(CONTAINER)}`);
    // The container reached the host's sandbox: the staging environment was observed through it.
    await until('the operator calls the sandbox', 30_000, async () => {
      const stats = (await (await fetch(`${sandboxUrl}/__sandbox/stats`)).json()) as { total: number };
      return stats.total > 0 ? true : undefined;
    });
    expect((await fetch(`${base}/metrics`)).status).toBe(200);

    const stopping = Date.now();
    await tool('podman', ['stop', '--time', '10', CONTAINER]);
    const stopMs = Date.now() - stopping;
    const state = JSON.parse((await tool('podman', ['inspect', '--format', '{{json .State}}', CONTAINER])).stdout) as { ExitCode: number; Running: boolean };
    console.log(`stopped in ${stopMs} ms, exit ${state.ExitCode}`);
    expect(state.Running).toBe(false);
    expect(state.ExitCode, await logsOf(CONTAINER)).toBe(0);
    expect(stopMs).toBeLessThan(5_000);
  }, 120_000);
});

releaseTests(() => {
  setUp();
  return release!;
});
