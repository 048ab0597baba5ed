/**
 * The real Helm (helm.sh/helm/v4 at HELM_VERSION), built from Go modules through the wrapper module test/helm
 * (go.mod's tool directive pins it; go.sum pins every module it is made of) and cached outside the repo, at
 * ${XDG_CACHE_HOME:-~/.cache}/jobmatch-operator/helm-<version>/helm. Used by the chart's tests (test/helm) and by the
 * release script (it lints and packages the chart). HELM_BINARY, when set, is used instead if it is that version.
 */
import { fileURLToPath } from 'node:url';
import { ensureGoTool, type GoTool } from './go-tool.js';
import { runCommand as run } from './run-command.js';

export const HELM_VERSION = 'v4.3.2';
export const HELM_SOURCE = fileURLToPath(new URL('../helm/', import.meta.url));

export const HELM_GO_HINT = `install Go ≥1.26 (see https://go.dev/doc/install; Debian 12's golang-go is 1.19, too old; a Go ≥1.21 fetches the 1.26 toolchain test/helm/go.mod asks for by itself unless GOTOOLCHAIN=local), or set HELM_BINARY to a Helm ${HELM_VERSION} binary`;

/** The version a Helm binary reports (`helm version --template {{.Version}}`), or undefined when it does not run. */
export async function helmVersion(binary: string): Promise<string | undefined> {
  const out = await run(binary, ['version', '--template', '{{.Version}}']).catch(() => undefined);
  return out?.code === 0 ? out.stdout.trim() : undefined;
}

export const HELM: GoTool = {
  name: 'Helm',
  version: HELM_VERSION,
  binaryName: 'helm',
  source: HELM_SOURCE,
  goPackage: 'helm.sh/helm/v4/cmd/helm',
  versionLdflag: `-X helm.sh/helm/v4/internal/version.version=${HELM_VERSION}`,
  envVar: 'HELM_BINARY',
  usedBy: "the chart's tests and the release (test/helm)",
  // Measured: 3 min 0 s (fresh clone, empty Go caches, idle 2-core machine) to 7.4 min (busy machine).
  firstBuild: '3–7 min',
  goHint: HELM_GO_HINT,
  versionOf: helmVersion,
};

/** The Helm binary's path: HELM_BINARY if it is HELM_VERSION, else the cached build, else built now. */
export const ensureHelm = (log?: (line: string) => void): Promise<string> => ensureGoTool(HELM, log);
