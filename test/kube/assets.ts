/**
 * The real kube-apiserver and etcd the controller's tests run against (test infrastructure,
 * envtest-style: no kubelet, no controller-manager). Both are built with Go from the wrapper
 * modules next to this file (test/kube/apiserver: upstream's cmd/kube-apiserver main on
 * k8s.io/kubernetes KUBE_VERSION; test/kube/etcd: etcdmain.Main of go.etcd.io/etcd/server/v3
 * ETCD_VERSION) and cached outside the repo, by version, at
 * ${XDG_CACHE_HOME:-~/.cache}/jobmatch-operator/kube/<KUBE_VERSION>/{kube-apiserver,etcd}.
 * A cached binary is used when its `--version` says the expected version; KUBEBUILDER_ASSETS
 * (a directory holding kube-apiserver and etcd, as controller-runtime's envtest uses) wins over both.
 *
 * The first build is heavy: ~700 MB of Go modules, 10–17 min on 2 cores, ~2.4 GB of RAM and ~6 GB
 * of Go build cache. It runs at the lowest CPU priority so that tests running meanwhile keep theirs.
 * Later builds (another version of this file's constants, a wiped binary cache) take ~20 s.
 */
import { runCommand as run } from '../support/run-command.js';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { withBuildLock } from '../support/build-lock.js';

/** The kubernetes release the apiserver is built from (k8s.io/kubernetes in test/kube/apiserver/go.mod). */
export const KUBE_VERSION = 'v1.37.2';
/** The etcd release (go.etcd.io/etcd/server/v3 in test/kube/etcd/go.mod). */
export const ETCD_VERSION = 'v3.7.3';

/** test/kube: the two Go modules are its subdirectories apiserver/ and etcd/. */
export const KUBE_SOURCE = fileURLToPath(new URL('.', import.meta.url));

export const GO_INSTALL_HINT = 'install Go ≥1.26 (see https://go.dev/doc/install; Debian 12\'s golang-go is 1.19, too old; '
  + 'a Go ≥1.21 fetches the 1.26 toolchain test/kube/*/go.mod ask for by itself unless GOTOOLCHAIN=local), '
  + 'or point KUBEBUILDER_ASSETS at a directory holding kube-apiserver and etcd binaries.';

export interface KubeAssets {
  /** The directory holding both binaries. */
  dir: string;
  kubeApiserver: string;
  etcd: string;
  /** Where they came from: KUBEBUILDER_ASSETS, the version cache as it was, or built now. */
  source: 'KUBEBUILDER_ASSETS' | 'cache' | 'built';
}

export interface KubeAssetsOptions {
  /** Where built binaries are kept (default: kubeAssetsCacheDir()). */
  cacheDir?: string;
  /** The go command (default: go). */
  go?: string;
  /** Progress lines (default: stderr). */
  log?: (line: string) => void;
  /** Environment read for XDG_CACHE_HOME and KUBEBUILDER_ASSETS (default: process.env). */
  env?: NodeJS.ProcessEnv;
}

/** ${XDG_CACHE_HOME:-~/.cache}/jobmatch-operator/kube/<KUBE_VERSION> (a relative XDG_CACHE_HOME is ignored, as the XDG spec says). */
export function kubeAssetsCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  const xdg = env.XDG_CACHE_HOME;
  return join(xdg && isAbsolute(xdg) ? xdg : join(homedir(), '.cache'), 'jobmatch-operator', 'kube', KUBE_VERSION);
}


/** `<binary> --version`'s output (trimmed), or undefined when it does not run. */
export async function binaryVersion(binary: string): Promise<string | undefined> {
  if (!existsSync(binary)) return undefined;
  const r = await run(binary, ['--version']).catch(() => undefined);
  return r?.code === 0 ? `${r.stdout}${r.stderr}`.trim() : undefined;
}

/** Whether a `--version` output names this version: "Kubernetes v1.37.2", "etcd Version: 3.7.3". */
function versionMatches(output: string | undefined, version: string): boolean {
  if (!output) return false;
  const bare = version.replace(/^v/, '');
  return new RegExp(`(^|[^0-9.])v?${bare.replaceAll('.', '\\.')}($|[^0-9.])`, 'm').test(output);
}

interface Target {
  name: 'kube-apiserver' | 'etcd';
  module: string;
  version: string;
  ldflags: string;
}

