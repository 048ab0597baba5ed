import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { cli } from '../support/cli.js';

/** Loading fails before any GCP call, so plan and apply point at a port nothing listens on. */
const COMMANDS: [string, string[]][] = [
  ['validate', []],
  ['render-env', []],
  ['plan', ['--gcp-endpoint', 'http://127.0.0.1:9']],
  ['apply', ['--gcp-endpoint', 'http://127.0.0.1:9']],
];

function tempDir(files: Record<string, string | Buffer> = {}): string {
  const dir = mkdtempSync(join(tmpdir(), 'jme-input-'));
  for (const [name, content] of Object.entries(files)) writeFileSync(join(dir, name), content);
  return dir;
}

interface Input {
  name: string;
  /** The -f argument, and what stdin holds. */
  make: () => { path: string; stdin?: string };
  /** What the error names as the input that holds nothing. */
  names: (path: string) => string;
}

const inputs: Input[] = [
  { name: 'an empty directory', make: () => ({ path: tempDir() }), names: (p) => p },
  { name: 'a directory with no *.yaml, *.yml or *.json', make: () => ({ path: tempDir({ 'README.md': '# hi\n', 'notes.txt': 'x' }) }), names: (p) => p },
  { name: 'a directory holding only an empty subdirectory', make: () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'nested.yaml'));
    return { path: dir };
  }, names: (p) => join(p, 'nested.yaml') },
  { name: 'an empty file', make: () => ({ path: join(tempDir({ 'empty.yaml': '' }), 'empty.yaml') }), names: (p) => p },
  { name: 'a file of comments and separators', make: () => ({ path: join(tempDir({ 'c.yaml': '# nothing\n---\n---\n' }), 'c.yaml') }), names: (p) => p },
  { name: 'an empty stdin', make: () => ({ path: '-', stdin: '' }), names: () => 'stdin' },
  { name: 'a stdin of only a separator', make: () => ({ path: '-', stdin: '---\n' }), names: () => 'stdin' },
];

describe('no manifests found', () => {
  const table = COMMANDS.flatMap(([command, extra]) => inputs.map((input) => ({ command, extra, ...input })));

  it.each(table)('$command exits 1 for $name, naming it', async ({ command, extra, make, names }) => {
    const { path, stdin } = make();
    const run = await cli([command, '-f', path, ...extra], Readable.from(stdin === undefined ? [] : [stdin]));
    expect(run.code).toBe(1);
    expect(run.stdout).toBe('');
    expect(run.stderr).toContain(`no manifests found in ${names(path)}`);
    expect(run.stderr).not.toMatch(/ECONNREFUSED|127\.0\.0\.1:9/);
  });
});
