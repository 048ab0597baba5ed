import { existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROJECT, ZONE, useSandbox } from '../support/sandbox.js';
import {
  AGENT_KEYS, agentMetadata, deployKeySeed, pushAgentMetadata, rolloutIdOf, startAgent, startHealthServer, stopAllAgents, vmServiceAccount,
  type Agent, type HealthServer,
} from '../support/vm-agent.js';

const SA = vmServiceAccount('vm-agent-hostile');
const s = useSandbox({
  seed: { projects: [{
    projectId: PROJECT, projectNumber: '123456789012',
    instances: ['vm-literal', 'vm-refused'].map((name) => ({ name, zone: ZONE, serviceAccount: SA, metadata: { 'enable-guest-attributes': 'TRUE' } })),
    secrets: [deployKeySeed({ readers: [SA] })],
  }] },
}, { compute: true });
const where = (instance: string) => ({ project: PROJECT, zone: ZONE, instance });
const metadataUrl = (instance: string) => `${s.sandbox.metadataUrl(PROJECT, ZONE, instance)}/computeMetadata/v1`;
// Were anything evaluated, these would show it: a file created, or the reboot stand-in called.
const pwned = join(tmpdir(), `jobmatch-agent-pwned-${process.pid}`);

afterAll(async () => {
  await stopAllAgents();
  rmSync(pwned, { force: true });
});

