import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { PROJECT, ZONE, useSandbox } from '../support/sandbox.js';
import {
  INITIAL_HEAD, agentMetadata, deployKeySeed, fakeComposeBlob, fakeSha, pushAgentMetadata, rolloutIdOf, startAgent, startHealthServer,
  stopAllAgents, TEST_ENVIRONMENT, vmServiceAccount, type Agent, type AgentMetadata, type HealthServer, type Recorded,
} from '../support/vm-agent.js';

/** Several rollouts a test, each with git, docker and Secret Manager round trips: room for a busy 2-core machine. */
const SLOW = { timeout: 45_000 };
const VMS = Array.from({ length: 16 }, (_, i) => `vm-agent-${i + 1}`);
const SA = vmServiceAccount('vm-agent-test');
const s = useSandbox({
  seed: { projects: [{
    projectId: PROJECT, projectNumber: '123456789012',
    instances: VMS.map((name) => ({ name, zone: ZONE, serviceAccount: SA, metadata: { 'enable-guest-attributes': 'TRUE' } })),
    secrets: [deployKeySeed({ readers: [SA] })],
  }] },
}, { compute: true });

let nextVm = 0;
/** A VM of its own for each test: its metadata, its guest attributes. */
function vm() {
  const instance = VMS[nextVm++]!;
  return {
    where: { project: PROJECT, zone: ZONE, instance },
    metadataUrl: `${s.sandbox.metadataUrl(PROJECT, ZONE, instance)}/computeMetadata/v1`,
  };
}

/** Pushes a signed configuration (as the operator does); resolves with its rollout id. */
async function push(where: { project: string; zone: string; instance: string }, m: AgentMetadata): Promise<string> {
  const md = agentMetadata(m);
  await pushAgentMetadata(s.compute, where, md);
  return rolloutIdOf(md);
}

let health: HealthServer | undefined;
afterEach(async () => {
  await stopAllAgents();
  await health?.close();
  health = undefined;
});
afterAll(() => stopAllAgents());

