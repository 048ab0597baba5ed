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
    expect(defaults).toContain('#JOBMATCH_ENVIRONMENT=');
    expect(defaults).toContain('#JOBMATCH_COMPOSE_DIRECTORIES=');
    expect(existsSync(at('etc/systemd/system/jobmatch-agent.service.d/compose-directories.conf'))).toBe(false); // the unit's own /opt/jobmatch
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

describe('the compose directories the unit lets the agent write (JOBMATCH_COMPOSE_DIRECTORIES)', () => {
  let sys: ReturnType<typeof fakeSystem>;
  beforeEach(() => {
    sys = fakeSystem();
  });
  afterEach(() => rmSync(sys.dir, { recursive: true, force: true }));
  const dropIn = () => join(sys.root, 'etc/systemd/system/jobmatch-agent.service.d/compose-directories.conf');
  const setting = (line: string) => {
    mkdirSync(join(sys.root, 'etc/default'), { recursive: true });
    writeFileSync(join(sys.root, 'etc/default/jobmatch-agent'), `JOBMATCH_APP_USER=jobmatch\n${line}\n`);
  };

  it('become ReadWritePaths in a drop-in written from the setting; a change restarts the agent; the drop-in goes with the setting', () => {
    setting('JOBMATCH_COMPOSE_DIRECTORIES="/srv/app /home/jobmatch/app"');
    sys.setActive();
    const out = sys.install();
    expect(readFileSync(dropIn(), 'utf8').split('\n').filter((l) => !l.startsWith('#') && l !== '')).toEqual([
      '[Service]', 'ReadWritePaths=-/srv/app', 'ReadWritePaths=-/home/jobmatch/app',
    ]);
    expect(out).toContain('installed /etc/systemd/system/jobmatch-agent.service.d/compose-directories.conf');
    expect(sys.systemctl()).toContain('restart jobmatch-agent.service');

    sys.install(); // the same setting: nothing changes, no restart
    expect(sys.systemctl()).not.toContain('restart jobmatch-agent.service');

    setting('# JOBMATCH_COMPOSE_DIRECTORIES unset');
    expect(sys.install()).toContain('removed /etc/systemd/system/jobmatch-agent.service.d/compose-directories.conf');
    expect(existsSync(dropIn())).toBe(false);
    expect(sys.systemctl()).toContain('restart jobmatch-agent.service');
  });

  it('skips, with a warning, an entry the agent would refuse too (relative, a system directory, odd characters)', () => {
    setting("JOBMATCH_COMPOSE_DIRECTORIES='/srv/ok relative/dir /etc /opt/a;b /opt/../etc'");
    const out = sys.install();
    expect(readFileSync(dropIn(), 'utf8')).toContain('ReadWritePaths=-/srv/ok\n');
    expect(readFileSync(dropIn(), 'utf8').match(/^ReadWritePaths=/gm)).toHaveLength(1);
    for (const bad of ['relative/dir', '/etc', '/opt/a;b', '/opt/../etc']) expect(out).toContain(`warning: JOBMATCH_COMPOSE_DIRECTORIES: ${bad} skipped`);
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

  it('is hardened without taking away what docker, git and runuser need: the whole file system read-only but its state and the compose directories', () => {
    expect(get('Service', 'ProtectSystem')).toEqual(['strict']);
    expect(get('Service', 'StateDirectory')).toEqual(['jobmatch-agent']); // /var/lib/jobmatch-agent, writable under strict
    expect(get('Service', 'StateDirectoryMode')).toEqual(['0700']);
    const writable = get('Service', 'ReadWritePaths').flatMap((v) => v.split(' '));
    expect(writable).toContain('-/opt/jobmatch'); // the default compose directory; others through the installer's drop-in
    expect(writable.every((p) => p.startsWith('-/'))).toBe(true); // a path that does not exist (yet) does not stop the agent
    expect(get('Service', 'ProtectHome')).toEqual(['read-only']); // the app user's ~/.ssh readable by git, nothing writable but ReadWritePaths
    expect(get('Service', 'User')).toEqual([]); // root: the docker socket, runuser to the app user
    expect(get('Service', 'RestrictAddressFamilies')[0]!.split(' ')).toEqual(expect.arrayContaining(['AF_UNIX', 'AF_INET']));
    for (const key of ['NoNewPrivileges', 'PrivateTmp', 'PrivateDevices', 'ProtectKernelTunables', 'ProtectKernelModules', 'ProtectControlGroups', 'RestrictSUIDSGID']) {
      expect(get('Service', key), key).toEqual(['yes']);
    }
    expect(get('Service', 'UMask')).toEqual(['0077']);
  });
});
