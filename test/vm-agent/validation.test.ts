import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { COMPOSE_DIRECTORY_RULES, COMPOSE_FILE_RULES, COMPOSE_REF_RULES, brokenRule } from '../../src/api/naming.js';
import { AGENT_SCRIPT } from '../support/vm-agent.js';

/** `jobmatch-agent validate KIND VALUE`: the same checks a rollout makes before any git or docker call. */
function validate(kind: 'ref' | 'file' | 'directory', value: string): { ok: boolean; reason: string } {
  const run = spawnSync('sh', [AGENT_SCRIPT, 'validate', kind, value], { encoding: 'utf8' });
  if (run.status !== 0 && run.status !== 1) throw new Error(`validate exited ${run.status}: ${run.stderr}`);
  return { ok: run.status === 0, reason: run.stderr.trim() };
}

const OPERATOR_RULES = { ref: [COMPOSE_REF_RULES, 255], file: [COMPOSE_FILE_RULES, 255], directory: [COMPOSE_DIRECTORY_RULES, 1024] } as const;

/** The operator's verdict on the same value: its rules (src/api/naming.ts) plus the CRD's length and absolute-path checks. */
function operatorAccepts(kind: 'ref' | 'file' | 'directory', value: string): boolean {
  const [rules, maxLength] = OPERATOR_RULES[kind];
  if (value === '' || value.length > maxLength || /\s/.test(value)) return false;
  if (kind === 'directory' && !value.startsWith('/')) return false;
  return brokenRule(value, rules) === undefined;
}

// The rules the operator also checks in the manifest: mirror them exactly.
const cases = {
  ref: {
    accepted: ['main', 'v1.2.3', 'release/2026-01', 'feature/x_y', '0123456789abcdef0123456789abcdef01234567', 'a'.repeat(255), 'HEAD'],
    refused: {
      '': 'is empty',
      ['a'.repeat(256)]: 'is longer than 255 characters',
      '--upload-pack=touch /tmp/pwned': 'has a character outside [A-Za-z0-9._/-]',
      '-main': 'must start with a letter or a digit',
      '.hidden': 'must start with a letter or a digit',
      '/main': 'must start with a letter or a digit',
      '$(reboot)': 'has a character outside [A-Za-z0-9._/-]',
      '`reboot`': 'has a character outside [A-Za-z0-9._/-]',
      'a;b': 'has a character outside [A-Za-z0-9._/-]',
      'main\n': 'has a character outside [A-Za-z0-9._/-]',
      'main branch': 'has a character outside [A-Za-z0-9._/-]',
      'main@{1}': 'has a character outside [A-Za-z0-9._/-]',
      'main..dev': 'contains ".."',
      'a//b': 'contains "//"',
      'main/': 'ends with "/", "." or ".lock"',
      'main.': 'ends with "/", "." or ".lock"',
      'main.lock': 'ends with "/", "." or ".lock"',
      'feature/.x': 'has a component starting with "."',
    },
  },
  file: {
    accepted: ['docker-compose.yml', 'deploy/compose.prod.yaml', '.compose.yml', 'deploy/.hidden.yml', '-odd.yml', 'a'.repeat(255)],
    refused: {
      '': 'is empty',
      ['a'.repeat(256)]: 'is longer than 255 characters',
      '../../etc/passwd': 'has a "." or ".." component',
      'deploy/../../x.yml': 'has a "." or ".." component',
      '..': 'has a "." or ".." component',
      './compose.yml': 'has a "." or ".." component',
      'deploy/./x.yml': 'has a "." or ".." component',
      '/etc/shadow': 'must be relative to the compose directory',
      'deploy//x.yml': 'has an empty component',
      'deploy/': 'has an empty component',
      'compose.yml;reboot': 'has a character outside [A-Za-z0-9._/-]',
      'compose $(reboot).yml': 'has a character outside [A-Za-z0-9._/-]',
    },
  },
  directory: {
    accepted: ['/opt/jobmatch', '/srv/app', '/home/app/jobmatch', '/var/lib/jobmatch', '/tmp/x', '/usrlocal', '/etcetera/app', `/${'a'.repeat(1023)}`],
    refused: {
      '': 'is empty',
      [`/${'a'.repeat(1024)}`]: 'is longer than 1024 characters',
      '/': 'must not be /',
      'opt/app': 'must be an absolute path',
      '/etc': 'is /etc or under it',
      '/etc/app': 'is /etc or under it',
      '/usr/lib/x': 'is /usr or under it',
      '/usr': 'is /usr or under it',
      '/root/app': 'is /root or under it',
      '/boot': 'is /boot or under it',
      '/proc/1': 'is /proc or under it',
      '/sys/x': 'is /sys or under it',
      '/dev/shm/x': 'is /dev or under it',
      '/run/app': 'is /run or under it',
      '/bin': 'is /bin or under it',
      '/sbin': 'is /sbin or under it',
      '/lib/x': 'is /lib or under it',
      '/lib32': 'is /lib32 or under it',
      '/lib64/x': 'is /lib64 or under it',
      '/libx32': 'is /libx32 or under it',
      '//etc': 'has an empty component ("//" or a trailing "/")',
      '/etc/': 'has an empty component ("//" or a trailing "/")',
      '/opt/app/': 'has an empty component ("//" or a trailing "/")',
      '/opt/../etc': 'has a "." or ".." component',
      '/opt/./app': 'has a "." or ".." component',
      '/opt/app/..': 'has a "." or ".." component',
      '/opt/my app': 'has a character outside [A-Za-z0-9._/-]',
      '/opt/$(reboot)': 'has a character outside [A-Za-z0-9._/-]',
    },
  },
} as const;

describe('what the agent accepts from metadata', () => {
  it('is what the operator accepts in a manifest, value for value', () => {
    const disagreements = Object.entries(cases).flatMap(([kind, { accepted, refused }]) =>
      [...accepted, ...Object.keys(refused)].flatMap((value) => {
        const agent = validate(kind as keyof typeof cases, value).ok;
        const operator = operatorAccepts(kind as keyof typeof cases, value);
        return agent === operator ? [] : [`${kind} ${JSON.stringify(value)}: agent ${agent ? 'accepts' : 'refuses'}, operator ${operator ? 'accepts' : 'refuses'}`];
      }));
    expect(disagreements).toEqual([]);
  });

  for (const [kind, { accepted, refused }] of Object.entries(cases) as [keyof typeof cases, (typeof cases)[keyof typeof cases]][]) {
    describe(`jobmatch-compose-${kind}`, () => {
      it.each(accepted.map((v) => [v.length > 40 ? `${v.slice(0, 12)}… (${v.length} characters)` : v, v]))('accepts %j', (_, value) => {
        expect(validate(kind, value)).toEqual({ ok: true, reason: '' });
      });
      it.each(Object.entries(refused).map(([v, why]) => [v.length > 40 ? `${v.slice(0, 12)}… (${v.length} characters)` : v, v, why]))('refuses %j', (_, value, why) => {
        expect(validate(kind, value)).toEqual({ ok: false, reason: `${kind} ${why}` });
      });
    });
  }
});