/** docker compose's arguments: the project directory, then a root-owned copy of the commit's compose file and of the .env. */
const compose = (agent: Agent, ...args: string[]) => ['compose', '--project-directory', agent.dir, '-f', expect.stringMatching(/^\/.*\.yml$/), '--env-file', expect.stringMatching(/^\//), ...args];
/** git's arguments: hooks off, in the checkout. */
const git = (agent: Agent, ...args: string[]) => ['-c', 'core.hooksPath=/dev/null', '-C', agent.dir, ...args];
const docker = (calls: Recorded[]) => calls.filter((c) => c.tool === 'docker');
const summary = (calls: Recorded[]) => calls.map((c) => `${c.tool} ${c.command}${c.command === 'checkout' ? ` ${c.argv.at(-1)}` : ''}`);
/** The request log's guest-attribute writes, as key names in order. */
const guestWrites = (instance: string) => s.sandbox.stats.requests()
  .filter((r) => r.method === 'PUT' && r.path.includes(`/${instance}/computeMetadata/v1/instance/guest-attributes/jobmatch/`))
  .map((r) => r.path.split('/').at(-1));

describe('vm agent rollout', SLOW, () => {
  it('applies a new configuration: .env byte for byte (0600), checkout checked, one pull then one up -d --remove-orphans of the commit\'s compose file, then reports ok', async () => {
    const { where, metadataUrl } = vm();
    health = await startHealthServer(200);
    const agent = await startAgent({ metadataUrl });
    const env = '# generated\nENV_MODE=staging\nGCP_PROJECT_ID=job-match-v0\nGREETING=\'héllo wörld\'\nNO_FINAL_NEWLINE=1';
    const hash = await push(where, { env, directory: agent.dir, ref: 'release/v1', healthUrl: health.url, healthTimeout: 5 });
    await agent.waitFor(({ guest }) => guest['applied-hash'] === hash, { what: 'applied-hash' });

    expect(await agent.guest()).toEqual({ 'attempted-hash': hash, status: 'ok', message: `applied ${hash}`, 'applied-hash': hash });
    expect(guestWrites(where.instance)).toEqual(['environment', 'status', 'attempted-hash', 'message', 'message', 'status', 'applied-hash']);
    // Whose VM this is, for the operator: once.
    expect(await (await fetch(`${metadataUrl}/instance/guest-attributes/jobmatch/environment`, { headers: { 'metadata-flavor': 'Google' } })).text()).toBe(TEST_ENVIRONMENT);
    const calls = agent.calls();
    const sha = fakeSha('release/v1');
    expect(summary(calls)).toEqual([
      'git rev-parse', // HEAD, the rollback point
      'git show', // its compose file
      'git fetch',
      'git rev-parse', // origin/release/v1^{commit}
      `git checkout ${sha}`,
      'git rev-parse', // HEAD is the commit
      'git status', // and the tree is clean
      'git show', // the commit's compose file, copied for docker
      'docker pull',
      'docker up',
    ]);
    expect(calls[0]!.argv).toEqual(git(agent, 'rev-parse', '--verify', '--quiet', 'HEAD^{commit}'));
    expect(calls[1]!.argv).toEqual(git(agent, 'show', `${INITIAL_HEAD}:docker-compose.yml`));
    expect(calls[2]!.argv).toEqual(git(agent, 'fetch', '--quiet', '--prune', 'origin'));
    expect(calls[3]!.argv).toEqual(git(agent, 'rev-parse', '--verify', '--quiet', 'origin/release/v1^{commit}'));
    expect(calls[4]!.argv).toEqual(git(agent, 'checkout', '--quiet', '--detach', sha));
    expect(calls[5]!.argv).toEqual(git(agent, 'rev-parse', '--verify', '--quiet', 'HEAD^{commit}'));
    expect(calls[6]!.argv).toEqual(git(agent, 'status', '--porcelain', '--untracked-files=no'));
    expect(calls[7]!.argv).toEqual(git(agent, 'show', `${sha}:docker-compose.yml`));
    expect(calls[8]!.argv).toEqual(compose(agent, 'pull'));
    expect(calls[9]!.argv).toEqual(compose(agent, 'up', '-d', '--remove-orphans'));
    expect(calls[9]!.env).toBe(env);
    expect(calls[9]!.envFile).toBe(env);
    expect(calls[9]!.compose).toBe(fakeComposeBlob(sha));
    expect(calls[9]!.argv[4]!.startsWith(agent.stateDir)).toBe(true); // the copy lives where only root writes
    expect(readFileSync(join(agent.dir, '.env'), 'utf8')).toBe(env);
    expect(statSync(join(agent.dir, '.env')).mode & 0o777).toBe(0o600);
    expect(agent.standIns.head()).toBe(sha);
    expect(health.hits).toBeGreaterThanOrEqual(1);
    expect(agent.log()).not.toContain('héllo'); // the .env is never printed
    expect(readFileSync(join(agent.stateDir, 'applied-hash'), 'utf8')).toBe(hash);
  });

  it('does nothing for the hash it already applied: not on an unrelated metadata write, not after a restart', async () => {
    const { where, metadataUrl } = vm();
    const agent = await startAgent({ metadataUrl });
    const first = await push(where, { env: 'A=1\n', directory: agent.dir });
    await agent.waitFor(({ guest }) => guest['applied-hash'] === first);
    expect(docker(agent.calls()).map((c) => c.command)).toEqual(['pull', 'up']);

    await pushAgentMetadata(s.compute, where, { 'startup-script': 'echo unrelated' }); // the hash's long poll does not wake
    await agent.restart();
    await agent.waitFor(({ log }) => log.includes(`${first} is applied: nothing to do`), { what: 'the restarted agent to see its hash applied' });
    expect(docker(agent.calls()).map((c) => c.command)).toEqual(['pull', 'up']);

    const second = await push(where, { env: 'A=2\n', directory: agent.dir });
    await agent.waitFor(({ guest }) => guest['applied-hash'] === second);
    expect(docker(agent.calls()).map((c) => c.command)).toEqual(['pull', 'up', 'pull', 'up']);
    expect(docker(agent.calls())[3]!.env).toBe('A=2\n');
  });

  it('rolls the same configuration out once more for a redeploy id (sha256:…#redeploy-…), then holds still again', async () => {
    const { where, metadataUrl } = vm();
    const agent = await startAgent({ metadataUrl });
    const hash = await push(where, { env: 'R=1\n', directory: agent.dir });
    await agent.waitFor(({ guest }) => guest['applied-hash'] === hash);
    const redeploy = await push(where, { env: 'R=1\n', directory: agent.dir, redeploy: 'redeploy-0123456789ab' });
    expect(redeploy).toBe(`${hash}#redeploy-0123456789ab`);
    await agent.waitFor(({ guest }) => guest['applied-hash'] === redeploy);
    expect(docker(agent.calls()).map((c) => c.command)).toEqual(['pull', 'up', 'pull', 'up']);
    await agent.restart();
    await agent.waitFor(({ log }) => log.includes(`${redeploy} is applied: nothing to do`));
    expect(docker(agent.calls())).toHaveLength(4);
  });

  it('rolls back when the health check fails: previous .env, commit and compose file restored and brought up again, status failed, not retried', async () => {
    const { where, metadataUrl } = vm();
    health = await startHealthServer(200);
    const agent = await startAgent({ metadataUrl });
    const good = await push(where, { env: 'VERSION=1\n', directory: agent.dir, ref: 'v1', healthUrl: health.url, healthTimeout: 1 });
    await agent.waitFor(({ guest }) => guest['applied-hash'] === good);
    const before = agent.calls().length;

    health.status = 500;
    const bad = await push(where, { env: 'VERSION=2\n', directory: agent.dir, ref: 'v2', healthUrl: health.url, healthTimeout: 1 });
    await agent.waitFor(({ guest }) => guest['attempted-hash'] === bad && guest.status === 'failed', { what: 'the failed status' });

    expect(await agent.guest()).toEqual({
      'attempted-hash': bad, status: 'failed', 'applied-hash': good,
      message: `health check ${health.url} not healthy after 1 s; rolled back to ${good}`,
    });
    const after = agent.calls().slice(before);
    expect(summary(after)).toEqual([
      'git rev-parse', 'git fetch', 'git rev-parse', `git checkout ${fakeSha('v2')}`, 'git rev-parse', 'git status', 'git show', 'docker pull', 'docker up',
      `git checkout ${fakeSha('v1')}`, 'docker up',
    ]);
    expect(after[8]!.env).toBe('VERSION=2\n');
    expect(after[8]!.compose).toBe(fakeComposeBlob(fakeSha('v2')));
    expect(after[10]!.env).toBe('VERSION=1\n');
    expect(after[10]!.envFile).toBe('VERSION=1\n');
    expect(after[10]!.compose).toBe(fakeComposeBlob(fakeSha('v1'))); // the compose file applied last, kept by the agent
    expect(after[10]!.argv).toEqual(compose(agent, 'up', '-d', '--remove-orphans'));
    expect(readFileSync(join(agent.dir, '.env'), 'utf8')).toBe('VERSION=1\n');
    expect(statSync(join(agent.dir, '.env')).mode & 0o777).toBe(0o600);
    expect(agent.standIns.head()).toBe(fakeSha('v1'));
    expect(readFileSync(join(agent.stateDir, 'applied-hash'), 'utf8')).toBe(good);

    // The failed hash is not retried, not even by a restarted agent, until the hash changes.
    const count = agent.calls().length;
    await agent.restart();
    await agent.waitFor(({ log }) => log.includes(`${bad} failed before: waiting for a new hash`));
    expect(agent.calls()).toHaveLength(count);
    health.status = 200;
    const fixed = await push(where, { env: 'VERSION=3\n', directory: agent.dir, ref: 'v3', healthUrl: health.url, healthTimeout: 1 });
    await agent.waitFor(({ guest }) => guest['applied-hash'] === fixed && guest.status === 'ok');
  });

  it('rolls back when docker compose up fails, saying what it rolled back to when no hash was applied before', async () => {
    const { where, metadataUrl } = vm();
    const agent = await startAgent({ metadataUrl });
    agent.standIns.failNext('docker', 'up');
    await push(where, { env: 'NEW=1\n', directory: agent.dir, ref: 'v9' });
    await agent.waitFor(({ guest }) => guest.status === 'failed');
    expect((await agent.guest()).message).toBe(`docker compose up failed; rolled back to commit ${INITIAL_HEAD} (no hash applied before)`);
    expect(summary(agent.calls()).slice(-3)).toEqual(['docker up', `git checkout ${INITIAL_HEAD}`, 'docker up']);
    expect(agent.calls().at(-1)!.env).toBeUndefined(); // there was no .env before: none now
    expect(agent.calls().at(-1)!.envFile).toBe(''); // nor for docker compose
    expect(agent.calls().at(-1)!.compose).toBe(fakeComposeBlob(INITIAL_HEAD)); // the compose file of the commit before
    expect((await agent.guest())['applied-hash']).toBeUndefined();
  });

  it('restores the files without restarting anything when pull fails, and says when there is no previous state', async () => {
    const { where, metadataUrl } = vm();
    const agent = await startAgent({ metadataUrl });
    agent.standIns.failNext('git', 'rev-parse'); // HEAD unreadable: no previous commit
    agent.standIns.failNext('docker', 'pull');
    await push(where, { env: 'NEW=1\n', directory: agent.dir });
    await agent.waitFor(({ guest }) => guest.status === 'failed');
    expect((await agent.guest()).message).toBe('docker compose pull failed; no previous state to roll back to');
    expect(docker(agent.calls()).map((c) => c.command)).toEqual(['pull']);
    expect(() => readFileSync(join(agent.dir, '.env'))).toThrow(/ENOENT/);
  });

  it('converges with exactly one up when killed during pull and restarted', async () => {
    const { where, metadataUrl } = vm();
    const agent = await startAgent({ metadataUrl });
    const first = await push(where, { env: 'V=1\n', directory: agent.dir, ref: 'v1' });
    await agent.waitFor(({ guest }) => guest['applied-hash'] === first);

    agent.standIns.blockPull();
    const second = await push(where, { env: 'V=2\n', directory: agent.dir, ref: 'v2' });
    await agent.waitFor(({ calls }) => docker(calls).length === 3, { what: 'the second pull' });
    await agent.kill();
    expect(readFileSync(join(agent.dir, '.env'), 'utf8')).toBe('V=2\n'); // killed half way
    agent.standIns.releasePull();
    await agent.restart();
    await agent.waitFor(({ guest }) => guest['applied-hash'] === second);

    expect(docker(agent.calls()).map((c) => c.command)).toEqual(['pull', 'up', 'pull', 'pull', 'up']);
    expect(docker(agent.calls()).at(-1)!.env).toBe('V=2\n');
    expect(agent.log()).toContain('taking over the lock of a stopped agent');
    expect(agent.log()).toContain(`resuming an interrupted rollout: keeping its rollback point (${first})`);
    expect(await agent.guest()).toMatchObject({ status: 'ok', message: `applied ${second}` });
  });

  it('after a kill during the health check, still rolls back to the last applied hash, not to its own half-written state', async () => {
    const { where, metadataUrl } = vm();
    health = await startHealthServer(200);
    const agent = await startAgent({ metadataUrl });
    const good = await push(where, { env: 'V=good\n', directory: agent.dir, ref: 'good', healthUrl: health.url });
    await agent.waitFor(({ guest }) => guest['applied-hash'] === good);
    health.status = 500;
    const bad = await push(where, { env: 'V=bad\n', directory: agent.dir, ref: 'bad', healthUrl: health.url, healthTimeout: 2 });
    await agent.waitFor(({ log }) => log.includes(`health check ${health!.url} (up to 2 s)`));
    await agent.kill();
    await agent.restart();
    await agent.waitFor(({ guest }) => guest['attempted-hash'] === bad && guest.status === 'failed');
    expect((await agent.guest()).message).toBe(`health check ${health.url} not healthy after 2 s; rolled back to ${good}`);
    expect(readFileSync(join(agent.dir, '.env'), 'utf8')).toBe('V=good\n');
    expect(agent.standIns.head()).toBe(fakeSha('good'));
    expect(agent.calls().at(-1)!.compose).toBe(fakeComposeBlob(fakeSha('good')));
    expect(agent.log()).toContain(`resuming an interrupted rollout: keeping its rollback point (${good})`);
  });

  it('applies a hash that changes during a rollout once that rollout ends', async () => {
    const { where, metadataUrl } = vm();
    const agent = await startAgent({ metadataUrl });
    agent.standIns.blockPull();
    await push(where, { env: 'V=1\n', directory: agent.dir });
    await agent.waitFor(({ calls }) => docker(calls).length === 1);
    const second = await push(where, { env: 'V=2\n', directory: agent.dir });
    agent.standIns.releasePull();
    await agent.waitFor(({ guest }) => guest['applied-hash'] === second);
    expect(docker(agent.calls()).map((c) => [c.command, c.env])).toEqual([['pull', undefined], ['up', 'V=1\n'], ['pull', undefined], ['up', 'V=2\n']]);
  });

  it('waits for the hash to appear, keeps polling through metadata server errors, then applies it', async () => {
    const { where, metadataUrl } = vm();
    const agent = await startAgent({ metadataUrl });
    await agent.waitFor(({ log }) => log.includes('jobmatch-config-hash not set yet: waiting for it'));
    s.sandbox.faults.update({ faultRules: [{ api: 'metadata', operation: 'instance.attributes.get', resource: `/${where.instance}/`, phase: 'before', status: 503, times: 2 }] });
    const hash = await push(where, { env: 'E=1\n', directory: agent.dir });
    await agent.waitFor(({ guest }) => guest['applied-hash'] === hash);
    expect(agent.log().match(/reading jobmatch-config-hash: HTTP 503/g)).toHaveLength(2);
    expect(agent.running()).toBe(true);
    expect(docker(agent.calls()).map((c) => c.command)).toEqual(['pull', 'up']);
  });

  it('writes .env and runs git as JOBMATCH_APP_USER, the owner of the checkout, when root; docker as root', async () => {
    const { where, metadataUrl } = vm();
    const root = process.getuid!() === 0;
    const agent = await startAgent({ metadataUrl, appUser: 'nobody' });
    const hash = await push(where, { env: 'O=1\n', directory: agent.dir });
    await agent.waitFor(({ guest }) => guest['applied-hash'] === hash);
    const nobody = Number(readFileSync('/etc/passwd', 'utf8').match(/^nobody:[^:]*:(\d+):/m)![1]);
    const expected = root ? nobody : process.getuid!();
    expect(statSync(join(agent.dir, '.env')).uid).toBe(expected);
    expect(statSync(join(agent.dir, '.env')).mode & 0o777).toBe(0o600);
    expect(new Set(agent.calls().filter((c) => c.tool === 'git').map((c) => c.uid))).toEqual(new Set([expected]));
    expect(new Set(docker(agent.calls()).map((c) => c.uid))).toEqual(new Set([process.getuid!()]));
  });
});
