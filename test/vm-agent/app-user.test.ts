/**
 * No takeover by the app user (issue 15, part 3). The agent runs as root; JOBMATCH_APP_USER owns the checkout.
 * Whatever that user plants in the compose directory (a link at a name the agent writes, a link as .env, a git
 * hook, an edited compose file), root must not write, read or run through it. The attacks run as a real
 * unprivileged user (nobody) when the tests run as root.
 */
import { spawnSync } from 'node:child_process';
import { chownSync, existsSync, lstatSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { PROJECT, ZONE, useSandbox } from '../support/sandbox.js';
import {
  HOOK_LINE, agentMetadata, deployKeySeed, fakeComposeBlob, fakeSha, pushAgentMetadata, rolloutIdOf, startAgent, stopAllAgents, userIds,
  vmServiceAccount, type Agent,
} from '../support/vm-agent.js';

/** Several rollouts a test, each with git, docker and Secret Manager round trips: room for a busy 2-core machine. */
const SLOW = { timeout: 45_000 };
const ROOT = process.getuid?.() === 0;
const APP_USER = 'nobody';
const SA = vmServiceAccount('vm-agent-app-user');
const VMS = ['vm-temp-link', 'vm-env-link', 'vm-hook', 'vm-dirty', 'vm-edited', 'vm-not-root', 'vm-not-allowed'];
const s = useSandbox({
  seed: { projects: [{
    projectId: PROJECT, projectNumber: '123456789012',
    instances: VMS.map((name) => ({ name, zone: ZONE, serviceAccount: SA, metadata: { 'enable-guest-attributes': 'TRUE' } })),
    secrets: [deployKeySeed({ readers: [SA] })],
  }] },
}, { compute: true });
const where = (instance: string) => ({ project: PROJECT, zone: ZONE, instance });
const metadataUrl = (instance: string) => `${s.sandbox.metadataUrl(PROJECT, ZONE, instance)}/computeMetadata/v1`;

/** A root-owned file outside the checkout: what the app user must never get to write or read through the agent. */
let victims: string;
beforeAll(() => {
  victims = mkdtempSync(join(tmpdir(), 'jobmatch-victims-'));
});
afterEach(() => stopAllAgents());
afterAll(async () => {
  await stopAllAgents();
  rmSync(victims, { recursive: true, force: true });
});

/** Runs a command as the app user (it fails the test when the command fails). */
function asAppUser(...argv: string[]): void {
  const run = spawnSync('runuser', ['-u', APP_USER, '--', ...argv], { encoding: 'utf8' });
  expect(run.status, `${argv.join(' ')}: ${run.stderr}`).toBe(0);
}

async function pushed(instance: string, agent: Agent, env: string, ref = 'main'): Promise<string> {
  const md = agentMetadata({ env, directory: agent.dir, ref });
  await pushAgentMetadata(s.compute, where(instance), md);
  return rolloutIdOf(md);
}

/** Every file under dir whose bytes contain text (read while the agent runs: what it removes meanwhile is skipped). */
function filesHolding(dir: string, text: string): string[] {
  const gone = <T>(read: () => T, otherwise: T): T => {
    try {
      return read();
    } catch {
      return otherwise;
    }
  };
  return gone(() => readdirSync(dir, { withFileTypes: true }), []).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return filesHolding(path, text);
    return e.isFile() && gone(() => readFileSync(path, 'utf8'), '').includes(text) ? [path] : [];
  });
}

