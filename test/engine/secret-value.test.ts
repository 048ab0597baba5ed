import { inspect } from 'node:util';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { SecretValue } from '../../src/api/secret-value.js';
import { generateSecretValue } from '../../src/kinds/secret/secret-generator.js';
import { PolicyWriter } from '../../src/engine/policy-writer.js';

describe('SecretValue', () => {
  const secret = new SecretValue('hunter2-very-secret');

  it.each<[string, (s: SecretValue) => string]>([
    ['toString', (s) => String(s)],
    ['a template string', (s) => `value=${s}`],
    ['JSON', (s) => JSON.stringify({ s })],
    ['util.inspect', (s) => inspect({ nested: { s } })],
    ['an Error message', (s) => new Error(`failed with ${s}`).message],
    ['a pino log line', (s) => {
      let line = '';
      pino({}, { write: (l: string) => (line += l) }).info({ s }, 'logging a secret');
      return line;
    }],
  ])('prints as [redacted] through %s', (_, render) => {
    const out = render(secret);
    expect(out).toContain('[redacted]');
    expect(out).not.toContain('hunter2');
  });

  it('gives its value only when asked by name', () => expect(secret.reveal()).toBe('hunter2-very-secret'));
});

describe('generated values', () => {
  it('have the length asked for, from a 64-symbol alphabet, and differ every time', () => {
    const values = Array.from({ length: 200 }, () => generateSecretValue(32).reveal());
    expect(values.every((v) => /^[A-Za-z0-9_-]{32}$/.test(v))).toBe(true);
    expect(new Set(values).size).toBe(200);
    const symbols = new Set(values.join(''));
    expect(symbols.size).toBeGreaterThan(60);
  });
});

describe('PolicyWriter', () => {
  it('batches the edits that arrive while a write is in flight into one next write', async () => {
    const writer = new PolicyWriter();
    const commits: number[] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const commit = async (edit: { add: unknown[] }) => {
      commits.push(edit.add.length);
      if (commits.length === 1) await gate;
    };
    const first = writer.edit('p', { add: [{ role: 'r', member: 'a' }], remove: [] }, commit);
    const rest = [1, 2, 3].map((i) => writer.edit('p', { add: [{ role: 'r', member: `m${i}` }], remove: [] }, commit));
    const other = writer.edit('q', { add: [{ role: 'r', member: 'x' }], remove: [] }, commit);
    release();
    await Promise.all([first, ...rest, other]);
    expect(commits.sort()).toEqual([1, 1, 3]);
  });

  it('rejects every edit of a failed batch, and keeps serving the key', async () => {
    const writer = new PolicyWriter();
    await expect(writer.edit('p', { add: [], remove: [] }, () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    await expect(writer.edit('p', { add: [], remove: [] }, () => Promise.resolve())).resolves.toBeUndefined();
  });
});
