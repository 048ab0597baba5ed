import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { PROJECT, useSandbox } from '../support/sandbox.js';
import { engine } from '../support/engine.js';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exampleText, NO_VM } from '../support/manifests.js';

const s = useSandbox({ faults: { latencyMs: 20 } });
const bin = fileURLToPath(new URL('../../bin/jobmatch-operator.js', import.meta.url));
const staging = join(mkdtempSync(join(tmpdir(), 'crash-')), 'staging.yaml');
writeFileSync(staging, exampleText('staging', NO_VM));

describe('a crash in the middle of apply', () => {
  it('is healed by the next apply: no duplicate resource, no extra secret version', async () => {
    const child = spawn(process.execPath, [bin, 'apply', '-f', staging, '--gcp-endpoint', s.url, '--log-level', 'silent'], { stdio: 'ignore' });
    let writes = 0;
    await new Promise<void>((resolve) => {
      const onWrite = () => {
        if (++writes === 6) {
          s.sandbox.store.events.off('write', onWrite);
          child.kill('SIGKILL');
          resolve();
        }
      };
      s.sandbox.store.events.on('write', onWrite);
    });
    await once(child, 'exit');
    s.sandbox.faults.update({ latencyMs: 0 });
    expect((await engine('plan', s.url, exampleText('staging', NO_VM))).code).toBe(2); // killed half-way: work left

    const apply = await engine('apply', s.url, exampleText('staging', NO_VM));
    expect(apply.code, apply.stdout).toBe(0);
    for (const id of ['postgres-password', 'django-secret-key']) {
      const [versions] = await s.clients.secrets.listSecretVersions({ parent: `projects/${PROJECT}/secrets/jobmatch-staging-${id}` });
      expect(versions).toHaveLength(1);
    }
    const [buckets] = await s.clients.storage.getBuckets();
    expect(buckets.map((b) => b.name)).toEqual(['jobmatch-staging-bronze-job-match-v0']);
    const [secrets] = await s.clients.secrets.listSecrets({ parent: `projects/${PROJECT}` });
    expect(secrets).toHaveLength(4);
    const [datasets] = await s.clients.bigquery.getDatasets();
    expect(datasets).toHaveLength(2);
    expect((await engine('plan', s.url, exampleText('staging', NO_VM))).code).toBe(0);
  }, 30_000);
});