describe.runIf(ROOT)('the app user cannot make root write or read through a link', SLOW, () => {
  it('a link planted at the temp name the agent used (.env.jobmatch-agent.<agent pid>) leaves the root-owned file it points to untouched', async () => {
    const victim = join(victims, 'root-owned-config');
    writeFileSync(victim, 'root: keep me\n', { mode: 0o644 });
    const agent = await startAgent({ metadataUrl: metadataUrl('vm-temp-link'), appUser: APP_USER });
    asAppUser('ln', '-s', victim, join(agent.dir, `.env.jobmatch-agent.${agent.pid()}`));

    const hash = await pushed('vm-temp-link', agent, 'APP=1\n');
    await agent.waitFor(({ guest }) => guest['applied-hash'] === hash || guest.status === 'failed', { what: 'the rollout' });

    expect(statSync(victim).uid).toBe(0);
    expect(statSync(victim).mode & 0o777).toBe(0o644);
    expect(readFileSync(victim, 'utf8')).toBe('root: keep me\n');
    expect(lstatSync(join(agent.dir, '.env')).isSymbolicLink()).toBe(false);
    expect(statSync(join(agent.dir, '.env')).uid).toBe(userIds(APP_USER).uid);
    expect(readFileSync(join(agent.dir, '.env'), 'utf8')).toBe('APP=1\n');
    expect((await agent.guest())['applied-hash']).toBe(hash);
  });

  it('refuses a .env that is a link (never reading the root-only file behind it into the app user\'s .env, not even on a rollback), then applies once the link is gone', async () => {
    const secret = join(victims, 'root-only-secret');
    writeFileSync(secret, 'TOP SECRET of root\n', { mode: 0o600 });
    const agent = await startAgent({ metadataUrl: metadataUrl('vm-env-link'), appUser: APP_USER });
    const first = await pushed('vm-env-link', agent, 'APP=1\n', 'v1');
    await agent.waitFor(({ guest }) => guest['applied-hash'] === first);
    const calls = agent.calls().length;

    asAppUser('rm', join(agent.dir, '.env'));
    asAppUser('ln', '-s', secret, join(agent.dir, '.env'));
    agent.standIns.failNext('docker', 'up'); // were it read, the rollback would restore it as the app user's .env
    const second = await pushed('vm-env-link', agent, 'APP=2\n', 'v2');
    await agent.waitFor(({ guest }) => guest['attempted-hash'] === second && guest.status === 'failed', { what: 'the refusal' });

    expect(filesHolding(agent.dir, 'TOP SECRET')).toEqual([]);
    expect(filesHolding(agent.stateDir, 'TOP SECRET')).toEqual([]);
    expect((await agent.guest()).message).toMatch(new RegExp(`^refused: ${agent.dir}/\\.env is a symbolic link: the agent writes no \\.env through a link \\(remove it\\); nothing installed, still running ${first.replace(/[#:]/g, '.')}`));
    expect(agent.calls()).toHaveLength(calls); // no git, no docker
    expect(statSync(secret).uid).toBe(0);
    expect(readFileSync(secret, 'utf8')).toBe('TOP SECRET of root\n');
    expect(existsSync(join(agent.stateDir, 'failed-hash'))).toBe(false);

    rmSync(join(agent.standIns.binDir, '..', 'fail-docker-up'));
    asAppUser('rm', join(agent.dir, '.env')); // the link goes: the agent, retrying, applies
    await agent.waitFor(({ guest }) => guest['applied-hash'] === second, { what: 'the rollout once the link is gone' });
    expect(readFileSync(join(agent.dir, '.env'), 'utf8')).toBe('APP=2\n');
  });

  it('refuses a checkout owned by someone else than root when JOBMATCH_APP_USER is not set (the agent would write as root in their directory)', async () => {
    const agent = await startAgent({ metadataUrl: metadataUrl('vm-not-root') });
    const { uid, gid } = userIds(APP_USER);
    chownSync(agent.dir, uid, gid);
    const hash = await pushed('vm-not-root', agent, 'APP=1\n');
    await agent.waitFor(({ guest }) => guest['attempted-hash'] === hash && guest.status === 'failed', { what: 'the refusal' });
    expect((await agent.guest()).message).toMatch(new RegExp(`^refused: compose directory ${agent.dir} is owned by uid ${uid}, not root: set JOBMATCH_APP_USER to its owner in /etc/default/jobmatch-agent`));
    expect(agent.calls()).toEqual([]);
    expect(existsSync(join(agent.dir, '.env'))).toBe(false);
  });
});

