import { describe, expect, it } from 'vitest';
import { cli } from '../support/cli.js';

describe('jobmatch-operator demo (npm start)', () => {
  it('runs the controller over the examples and shows every change made behind its back healed, with no command typed', async () => {
    const run = await cli(['demo', '--once', '--resync-seconds', '0.5']);
    expect(run.code, run.stdout + run.stderr).toBe(0);
    expect(run.stdout).toMatch(/jobmatch\/staging\s+Ready ✗ SecretsMissing/);
    expect(run.stdout).toMatch(/jobmatch\/staging\s+Ready ✓ · Synced ✓/);
    for (const healed of ['update Bucket jobmatch-staging-bronze-job-match-v0 (versioning)', 'update Dataset staging_silver (labels.layer)',
      'create IAMBinding secret/POSTGRES_PASSWORD', 'update Secret jobmatch-staging-django-secret-key (versions)']) {
      expect(run.stdout).toContain(`drift healed: ${healed}`);
    }
    expect(run.stdout).toMatch(/Every change was healed with no command typed\.\n$/);
  }, 60_000);
});
