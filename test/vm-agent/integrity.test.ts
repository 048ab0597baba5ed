/**
 * Integrity (issue 15, part 1): the agent installs only what the operator sent. It trusts neither a read that
 * did not complete nor values that are not the ones jobmatch-config-hash covers.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { HASHED_KEYS } from '../../src/api/config-hash.js';
import { PROJECT, ZONE, useSandbox } from '../support/sandbox.js';
import {
  agentMetadata, deployKeySeed, pushAgentMetadata, rolloutIdOf, startAgent, startMetadataProxy, stopAllAgents, vmServiceAccount,
  type MetadataProxy,
} from '../support/vm-agent.js';

/** Several rollouts a test, each with git, docker and Secret Manager round trips: room for a busy 2-core machine. */
const SLOW = { timeout: 45_000 };
const SA = vmServiceAccount('vm-agent-integrity');
const VMS = ['vm-truncated', 'vm-altered'];
const s = useSandbox({
  seed: { projects: [{
    projectId: PROJECT, projectNumber: '123456789012',
    instances: VMS.map((name) => ({ name, zone: ZONE, serviceAccount: SA, metadata: { 'enable-guest-attributes': 'TRUE' } })),
    secrets: [deployKeySeed({ readers: [SA] })],
  }] },
}, { compute: true });
const where = (instance: string) => ({ project: PROJECT, zone: ZONE, instance });
const metadataUrl = (instance: string) => `${s.sandbox.metadataUrl(PROJECT, ZONE, instance)}/computeMetadata/v1`;

let proxy: MetadataProxy | undefined;
afterEach(async () => {
  await stopAllAgents();
  await proxy?.close();
  proxy = undefined;
});

describe('the agent installs only what the operator sent', SLOW, () => {
  it('installs nothing from a truncated read (the whole Content-Length announced, 40 bytes sent, then the connection closed), and retries until the whole value arrives', async () => {
    proxy = await startMetadataProxy(metadataUrl('vm-truncated'));
    let truncated = 0;
    proxy.intercept = (path, upstream, res) => {
      if (path !== '/instance/attributes/jobmatch-env' || upstream.status !== 200) return false;
      truncated += 1;
      res.writeHead(200, { 'content-type': 'application/text', 'content-length': String(upstream.body.length) });
      res.write(upstream.body.subarray(0, 40));
      setTimeout(() => res.socket?.destroy(), 20);
      return true;
    };
    const agent = await startAgent({ metadataUrl: proxy.url, secretManagerUrl: s.url });
    const env = `# the whole .env, longer than 40 bytes\nFIRST=1\n${'PADDING=x\n'.repeat(20)}LAST=the end\n`;
    const md = agentMetadata({ env, directory: agent.dir });
    await pushAgentMetadata(s.compute, where('vm-truncated'), md);
    await agent.waitFor(({ log, guest }) => (log.match(/reading metadata key jobmatch-env: /g)?.length ?? 0) >= 2 || guest['applied-hash'],
      { what: 'two truncated reads of jobmatch-env' });

    expect(agent.calls().filter((c) => c.tool === 'docker')).toEqual([]); // no pull, no up
    expect(existsSync(join(agent.dir, '.env'))).toBe(false);
    expect((await agent.guest())['applied-hash']).toBeUndefined();
    expect(agent.log()).toMatch(/reading metadata key jobmatch-env: (HTTP 000 )?.*curl: \(18\)/); // curl's "transfer closed with … bytes remaining"
    expect(agent.running()).toBe(true);

    proxy.intercept = undefined; // the server behaves again: the next try gets it all
    await agent.waitFor(({ guest }) => guest['applied-hash'] === rolloutIdOf(md), { what: 'the whole value applied' });
    expect(readFileSync(join(agent.dir, '.env'), 'utf8')).toBe(env);
    expect(truncated).toBeGreaterThanOrEqual(2);
  });

  it('refuses a jobmatch-env that is not the one jobmatch-config-hash covers: status failed naming the keys, nothing installed, the previous deployment kept; not remembered as failed, so the same hash pushed again whole is applied', async () => {
    const agent = await startAgent({ metadataUrl: metadataUrl('vm-altered') });
    const good = agentMetadata({ env: 'VERSION=good\n', directory: agent.dir, ref: 'good' });
    await pushAgentMetadata(s.compute, where('vm-altered'), good);
    await agent.waitFor(({ guest }) => guest['applied-hash'] === rolloutIdOf(good));
    const callsBefore = agent.calls().length;

    // The next configuration, signed, but someone else's jobmatch-env written over the operator's.
    const next = agentMetadata({ env: 'VERSION=next\n', directory: agent.dir, ref: 'next' });
    await pushAgentMetadata(s.compute, where('vm-altered'), { ...next, 'jobmatch-env': 'VERSION=evil\n' });
    await agent.waitFor(({ guest }) => guest['attempted-hash'] === rolloutIdOf(next) && guest.status === 'failed', { what: 'the refusal' });

    const guest = await agent.guest();
    expect(guest.message).toMatch(/^refused: jobmatch-config-hash does not match the values of the keys it covers \(([a-z-]+, )+[a-z-]+\)/);
    for (const key of HASHED_KEYS) expect(guest.message).toContain(key);
    expect(guest.message).toContain(`nothing installed, still running ${rolloutIdOf(good)}`);
    expect(guest.message).not.toContain('evil');
    expect(guest['applied-hash']).toBe(rolloutIdOf(good));
    expect(agent.calls()).toHaveLength(callsBefore); // no git, no docker
    expect(readFileSync(join(agent.dir, '.env'), 'utf8')).toBe('VERSION=good\n');
    expect(existsSync(join(agent.stateDir, 'failed-hash'))).toBe(false);

    // The operator heals its metadata: the same hash and signature, the right value. The agent, retrying, applies it.
    await pushAgentMetadata(s.compute, where('vm-altered'), next);
    await agent.waitFor(({ guest: g }) => g['applied-hash'] === rolloutIdOf(next), { what: 'the healed configuration applied' });
    expect(readFileSync(join(agent.dir, '.env'), 'utf8')).toBe('VERSION=next\n');
  });
});