describe('git and docker compose cannot be steered from the checkout', SLOW, () => {
  it('runs git with hooks disabled: a post-checkout hook never runs, and docker gets the commit\'s compose file', async () => {
    const agent = await startAgent({ metadataUrl: metadataUrl('vm-hook'), ...(ROOT ? { appUser: APP_USER } : {}) });
    agent.standIns.hookOnCheckout();
    const hash = await pushed('vm-hook', agent, 'APP=1\n', 'v1');
    await agent.waitFor(({ guest }) => guest['applied-hash'] === hash || guest.status === 'failed', { what: 'the rollout' });
    expect(agent.standIns.hookRan()).toBe(false);
    expect(readFileSync(join(agent.dir, 'docker-compose.yml'), 'utf8')).not.toContain(HOOK_LINE);
    const up = agent.calls().find((c) => c.command === 'up')!;
    expect(up.compose).toBe(fakeComposeBlob(fakeSha('v1')));
    expect(agent.calls().filter((c) => c.tool === 'git').every((c) => c.argv[0] === '-c' && c.argv[1] === 'core.hooksPath=/dev/null')).toBe(true);
  });

  it('refuses a checkout that is not exactly the commit, clean, after git checkout: nothing pulled or brought up, files and commit restored', async () => {
    const agent = await startAgent({ metadataUrl: metadataUrl('vm-dirty') });
    const first = await pushed('vm-dirty', agent, 'APP=1\n', 'v1');
    await agent.waitFor(({ guest }) => guest['applied-hash'] === first);
    agent.standIns.dirtyNextCheckout(' M docker-compose.yml\n');
    const second = await pushed('vm-dirty', agent, 'APP=2\n', 'v2');
    await agent.waitFor(({ guest }) => guest['attempted-hash'] === second && guest.status === 'failed', { what: 'the refusal' });
    expect((await agent.guest()).message).toBe(
      `the checkout of v2 (${fakeSha('v2')}) in ${agent.dir} is not clean (git status shows changed files): refusing to run it; nothing restarted, .env and commit restored (still running ${first})`,
    );
    expect(agent.calls().filter((c) => c.tool === 'docker').map((c) => c.command)).toEqual(['pull', 'up']); // the first rollout's only
    expect(agent.standIns.head()).toBe(fakeSha('v1'));
    expect(readFileSync(join(agent.dir, '.env'), 'utf8')).toBe('APP=1\n');
  });

  it('hands docker compose a copy of the commit\'s compose file that only root can write, not the file in the checkout', async () => {
    const agent = await startAgent({ metadataUrl: metadataUrl('vm-edited') });
    writeFileSync(join(agent.dir, 'docker-compose.yml'), 'services:\n  evil:\n    image: evil\n    privileged: true\n');
    const hash = await pushed('vm-edited', agent, 'APP=1\n', 'v1');
    await agent.waitFor(({ guest }) => guest['applied-hash'] === hash);
    for (const c of agent.calls().filter((x) => x.tool === 'docker')) {
      expect(c.compose).toBe(fakeComposeBlob(fakeSha('v1')));
      expect(c.argv.slice(0, 3)).toEqual(['compose', '--project-directory', agent.dir]); // relative paths still resolve in the checkout
      expect(c.argv[4]!.startsWith(`${agent.stateDir}/`)).toBe(true);
    }
    expect(readFileSync(join(agent.stateDir, 'applied-compose.yml'), 'utf8')).toBe(fakeComposeBlob(fakeSha('v1')));
    expect(statSync(join(agent.stateDir, 'applied-compose.yml')).mode & 0o077).toBe(0);
  });

  it('refuses a compose directory outside JOBMATCH_COMPOSE_DIRECTORIES, naming the setting', async () => {
    const agent = await startAgent({ metadataUrl: metadataUrl('vm-not-allowed'), env: { JOBMATCH_COMPOSE_DIRECTORIES: '/opt/jobmatch /srv/jobmatch' } });
    const hash = await pushed('vm-not-allowed', agent, 'APP=1\n');
    await agent.waitFor(({ guest }) => guest['attempted-hash'] === hash && guest.status === 'failed', { what: 'the refusal' });
    expect((await agent.guest()).message).toMatch(new RegExp(`^refused: compose directory ${agent.dir} is not in JOBMATCH_COMPOSE_DIRECTORIES \\(/opt/jobmatch /srv/jobmatch\\)`));
    expect(agent.calls()).toEqual([]);
  });
});
