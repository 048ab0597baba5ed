import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { PROJECT, ZONE, useSandbox } from '../support/sandbox.js';
import {
  INITIAL_HEAD, agentMetadata, fakeSha, pushAgentMetadata, startAgent, startHealthServer, stopAllAgents, testHash,
  type Agent, type HealthServer, type Recorded,
} from '../support/vm-agent.js';

const VMS = Array.from({ length: 16 }, (_, i) => `vm-agent-${i + 1}`);
const s = useSandbox({
  seed: { projects: [{ projectId: PROJECT, projectNumber: '123456789012', instances: VMS.map((name) => ({ name, zone: ZONE, metadata: { 'enable-guest-attributes': 'TRUE' } })) }] },
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

let health: HealthServer | undefined;
afterEach(async () => {
  await stopAllAgents();
  await health?.close();
  health = undefined;
});
afterAll(() => stopAllAgents());

const compose = (agent: Agent, ...args: string[]) => ['compose', '--project-directory', agent.dir, '-f', join(agent.dir, 'docker-compose.yml'), ...args];
const docker = (calls: Recorded[]) => calls.filter((c) => c.tool === 'docker');
const summary = (calls: Recorded[]) => calls.map((c) => `${c.tool} ${c.command}${c.command === 'checkout' ? ` ${c.argv.at(-1)}` : ''}`);
/** The request log's guest-attribute writes, as key names in order. */
const guestWrites = (instance: string) => s.sandbox.stats.requests()
  .filter((r) => r.method === 'PUT' && r.path.includes(`/${instance}/computeMetadata/v1/instance/guest-attributes/jobmatch/`))
  .map((r) => r.path.split('/').at(-1));

describe('vm agent rollout', () => {
  it('applies a new configuration hash: .env byte for byte (0600), checkout, one pull then one up -d --remove-orphans, then reports ok', async () => {
    const { where, metadataUrl } = vm();
    health = await startHealthServer(200);
    const agent = await startAgent({ metadataUrl });
    const hash = testHash('apply');
    const env = '# generated\nENV_MODE=staging\nGCP_PROJECT_ID=job-match-v0\nGREETING=\'héllo wörld\'\nNO_FINAL_NEWLINE=1';
    await pushAgentMetadata(s.compute, where, agentMetadata({ hash, env, directory: agent.dir, ref: 'release/v1', healthUrl: health.url, healthTimeout: 5 }));
    await agent.waitFor(({ guest }) => guest['applied-hash'] === hash, { what: 'applied-hash' });

    expect(await agent.guest()).toEqual({ 'attempted-hash': hash, status: 'ok', message: `applied ${hash}`, 'applied-hash': hash });
    expect(guestWrites(where.instance)).toEqual(['status', 'attempted-hash', 'message', 'message', 'status', 'applied-hash']);
    const calls = agent.calls();
    expect(summary(calls)).toEqual([
      'git rev-parse', // HEAD, the rollback point
      'git fetch',
      'git rev-parse', // origin/release/v1^{commit}
      `git checkout ${fakeSha('release/v1')}`,
      'docker pull',
      'docker up',
    ]);
    expect(calls[1]!.argv).toEqual(['-C', agent.dir, 'fetch', '--quiet', '--prune', 'origin']);
    expect(calls[2]!.argv).toEqual(['-C', agent.dir, 'rev-parse', '--verify', '--quiet', 'origin/release/v1^{commit}']);
    expect(calls[3]!.argv).toEqual(['-C', agent.dir, 'checkout', '--quiet', '--detach', fakeSha('release/v1')]);
    expect(calls[4]!.argv).toEqual(compose(agent, 'pull'));
    expect(calls[5]!.argv).toEqual(compose(agent, 'up', '-d', '--remove-orphans'));
    expect(calls[5]!.env).toBe(env);
    expect(readFileSync(join(agent.dir, '.env'), 'utf8')).toBe(env);
    expect(statSync(join(agent.dir, '.env')).mode & 0o777).toBe(0o600);
    expect(agent.standIns.head()).toBe(fakeSha('release/v1'));
    expect(health.hits).toBeGreaterThanOrEqual(1);
    expect(agent.log()).not.toContain('héllo'); // the .env is never printed
    expect(readFileSync(join(agent.stateDir, 'applied-hash'), 'utf8')).toBe(hash);
  });

  it('does nothing for the hash it already applied: not on an unrelated metadata write, not after a restart', async () => {
    const { where, metadataUrl } = vm();
    const agent = await startAgent({ metadataUrl });
    const first = testHash('same-1');
    await pushAgentMetadata(s.compute, where, agentMetadata({ hash: first, env: 'A=1\n', directory: agent.dir }));
    await agent.waitFor(({ guest }) => guest['applied-hash'] === first);
    expect(docker(agent.calls()).map((c) => c.command)).toEqual(['pull', 'up']);

    await pushAgentMetadata(s.compute, where, { 'startup-script': 'echo unrelated' }); // the hash's long poll does not wake
    await agent.restart();
    await agent.waitFor(({ log }) => log.includes(`${first} is applied: nothing to do`), { what: 'the restarted agent to see its hash applied' });
    expect(docker(agent.calls()).map((c) => c.command)).toEqual(['pull', 'up']);

    const second = testHash('same-2');
    await pushAgentMetadata(s.compute, where, agentMetadata({ hash: second, env: 'A=2\n', directory: agent.dir }));
    await agent.waitFor(({ guest }) => guest['applied-hash'] === second);
    expect(docker(agent.calls()).map((c) => c.command)).toEqual(['pull', 'up', 'pull', 'up']);
    expect(docker(agent.calls())[3]!.env).toBe('A=2\n');
  });

  it('rolls the same configuration out once more for a redeploy id (sha256:…#redeploy-…), then holds still again', async () => {
    const { where, metadataUrl } = vm();
    const agent = await startAgent({ metadataUrl });
    const hash = testHash('redeploy');
    await pushAgentMetadata(s.compute, where, agentMetadata({ hash, env: 'R=1\n', directory: agent.dir }));
    await agent.waitFor(({ guest }) => guest['applied-hash'] === hash);
    const redeploy = `${hash}#redeploy-0123456789ab`;
    await pushAgentMetadata(s.compute, where, { 'jobmatch-config-hash': redeploy });
    await agent.waitFor(({ guest }) => guest['applied-hash'] === redeploy);
    expect(docker(agent.calls()).map((c) => c.command)).toEqual(['pull', 'up', 'pull', 'up']);
    await agent.restart();
    await agent.waitFor(({ log }) => log.includes(`${redeploy} is applied: nothing to do`));
    expect(docker(agent.calls())).toHaveLength(4);
  });

  it('rolls back when the health check fails: previous .env and commit restored and brought up again, status failed, not retried', async () => {
    const { where, metadataUrl } = vm();
    health = await startHealthServer(200);
    const agent = await startAgent({ metadataUrl });
    const good = testHash('health-good');
    await pushAgentMetadata(s.compute, where, agentMetadata({ hash: good, env: 'VERSION=1\n', directory: agent.dir, ref: 'v1', healthUrl: health.url, healthTimeout: 1 }));
    await agent.waitFor(({ guest }) => guest['applied-hash'] === good);
    const before = agent.calls().length;

    health.status = 500;
    const bad = testHash('health-bad');
    await pushAgentMetadata(s.compute, where, agentMetadata({ hash: bad, env: 'VERSION=2\n', directory: agent.dir, ref: 'v2', healthUrl: health.url, healthTimeout: 1 }));
    await agent.waitFor(({ guest }) => guest['attempted-hash'] === bad && guest.status === 'failed', { what: 'the failed status' });

    expect(await agent.guest()).toEqual({
      'attempted-hash': bad, status: 'failed', 'applied-hash': good,
      message: `health check ${health.url} not healthy after 1 s; rolled back to ${good}`,
    });
    const after = agent.calls().slice(before);
    expect(summary(after)).toEqual([
      'git rev-parse', 'git fetch', 'git rev-parse', `git checkout ${fakeSha('v2')}`, 'docker pull', 'docker up',
      `git checkout ${fakeSha('v1')}`, 'docker up',
    ]);
    expect(after[5]!.env).toBe('VERSION=2\n');
    expect(after[7]!.env).toBe('VERSION=1\n');
    expect(after[7]!.argv).toEqual(compose(agent, 'up', '-d', '--remove-orphans'));
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
    const fixed = testHash('health-fixed');
    await pushAgentMetadata(s.compute, where, agentMetadata({ hash: fixed, env: 'VERSION=3\n', directory: agent.dir, ref: 'v3', healthUrl: health.url, healthTimeout: 1 }));
    await agent.waitFor(({ guest }) => guest['applied-hash'] === fixed && guest.status === 'ok');
  });

  it('rolls back when docker compose up fails, saying what it rolled back to when no hash was applied before', async () => {
    const { where, metadataUrl } = vm();
    const agent = await startAgent({ metadataUrl });
    agent.standIns.failNext('docker', 'up');
    const hash = testHash('up-fails');
    await pushAgentMetadata(s.compute, where, agentMetadata({ hash, env: 'NEW=1\n', directory: agent.dir, ref: 'v9' }));
    await agent.waitFor(({ guest }) => guest.status === 'failed');
    expect((await agent.guest()).message).toBe(`docker compose up failed; rolled back to commit ${INITIAL_HEAD} (no hash applied before)`);
    expect(summary(agent.calls()).slice(-3)).toEqual(['docker up', `git checkout ${INITIAL_HEAD}`, 'docker up']);
    expect(agent.calls().at(-1)!.env).toBeUndefined(); // there was no .env before: none now
    expect((await agent.guest())['applied-hash']).toBeUndefined();
  });

  it('restores the files without restarting anything when pull fails, and says when there is no previous state', async () => {
    const { where, metadataUrl } = vm();
    const agent = await startAgent({ metadataUrl });
    agent.standIns.failNext('git', 'rev-parse'); // HEAD unreadable: no previous commit
    agent.standIns.failNext('docker', 'pull');
    const hash = testHash('pull-fails');
    await pushAgentMetadata(s.compute, where, agentMetadata({ hash, env: 'NEW=1\n', directory: agent.dir }));
    await agent.waitFor(({ guest }) => guest.status === 'failed');
    expect((await agent.guest()).message).toBe('docker compose pull failed; no previous state to roll back to');
    expect(docker(agent.calls()).map((c) => c.command)).toEqual(['pull']);
    expect(() => readFileSync(join(agent.dir, '.env'))).toThrow(/ENOENT/);
  });

  it('converges with exactly one up when killed during pull and restarted', async () => {
    const { where, metadataUrl } = vm();
    const agent = await startAgent({ metadataUrl });
    const first = testHash('kill-1');
    await pushAgentMetadata(s.compute, where, agentMetadata({ hash: first, env: 'V=1\n', directory: agent.dir, ref: 'v1' }));
    await agent.waitFor(({ guest }) => guest['applied-hash'] === first);

    agent.standIns.blockPull();
    const second = testHash('kill-2');
    await pushAgentMetadata(s.compute, where, agentMetadata({ hash: second, env: 'V=2\n', directory: agent.dir, ref: 'v2' }));
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
    const good = testHash('kill-health-good');
    await pushAgentMetadata(s.compute, where, agentMetadata({ hash: good, env: 'V=good\n', directory: agent.dir, ref: 'good', healthUrl: health.url }));
    await agent.waitFor(({ guest }) => guest['applied-hash'] === good);
    health.status = 500;
    const bad = testHash('kill-health-bad');
    await pushAgentMetadata(s.compute, where, agentMetadata({ hash: bad, env: 'V=bad\n', directory: agent.dir, ref: 'bad', healthUrl: health.url, healthTimeout: 2 }));
    await agent.waitFor(({ log }) => log.includes(`health check ${health!.url} (up to 2 s)`));
    await agent.kill();
    await agent.restart();
    await agent.waitFor(({ guest }) => guest['attempted-hash'] === bad && guest.status === 'failed');
    expect((await agent.guest()).message).toBe(`health check ${health.url} not healthy after 2 s; rolled back to ${good}`);
    expect(readFileSync(join(agent.dir, '.env'), 'utf8')).toBe('V=good\n');
    expect(agent.standIns.head()).toBe(fakeSha('good'));
    expect(agent.log()).toContain(`resuming an interrupted rollout: keeping its rollback point (${good})`);
  });

  it('applies a hash that changes during a rollout once that rollout ends', async () => {
    const { where, metadataUrl } = vm();
    const agent = await startAgent({ metadataUrl });
    agent.standIns.blockPull();
    const first = testHash('moving-1');
    await pushAgentMetadata(s.compute, where, agentMetadata({ hash: first, env: 'V=1\n', directory: agent.dir }));
    await agent.waitFor(({ calls }) => docker(calls).length === 1);
    const second = testHash('moving-2');
    await pushAgentMetadata(s.compute, where, agentMetadata({ hash: second, env: 'V=2\n', directory: agent.dir }));
    agent.standIns.releasePull();
    await agent.waitFor(({ guest }) => guest['applied-hash'] === second);
    expect(docker(agent.calls()).map((c) => [c.command, c.env])).toEqual([['pull', undefined], ['up', 'V=1\n'], ['pull', undefined], ['up', 'V=2\n']]);
  });

  it('waits for the hash to appear, keeps polling through metadata server errors, then applies it', async () => {
    const { where, metadataUrl } = vm();
    const agent = await startAgent({ metadataUrl });
    await agent.waitFor(({ log }) => log.includes('jobmatch-config-hash not set yet: waiting for it'));
    s.sandbox.faults.update({ faultRules: [{ api: 'metadata', operation: 'instance.attributes.get', resource: `/${where.instance}/`, phase: 'before', status: 503, times: 2 }] });
    const hash = testHash('errors');
    await pushAgentMetadata(s.compute, where, agentMetadata({ hash, env: 'E=1\n', directory: agent.dir }));
    await agent.waitFor(({ guest }) => guest['applied-hash'] === hash);
    expect(agent.log().match(/reading jobmatch-config-hash: HTTP 503/g)).toHaveLength(2);
    expect(agent.running()).toBe(true);
    expect(docker(agent.calls()).map((c) => c.command)).toEqual(['pull', 'up']);
  });

  it('chowns .env to JOBMATCH_APP_USER and runs git as that user when root; as another user, neither', async () => {
    const { where, metadataUrl } = vm();
    const root = process.getuid!() === 0;
    const agent = await startAgent({ metadataUrl, env: { JOBMATCH_APP_USER: 'nobody' } });
    const hash = testHash('owner');
    await pushAgentMetadata(s.compute, where, agentMetadata({ hash, env: 'O=1\n', directory: agent.dir }));
    await agent.waitFor(({ guest }) => guest['applied-hash'] === hash);
    const nobody = Number(readFileSync('/etc/passwd', 'utf8').match(/^nobody:[^:]*:(\d+):/m)![1]);
    const expected = root ? nobody : process.getuid!();
    expect(statSync(join(agent.dir, '.env')).uid).toBe(expected);
    expect(new Set(agent.calls().filter((c) => c.tool === 'git').map((c) => c.uid))).toEqual(new Set([expected]));
    expect(new Set(docker(agent.calls()).map((c) => c.uid))).toEqual(new Set([process.getuid!()]));
  });
});
