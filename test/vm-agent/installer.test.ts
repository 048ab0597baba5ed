import { spawnSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { VM_AGENT_DIR } from '../support/vm-agent.js';

const source = (name: string) => readFileSync(join(VM_AGENT_DIR, name), 'utf8');

/** A temp root and a systemctl stand-in recording its arguments; `is-active` answers as `active` says. */
function fakeSystem() {
  const dir = mkdtempSync(join(tmpdir(), 'jobmatch-install-'));
  const root = join(dir, 'root');
  mkdirSync(join(dir, 'bin'));
  writeFileSync(join(dir, 'bin', 'systemctl'), [
    '#!/bin/sh',
    `printf '%s\\n' "$*" >>'${dir}/systemctl.calls'`,
    `if [ "$1" = is-active ]; then [ -e '${dir}/active' ]; fi`,
    '',
  ].join('\n'), { mode: 0o755 });
  return {
    dir,
    root,
    install() {
      const run = spawnSync('sh', [join(VM_AGENT_DIR, 'install.sh')], {
        env: { PATH: `${dir}/bin:${process.env.PATH}`, JOBMATCH_ROOT: root }, encoding: 'utf8',
      });
      expect(run.status, run.stderr).toBe(0);
      return run.stdout;
    },
    systemctl(): string[] {
      const file = join(dir, 'systemctl.calls');
      const calls = existsSync(file) ? readFileSync(file, 'utf8').trim().split('\n') : [];
      rmSync(file, { force: true });
      return calls;
    },
    setActive: () => writeFileSync(join(dir, 'active'), ''),
  };
}

describe('the startup-script installer', () => {
  let sys: ReturnType<typeof fakeSystem>;
  beforeEach(() => {
    sys = fakeSystem();
  });
  afterEach(() => rmSync(sys.dir, { recursive: true, force: true }));

  it('is what make-install.sh generates from the agent and its unit (regenerate: sh vm-agent/make-install.sh > vm-agent/install.sh)', () => {
    const run = spawnSync('sh', [join(VM_AGENT_DIR, 'make-install.sh')], { encoding: 'utf8' });
    expect(run.status, run.stderr).toBe(0);
    expect(source('install.sh') === run.stdout, 'vm-agent/install.sh is out of date: run sh vm-agent/make-install.sh > vm-agent/install.sh').toBe(true);
  });

  it('installs the agent, its unit, the state directory and a commented /etc/default, then enables and starts it', () => {
    const out = sys.install();
    const at = (path: string) => join(sys.root, path);
    expect(readFileSync(at('usr/local/bin/jobmatch-agent'), 'utf8')).toBe(source('jobmatch-agent.sh'));
    expect(statSync(at('usr/local/bin/jobmatch-agent')).mode & 0o777).toBe(0o755);
    expect(readFileSync(at('etc/systemd/system/jobmatch-agent.service'), 'utf8')).toBe(source('jobmatch-agent.service'));
    expect(statSync(at('etc/systemd/system/jobmatch-agent.service')).mode & 0o777).toBe(0o644);
    expect(statSync(at('var/lib/jobmatch-agent')).mode & 0o777).toBe(0o700);
    const defaults = readFileSync(at('etc/default/jobmatch-agent'), 'utf8');
    expect(defaults.split('\n').filter((l) => l !== '' && !l.startsWith('#'))).toEqual([]); // only comments: the agent's defaults apply
    expect(defaults).toContain('#JOBMATCH_APP_USER=');
    expect(sys.systemctl()).toEqual(['is-active --quiet jobmatch-agent.service', 'daemon-reload', 'enable --now jobmatch-agent.service']);
    expect(out).toContain('installed /usr/local/bin/jobmatch-agent');
    // The installed copy is the agent: it runs.
    const check = spawnSync('sh', [at('usr/local/bin/jobmatch-agent'), 'validate', 'ref', 'main']);
    expect(check.status).toBe(0);
  });

  it('is idempotent at every boot: unchanged files are kept and the running agent is not restarted; a changed agent is restarted; /etc/default is never overwritten', () => {
    sys.install();
    sys.systemctl();
    sys.setActive();
    const agentPath = join(sys.root, 'usr/local/bin/jobmatch-agent');
    const mtime = statSync(agentPath).mtimeMs;
    const again = sys.install();
    expect(again).toContain('/usr/local/bin/jobmatch-agent is up to date');
    expect(again).toContain('/etc/systemd/system/jobmatch-agent.service is up to date');
    expect(statSync(agentPath).mtimeMs).toBe(mtime);
    expect(sys.systemctl()).toEqual(['is-active --quiet jobmatch-agent.service', 'daemon-reload', 'enable --now jobmatch-agent.service']);

    appendFileSync(agentPath, '# an older version\n');
    appendFileSync(join(sys.root, 'etc/default/jobmatch-agent'), 'JOBMATCH_APP_USER=jobmatch\n');
    sys.install();
    expect(readFileSync(agentPath, 'utf8')).toBe(source('jobmatch-agent.sh'));
    expect(readFileSync(join(sys.root, 'etc/default/jobmatch-agent'), 'utf8')).toContain('\nJOBMATCH_APP_USER=jobmatch\n');
    expect(sys.systemctl()).toEqual([
      'is-active --quiet jobmatch-agent.service', 'daemon-reload', 'enable --now jobmatch-agent.service', 'restart jobmatch-agent.service',
    ]);
  });
});

describe('the systemd unit', () => {
  const unit = source('jobmatch-agent.service');
  const settings = (section: string) => {
    const body = unit.split(/^\[/m).find((s) => s.startsWith(`${section}]`))!;
    return body.split('\n').slice(1).filter((l) => /^\w+=/.test(l)).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)] as const);
  };
  const get = (section: string, key: string) => settings(section).filter(([k]) => k === key).map(([, v]) => v);

  it('starts the installed agent after the network and docker, with its settings file, and always restarts it', () => {
    expect(get('Service', 'ExecStart')).toEqual(['/usr/local/bin/jobmatch-agent']);
    expect(get('Service', 'EnvironmentFile')).toEqual(['-/etc/default/jobmatch-agent']);
    expect(get('Service', 'Restart')).toEqual(['always']);
    expect(Number(get('Service', 'RestartSec')[0])).toBeGreaterThan(0);
    expect(get('Unit', 'After')[0]!.split(' ')).toEqual(expect.arrayContaining(['network-online.target', 'docker.service']));
    expect(get('Unit', 'Wants')[0]!.split(' ')).toContain('network-online.target');
    expect(get('Install', 'WantedBy')).toEqual(['multi-user.target']);
  });

  it('is hardened without taking away what docker, git and chown need', () => {
    expect(get('Service', 'ProtectSystem')).toEqual(['full']); // not strict: the compose directory may be anywhere outside the system's own
    expect(get('Service', 'ProtectHome')).toEqual([]); // a checkout under /home stays writable
    expect(get('Service', 'User')).toEqual([]); // root: chown, the docker socket
    expect(get('Service', 'RestrictAddressFamilies')[0]!.split(' ')).toEqual(expect.arrayContaining(['AF_UNIX', 'AF_INET']));
    for (const key of ['NoNewPrivileges', 'PrivateTmp', 'ProtectKernelTunables', 'ProtectKernelModules', 'ProtectControlGroups', 'RestrictSUIDSGID']) {
      expect(get('Service', key), key).toEqual(['yes']);
    }
  });
});
