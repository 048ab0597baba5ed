/**
 * The docs match the code: every flag the CLI defines (the commander definitions of src/cli/main.ts) and every
 * reason a condition can carry (src/controller/status.ts and reconciler.ts) is named in README.md or docs/*.md;
 * no page says a shipped feature is missing; every table has its header; the `kubectl get jme` sample of
 * install-gke.md shows the CRD's printer columns, each with a value.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CRD } from '../../src/api/crd.js';
import { REFUSAL_REASONS } from '../../src/controller/status.js';

const root = new URL('../../', import.meta.url);
const read = (path: string) => readFileSync(new URL(path, root), 'utf8');
const pages = ['README.md', ...readdirSync(new URL('docs/', root)).filter((f) => f.endsWith('.md')).sort().map((f) => `docs/${f}`)];
const docs = pages.map(read).join('\n');
const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Every option of every command, as `{short, long}`, read from the commander calls. */
function cliFlags(): { short?: string; long: string }[] {
  const source = read('src/cli/main.ts');
  const flags = [...source.matchAll(/\.(?:requiredOption|option)\(\s*'(?:(-[A-Za-z]), )?(--[a-z][a-z-]*)/g)]
    .map((m) => ({ ...(m[1] ? { short: m[1] } : {}), long: m[2]! }));
  return [...new Map(flags.map((f) => [f.long, f])).values()];
}

/** The reasons a condition may carry: the string literals of every `reason:` in the status code, and the refusals. */
function conditionReasons(): string[] {
  const source = ['src/controller/status.ts', 'src/controller/reconciler.ts'].map(read).join('\n');
  const reasons = new Set<string>(REFUSAL_REASONS);
  for (const m of source.matchAll(/reason: ([^,}\n]+)/g)) for (const q of m[1]!.matchAll(/'([A-Z]\w+)'/g)) reasons.add(q[1]!);
  return [...reasons].sort();
}

/** The lines outside fenced code blocks, with their page and line number. */
function proseLines(page: string): { line: number; text: string }[] {
  let fenced = false;
  return read(page).split('\n').flatMap((text, i) => {
    if (/^\s*```/.test(text)) {
      fenced = !fenced;
      return [];
    }
    return fenced ? [] : [{ line: i + 1, text }];
  });
}

describe('the docs name', () => {
  it('finds the CLI flags and the condition reasons to check', () => {
    expect(cliFlags().map((f) => f.long)).toEqual(expect.arrayContaining(['--filename', '--policy', '--strict', '--log-level', '--drift-events']));
    expect(conditionReasons()).toEqual(expect.arrayContaining(['Ready', 'SecretsMissing', 'PolicyViolation', 'ReconcileSucceeded', 'NoDrift']));
  });

  it.each(cliFlags())('the CLI flag $long (README.md or docs/)', ({ short, long }) => {
    const named = docs.includes(long) || (short !== undefined && new RegExp(`(^|[\\s\`(\\[|])${escape(short)}[\\s\`\\]|]`, 'm').test(docs));
    expect(named, `${long}${short ? ` (${short})` : ''} is defined in src/cli/main.ts but no page names it: add it to README.md's CLI reference or docs/`).toBe(true);
  });

  it.each(conditionReasons())('the condition reason %s (README.md or docs/)', (reason) => {
    expect(docs.includes(`\`${reason}\``), `the reason ${reason} (src/controller) is in no page: say when a condition carries it`).toBe(true);
  });
});

describe('the docs describe what is shipped', () => {
  it.each(['not implemented', 'until the controller exists', 'comes later', 'not yet implemented'])('no page says "%s"', (phrase) => {
    const found = pages.flatMap((page) => proseLines(page).filter((l) => l.text.toLowerCase().includes(phrase)).map((l) => `${page}:${l.line}: ${l.text.trim()}`));
    expect(found).toEqual([]);
  });

  it.each(pages)('every table of %s has a header row and a separator (a row cut off from its table renders as text)', (page) => {
    const lines = proseLines(page);
    const broken: string[] = [];
    for (let i = 0; i < lines.length; i++) {
      const isRow = (k: number) => lines[k] !== undefined && lines[k]!.line === lines[i]!.line + (k - i) && lines[k]!.text.trimStart().startsWith('|');
      if (!isRow(i) || isRow(i - 1)) continue; // the first row of a block
      const separator = lines[i + 1];
      if (!isRow(i + 1) || !/^\s*\|(\s*:?-{3,}:?\s*\|)+\s*$/.test(separator!.text)) broken.push(`${page}:${lines[i]!.line}: ${lines[i]!.text.trim().slice(0, 80)}`);
    }
    expect(broken).toEqual([]);
  });

  it('shows in install-gke.md\'s `kubectl get jme` sample every printer column of the CRD, each with a value', () => {
    const columns = CRD.spec.versions[0].additionalPrinterColumns
      .filter((c) => !('priority' in c) || !c.priority).map((c) => c.name.toUpperCase());
    const guide = read('docs/install-gke.md');
    const sample = guide.match(/\n(NAME +ENVIRONMENT[^\n]*)\n([^\n]+)\n```/);
    expect(sample, 'no `kubectl get jme` output in docs/install-gke.md').not.toBeNull();
    const header = sample![1]!.trim().split(/\s+/);
    expect(header).toEqual(['NAME', ...columns]);
    // Each value starts where its column's title does: an empty cell leaves the row a word short.
    const row = sample![2]!.trim().split(/\s+/);
    expect(row, `${sample![1]}\n${sample![2]}`).toHaveLength(header.length);
    const starts = header.map((h) => sample![1]!.indexOf(` ${h} `) + 1 || sample![1]!.indexOf(h));
    for (const [i, start] of starts.entries()) expect(sample![2]![start], `column ${header[i]}`).toMatch(/\S/);
    expect(guide).toContain('DEPLOYED-HASH');
  });
});
