import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { renderEnvFile } from '../../src/api/env-file.js';
import { loadManifests } from '../../src/api/manifests.js';
import { MAX_MANIFEST_BYTES } from '../../src/api/yaml-documents.js';
import { cli } from '../support/cli.js';
import { exampleText, mutated } from '../support/manifests.js';

const examples = fileURLToPath(new URL('../../manifests/examples/', import.meta.url));
const staging = join(examples, 'staging.yaml');
const prod = join(examples, 'prod.yaml');

function tempFile(name: string, text: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'jme-cli-'));
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

describe('validate', () => {
  it('exits 0 on the examples and says so on stdout', async () => {
    const run = await cli(['validate', '-f', staging, prod]);
    expect(run).toMatchObject({ code: 0, stderr: '' });
    expect(run.stdout).toMatch(/jobmatch\/staging \(environment staging\) is valid/);
    expect(run.stdout).toMatch(/jobmatch\/prod \(environment prod\) is valid/);
  });

  it('takes -f repeatedly, a directory, and stdin', async () => {
    expect((await cli(['validate', '-f', staging, '-f', prod])).code).toBe(0);
    expect((await cli(['validate', '-f', examples])).stdout.split('\n').filter(Boolean)).toHaveLength(2);
    const run = await cli(['validate', '-f', '-'], Readable.from([exampleText('staging')]));
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^-: /);
  });

  it('exits 1 listing every error on stderr, with file, line, path and fix, and writes nothing', async () => {
    const bad = tempFile('bad.yaml', mutated((d) => { d.spec.buckets[0].name = 'UPPER'; d.spec.app.config.DB_PASSWORD = 'x'; }));
    const dir = join(bad, '..');
    const run = await cli(['validate', '-f', bad]);
    expect(run.code).toBe(1);
    expect(run.stdout).toBe('');
    expect(run.stderr).toContain(`error: ${bad}:13 (document 1): spec.buckets[0].name: "UPPER" is not a valid bucket name`);
    expect(run.stderr).toContain('spec.app.config.DB_PASSWORD: DB_PASSWORD looks like a secret; secrets never go into the .env — fix: declare it in spec.secrets');
    expect(run.stderr).toContain('spec.iam[5].resource: bucket/jobmatch-staging-bronze-job-match-v0 is not declared'); // the renamed bucket's binding
    expect(run.stderr).toMatch(/3 errors in 1 file; nothing was changed/);
    expect(readdirSync(dir)).toEqual(['bad.yaml']);
  });

  it('reports a missing file', async () => {
    const run = await cli(['validate', '-f', '/nonexistent/x.yaml']);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/\/nonexistent\/x.yaml: cannot read this file/);
  });

  it('refuses a 50 MB file without reading it', async () => {
    const huge = tempFile('huge.yaml', `a: "${'x'.repeat(50 * 1024 * 1024)}"\n`);
    const run = await cli(['validate', '-f', huge]);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/input is 52428806 bytes; manifests are limited to/);
  });

  it('stops reading a 50 MB stdin once past the limit', async () => {
    let served = 0;
    const chunk = Buffer.alloc(1024 * 1024, 'x');
    const stdin = Readable.from((function* () {
      for (let i = 0; i < 50; i++) {
        served++;
        yield chunk;
      }
    })());
    const run = await cli(['validate', '-f', '-'], stdin);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/-: input is more than \d+ bytes/);
    expect(served).toBeLessThanOrEqual(MAX_MANIFEST_BYTES / chunk.length + 2);
  });

  it('skips a document of another kind with a note naming it, and exits 1 when nothing else is there', async () => {
    const run = await cli(['validate', '-f', '-'], Readable.from(['apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n']));
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^note: -: document 1 \(line 1\): skipped a v1 ConfigMap/m);
    expect(run.stderr).toMatch(/no manifests found in -: no JobMatchEnvironment/);
  });

  it('rejects a document of another kind by name with --strict', async () => {
    const run = await cli(['validate', '--strict', '-f', '-'], Readable.from(['apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n']));
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/document is a v1 ConfigMap; only jobmatch.io\/v1alpha1 JobMatchEnvironment is read here/);
  });
});

