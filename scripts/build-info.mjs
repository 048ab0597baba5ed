/**
 * Writes dist/build-info.json: the git commit the build is made from, which `--version` prints beside the version.
 * JOBMATCH_REVISION wins (the Dockerfile passes it in: the image is built without .git); else `git rev-parse HEAD`,
 * with "-dirty" when tracked files differ from it; else "unknown" (a tarball without git).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));

function git(args) {
  try {
    return execFileSync('git', args, { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return undefined;
  }
}

function revision() {
  const given = process.env.JOBMATCH_REVISION?.trim();
  if (given) return given;
  const head = git(['rev-parse', 'HEAD']);
  if (!head) return 'unknown';
  return git(['status', '--porcelain', '--untracked-files=no']) ? `${head}-dirty` : head;
}

mkdirSync(`${root}dist`, { recursive: true });
writeFileSync(`${root}dist/build-info.json`, `${JSON.stringify({ revision: revision() })}\n`);
