/**
 * actionlint (github.com/rhysd/actionlint at ACTIONLINT_VERSION), built from Go modules through the wrapper module
 * test/github (go.mod's tool directive pins it; go.sum pins every module it is made of) and cached outside the repo,
 * at ${XDG_CACHE_HOME:-~/.cache}/jobmatch-operator/actionlint-<version>/actionlint. It lints the example workflow
 * (examples/github). ACTIONLINT_BINARY, when set, is used instead if it is that version.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { withBuildLock } from './build-lock.js';
import { checkerCacheDir } from '../apiserver-check/checker-binary.js';
import { runCommand as run } from './run-command.js';

export const ACTIONLINT_VERSION = 'v1.7.12';
export const ACTIONLINT_SOURCE = fileURLToPath(new URL('../github/', import.meta.url));
/** Measured: 13 s on 2 cores with the modules downloaded (~5 MB of them, a few seconds before). */
const FIRST_BUILD = 'under a minute';

export const ACTIONLINT_GO_HINT = `install Go ≥1.26 (see https://go.dev/doc/install; a Go ≥1.21 fetches the 1.26 toolchain test/github/go.mod asks for by itself unless GOTOOLCHAIN=local), or set ACTIONLINT_BINARY to an actionlint ${ACTIONLINT_VERSION} binary`;

const defaultLog = (line: string) => process.stderr.write(`${line}\n`);

/** The version an actionlint binary reports (the first line of `actionlint -version`), or undefined when it does not run. */
export async function actionlintVersion(binary: string): Promise<string | undefined> {
  const out = await run(binary, ['-version']).catch(() => undefined);
  return out?.code === 0 ? out.stdout.split('\n')[0]!.trim() : undefined;
}

/** Where the cached build lives. */
export const actionlintCachePath = () => join(checkerCacheDir(), `actionlint-${ACTIONLINT_VERSION}`, 'actionlint');

/** The actionlint binary's path: ACTIONLINT_BINARY if it is ACTIONLINT_VERSION, else the cached build when it reports that version, else built now. */
export async function ensureActionlint(log: (line: string) => void = defaultLog): Promise<string> {
  const fromEnv = process.env.ACTIONLINT_BINARY;
  if (fromEnv) {
    const version = await actionlintVersion(fromEnv);
    if (version === ACTIONLINT_VERSION) return fromEnv;
    throw new Error(`ACTIONLINT_BINARY=${fromEnv} ${version ? `is actionlint ${version}` : 'does not run (`actionlint -version` failed)'}, not ${ACTIONLINT_VERSION}: point it at actionlint ${ACTIONLINT_VERSION}, or unset it to build ${ACTIONLINT_VERSION} with Go`);
  }
  const binary = actionlintCachePath();
  const dir = join(binary, '..');
  if (existsSync(binary) && (await actionlintVersion(binary)) === ACTIONLINT_VERSION) return binary;
  mkdirSync(dir, { recursive: true });
  return withBuildLock(dir, `actionlint ${ACTIONLINT_VERSION}`, log, async () => {
    // Another process may have built it while this one waited.
    if (existsSync(binary) && (await actionlintVersion(binary)) === ACTIONLINT_VERSION) return binary;
    const go = await run('go', ['version'], { cwd: ACTIONLINT_SOURCE });
    if (!go || go.code !== 0) throw new Error(`Go is not installed (no "go" command), and the workflow's test builds actionlint ${ACTIONLINT_VERSION} with it (test/github): ${ACTIONLINT_GO_HINT}`);
    const partial = `${binary}.partial-${process.pid}-${randomBytes(4).toString('hex')}`;
    log(`building actionlint ${ACTIONLINT_VERSION} with ${go.stdout.trim()} into ${dir} (test/github; first build ${FIRST_BUILD} on 2 cores, at low priority; cached afterwards)…`);
    const started = performance.now();
    try {
      // The version is set as actionlint's own release builds set it: built inside a wrapper module, it would say "(devel)".
      const build = await run('go', ['build', '-trimpath', '-ldflags', `-w -s -X github.com/rhysd/actionlint.version=${ACTIONLINT_VERSION}`, '-o', partial, 'github.com/rhysd/actionlint/cmd/actionlint'], {
        cwd: ACTIONLINT_SOURCE, lowPriority: true, env: { ...process.env, CGO_ENABLED: '0' },
      });
      if (build?.code !== 0) throw new Error(`go build of actionlint ${ACTIONLINT_VERSION} (test/github) failed with exit ${build?.code ?? 'unknown'}:\n${build?.stderr ?? ''}${build?.stdout ?? ''}`);
      const built = await actionlintVersion(partial);
      if (built !== ACTIONLINT_VERSION) throw new Error(`the actionlint just built (test/github) reports ${built ?? 'nothing'}, not ${ACTIONLINT_VERSION}: test/github/go.mod and ACTIONLINT_VERSION disagree`);
      renameSync(partial, binary);
    } finally {
      rmSync(partial, { force: true });
    }
    log(`built actionlint ${ACTIONLINT_VERSION} in ${((performance.now() - started) / 1000).toFixed(1)} s: ${binary}`);
    return binary;
  });
}

/** actionlint's findings on one workflow file, one per line (empty when it passes). */
export async function actionlint(binary: string, file: string): Promise<{ code: number | null; findings: string[] }> {
  const out = await run(binary, ['-no-color', '-oneline', file]);
  if (!out) throw new Error(`actionlint (${binary}) could not be started`);
  return { code: out.code, findings: `${out.stdout}${out.stderr}`.split('\n').filter((l) => l.trim() !== '') };
}
