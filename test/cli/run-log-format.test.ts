/** run --log-format: json (Cloud Logging) or text (a person); anything else is refused before starting. */
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { runCommand } from '../../src/cli/run-command.js';

describe('run --log-format', () => {
  it('refuses a format other than json or text, naming the flag, before starting anything', async () => {
    let stderr = '';
    const io = { stdout: () => undefined, stderr: (t: string) => (stderr += t), stdin: Readable.from([]), env: {} };
    const code = await runCommand(io, { manifests: '/nonexistent', logFormat: 'yaml' }, new Promise(() => undefined));
    expect(code).toBe(1);
    expect(stderr).toBe('error: --log-format must be json or text, got "yaml"\n');
  });
});