describe('render-env', () => {
  it('prints the .env of the environment', async () => {
    const run = await cli(['render-env', '-f', staging]);
    expect(run.code).toBe(0);
    expect(run.stdout).toBe(renderEnvFile(loadManifests([{ file: 's', text: exampleText('staging') }]).environments[0]!.spec));
  });

  it('prints the commented example with --example', async () => {
    const run = await cli(['render-env', '-f', staging, '--example']);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('gcloud secrets versions add jobmatch-staging-llm-api-key');
  });

  it('asks which environment when the input holds several, and renders the one named', async () => {
    const both = await cli(['render-env', '-f', staging, prod]);
    expect(both.code).toBe(1);
    expect(both.stderr).toMatch(/hold 2 environments \(staging, prod\).*--environment/);
    const chosen = await cli(['render-env', '-f', staging, prod, '-e', 'prod']);
    expect(chosen.code).toBe(0);
    expect(chosen.stdout).toContain('ENV_MODE=prod');
    expect((await cli(['render-env', '-f', staging, '-e', 'qa'])).code).toBe(1);
  });

  it('exits 1 and prints nothing on stdout for an invalid manifest', async () => {
    const run = await cli(['render-env', '-f', '-'], Readable.from([mutated((d) => (d.spec.envMode = 'production'))]));
    expect(run).toMatchObject({ code: 1, stdout: '' });
  });
});

describe('the command line', () => {
  it.each([['validate'], ['render-env'], ['plan'], ['apply'], ['sandbox'], ['demo'], []])('has --help for %s', async (...command) => {
    const run = await cli([...command.filter(Boolean), '--help']);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/Usage: jobmatch-operator/);
  });

  it('prints its version and the commit it was built from', async () => {
    const run = await cli(['--version']);
    expect(run).toMatchObject({ code: 0 });
    const head = execFileSync('git', ['rev-parse', 'HEAD'], { encoding: 'utf8' }).trim();
    expect(run.stdout.trim()).toMatch(new RegExp(`^\\d+\\.\\d+\\.\\d+ \\(commit ${head.slice(0, 12)}(-dirty)?\\)$`));
  });

  it('exits 1 on an unknown command or a missing -f', async () => {
    expect((await cli(['frobnicate'])).code).toBe(1);
    const run = await cli(['validate']);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/-f, --filename/);
  });

  it('runs as the installed binary', () => {
    const bin = fileURLToPath(new URL('../../bin/jobmatch-operator.js', import.meta.url));
    const ok = spawnSync(process.execPath, [bin, 'validate', '-f', staging, prod], { encoding: 'utf8' });
    expect(ok.status).toBe(0);
    const bad = spawnSync(process.execPath, [bin, 'validate', '-f', '-'], { input: 'kind: Pod\n', encoding: 'utf8' });
    expect(bad.status).toBe(1);
    expect(bad.stderr).toMatch(/kind/);
    expect(execFileSync(process.execPath, [bin, 'render-env', '-f', staging], { encoding: 'utf8' })).toContain('GCS_BUCKET=');
  });
});

describe('plan and apply options', () => {
  const staging = fileURLToPath(new URL('../../manifests/examples/staging.yaml', import.meta.url));
  it.each([
    [['--gcp-endpoint', 'nonsense'], /--gcp-endpoint \(or JOBMATCH_GCP_ENDPOINT\) must be an http\(s\) base URL such as http:\/\/127.0.0.1:4443, got "nonsense"/],
    [['--gcp-endpoint', 'ftp://x'], /--gcp-endpoint .* must be an http\(s\) base URL/],
    [['--log-level', 'loud'], /--log-level must be one of fatal, error, warn, info, debug, trace, silent, got "loud"/],
    [['--output', 'yaml'], /--output must be text(, json or markdown| or json), got "yaml"/],
  ])('refuses %j with a message naming the flag, before any GCP call', async (flags, message) => {
    for (const mode of ['plan', 'apply']) {
      const run = await cli([mode, '-f', staging, ...flags]);
      expect(run.code).toBe(1);
      expect(run.stdout).toBe('');
      expect(run.stderr).toMatch(message);
    }
  });

  it('takes the endpoint from JOBMATCH_GCP_ENDPOINT, checked the same way', async () => {
    const run = await cli(['plan', '-f', staging], undefined, { JOBMATCH_GCP_ENDPOINT: 'localhost:4443' });
    expect(run.stderr).toMatch(/got "localhost:4443"/);
  });
});
