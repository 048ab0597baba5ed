/**
 * The apiserver checker's binary (test infrastructure): built with Go once per version of its
 * sources and cached outside the repo, at
 * ${XDG_CACHE_HOME:-~/.cache}/jobmatch-operator/apiserver-check-<first 16 hex of the sources' sha256>.
 */
import { runCommand as run } from '../support/run-command.js';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { homedir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const CHECKER_SOURCE = fileURLToPath(new URL('.', import.meta.url));

export const GO_INSTALL_HINT = 'install Go ≥1.22: apt-get install golang-go (where the distribution\'s is new enough: '
  + 'Debian 12 ships 1.19, too old), or see https://go.dev/doc/install. Go ≥1.21 fetches the toolchain '
  + 'test/apiserver-check/go.mod asks for by itself, unless GOTOOLCHAIN=local.';

export interface CheckerBuildOptions {
  /** The Go module to build (test/apiserver-check). */
  source?: string;
  /** Where built binaries are kept. */
  cacheDir?: string;
  /** The go command. */
  go?: string;
  /** Progress lines (a first build takes minutes). */
  log?: (line: string) => void;
}

/** ${XDG_CACHE_HOME:-~/.cache}/jobmatch-operator (a relative XDG_CACHE_HOME is ignored, as the XDG spec says). */
export function checkerCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  const xdg = env.XDG_CACHE_HOME;
  return join(xdg && isAbsolute(xdg) ? xdg : join(homedir(), '.cache'), 'jobmatch-operator');
}

/** sha256 of what the binary is built from: go.mod, go.sum and every .go file, by name and content. */
export function checkerSourceHash(source = CHECKER_SOURCE): string {
  const files = readdirSync(source).filter((f) => f === 'go.mod' || f === 'go.sum' || f.endsWith('.go')).sort();
  const hash = createHash('sha256');
  for (const f of files) hash.update(`${f}\0`).update(readFileSync(join(source, f))).update('\0');
  return hash.digest('hex');
}


/** The checker binary: the cached one when its sources have not changed, else built now (into a temp file, then renamed). */
export async function ensureChecker(options: CheckerBuildOptions = {}): Promise<string> {
  const source = options.source ?? CHECKER_SOURCE;
  const cacheDir = options.cacheDir ?? checkerCacheDir();
  const go = options.go ?? 'go';
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const binary = join(cacheDir, `apiserver-check-${checkerSourceHash(source).slice(0, 16)}`);
  if (existsSync(binary)) return binary;

  const version = await run(go, ['version'], { cwd: source });
  if (!version) throw new Error(`Go is not installed (no "${go}" command), and the CRD's apiserver check is built with it: ${GO_INSTALL_HINT}`);
  mkdirSync(cacheDir, { recursive: true });
  const partial = `${binary}.partial-${process.pid}-${randomBytes(4).toString('hex')}`;
  log(`building the apiserver checker with ${version.stdout.trim()} (a first build downloads ~300 MB of Go modules and compiles them: about five minutes on 2 cores)…`);
  const started = performance.now();
  try {
    const build = await run(go, ['build', '-buildvcs=false', '-o', partial, '.'], { cwd: source });
    if (build?.code !== 0) {
      throw new Error(`go build of the apiserver checker (${source}) failed with exit ${build?.code ?? 'unknown'}:\n${build?.stderr ?? ''}${build?.stdout ?? ''}`);
    }
    renameSync(partial, binary);
  } finally {
    rmSync(partial, { force: true });
  }
  log(`built the apiserver checker in ${((performance.now() - started) / 1000).toFixed(1)} s: ${binary}`);
  return binary;
}
