/**
 * A command-line tool built from Go modules through a wrapper module of test/ (its go.mod's tool directive pins it;
 * go.sum pins every module it is made of) and cached outside the repo, at
 * ${XDG_CACHE_HOME:-~/.cache}/jobmatch-operator/<cacheName>-<version>/<binary>. An environment variable naming a
 * binary of that version wins. Built once (a lock across processes), at low priority, into a temp file then renamed.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { checkerCacheDir } from '../apiserver-check/checker-binary.js';
import { withBuildLock } from './build-lock.js';
import { runCommand as run } from './run-command.js';

export interface GoTool {
  /** How it is named in messages: "Helm". */
  name: string;
  version: string;
  /** The file name of the binary and of its cache directory: helm → helm-<version>/helm. */
  binaryName: string;
  /** The wrapper module (test/helm). */
  source: string;
  /** What `go build` builds: helm.sh/helm/v4/cmd/helm. */
  goPackage: string;
  /** -X flags setting the version, as the tool's own release builds do (a wrapper module build says "(devel)"). */
  versionLdflag: string;
  /** Names a binary to use instead: HELM_BINARY. */
  envVar: string;
  /** Who needs it, for the error without Go: "the chart's tests and the release". */
  usedBy: string;
  /** How long a first build takes, measured: "~7 min". */
  firstBuild: string;
  goHint: string;
  /** The version a binary reports, or undefined when it does not run. */
  versionOf(binary: string): Promise<string | undefined>;
}

const defaultLog = (line: string) => process.stderr.write(`${line}\n`);

export const goToolCachePath = (tool: GoTool) => join(checkerCacheDir(), `${tool.binaryName}-${tool.version}`, tool.binaryName);

/** The binary's path: the env var's if it is that version, else the cached build when it reports it, else built now. */
export async function ensureGoTool(tool: GoTool, log: (line: string) => void = defaultLog): Promise<string> {
  const fromEnv = process.env[tool.envVar];
  if (fromEnv) {
    const version = await tool.versionOf(fromEnv);
    if (version === tool.version) return fromEnv;
    throw new Error(`${tool.envVar}=${fromEnv} ${version ? `is ${tool.name} ${version}` : 'does not run'}, not ${tool.version}: point it at ${tool.name} ${tool.version}, or unset it to build ${tool.version} with Go`);
  }
  const binary = goToolCachePath(tool);
  const dir = join(binary, '..');
  const cached = async () => existsSync(binary) && (await tool.versionOf(binary)) === tool.version;
  if (await cached()) return binary;
  mkdirSync(dir, { recursive: true });
  return withBuildLock(dir, `${tool.name} ${tool.version}`, log, async () => {
    // Another process may have built it while this one waited.
    if (await cached()) return binary;
    const go = await run('go', ['version'], { cwd: tool.source });
    if (!go || go.code !== 0) throw new Error(`Go is not installed (no "go" command), and ${tool.usedBy} build ${tool.name} ${tool.version} with it: ${tool.goHint}`);
    const partial = `${binary}.partial-${process.pid}-${randomBytes(4).toString('hex')}`;
    log(`building ${tool.name} ${tool.version} with ${go.stdout.trim()} into ${dir} (first build ${tool.firstBuild} on 2 cores, at low priority; cached afterwards)…`);
    const started = performance.now();
    try {
      const build = await run('go', ['build', '-trimpath', '-ldflags', `-w -s ${tool.versionLdflag}`, '-o', partial, tool.goPackage], {
        cwd: tool.source, lowPriority: true, env: { ...process.env, CGO_ENABLED: '0' },
      });
      if (build?.code !== 0) throw new Error(`go build of ${tool.name} ${tool.version} (${tool.source}) failed with exit ${build?.code ?? 'unknown'}:\n${build?.stderr ?? ''}${build?.stdout ?? ''}`);
      const built = await tool.versionOf(partial);
      if (built !== tool.version) throw new Error(`the ${tool.name} just built reports ${built ?? 'nothing'}, not ${tool.version}: ${tool.source}go.mod and the version here disagree`);
      renameSync(partial, binary);
    } finally {
      rmSync(partial, { force: true });
    }
    log(`built ${tool.name} ${tool.version} in ${((performance.now() - started) / 1000).toFixed(1)} s: ${binary}`);
    return binary;
  });
}

/** Where ensureGoTool would find it without building ("VAR=path" or the cache path), or undefined when it would build. */
export async function goToolCached(tool: GoTool): Promise<string | undefined> {
  const fromEnv = process.env[tool.envVar];
  if (fromEnv) return (await tool.versionOf(fromEnv)) === tool.version ? `${tool.envVar}=${fromEnv}` : undefined;
  const binary = goToolCachePath(tool);
  return existsSync(binary) && (await tool.versionOf(binary)) === tool.version ? binary : undefined;
}
