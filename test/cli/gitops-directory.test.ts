/**
 * validate and plan on a GitOps directory: beside the JobMatchEnvironments it holds a kustomization.yaml (often
 * without kind or apiVersion), ConfigMaps, a Namespace … Each of those is skipped with one note on stderr naming
 * file, document and kind; --strict refuses them; a directory with no JobMatchEnvironment at all is still exit 1.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cli } from '../support/cli.js';
import { exampleText, NO_VM } from '../support/manifests.js';
import { useSandbox } from '../support/sandbox.js';

const s = useSandbox();
const dirs: string[] = [];
afterAll(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });

function gitopsDir(withEnvironment = true): string {
  const dir = mkdtempSync(join(tmpdir(), 'jme-gitops-'));
  dirs.push(dir);
  writeFileSync(join(dir, 'kustomization.yaml'), 'resources:\n  - namespace.yaml\n  - staging.yaml\n');
  writeFileSync(join(dir, 'namespace.yaml'), 'apiVersion: v1\nkind: Namespace\nmetadata: {name: jobmatch}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings, namespace: jobmatch}\ndata: {a: b}\n');
  if (withEnvironment) writeFileSync(join(dir, 'staging.yaml'), exampleText('staging', NO_VM)); // no VM: the sandbox has none
  return dir;
}

const notes = (dir: string) => [
  `note: ${join(dir, 'kustomization.yaml')}: document 1 (line 1): skipped a Kustomization (kustomization.yaml): only JobMatchEnvironment documents are read (--strict refuses other kinds)`,
  `note: ${join(dir, 'namespace.yaml')}: document 1 (line 1): skipped a v1 Namespace: only JobMatchEnvironment documents are read (--strict refuses other kinds)`,
  `note: ${join(dir, 'namespace.yaml')}: document 2 (line 4): skipped a v1 ConfigMap: only JobMatchEnvironment documents are read (--strict refuses other kinds)`,
];
const lines = (text: string) => text.split('\n').filter(Boolean);

describe('a GitOps directory', () => {
  it('validate reads its JobMatchEnvironments and skips every other document, with one note each on stderr', async () => {
    const dir = gitopsDir();
    const run = await cli(['validate', '-f', dir]);
    expect(run.code).toBe(0);
    expect(lines(run.stdout)).toEqual([`${join(dir, 'staging.yaml')}: jobmatch/staging (environment staging) is valid`]);
    expect(lines(run.stderr)).toEqual(notes(dir));
  });

  it('plan -f reads it too (the same notes, then the plan)', async () => {
    const dir = gitopsDir();
    const run = await cli(['plan', '-f', dir, '--gcp-endpoint', s.url]);
    expect(run.code).toBe(2); // changes pending in an empty sandbox
    expect(run.stdout).toContain('Plan:');
    expect(lines(run.stderr).filter((l) => l.startsWith('note:'))).toEqual(notes(dir));
  });

  it.each([['validate', []], ['plan', ['--gcp-endpoint', 'http://127.0.0.1:9']]] as const)('%s --strict refuses the other documents (exit 1), naming each', async (command, extra) => {
    const dir = gitopsDir();
    const run = await cli([command, '--strict', '-f', dir, ...extra]);
    expect(run.code).toBe(1);
    expect(run.stdout).toBe('');
    const errors = lines(run.stderr).filter((l) => l.startsWith('error:'));
    expect(errors).toEqual([
      expect.stringMatching(new RegExp(`^error: ${join(dir, 'kustomization.yaml')}:1 \\(document 1\\): kind: document is a Kustomization \\(kustomization.yaml\\); only jobmatch.io/v1alpha1 JobMatchEnvironment is read here`)),
      expect.stringMatching(new RegExp(`^error: ${join(dir, 'namespace.yaml')}:\\d+ \\(document 1\\): kind: document is a v1 Namespace`)),
      expect.stringMatching(new RegExp(`^error: ${join(dir, 'namespace.yaml')}:\\d+ \\(document 2\\): kind: document is a v1 ConfigMap`)),
    ]);
    expect(run.stderr).not.toMatch(/^note:/m);
  });

  it.each([['validate', []], ['plan', ['--gcp-endpoint', 'http://127.0.0.1:9']]] as const)('%s still exits 1 when no document is a JobMatchEnvironment', async (command, extra) => {
    const dir = gitopsDir(false);
    const run = await cli([command, '-f', dir, ...extra]);
    expect(run.code).toBe(1);
    expect(run.stdout).toBe('');
    expect(lines(run.stderr)).toEqual([...notes(dir), `error: no manifests found in ${dir}: no JobMatchEnvironment — fix: pass a file or directory holding at least one JobMatchEnvironment manifest`, '1 error in 1 file; nothing was changed']);
  });
});