describe('hostile values in the metadata the agent applies', () => {
  let health: HealthServer;
  afterAll(() => health?.close());

  it('writes .env byte for byte and passes the health URL to curl as data: nothing is evaluated, reboot is never run', async () => {
    health = await startHealthServer(200);
    const agent = await startAgent({ metadataUrl: metadataUrl('vm-literal') });
    const env = [
      `A=$(reboot)`, `B=\`reboot\``, `C=; rm -rf / ; touch ${pwned}`, `D="unbalanced`, `E='single'"double"`, 'F=${HOME}\\n$PATH',
      `G=$(touch ${pwned})`, '-H=--upload-pack=reboot', 'I=line\r', '|| reboot &', '',
    ].join('\n');
    const healthUrl = `${health.url}?check=$(reboot)&x=\`touch%20${pwned}\`;reboot`;
    const md = agentMetadata({ env, directory: agent.dir, healthUrl, healthTimeout: 5 });
    const hash = rolloutIdOf(md);
    await pushAgentMetadata(s.compute, where('vm-literal'), md);
    await agent.waitFor(({ guest }) => guest['applied-hash'] === hash);

    expect(readFileSync(join(agent.dir, '.env'), 'utf8')).toBe(env);
    expect(agent.calls().find((c) => c.command === 'up')!.env).toBe(env);
    expect(health.requests.at(-1)).toBe(`/healthz?check=$(reboot)&x=\`touch%20${pwned}\`;reboot`);
    expect(agent.calls().filter((c) => c.tool === 'reboot')).toEqual([]);
    expect(existsSync(pwned)).toBe(false);
    expect(agent.log()).not.toContain('rm -rf'); // and the .env is not printed
  });

  describe('refused before any git or docker call', () => {
    let agent: Agent;
    let symlinkDir: string;
    beforeAll(async () => {
      agent = await startAgent({ metadataUrl: metadataUrl('vm-refused') });
      symlinkDir = mkdtempSync(join(tmpdir(), 'jobmatch-agent-link-'));
      symlinkSync('/etc', join(symlinkDir, 'etc-link'));
    });
    afterAll(() => rmSync(symlinkDir, { recursive: true, force: true }));

    const cases: { what: string; set: (dir: string, links: string) => Record<string, string>; remove?: string[]; message: string | RegExp }[] = [
      { what: 'a ref that is a git option', set: () => ({ 'jobmatch-compose-ref': `--upload-pack=touch ${pwned}` }), message: 'refused jobmatch-compose-ref: it has a character outside [A-Za-z0-9._/-]' },
      { what: 'a ref starting with "-"', set: () => ({ 'jobmatch-compose-ref': '-main' }), message: 'refused jobmatch-compose-ref: it must start with a letter or a digit' },
      { what: 'a ref with a command substitution', set: () => ({ 'jobmatch-compose-ref': '$(reboot)' }), message: /^refused jobmatch-compose-ref: / },
      { what: 'a ref with ";"', set: () => ({ 'jobmatch-compose-ref': 'a;reboot' }), message: /^refused jobmatch-compose-ref: / },
      { what: 'a ref with a newline', set: () => ({ 'jobmatch-compose-ref': 'main\n--upload-pack=reboot' }), message: /^refused jobmatch-compose-ref: / },
      { what: 'a ref with ".."', set: () => ({ 'jobmatch-compose-ref': 'main..HEAD' }), message: 'refused jobmatch-compose-ref: it contains ".."' },
      { what: 'a compose file climbing out', set: () => ({ 'jobmatch-compose-file': '../../etc/passwd' }), message: 'refused jobmatch-compose-file: it has a "." or ".." component' },
      { what: 'an absolute compose file', set: () => ({ 'jobmatch-compose-file': '/etc/shadow' }), message: 'refused jobmatch-compose-file: it must be relative to the compose directory' },
      { what: 'the directory /', set: () => ({ 'jobmatch-compose-directory': '/' }), message: 'refused jobmatch-compose-directory: it must not be /' },
      { what: 'the directory /etc', set: () => ({ 'jobmatch-compose-directory': '/etc' }), message: 'refused jobmatch-compose-directory: it is /etc or under it' },
      { what: 'a directory under /usr', set: () => ({ 'jobmatch-compose-directory': '/usr/lib/x' }), message: 'refused jobmatch-compose-directory: it is /usr or under it' },
      { what: '//etc', set: () => ({ 'jobmatch-compose-directory': '//etc' }), message: /^refused jobmatch-compose-directory: it has an empty component/ },
      { what: 'a directory with ".."', set: () => ({ 'jobmatch-compose-directory': '/opt/../etc' }), message: 'refused jobmatch-compose-directory: it has a "." or ".." component' },
      { what: 'a relative directory', set: () => ({ 'jobmatch-compose-directory': 'opt/app' }), message: 'refused jobmatch-compose-directory: it must be an absolute path' },
      { what: 'a symbolic link to /etc', set: (_, links) => ({ 'jobmatch-compose-directory': join(links, 'etc-link') }), message: 'refused jobmatch-compose-directory: it resolves to /etc, a system directory' },
      { what: 'a directory that does not exist', set: (dir) => ({ 'jobmatch-compose-directory': `${dir}-missing` }), message: /^compose directory \/.*-missing does not exist/ },
      { what: 'a health URL that is not http', set: () => ({ 'jobmatch-health-url': 'file:///etc/shadow' }), message: 'refused jobmatch-health-url: it must start with http:// or https://' },
      { what: 'a health URL with a newline', set: () => ({ 'jobmatch-health-url': 'http://127.0.0.1/\nreboot' }), message: 'refused jobmatch-health-url: it has a blank, a control or a non-ASCII character' },
      { what: 'a health timeout that is a command', set: () => ({ 'jobmatch-health-timeout': '$(reboot)' }), message: 'refused jobmatch-health-timeout: it must be a whole number of seconds' },
      { what: 'a health timeout out of range', set: () => ({ 'jobmatch-health-timeout': '0' }), message: 'refused jobmatch-health-timeout: it must be between 1 and 3600' },
      { what: 'no jobmatch-env', set: () => ({}), remove: ['jobmatch-env'], message: 'metadata key jobmatch-env is missing' },
    ];

    it.each(cases)('refuses $what', async ({ what, set, remove, message }) => {
      // Hashed and signed as the operator would: only the agent's own checks stand between these values and root.
      const items = agentMetadata({ env: 'SAFE=1\n', directory: agent.dir, set: set(agent.dir, symlinkDir), omit: remove });
      const hash = rolloutIdOf(items);
      // Every case on its own: the previous case's keys go.
      const stale = AGENT_KEYS.filter((k) => !(k in items));
      await pushAgentMetadata(s.compute, where('vm-refused'), items, stale);
      await agent.waitFor(({ guest }) => guest['attempted-hash'] === hash && guest.status === 'failed', { what: `${what} refused` });
      const guest = await agent.guest();
      if (typeof message === 'string') expect(guest.message).toBe(message);
      else expect(guest.message).toMatch(message);
      expect(guest.message).not.toMatch(/upload-pack|reboot/);
      expect(guest['applied-hash']).toBeUndefined();
      expect(agent.calls()).toEqual([]); // no git, no docker, no reboot
      expect(existsSync(join(agent.dir, '.env'))).toBe(false);
      expect(existsSync(pwned)).toBe(false);
    });

    it('refuses a malformed jobmatch-config-hash without writing it anywhere', async () => {
      await pushAgentMetadata(s.compute, where('vm-refused'), agentMetadata({ hash: 'sha256:$(reboot)', env: 'SAFE=1\n', directory: agent.dir }), AGENT_KEYS);
      await agent.waitFor(({ guest }) => guest.message?.startsWith('refused jobmatch-config-hash'));
      const guest = await agent.guest();
      expect(guest).toMatchObject({ status: 'failed', message: 'refused jobmatch-config-hash: it has a character outside [A-Za-z0-9:._#-]' });
      expect(guest['attempted-hash']).not.toContain('reboot');
      expect(agent.calls()).toEqual([]);
    });
  });
});
