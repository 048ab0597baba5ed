/**
 * actionlint (github.com/rhysd/actionlint at ACTIONLINT_VERSION), built from Go modules through the wrapper module
 * test/github (go.mod's tool directive pins it; go.sum pins every module it is made of) and cached outside the repo,
 * at ${XDG_CACHE_HOME:-~/.cache}/jobmatch-operator/actionlint-<version>/actionlint. It lints the example workflow
 * (examples/github). ACTIONLINT_BINARY, when set, is used instead if it is that version.
 */
import { fileURLToPath } from 'node:url';
import { ensureGoTool, type GoTool } from './go-tool.js';
import { runCommand as run } from './run-command.js';

export const ACTIONLINT_VERSION = 'v1.7.12';
export const ACTIONLINT_SOURCE = fileURLToPath(new URL('../github/', import.meta.url));

export const ACTIONLINT_GO_HINT = `install Go ≥1.26 (see https://go.dev/doc/install; a Go ≥1.21 fetches the 1.26 toolchain test/github/go.mod asks for by itself unless GOTOOLCHAIN=local), or set ACTIONLINT_BINARY to an actionlint ${ACTIONLINT_VERSION} binary`;

/** The version an actionlint binary reports (the first line of `actionlint -version`), or undefined when it does not run. */
export async function actionlintVersion(binary: string): Promise<string | undefined> {
  const out = await run(binary, ['-version']).catch(() => undefined);
  return out?.code === 0 ? out.stdout.split('\n')[0]!.trim() : undefined;
}

export const ACTIONLINT: GoTool = {
  name: 'actionlint',
  version: ACTIONLINT_VERSION,
  binaryName: 'actionlint',
  source: ACTIONLINT_SOURCE,
  goPackage: 'github.com/rhysd/actionlint/cmd/actionlint',
  versionLdflag: `-X github.com/rhysd/actionlint.version=${ACTIONLINT_VERSION}`,
  envVar: 'ACTIONLINT_BINARY',
  usedBy: "the workflow's test (test/github)",
  // Measured: 13 s on 2 cores with the modules downloaded (~5 MB of them, a few seconds before).
  firstBuild: 'under a minute',
  goHint: ACTIONLINT_GO_HINT,
  versionOf: actionlintVersion,
};

/** The actionlint binary's path: ACTIONLINT_BINARY if it is ACTIONLINT_VERSION, else the cached build, else built now. */
export const ensureActionlint = (log?: (line: string) => void): Promise<string> => ensureGoTool(ACTIONLINT, log);

/** actionlint's findings on one workflow file, one per line (empty when it passes). */
export async function actionlint(binary: string, file: string): Promise<{ code: number | null; findings: string[] }> {
  const out = await run(binary, ['-no-color', '-oneline', file]);
  if (!out) throw new Error(`actionlint (${binary}) could not be started`);
  return { code: out.code, findings: `${out.stdout}${out.stderr}`.split('\n').filter((l) => l.trim() !== '') };
}
