import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCommand } from '../support/run-command.js';
import { VM_AGENT_DIR, recordingStandIns } from '../support/vm-agent.js';

const INSTALL_HINT = 'shellcheck is needed to check the VM agent\'s scripts: apt-get install shellcheck (Debian/Ubuntu; npm test installs it through scripts/test-prerequisites.sh)';

/** shellcheck -s sh over files: fails with the install hint when shellcheck is missing, never skips. */
async function shellcheck(files: string[]) {
  const run = await runCommand('shellcheck', ['-s', 'sh', ...files]);
  if (!run) throw new Error(INSTALL_HINT);
  return run;
}

describe('the VM agent\'s shell scripts', () => {
  it.each(['jobmatch-agent.sh', 'install.sh', 'make-install.sh'])('%s is POSIX sh that shellcheck -s sh finds nothing in', async (name) => {
    const run = await shellcheck([join(VM_AGENT_DIR, name)]);
    expect(run.stdout + run.stderr).toBe('');
    expect(run.code).toBe(0);
  });

  it('so are the demo\'s stand-ins and agent launcher (vm-agent/demo/)', async () => {
    const run = await shellcheck(['docker', 'git', 'run-agent'].map((n) => join(VM_AGENT_DIR, 'demo', n)));
    expect(run.stdout + run.stderr).toBe('');
    expect(run.code).toBe(0);
  });

  it('so are the docker, git and reboot stand-ins the tests put on its PATH', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'jobmatch-standins-'));
    try {
      const standIns = recordingStandIns(dir);
      const run = await shellcheck(['docker', 'git', 'reboot'].map((n) => join(standIns.binDir, n)));
      expect(run.stdout + run.stderr).toBe('');
      expect(run.code).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
