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

const binaries: { name: string; bytes: Buffer }[] = [
  { name: 'an executable', bytes: Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0, 0, 0, 0x3a, 0x20, 0x0a, 0x2d, 0x20, 0x5b, 0x7b]) },
  { name: 'bytes that are not UTF-8', bytes: Buffer.from([0xff, 0xfe, 0x61, 0x3a, 0x20, 0x62, 0x0a, 0xc3, 0x28]) },
  { name: 'a UTF-16 manifest', bytes: Buffer.from('\ufeffkind: JobMatchEnvironment\n', 'utf16le') },
  { name: 'Latin-1 text', bytes: Buffer.from('metadata: {name: caf\xe9}\n', 'latin1') },
];

describe('a file that is not text', () => {
  it.each(binaries)('is one error for $name, from a file or from stdin', async ({ bytes }) => {
    const path = join(tempDir({ 'm.yaml': bytes }), 'm.yaml');
    for (const [arg, stdin, file] of [[path, [], path], ['-', [bytes], '-']] as const) {
      const run = await cli(['validate', '-f', arg], Readable.from(stdin));
      expect(run.code).toBe(1);
      expect(run.stderr.split('\n').filter((l) => l.startsWith('error:'))).toEqual([
        `error: ${file}: not a text file (binary or not UTF-8) — fix: pass a YAML or JSON manifest`,
      ]);
    }
  });

  it.each(COMMANDS)('is refused by %s before anything else happens', async (command, extra) => {
    const run = await cli([command, '-f', '/bin/ls', ...extra]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('/bin/ls: not a text file');
    expect(run.stderr).toMatch(/^1 error in 1 file/m);
  });

  it('still reads UTF-8 with a byte-order mark and non-ASCII text', async () => {
    const text = `\ufeffapiVersion: v1\nkind: ConfigMap\nmetadata: {name: café}\n`;
    const run = await cli(['validate', '-f', '-'], Readable.from([Buffer.from(text, 'utf8')]));
    expect(run.stderr).not.toContain('not a text file');
    expect(run.stderr).toContain('ConfigMap');
  });
});
