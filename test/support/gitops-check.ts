/**
 * What the GitOps tools make of JobMatchEnvironment objects, by their own code (test/gitops-check, Go):
 * kstatus' status.Compute (Flux) and the Argo CD health script docs/argocd-health.lua run by gopher-lua as Argo CD
 * runs it. Built once per version of its sources and cached outside the repo, like the apiserver check, at
 * ${XDG_CACHE_HOME:-~/.cache}/jobmatch-operator/gitops-check-<first 16 hex of the sources' sha256>.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { checkerCacheDir, checkerSourceHash, GO_INSTALL_HINT } from '../apiserver-check/checker-binary.js';
import { runCommand as run } from './run-command.js';

export const GITOPS_CHECK_SOURCE = fileURLToPath(new URL('../gitops-check/', import.meta.url));
export const ARGOCD_HEALTH_LUA = fileURLToPath(new URL('../../docs/argocd-health.lua', import.meta.url));

export interface GitOpsVerdict {
  name: string;
  kstatus: { status: 'InProgress' | 'Current' | 'Failed' | 'Terminating' | 'Unknown'; message: string };
  argocd: { status: 'Healthy' | 'Progressing' | 'Degraded' | 'Suspended' | 'Missing' | 'Unknown'; message: string };
}

/** The gitops-check binary: the cached one when its sources have not changed, else built now (a temp file, then renamed). */
export async function ensureGitOpsCheck(log: (line: string) => void = (line) => process.stderr.write(`${line}\n`)): Promise<string> {
  const cacheDir = checkerCacheDir();
  const binary = join(cacheDir, `gitops-check-${checkerSourceHash(GITOPS_CHECK_SOURCE).slice(0, 16)}`);
  if (existsSync(binary)) return binary;
  const version = await run('go', ['version'], { cwd: GITOPS_CHECK_SOURCE });
  if (!version) throw new Error(`Go is not installed, and test/gitops-check is built with it: ${GO_INSTALL_HINT}`);
  mkdirSync(cacheDir, { recursive: true });
  const partial = `${binary}.partial-${process.pid}-${randomBytes(4).toString('hex')}`;
  log(`building test/gitops-check (kstatus, gopher-lua) with ${version.stdout.trim()} (a first build downloads its Go modules: under a minute)…`);
  try {
    const build = await run('go', ['build', '-buildvcs=false', '-o', partial, '.'], { cwd: GITOPS_CHECK_SOURCE, lowPriority: true });
    if (build?.code !== 0) throw new Error(`go build of test/gitops-check failed with exit ${build?.code ?? 'unknown'}:\n${build?.stderr ?? ''}${build?.stdout ?? ''}`);
    renameSync(partial, binary);
  } finally {
    rmSync(partial, { force: true });
  }
  return binary;
}

/** kstatus' and Argo CD's verdict on each object (as the apiserver returns it: apiVersion, kind, metadata, spec, status). */
export async function gitOpsVerdicts(objects: object[], lua = ARGOCD_HEALTH_LUA): Promise<GitOpsVerdict[]> {
  const binary = await ensureGitOpsCheck();
  const dir = mkdtempSync(join(tmpdir(), 'gitops-check-'));
  try {
    const file = join(dir, 'objects.json');
    writeFileSync(file, JSON.stringify(objects));
    const result = await run(binary, [lua, file]);
    if (result?.code !== 0) throw new Error(`gitops-check failed with exit ${result?.code ?? 'unknown'}: ${result?.stderr ?? ''}`);
    return JSON.parse(result.stdout) as GitOpsVerdict[];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
