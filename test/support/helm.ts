/**
 * The real Helm (helm.sh/helm/v4 at HELM_VERSION), built from Go modules through the wrapper module test/helm
 * (go.mod's tool directive pins it; go.sum pins every module it is made of) and cached outside the repo, at
 * ${XDG_CACHE_HOME:-~/.cache}/jobmatch-operator/helm-<version>/helm. Used by the chart's tests (test/helm) and by the
 * release script (it lints and packages the chart). HELM_BINARY, when set, is used instead if it is that version.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { withBuildLock } from './build-lock.js';
import { checkerCacheDir } from '../apiserver-check/checker-binary.js';
import { runCommand as run } from './run-command.js';

export const HELM_VERSION = 'v4.3.2';
export const HELM_SOURCE = fileURLToPath(new URL('../helm/', import.meta.url));
/** Measured: 7.4 min on 2 cores, with an empty Go build cache for these flags and the machine busy (the modules' download, ~30 s, before). */
const FIRST_BUILD = '~7 min';

export const HELM_GO_HINT = `install Go ≥1.26 (see https://go.dev/doc/install; Debian 12's golang-go is 1.19, too old; a Go ≥1.21 fetches the 1.26 toolchain test/helm/go.mod asks for by itself unless GOTOOLCHAIN=local), or set HELM_BINARY to a Helm ${HELM_VERSION} binary`;

const defaultLog = (line: string) => process.stderr.write(`${line}\n`);

/** The version a Helm binary reports (`helm version --template {{.Version}}`), or undefined when it does not run. */
export async function helmVersion(binary: string): Promise<string | undefined> {
  const out = await run(binary, ['version', '--template', '{{.Version}}']).catch(() => undefined);
  return out?.code === 0 ? out.stdout.trim() : undefined;
}

/** The Helm binary's path: HELM_BINARY if it is HELM_VERSION, else the cached build when it reports HELM_VERSION, else built now. */
export async function ensureHelm(log: (line: string) => void = defaultLog): Promise<string> {
  const fromEnv = process.env.HELM_BINARY;
  if (fromEnv) {
    const version = await helmVersion(fromEnv);
    if (version === HELM_VERSION) return fromEnv;
    throw new Error(`HELM_BINARY=${fromEnv} ${version ? `is Helm ${version}` : 'does not run (`helm version` failed)'}, not ${HELM_VERSION}: point it at Helm ${HELM_VERSION}, or unset it to build ${HELM_VERSION} with Go`);
  }
  const dir = join(checkerCacheDir(), `helm-${HELM_VERSION}`);
  const binary = join(dir, 'helm');
  if (existsSync(binary) && (await helmVersion(binary)) === HELM_VERSION) return binary;
  mkdirSync(dir, { recursive: true });
  return withBuildLock(dir, `Helm ${HELM_VERSION}`, log, async () => {
    // Another process may have built it while this one waited.
    if (existsSync(binary) && (await helmVersion(binary)) === HELM_VERSION) return binary;
    const go = await run('go', ['version'], { cwd: HELM_SOURCE });
    if (!go || go.code !== 0) throw new Error(`Go is not installed (no "go" command), and the chart's tests and the release build Helm ${HELM_VERSION} with it (test/helm): ${HELM_GO_HINT}`);
    const partial = `${binary}.partial-${process.pid}-${randomBytes(4).toString('hex')}`;
    log(`building Helm ${HELM_VERSION} with ${go.stdout.trim()} into ${dir} (test/helm; first build ${FIRST_BUILD} on 2 cores, at low priority; cached afterwards)…`);
    const started = performance.now();
    try {
      const build = await run('go', ['build', '-trimpath', '-ldflags', `-w -s -X helm.sh/helm/v4/internal/version.version=${HELM_VERSION}`, '-o', partial, 'helm.sh/helm/v4/cmd/helm'], {
        cwd: HELM_SOURCE, lowPriority: true, env: { ...process.env, CGO_ENABLED: '0' },
      });
      if (build?.code !== 0) throw new Error(`go build of Helm ${HELM_VERSION} (test/helm) failed with exit ${build?.code ?? 'unknown'}:\n${build?.stderr ?? ''}${build?.stdout ?? ''}`);
      const built = await helmVersion(partial);
      if (built !== HELM_VERSION) throw new Error(`the Helm just built (test/helm) reports ${built ?? 'nothing'}, not ${HELM_VERSION}: test/helm/go.mod and HELM_VERSION disagree`);
      renameSync(partial, binary);
    } finally {
      rmSync(partial, { force: true });
    }
    log(`built Helm ${HELM_VERSION} in ${((performance.now() - started) / 1000).toFixed(1)} s: ${binary}`);
    return binary;
  });
}