function targets(source: string): Target[] {
  const [major, minor] = KUBE_VERSION.replace(/^v/, '').split('.');
  const buildDate = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  // Without these the server calls itself v0.0.0-master+$Format:%H$ and kubectl version fails.
  const versionVars = ['k8s.io/component-base/version', 'k8s.io/client-go/pkg/version'].flatMap((pkg) => [
    `-X ${pkg}.gitVersion=${KUBE_VERSION}`, `-X ${pkg}.gitMajor=${major}`, `-X ${pkg}.gitMinor=${minor}`,
    `-X ${pkg}.gitTreeState=clean`, `-X ${pkg}.buildDate=${buildDate}`,
  ]);
  return [
    { name: 'kube-apiserver', module: join(source, 'apiserver'), version: KUBE_VERSION, ldflags: ['-s', '-w', ...versionVars].join(' ') },
    { name: 'etcd', module: join(source, 'etcd'), version: ETCD_VERSION, ldflags: '-s -w' },
  ];
}

/** The environment of every go command here: one fixed CGO setting (it is part of Go's cache key), static binaries. */
function goEnv(): NodeJS.ProcessEnv {
  return { ...process.env, CGO_ENABLED: '0' };
}

function elapsed(started: number): string {
  const s = (performance.now() - started) / 1000;
  return s < 120 ? `${s.toFixed(1)} s` : `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
}

/**
 * kube-apiserver and etcd at KUBE_VERSION / ETCD_VERSION: from KUBEBUILDER_ASSETS when set, else
 * the cached binaries when their --version matches, else built now (into temp files, then renamed)
 * with progress lines. Fails with Go's own output and an install hint when Go is missing or fails.
 */
export async function ensureKubeAssets(options: KubeAssetsOptions = {}): Promise<KubeAssets> {
  const env = options.env ?? process.env;
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const assetsDir = env.KUBEBUILDER_ASSETS;
  if (assetsDir) {
    const kubeApiserver = join(assetsDir, 'kube-apiserver');
    const etcd = join(assetsDir, 'etcd');
    const missing = [kubeApiserver, etcd].filter((b) => !existsSync(b));
    if (missing.length) throw new Error(`KUBEBUILDER_ASSETS=${assetsDir} lacks ${missing.join(' and ')} (unset it to build ${KUBE_VERSION} and etcd ${ETCD_VERSION} with Go)`);
    return { dir: assetsDir, kubeApiserver, etcd, source: 'KUBEBUILDER_ASSETS' };
  }

  const dir = options.cacheDir ?? kubeAssetsCacheDir(env);
  const go = options.go ?? 'go';
  const all = targets(KUBE_SOURCE);
  const stale = async () => {
    const out: Target[] = [];
    for (const t of all) if (!versionMatches(await binaryVersion(join(dir, t.name)), t.version)) out.push(t);
    return out;
  };
  const result = (source: KubeAssets['source']): KubeAssets => ({ dir, kubeApiserver: join(dir, 'kube-apiserver'), etcd: join(dir, 'etcd'), source });
  if ((await stale()).length === 0) return result('cache');

  mkdirSync(dir, { recursive: true });
  return withBuildLock(dir, 'kube assets', log, async () => {
    const todo = await stale(); // another process may have built them while we waited
    if (todo.length === 0) return result('cache');

    const goVersion = await run(go, ['version'], { cwd: todo[0]!.module, env: goEnv() });
    if (!goVersion) throw new Error(`Go is not installed (no "${go}" command on PATH), and the tests' kube-apiserver and etcd are built with it: ${GO_INSTALL_HINT}`);
    if (goVersion.code !== 0) {
      throw new Error(`"${go} version" failed with exit ${goVersion.code} in ${todo[0]!.module}:\n${goVersion.stderr}${goVersion.stdout}\n${GO_INSTALL_HINT}`);
    }
    const names = todo.map((t) => `${t.name} ${t.version}`).join(' and ');
    const heavy = todo.some((t) => t.name === 'kube-apiserver');
    log(`kube assets: building ${names} with ${goVersion.stdout.trim()} into ${dir} `
      + (heavy
        ? '(a FIRST build downloads ~700 MB of Go modules and compiles kubernetes: 10–17 min on 2 cores, ~2.4 GB RAM, at low CPU priority; '
          + 'with a warm Go build cache ~20 s; later runs reuse the binaries)…'
        : '(about a minute the first time)…'));
    const started = performance.now();
    const ticker = setInterval(() => log(`kube assets: still building ${names} (${elapsed(started)})…`), 60_000);
    ticker.unref();
    try {
      for (const t of todo) {
        const binary = join(dir, t.name);
        const partial = `${binary}.partial-${process.pid}-${randomBytes(4).toString('hex')}`;
        const step = performance.now();
        try {
          const build = await run(go, ['build', '-trimpath', '-buildvcs=false', '-ldflags', t.ldflags, '-o', partial, '.'], { cwd: t.module, env: goEnv(), lowPriority: true });
          if (build?.code !== 0) {
            throw new Error(`go build of ${t.name} (${t.module}) failed with exit ${build?.code ?? 'unknown'}:\n${build?.stderr ?? ''}${build?.stdout ?? ''}`
              + (build === undefined ? `\n${GO_INSTALL_HINT}` : ''));
          }
          const got = await binaryVersion(partial);
          if (!versionMatches(got, t.version)) throw new Error(`the ${t.name} just built says "${got ?? '(it does not run)'}", not ${t.version}: check ${t.module}/go.mod`);
          renameSync(partial, binary);
        } finally {
          rmSync(partial, { force: true });
        }
        log(`kube assets: built ${t.name} ${t.version} in ${elapsed(step)}`);
      }
    } finally {
      clearInterval(ticker);
    }
    log(`kube assets: done in ${elapsed(started)}: ${dir}`);
    return result('built');
  });
}

