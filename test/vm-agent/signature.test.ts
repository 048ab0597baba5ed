/**
 * Authenticity (issue 15, part 2): only the operator, holding the environment's deploy key, can change what a
 * VM runs. A metadata writer can rewrite every key and recompute the hash; without the key the signature does
 * not match, and an older signed configuration is a replay. The key is read from Secret Manager with the VM's
 * service account, and never crosses a command line, a log, a guest attribute or the disk.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { signature } from '../../src/kinds/deployment/signing.js';
import { PROJECT, ZONE, useSandbox } from '../support/sandbox.js';
import {
  AGENT_KEYS, AGENT_SCRIPT, TEST_DEPLOY_KEY, agentMetadata, deployKeySecretId, deployKeySeed, freshSerial, pushAgentMetadata,
  recordingWrappers, rolloutIdOf, startAgent, stopAllAgents, testHash, vmServiceAccount, type Agent, type AgentOptions, type AgentSigning,
} from '../support/vm-agent.js';

/** Several rollouts a test, each with git, docker and Secret Manager round trips: room for a busy 2-core machine. */
const SLOW = { timeout: 45_000 };
const SA = vmServiceAccount('vm-agent-signature');
const LOCKED_SA = vmServiceAccount('vm-agent-no-grant');
const VMS = ['vm-forged', 'vm-replay', 'vm-other-key', 'vm-rotation', 'vm-unsigned', 'vm-no-environment', 'vm-secrets-hidden'];
const s = useSandbox({
  seed: { projects: [{
    projectId: PROJECT, projectNumber: '123456789012',
    instances: [
      ...VMS.map((name) => ({ name, zone: ZONE, serviceAccount: SA, metadata: { 'enable-guest-attributes': 'TRUE' } })),
      { name: 'vm-no-grant', zone: ZONE, serviceAccount: LOCKED_SA, metadata: { 'enable-guest-attributes': 'TRUE' } },
      { name: 'vm-no-account', zone: ZONE, metadata: { 'enable-guest-attributes': 'TRUE' } },
    ],
    secrets: [
      deployKeySeed({ readers: [SA, LOCKED_SA] }),
      deployKeySeed({ environment: 'rotating', keys: ['the-first-key-of-rotating-0123456789abcdefg'], readers: [SA] }),
      deployKeySeed({ environment: 'locked', readers: [SA] }), // not LOCKED_SA
    ],
  }] },
}, { compute: true });
const where = (instance: string) => ({ project: PROJECT, zone: ZONE, instance });
const metadataUrl = (instance: string) => `${s.sandbox.metadataUrl(PROJECT, ZONE, instance)}/computeMetadata/v1`;

afterEach(() => stopAllAgents());
afterAll(() => stopAllAgents());

/** A VM's agent with a first configuration applied: the previous deployment the refusals must keep. */
async function deployed(instance: string, options: Partial<AgentOptions> = {}, signing: AgentSigning = {}): Promise<{ agent: Agent; first: Record<string, string> }> {
  const agent = await startAgent({ metadataUrl: metadataUrl(instance), ...options });
  const first = agentMetadata({ env: 'VERSION=1\n', directory: agent.dir, ref: 'v1' }, signing);
  await pushAgentMetadata(s.compute, where(instance), first);
  await agent.waitFor(({ guest }) => guest['applied-hash'] === rolloutIdOf(first), { what: 'the first configuration applied' });
  return { agent, first };
}

/** Waits for the refusal of `id`, then checks nothing moved: no git or docker call since `calls`, the .env kept. */
async function refused(agent: Agent, id: string, calls: number, env = 'VERSION=1\n'): Promise<string> {
  await agent.waitFor(({ guest }) => guest['attempted-hash'] === id && guest.status === 'failed', { what: `the refusal of ${id}` });
  const guest = await agent.guest();
  expect(agent.calls()).toHaveLength(calls);
  expect(readFileSync(join(agent.dir, '.env'), 'utf8')).toBe(env);
  expect(existsSync(join(agent.stateDir, 'failed-hash'))).toBe(false); // healed by the operator's next push, not remembered
  return guest.message!;
}

