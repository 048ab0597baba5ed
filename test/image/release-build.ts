/**
 * `npm run release`'s script run for real by the image tests: the Dockerfile built with buildah (on the local
 * bases of containers.ts: no registry here), archived, install.yaml rendered, the chart packaged by the real
 * Helm, the SBOM, SHA256SUMS. One release per test file that needs the image; its archive is the image tested.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { containerEnv, type LocalBases } from './containers.js';
import { runCommand } from '../support/run-command.js';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const PACKAGE_VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
export const IMAGE_REPOSITORY = 'ghcr.io/jobmatch/jobmatch-operator';

export interface Release {
  dir: string;
  version: string;
  digest: string;
  /** The commit the release recorded (HEAD when it started, -dirty when the tree had changes). */
  revision: string;
  archive: string;
  /** The script's stderr (its progress lines). */
  log: string;
}

/** Runs scripts/release.ts as `npm run release` does after its build (the test command has built already). */
export async function runRelease(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const result = await runCommand(join(ROOT, 'node_modules/.bin/tsx'), [join(ROOT, 'scripts/release.ts'), ...args], { cwd: ROOT, env: containerEnv });
  if (!result) throw new Error('node_modules/.bin/tsx not found: run npm ci');
  return result;
}

export async function buildRelease(bases: LocalBases): Promise<Release> {
  const dir = join(mkdtempSync(join(tmpdir(), 'jobmatch-release-')), PACKAGE_VERSION);
  // --allow-dirty: a developer runs the tests on uncommitted work; the commit is then recorded as <commit>-dirty.
  const result = await runRelease(['--out', dir, '--base-image', bases.build, '--runtime-image', bases.runtime, '--allow-dirty']);
  if (result.code !== 0) throw new Error(`the release failed (exit ${result.code}):\n${result.stderr.slice(-4000)}`);
  const revision = /, commit ([0-9a-f]{40}(?:-dirty)?),/.exec(result.stderr)?.[1];
  if (!revision) throw new Error(`the release did not say its commit:\n${result.stderr.slice(-2000)}`);
  return {
    dir,
    revision,
    version: PACKAGE_VERSION,
    digest: readFileSync(join(dir, 'image.digest'), 'utf8').trim(),
    archive: join(dir, `jobmatch-operator-${PACKAGE_VERSION}.oci.tar`),
    log: result.stderr,
  };
}
