/**
 * The demo (npm start): the controller over a copy of the examples, both VMs as sandbox instances with the real
 * VM agent running for each (vm-agent/demo/ stand-ins for docker and git), drift healed, a config edit rolled out;
 * and nothing left behind, whether it ends by itself, on Ctrl-C, or killed.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { configHash, renderEnvFile } from '../../src/api/env-file.js';
import { loadManifests } from '../../src/api/manifests.js';
import { demoCommand, type DemoState } from '../../src/cli/demo-command.js';
import { cli } from '../support/cli.js';

const BIN = fileURLToPath(new URL('../../bin/jobmatch-operator.js', import.meta.url));

/** Pids of live processes whose environment points into `root` (the demo's agents, their curl and stand-ins). */
function processesUnder(root: string): number[] {
  const found: number[] = [];
  for (const pid of readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
    try {
      if (readFileSync(`/proc/${pid}/environ`, 'latin1').split('\0').some((v) => v.startsWith('JOBMATCH_STATE_DIR=') && v.includes(root))) found.push(Number(pid));
    } catch {
      // gone, or not ours
    }
  }
  return found;
}

async function eventually(check: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

const rootOf = (stdout: string) => /run --manifests (\S+)\/manifests\)/.exec(stdout)?.[1];

describe('jobmatch-operator demo (npm start)', () => {
  it('heals what is broken behind its back, rolls each VM out once the secrets have values, then rolls a config edit out; leaves nothing behind', async () => {
    let stdout = '';
    let stderr = '';
    let seen: { state: DemoState; env: Record<string, { text: string; mode: number; expected: string; hash: string; applied: string }>; pids: number[] } | undefined;
    const code = await demoCommand({ stdout: (t) => (stdout += t), stderr: (t) => (stderr += t), stdin: Readable.from([]), env: {} }, {
      color: false, once: true, resyncSeconds: 0.5, stop: new Promise(() => undefined),
      beforeCleanup: (state) => {
        const env: NonNullable<typeof seen>['env'] = {};
        for (const vm of state.vms) {
          const copy = readdirSync(state.manifestsDir).map((f) => join(state.manifestsDir, f));
          const spec = loadManifests(copy.map((file) => ({ file, text: readFileSync(file, 'utf8') }))).environments.find((e) => e.spec.environment === vm.environment)!.spec;
          const file = join(vm.composeDir, '.env');
          env[vm.environment] = {
            text: readFileSync(file, 'utf8'), mode: statSync(file).mode & 0o777, expected: renderEnvFile(spec), hash: configHash(spec),
            applied: readFileSync(join(vm.stateDir, 'applied-hash'), 'utf8'),
          };
        }
        seen = { state: structuredClone(state), env, pids: processesUnder(state.root) };
      },
    });
    expect(code, stdout + stderr).toBe(0);

    // The rollouts wait for the secrets' values, and start once a person added them.
    for (const env of ['staging', 'prod']) expect(stdout).toMatch(new RegExp(`jobmatch/${env}\\s+Ready ✗ \\w+ · Synced ✓ · Deployed ✗ SecretsMissing`));
    const added = stdout.indexOf('a person adds the external secrets\' values');
    expect(stdout.indexOf('Deployed ✗ SecretsMissing')).toBeLessThan(added);
    expect(stdout.indexOf('VM │ jobmatch-agent: new configuration')).toBeGreaterThan(added);
    for (const env of ['staging', 'prod']) {
      expect(stdout).toMatch(new RegExp(`jobmatch/${env}\\s+VM │ docker compose -f docker-compose.yml up -d --remove-orphans \\(demo: no container started\\)`));
      expect(stdout).toMatch(new RegExp(`jobmatch/${env}\\s+Ready ✓ · Synced ✓ · Deployed ✓ sha256:[0-9a-f]{12}…`));
    }
    for (const healed of ['update Bucket jobmatch-staging-bronze-job-match-v0 (versioning)', 'update Dataset staging_silver (labels.layer)',
      'create IAMBinding secret/POSTGRES_PASSWORD', 'update Secret jobmatch-staging-django-secret-key (versions)']) {
      expect(stdout).toContain(`drift healed: ${healed}`);
    }

    // Each VM's .env is exactly what the operator renders from the watched copy, config edit included, and applied.
    expect(seen).toBeDefined();
    expect(Object.keys(seen!.env).sort()).toEqual(['prod', 'staging']);
    for (const { text, mode, expected, hash, applied } of Object.values(seen!.env)) {
      expect(text).toBe(expected);
      expect(mode).toBe(0o600);
      expect(applied).toBe(hash);
    }
    expect(seen!.env.staging!.text).toContain('LLM_MAX_TOKENS=8192');
    expect(seen!.env.prod!.text).toContain('LLM_MAX_TOKENS=4096');
    expect(stdout).toContain(`Deployed ✓ ${seen!.env.staging!.hash.slice(0, 'sha256:'.length + 12)}…`);
    expect(stdout).toMatch(/agent wrote \S+\/staging\/app\/\.env: LLM_MAX_TOKENS=8192 \(was 4096\)/);
    // The committed examples are untouched: the demo edits its copy.
    expect(readFileSync(fileURLToPath(new URL('../../manifests/examples/staging.yaml', import.meta.url)), 'utf8')).toContain('LLM_MAX_TOKENS: "4096"');

    expect(seen!.pids.length).toBeGreaterThanOrEqual(2);
    expect(processesUnder(seen!.state.root)).toEqual([]);
    expect(existsSync(seen!.state.root)).toBe(false);
    expect(stdout).toMatch(/Every change was healed, and the config edit deployed, with no command typed\.\n$/);
  }, 120_000);

  it('gives up with an error rather than hang when a scene is not seen in time, and still cleans up', async () => {
    let stderr = '';
    let root = '';
    const code = await demoCommand({ stdout: () => undefined, stderr: (t) => (stderr += t), stdin: Readable.from([]), env: {} }, {
      color: false, once: true, resyncSeconds: 0.5, stop: new Promise(() => undefined), sceneTimeoutSeconds: 0.01, beforeCleanup: (state) => void (root = state.root),
    });
    expect(code).toBe(1);
    expect(stderr).toMatch(/^error: the first reconcile of every environment: not seen within 0.01 s \(the demo gives up rather than hang\)/);
    expect(root).not.toBe('');
    expect(processesUnder(root)).toEqual([]);
    expect(existsSync(root)).toBe(false);
  }, 60_000);

  it('says in one line what to install when sh or curl is missing, and starts nothing', async () => {
    const bin = mkdtempSync(join(tmpdir(), 'jobmatch-demo-path-'));
    try {
      symlinkSync('/bin/sh', join(bin, 'sh'));
      const run = await cli(['demo', '--once'], Readable.from([]), { PATH: bin });
      expect(run.code).toBe(1);
      expect(run.stderr).toMatch(/^error: the demo runs the real VM agent, which needs curl on the PATH: install curl .*\n$/);
      expect(run.stderr.split('\n')).toHaveLength(2);
      expect(run.stdout).toBe('');
    } finally {
      rmSync(bin, { recursive: true, force: true });
    }
  });

  describe('as a process (bin/jobmatch-operator.js demo)', () => {
    const start = () => {
      const child = spawn(process.execPath, [BIN, 'demo'], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
      child.stderr.setEncoding('utf8').on('data', (d: string) => (out += d));
      const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));
      return { child, output: () => out, exited };
    };

    it('stops on Ctrl-C: exit 0, the agents stopped, its temp directory removed', async () => {
      const demo = start();
      // Once the first status is shown, both agents run.
      await eventually(() => /jobmatch\/staging\s+Ready/.test(demo.output()), 'the first status', 60_000);
      const root = rootOf(demo.output())!;
      expect(processesUnder(root).length).toBeGreaterThanOrEqual(2);
      demo.child.kill('SIGINT');
      expect(await demo.exited).toBe(0);
      expect(processesUnder(root)).toEqual([]);
      expect(existsSync(root)).toBe(false);
    }, 90_000);

    it('leaves no agent polling even when it is killed (SIGKILL)', async () => {
      const demo = start();
      await eventually(() => /jobmatch\/staging\s+Ready/.test(demo.output()), 'the first status', 60_000);
      const root = rootOf(demo.output())!;
      expect(processesUnder(root).length).toBeGreaterThanOrEqual(2);
      demo.child.kill('SIGKILL');
      await demo.exited;
      try {
        await eventually(() => processesUnder(root).length === 0, 'the agents to stop');
      } finally {
        rmSync(root, { recursive: true, force: true });
      }
    }, 90_000);
  });
});
