/** `diff-env A B -f DIR [--observed]`: dev/prod parity of the examples, from the manifests and from what GCP holds. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import { afterAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { DIFF_ENV_JSON_SCHEMA } from '../../src/cli/diff-env-json-schema.js';
import { cli } from '../support/cli.js';
import { engine } from '../support/engine.js';
import { cellText, gfmProblems, gfmTables, parsedTables, ruleTables } from '../support/gfm.js';
import { leaks } from '../support/leaks.js';
import { exampleDoc, exampleText, NO_VM, type Doc } from '../support/manifests.js';
import { useSandbox } from '../support/sandbox.js';

const EXAMPLES = 'manifests/examples';
const validate = new Ajv({ allErrors: true, strict: false }).compile(DIFF_ENV_JSON_SCHEMA);
const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

/** A directory holding these two manifests. */
function manifestsDir(staging: Doc, prod: Doc): string {
  const dir = mkdtempSync(join(tmpdir(), 'diff-env-'));
  dirs.push(dir);
  writeFileSync(join(dir, 'staging.yaml'), stringify(staging));
  writeFileSync(join(dir, 'prod.yaml'), stringify(prod));
  return dir;
}

describe('diff-env on the manifests', () => {
  it('finds staging the shape of prod: only the expected differences, each with its reason, exit 0', async () => {
    const run = await cli(['diff-env', 'staging', 'prod', '-f', EXAMPLES]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain('= behaviour.ENV_MODE: staging "staging", prod "prod" (expected, staging: ENV_MODE is staging here');
    expect(run.stdout).toContain('= app.compose.ref: staging "staging", prod "main" (expected, staging: staging deploys the staging branch, prod deploys main)');
    expect(run.stdout).toMatch(/Same shape, apart from 4 expected differences\.\n$/);
    expect(run.stdout).not.toContain('≠');
  });

  it('lists exactly the real differences of the examples in JSON, valid against the published schema', async () => {
    const run = await cli(['diff-env', 'staging', 'prod', '-f', EXAMPLES, '-o', 'json']);
    expect(run.code).toBe(0);
    const json = JSON.parse(run.stdout);
    expect(validate(json), JSON.stringify(validate.errors)).toBe(true);
    expect(json).toMatchObject({ kind: 'JobMatchParity', same: true, a: 'staging', b: 'prod', source: 'manifests', summary: { differences: 4, expected: 4, unexpected: 0 } });
    expect(json.differences.map((d: { path: string }) => d.path)).toEqual(['behaviour.DEBUG', 'behaviour.ENV_MODE', 'behaviour.LOG_LEVEL', 'app.compose.ref']);
  });

  it('exits 2 on a difference nobody expected, naming its path and both values', async () => {
    const prod = exampleDoc('prod');
    prod.spec.buckets[0].versioning = false;
    prod.spec.datasets[1].labels.tier = 'reports';
    const run = await cli(['diff-env', 'staging', 'prod', '-f', manifestsDir(exampleDoc('staging'), prod)]);
    expect(run.code).toBe(2);
    expect(run.stdout).toContain('≠ buckets[bronze].versioning: staging true, prod false');
    expect(run.stdout).toContain('≠ datasets[gold].labels.tier: staging (none), prod "reports"');
    expect(run.stdout).toMatch(/2 differences \(and 4 expected\): staging and prod do not have the same shape\.\n$/);
  });

  it.each([
    [['diff-env', 'staging', 'qa', '-f', EXAMPLES], /no environment "qa" in the manifests \(spec\.environment\); found: prod, staging/],
    [['diff-env', 'staging', 'staging', '-f', EXAMPLES], /two different environments/],
    [['diff-env', 'staging', 'prod', '-f', EXAMPLES, '-o', 'yaml'], /--output must be text, json or markdown, got "yaml"/],
    [['diff-env', 'staging', 'prod', '-f', 'no/such/dir'], /cannot read this file/],
    [['diff-env', 'staging', 'prod', '-f', EXAMPLES, '--observed', '--gcp-endpoint', 'ftp://x'], /--gcp-endpoint .* must be an http\(s\) base URL/],
  ])('exits 1 with a clear message on bad input: %j', async (args, says) => {
    const run = await cli(args);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(says);
  });

  it('renders a pull-request comment: marker, verdict, a table per group, values escaped for GFM tables', async () => {
    const prod = exampleDoc('prod');
    prod.spec.buckets[0].versioning = false;
    prod.spec.app.config.GUI_TITLE = 'a|b `c`';
    const run = await cli(['diff-env', 'staging', 'prod', '-f', manifestsDir(exampleDoc('staging'), prod), '-o', 'markdown']);
    expect(run.code).toBe(2);
    expect(run.stdout.startsWith('<!-- jobmatch-operator:diff-env -->\n')).toBe(true);
    expect(run.stdout).toContain('**2 differences** (and 4 expected): not the same shape.');
    expect(run.stdout).toContain('| `buckets[bronze].versioning` | `true` | `false` |  |');
    expect(run.stdout).toContain('| `app.config.GUI_TITLE` | — | `` a\\|b `c` `` |  |');
    expect(run.stdout).toContain('<details open>\n<summary>buckets: 1 difference, 0 expected</summary>');
    expect(run.stdout).toContain('<details>\n<summary>behaviour: 0 differences, 3 expected</summary>');
    // Well-formed GFM, read alike by the spec's rules and by an independent parser (markdown-it); a reader sees the value exactly.
    expect(gfmProblems(run.stdout)).toEqual([]);
    expect(parsedTables(run.stdout)).toEqual(ruleTables(run.stdout));
    const rows = gfmTables(run.stdout).tables.flatMap((t) => t.rows.map((r) => r.map(cellText)));
    expect(rows).toContainEqual(['app.config.GUI_TITLE', '—', 'a|b `c`', '']);
  });

  it('says what went wrong in JSON too, valid against the schema', async () => {
    const run = await cli(['diff-env', 'staging', 'qa', '-f', EXAMPLES, '-o', 'json']);
    expect(run.code).toBe(1);
    const json = JSON.parse(run.stdout);
    expect(validate(json), JSON.stringify(validate.errors)).toBe(true);
    expect(json.error.message).toMatch(/no environment "qa"/);
  });
});

describe('diff-env --observed', () => {
  const s = useSandbox();
  const staging = exampleDoc('staging', NO_VM);
  const prod = exampleDoc('prod', NO_VM);
  const secretValues = () => Object.values(s.sandbox.store.data.projects).flatMap((p) => Object.values(p.secrets))
    .flatMap((x) => x.versions.map((v) => Buffer.from(v.data, 'base64').toString()));

  it('catches a bucket setting changed behind the operator\'s back in one environment, though the manifests agree', async () => {
    expect((await engine('apply', s.url, exampleText('staging', NO_VM))).code).toBe(0);
    expect((await engine('apply', s.url, exampleText('prod', NO_VM))).code).toBe(0);
    const dir = manifestsDir(staging, prod);
    const args = ['diff-env', 'staging', 'prod', '-f', dir, '--observed', '--gcp-endpoint', s.url];
    const before = await cli(args);
    expect(before.code, before.stdout + before.stderr).toBe(0);
    expect(before.stdout).toContain('what GCP holds for each');

    await s.clients.storage.bucket(prod.spec.buckets[0].name).setMetadata({ versioning: { enabled: false } });
    const after = await cli([...args, '-o', 'json']);
    expect(after.code, after.stderr).toBe(2);
    const json = JSON.parse(after.stdout);
    expect(validate(json), JSON.stringify(validate.errors)).toBe(true);
    expect(json.differences.filter((d: { expected?: unknown }) => !d.expected)).toEqual([
      { group: 'buckets', path: 'buckets[bronze].versioning', a: true, b: false },
    ]);
    // The manifests still agree: only --observed sees it.
    expect((await cli(['diff-env', 'staging', 'prod', '-f', dir])).code).toBe(0);

    const text = await cli(args);
    const values = secretValues();
    expect(values.length).toBeGreaterThan(0);
    expect(leaks(values, before.stdout + before.stderr + after.stdout + after.stderr + text.stdout + text.stderr)).toEqual([]);
  });

  it('lists a resource GCP does not hold for one side', async () => {
    await s.clients.bigquery.dataset(staging.spec.datasets[1].datasetId).delete({ force: true });
    const run = await cli(['diff-env', 'staging', 'prod', '-f', manifestsDir(staging, prod), '--observed', '--gcp-endpoint', s.url]);
    expect(run.code).toBe(2);
    expect(run.stdout).toContain('≠ datasets[gold]: staging (none), prod "declared"');
  });

  it('exits 1 when GCP cannot be reached', async () => {
    const run = await cli(['diff-env', 'staging', 'prod', '-f', EXAMPLES, '--observed', '--gcp-endpoint', 'http://127.0.0.1:9', '--timeout', '20']);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/cannot reach http:\/\/127\.0\.0\.1:9/);
  });
});
