/**
 * The project runs on the Node that package.json pins as a dev dependency (`node`), never on the
 * machine's: npm puts node_modules/.bin first on every npm script's PATH, so `npm test`,
 * `npm start`, `npm run bench` and everything they spawn through process.execPath run on it.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
  engines: { node: string };
  devDependencies: Record<string, string>;
  allowScripts?: Record<string, boolean>;
};
const major = (version: string) => Number(/(\d+)/.exec(version)?.[1]);
const pinnedMajor = major(pkg.devDependencies.node ?? '');

describe('the Node runtime', () => {
  it('pins Node 24 as a dev dependency, with its install script allowed', () => {
    expect(pinnedMajor).toBe(24);
    expect(pkg.allowScripts?.node).toBe(true);
  });

  it('runs the tests on the pinned Node, not on the machine one', () => {
    expect(major(process.versions.node)).toBe(pinnedMajor);
  });

  it('gives child processes spawned with process.execPath the same Node', () => {
    const child = spawnSync(process.execPath, ['--version'], { encoding: 'utf8' });
    expect(major(child.stdout)).toBe(pinnedMajor);
  });

  it('declares engines no older than Node 22.12, which commander 15 needs', () => {
    expect(pkg.engines.node).toBe('>=22.12');
  });
});