describe('the agent deploys only what the operator signed', SLOW, () => {
  it('refuses a forged configuration (jobmatch-env rewritten, the hash recomputed, no key to sign it): the signature did not match, no up, the previous .env and deployment kept', async () => {
    const { agent, first } = await deployed('vm-forged');
    const calls = agent.calls().length;
    // Everything a metadata writer can do without the key: new values, their hash, the old signature and serial left in place.
    const forged = agentMetadata({ env: 'VERSION=forged\nDATABASE_URL=postgres://attacker\n', directory: agent.dir, ref: 'v1' }, false);
    await pushAgentMetadata(s.compute, where('vm-forged'), forged);
    const message = await refused(agent, rolloutIdOf(forged), calls);
    expect(message).toMatch(/^refused: the signature did not match: jobmatch-config-signature is not the HMAC of jobmatch-config-hash and jobmatch-config-serial with the deploy key jobmatch-staging-deploy-key \(version 1\)/);
    expect(message).toContain(`nothing installed, still running ${rolloutIdOf(first)}`);
    expect(message).not.toMatch(/forged|attacker/);
    expect((await agent.guest())['applied-hash']).toBe(rolloutIdOf(first));
  });

  it('refuses a replay of an older signed configuration (a lower serial), and one that reuses the applied serial for another hash', async () => {
    const { agent, first } = await deployed('vm-replay');
    const second = agentMetadata({ env: 'VERSION=2\n', directory: agent.dir, ref: 'v2' });
    await pushAgentMetadata(s.compute, where('vm-replay'), second);
    await agent.waitFor(({ guest }) => guest['applied-hash'] === rolloutIdOf(second));
    expect(readFileSync(join(agent.stateDir, 'applied-serial'), 'utf8')).toBe(second['jobmatch-config-serial']);
    const calls = agent.calls().length;

    await pushAgentMetadata(s.compute, where('vm-replay'), first); // validly signed, once
    const message = await refused(agent, rolloutIdOf(first), calls, 'VERSION=2\n');
    expect(message).toMatch(/^refused: jobmatch-config-serial is lower than the serial of the configuration applied last: a replay of an older configuration; nothing installed, still running /);

    const sameSerial = agentMetadata({ env: 'VERSION=3\n', directory: agent.dir, ref: 'v3' }, { serial: second['jobmatch-config-serial'] });
    await pushAgentMetadata(s.compute, where('vm-replay'), sameSerial);
    expect(await refused(agent, rolloutIdOf(sameSerial), calls, 'VERSION=2\n')).toMatch(/^refused: jobmatch-config-serial is the serial of the configuration applied last, with another jobmatch-config-hash: a replay of an older configuration;/);
  });

  it('refuses a configuration signed with another key', async () => {
    const { agent } = await deployed('vm-other-key');
    const calls = agent.calls().length;
    const other = agentMetadata({ env: 'VERSION=2\n', directory: agent.dir }, { key: 'somebody-elses-key-0123456789abcdefghijklmn', keyVersion: '1' });
    await pushAgentMetadata(s.compute, where('vm-other-key'), other);
    expect(await refused(agent, rolloutIdOf(other), calls)).toMatch(/^refused: the signature did not match: /);
  });

  it('after a rotation (a new version of the key), accepts the configuration signed again with it, and no longer one signed with the old', async () => {
    const { agent } = await deployed('vm-rotation', { environment: 'rotating' }, { key: 'the-first-key-of-rotating-0123456789abcdefg' });
    await s.clients.secrets.addSecretVersion({
      parent: `projects/${PROJECT}/secrets/${deployKeySecretId('rotating')}`, payload: { data: Buffer.from('the-second-key-of-rotating-0123456789abcdef') },
    });
    const calls = agent.calls().length;
    const oldKey = agentMetadata({ env: 'VERSION=2\n', directory: agent.dir }, { key: 'the-first-key-of-rotating-0123456789abcdefg', keyVersion: '1' });
    await pushAgentMetadata(s.compute, where('vm-rotation'), oldKey);
    const message = await refused(agent, rolloutIdOf(oldKey), calls);
    expect(message).toMatch(/^refused: the signature did not match: .* deploy key jobmatch-rotating-deploy-key \(version 2\); jobmatch-config-key-version says 1/);

    const resigned = agentMetadata({ env: 'VERSION=2\n', directory: agent.dir }, { key: 'the-second-key-of-rotating-0123456789abcdef', keyVersion: '2' });
    await pushAgentMetadata(s.compute, where('vm-rotation'), resigned);
    await agent.waitFor(({ guest }) => guest['applied-hash'] === rolloutIdOf(resigned), { what: 'the re-signed configuration applied' });
    expect(readFileSync(join(agent.dir, '.env'), 'utf8')).toBe('VERSION=2\n');
  });

  it('refuses a configuration without a signature or with a malformed one or serial, naming the key', async () => {
    const { agent } = await deployed('vm-unsigned');
    const calls = agent.calls().length;
    const unsigned = agentMetadata({ env: 'VERSION=2\n', directory: agent.dir }, false);
    await pushAgentMetadata(s.compute, where('vm-unsigned'), unsigned, AGENT_KEYS.filter((k) => !(k in unsigned)));
    expect(await refused(agent, rolloutIdOf(unsigned), calls)).toMatch(/^refused: the signature could not be checked: metadata key jobmatch-config-signature is missing/);

    const badSerial = agentMetadata({ env: 'VERSION=3\n', directory: agent.dir }, { serial: '0123' });
    await pushAgentMetadata(s.compute, where('vm-unsigned'), badSerial);
    expect(await refused(agent, rolloutIdOf(badSerial), calls)).toMatch(/^refused: the signature could not be checked: metadata key jobmatch-config-serial is not a serial/);

    const badSignature = { ...agentMetadata({ env: 'VERSION=4\n', directory: agent.dir }), 'jobmatch-config-signature': 'hmac-sha256:$(reboot)' };
    await pushAgentMetadata(s.compute, where('vm-unsigned'), badSignature);
    const message = await refused(agent, rolloutIdOf(badSignature), calls);
    expect(message).toMatch(/^refused: the signature could not be checked: metadata key jobmatch-config-signature is not hmac-sha256:<64 hex>/);
    expect(message).not.toContain('reboot');
  });

  it('refuses every rollout while JOBMATCH_ENVIRONMENT is not set, saying to set it', async () => {
    const agent = await startAgent({ metadataUrl: metadataUrl('vm-no-environment'), environment: null });
    const md = agentMetadata({ env: 'VERSION=1\n', directory: agent.dir });
    await pushAgentMetadata(s.compute, where('vm-no-environment'), md);
    await agent.waitFor(({ guest }) => guest['attempted-hash'] === rolloutIdOf(md) && guest.status === 'failed');
    expect((await agent.guest()).message).toMatch(/^refused: the signature could not be checked: JOBMATCH_ENVIRONMENT is not set in \/etc\/default\/jobmatch-agent /);
    expect(agent.calls()).toEqual([]);
    expect(existsSync(join(agent.dir, '.env'))).toBe(false);
  });

  it('says which secret it could not read and that the VM\'s service account needs roles/secretmanager.secretAccessor on it; a VM without a service account is told so', async () => {
    const locked = await startAgent({ metadataUrl: metadataUrl('vm-no-grant'), environment: 'locked' });
    const md = agentMetadata({ env: 'VERSION=1\n', directory: locked.dir });
    await pushAgentMetadata(s.compute, where('vm-no-grant'), md);
    await locked.waitFor(({ guest }) => guest['attempted-hash'] === rolloutIdOf(md) && guest.status === 'failed');
    const message = (await locked.guest()).message!;
    expect(message).toMatch(/^refused: the signature could not be checked: Secret Manager answered HTTP 403 for secret jobmatch-locked-deploy-key of project job-match-v0: the VM's service account needs roles\/secretmanager.secretAccessor on it;/);
    expect(locked.calls()).toEqual([]);

    const none = await startAgent({ metadataUrl: metadataUrl('vm-no-account') });
    const md2 = agentMetadata({ env: 'VERSION=1\n', directory: none.dir });
    await pushAgentMetadata(s.compute, where('vm-no-account'), md2);
    await none.waitFor(({ guest }) => guest['attempted-hash'] === rolloutIdOf(md2) && guest.status === 'failed');
    expect((await none.guest()).message).toMatch(/^refused: the signature could not be checked: the VM has no service account \(the metadata server has no token\): it needs one that can read secret jobmatch-staging-deploy-key;/);
  });

  it('keeps the token and the deploy key out of every command line, log, guest attribute and file it leaves', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'jobmatch-argv-'));
    try {
      const wrappers = recordingWrappers(dir, ['curl', 'openssl', 'sha256sum', 'base64', 'od', 'sed', 'tr', 'cut', 'printf', 'cat', 'tail', 'head', 'wc']);
      const agent = await startAgent({ metadataUrl: metadataUrl('vm-secrets-hidden'), pathPrefix: [wrappers.binDir] });
      const md = agentMetadata({ env: 'VERSION=1\n', directory: agent.dir });
      await pushAgentMetadata(s.compute, where('vm-secrets-hidden'), md);
      await agent.waitFor(({ guest }) => guest['applied-hash'] === rolloutIdOf(md));

      const argv = wrappers.argv();
      expect(argv.some((a) => a[0] === 'curl' && a.some((x) => x.includes('/secrets/jobmatch-staging-deploy-key/versions/latest:access')))).toBe(true);
      const forms = [TEST_DEPLOY_KEY, Buffer.from(TEST_DEPLOY_KEY).toString('base64'), Buffer.from(TEST_DEPLOY_KEY).toString('hex')];
      const leaks = argv.filter((a) => a.some((x) => /bearer\s|ya29\./i.test(x) || forms.some((f) => x.includes(f) || x.includes(f.slice(0, 16)))));
      expect(leaks).toEqual([]);
      const guest = JSON.stringify(await agent.guest());
      for (const text of [agent.log(), guest]) {
        expect(text).not.toMatch(/ya29\.|access_token|bearer/i);
        for (const f of forms) expect(text).not.toContain(f.slice(0, 16));
      }
      // Nothing the agent keeps on disk holds the key (read while it runs: a file it replaces meanwhile is skipped).
      const entries = (d: string) => {
        try {
          return readdirSync(d, { withFileTypes: true });
        } catch {
          return []; // gone meanwhile
        }
      };
      const files = (d: string): string[] => entries(d).flatMap((e) => (e.isDirectory() ? files(join(d, e.name)) : [join(d, e.name)]));
      const bytesOf = (file: string) => {
        try {
          return statSync(file).isFile() ? readFileSync(file, 'latin1') : '';
        } catch {
          return ''; // gone meanwhile
        }
      };
      for (const file of [...files(agent.stateDir), ...files(agent.dir)]) {
        const bytes = bytesOf(file);
        for (const f of forms) expect(bytes.includes(f.slice(0, 16)), file).toBe(false);
      }
    } finally {
      await stopAllAgents();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('the agent\'s HMAC-SHA256 (sh, od, printf and sha256)', () => {
  /** `jobmatch-agent sign ROLLOUT_ID SERIAL`, the key's base64 on stdin: what the agent compares with jobmatch-config-signature. */
  const sign = (key: Buffer, rolloutId: string, serial: string) => {
    const run = spawnSync('sh', [AGENT_SCRIPT, 'sign', rolloutId, serial], { input: key.toString('base64'), encoding: 'utf8' });
    expect(run.status, run.stderr).toBe(0);
    return run.stdout.trim();
  };
  // Bytes the shell could get wrong: NUL, 0x36 and 0x5c (NUL once xored with ipad/opad), high bytes, % and \.
  const tricky = [0x00, 0x36, 0x5c, 0x80, 0xff, 0x25, 0x5c ^ 0x36, 0x0a, 0x27];
  const key = (n: number) => Buffer.from(Array.from({ length: n }, (_, i) => (i < tricky.length ? tricky[i]! : (i * 151 + 7) & 0xff)));

  it.each([1, 43, 64, 65, 100, 300])('is node\'s createHmac for a key of %i bytes (NUL, 0x36, 0x5c and bytes >= 0x80 included)', (n) => {
    const id = `${testHash(`hmac ${n}`)}#redeploy-0123456789ab`;
    const serial = freshSerial();
    expect(sign(key(n), id, serial)).toBe(signature(key(n), id, serial));
  });

  it('is node\'s createHmac for the operator\'s kind of key (43 symbols) and a plain rollout id', () => {
    const id = testHash('plain');
    expect(sign(Buffer.from(TEST_DEPLOY_KEY), id, '1')).toBe(signature(Buffer.from(TEST_DEPLOY_KEY), id, '1'));
  });
});