/**
 * The `replace` lines test/kube/apiserver/go.mod needs, derived from kubernetes' own go.mod (found
 * with `go mod download -json k8s.io/kubernetes@KUBE_VERSION`): every k8s.io module kubernetes
 * requires at v0.0.0 and replaces with its ./staging/src copy, mapped to the published v0.<minor>.<patch>.
 */
export async function kubernetesStagingReplaces(go = 'go'): Promise<Array<{ path: string; version: string }>> {
  const dl = await run(go, ['mod', 'download', '-json', `k8s.io/kubernetes@${KUBE_VERSION}`], { cwd: KUBE_SOURCE, env: goEnv() });
  if (!dl) throw new Error(`Go is not installed: ${GO_INSTALL_HINT}`);
  if (dl.code !== 0) throw new Error(`go mod download k8s.io/kubernetes@${KUBE_VERSION} failed:\n${dl.stderr}${dl.stdout}`);
  const { GoMod } = JSON.parse(dl.stdout) as { GoMod: string };
  const edit = await run(go, ['mod', 'edit', '-json', GoMod], { cwd: KUBE_SOURCE, env: goEnv() });
  if (edit?.code !== 0) throw new Error(`go mod edit -json ${GoMod} failed:\n${edit?.stderr ?? ''}`);
  interface GoModJson {
    Require?: Array<{ Path: string; Version: string }>;
    Replace?: Array<{ Old: { Path: string }; New: { Path: string; Version?: string } }>;
  }
  const mod = JSON.parse(edit.stdout) as GoModJson;
  const atZero = new Set((mod.Require ?? []).filter((r) => r.Version === 'v0.0.0').map((r) => r.Path));
  const staging = `v0.${KUBE_VERSION.replace(/^v1\./, '')}`;
  return (mod.Replace ?? [])
    .filter((r) => r.New.Path.startsWith('./staging/') && atZero.has(r.Old.Path))
    .map((r) => ({ path: r.Old.Path, version: staging }))
    .sort((a, b) => a.path.localeCompare(b.path));
}

/**
 * Rewrites test/kube/apiserver/go.mod and test/kube/etcd/go.mod for KUBE_VERSION / ETCD_VERSION
 * and runs `go mod tidy` in both (run it after changing a version: scripts/kube-assets.ts gomod).
 */
export async function writeGoModules(options: { go?: string; log?: (line: string) => void } = {}): Promise<void> {
  const go = options.go ?? 'go';
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const goDirective = 'go 1.26.0';
  const replaces = await kubernetesStagingReplaces(go);
  log(`kubernetes ${KUBE_VERSION} replaces ${replaces.length} k8s.io staging modules`);
  const apiserver = [
    'module jobmatch-operator/test/kube/apiserver',
    '',
    goDirective,
    '',
    `require k8s.io/kubernetes ${KUBE_VERSION}`,
    '',
    '// Derived from kubernetes\' own go.mod (scripts/kube-assets.ts gomod): the k8s.io modules it requires at',
    '// v0.0.0 and takes from ./staging/src, here at their published versions.',
    'replace (',
    ...replaces.map((r) => `\t${r.path} => ${r.path} ${r.version}`),
    ')',
    '',
  ].join('\n');
  const etcd = ['module jobmatch-operator/test/kube/etcd', '', goDirective, '', `require go.etcd.io/etcd/server/v3 ${ETCD_VERSION}`, ''].join('\n');
  for (const [dir, text] of [[join(KUBE_SOURCE, 'apiserver'), apiserver], [join(KUBE_SOURCE, 'etcd'), etcd]] as const) {
    writeFileSync(join(dir, 'go.mod'), text);
    rmSync(join(dir, 'go.sum'), { force: true });
    const tidy = await run(go, ['mod', 'tidy'], { cwd: dir, env: goEnv() });
    if (tidy?.code !== 0) throw new Error(`go mod tidy in ${dir} failed:\n${tidy?.stderr ?? ''}`);
    log(`wrote ${join(dir, 'go.mod')} and go.sum`);
  }
}
