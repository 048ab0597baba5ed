/**
 * bin/jobmatch-operator.js runs the esbuild bundle of the CLI (scripts/bundle.mjs), built by `npm test`:
 * it must behave as the sources do, and keep every command's dependencies out of the others' way.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { cli } from '../support/cli.js';
import { exampleText } from '../support/manifests.js';

const bin = fileURLToPath(new URL('../../bin/jobmatch-operator.js', import.meta.url));
const bundle = fileURLToPath(new URL('../../dist/bundle/', import.meta.url));

function tempFile(name: string, text: string): string {
  const path = join(mkdtempSync(join(tmpdir(), 'jme-bundle-')), name);
  writeFileSync(path, text);
  return path;
}

const run = (args: string[]) => spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8' });

/** The chunks a bundle file imports statically (what loading it loads), itself included. */
function staticClosure(file: string, seen = new Set<string>()): Set<string> {
  if (seen.has(file)) return seen;
  seen.add(file);
  for (const [, chunk] of readFileSync(join(bundle, file), 'utf8').matchAll(/^(?:import|export)\s[^;]*?from\s*"\.\/([^"]+)";/gms)) staticClosure(chunk!, seen);
  return seen;
}

describe('the bundled CLI', () => {
  it("reports with its precompiled CRD validator exactly what the one compiled at run time does", async () => {
    // Every schema keyword the manifests can break, an unknown field with a guess, and the date-time format.
    const broken = exampleText('staging')
      .replace('environment: staging', 'environment: Staging_X')
      .replace('envMode: staging', 'envMode: weird')
      .replace('projectId: job-match-v0', 'projectId: 12\n    locaton: EU')
      .replace('storageClass: STANDARD', 'storageClass: FAST')
      .replace('versioning: true', 'versioning: "yes"')
      .replace('deleteAfterDays: 365', 'deleteAfterDays: -1')
      .replace('rotationDays: 90', 'rotationDays: 0')
      + 'status:\n  lastReconcileTime: yesterday\n';
    const file = tempFile('broken.yaml', broken);
    const bundled = run(['validate', '-f', file]);
    const sources = await cli(['validate', '-f', file]);
    expect(bundled.status).toBe(1);
    expect(bundled.stderr.split('\n').length).toBeGreaterThan(8);
    expect(bundled.stderr).toContain('lastReconcileTime');
    expect({ code: bundled.status, stdout: bundled.stdout, stderr: bundled.stderr }).toEqual(sources);
  });

  it('fills in the schema defaults as the sources do', async () => {
    const file = tempFile('minimal.yaml', exampleText('prod'));
    for (const args of [['render-env', '-f', file], ['render-env', '-f', file, '--example']]) {
      const bundled = run(args);
      expect({ code: bundled.status, stdout: bundled.stdout, stderr: bundled.stderr }).toEqual(await cli(args));
    }
  });

  it('loads no Google client, no sandbox and no engine before a command that needs them runs', () => {
    const loaded = [...staticClosure('main.js')].map((chunk) => readFileSync(join(bundle, chunk), 'utf8')).join('\n');
    // esbuild heads every module it bundles with a comment naming its file.
    expect(loaded).toMatch(/^\/\/ src\/cli\/main\.ts$/m);
    for (const lazy of ['node_modules/@google-cloud/', 'node_modules/google-gax/', 'node_modules/google-auth-library/', 'src/sandbox/', 'src/engine/', 'src/gcp/', 'node_modules/ajv/dist/core']) {
      expect(loaded, lazy).not.toMatch(new RegExp(`^// ${lazy}`, 'm'));
    }
  });
});
