/**
 * The Go-built test tools (test infrastructure), built once and cached in ${XDG_CACHE_HOME:-~/.cache}/jobmatch-operator:
 * kube-apiserver and etcd (test/kube), the apiserver check (test/apiserver-check), the gitops check (test/gitops-check)
 * Helm (test/helm) and actionlint (test/github). scripts/test-prerequisites.sh runs it before the tests, so that no test's beforeAll spends
 * minutes building one of them, and two are never built at once.
 *   tsx scripts/test-tools.ts --plan    say which are cached and which would be built (and how long that takes the
 *                                       first time); exit 0 when all are cached, 10 when something is to be built
 *   tsx scripts/test-tools.ts --build   build what is not cached: one at a time, at the lowest CPU priority, with
 *                                       progress lines; exit 1 when a build failed (each one is still tried)
 */
import { existsSync } from 'node:fs';
import { constants as osConstants, homedir, setPriority } from 'node:os';
import { join } from 'node:path';
import { checkerCacheDir, checkerSourceHash, ensureChecker } from '../test/apiserver-check/checker-binary.js';
import { binaryVersion, ensureKubeAssets, ETCD_VERSION, KUBE_VERSION, kubeAssetsCacheDir } from '../test/kube/assets.js';
import { ensureGitOpsCheck, GITOPS_CHECK_SOURCE } from '../test/support/gitops-check.js';
import { HELM } from '../test/support/helm.js';
import { ACTIONLINT } from '../test/support/actionlint.js';
import { ensureGoTool, goToolCached, type GoTool } from '../test/support/go-tool.js';

interface Tool {
  name: string;
  /** Where it is when cached; undefined when it is to be built. */
  cached(): Promise<string | undefined>;
  /** How long a first build takes on 2 cores. */
  firstBuild: string;
  build(log: (line: string) => void): Promise<string>;
}

const home = (path: string) => (path.startsWith(homedir()) ? `~${path.slice(homedir().length)}` : path);

/** Whether `--version` output names this version ("Kubernetes v1.37.2", "etcd Version: 3.7.3"), as test/kube/assets.ts checks it. */
function says(output: string | undefined, version: string): boolean {
  const bare = version.replace(/^v/, '').replaceAll('.', '\\.');
  return output !== undefined && new RegExp(`(^|[^0-9.])v?${bare}($|[^0-9.])`, 'm').test(output);
}

/** A tool test/support/go-tool.ts builds (Helm, actionlint): cached where ensureGoTool looks, built by it. */
function goToolEntry(tool: GoTool, module: string, firstBuild: string): Tool {
  return {
    name: `${tool.name} ${tool.version} (${module})`,
    async cached() {
      const where = await goToolCached(tool);
      return where && home(where);
    },
    firstBuild,
    build: (log) => ensureGoTool(tool, log),
  };
}

const TOOLS: Tool[] = [
  {
    name: `kube-apiserver ${KUBE_VERSION} and etcd ${ETCD_VERSION} (test/kube)`,
    async cached() {
      const assets = process.env.KUBEBUILDER_ASSETS;
      // Lacking a binary, ensureKubeAssets fails with what is wrong: --build runs it.
      if (assets) return existsSync(join(assets, 'kube-apiserver')) && existsSync(join(assets, 'etcd')) ? `KUBEBUILDER_ASSETS=${assets}` : undefined;
      const dir = kubeAssetsCacheDir();
      const [apiserver, etcd] = await Promise.all([binaryVersion(join(dir, 'kube-apiserver')), binaryVersion(join(dir, 'etcd'))]);
      return says(apiserver, KUBE_VERSION) && says(etcd, ETCD_VERSION) ? home(dir) : undefined;
    },
    firstBuild: '10–17 min on 2 cores and ~2.4 GB of RAM (~20 s when Go\'s build cache is warm already)',
    build: async (log) => (await ensureKubeAssets({ log })).dir,
  },
  {
    name: 'the apiserver check (test/apiserver-check)',
    async cached() {
      const binary = join(checkerCacheDir(), `apiserver-check-${checkerSourceHash().slice(0, 16)}`);
      return existsSync(binary) ? home(binary) : undefined;
    },
    firstBuild: 'about 4 min on 2 cores (measured: 3 min 42 s, on a machine where kube-apiserver had been built)',
    build: (log) => ensureChecker({ log }),
  },
  {
    name: 'the gitops check (test/gitops-check)',
    async cached() {
      const binary = join(checkerCacheDir(), `gitops-check-${checkerSourceHash(GITOPS_CHECK_SOURCE).slice(0, 16)}`);
      return existsSync(binary) ? home(binary) : undefined;
    },
    firstBuild: 'under a minute on 2 cores (measured: 52 s)',
    build: (log) => ensureGitOpsCheck(log),
  },
  goToolEntry(HELM, 'test/helm', '3–7 min on 2 cores (measured: 3 min 0 s from empty Go caches on an idle machine, 7.4 min on a busy one), after downloading ~120 MB of Go modules'),
  goToolEntry(ACTIONLINT, 'test/github', 'under a minute on 2 cores (measured: 13 s with its ~5 MB of Go modules downloaded)'),
];

function elapsed(started: number): string {
  const s = (performance.now() - started) / 1000;
  return s < 120 ? `${s.toFixed(1)} s` : `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
}

/** The tools not cached, saying so (and where the cached ones are) when `print`. */
async function plan(print: boolean): Promise<Tool[]> {
  const states = await Promise.all(TOOLS.map(async (tool) => ({ tool, where: await tool.cached() })));
  if (print) {
    console.log(`Go-built test tools (cached in ${home(checkerCacheDir())}):`);
    for (const { tool, where } of states) {
      console.log(where ? `  cached: ${tool.name}: ${where}` : `  to build: ${tool.name}: a first build takes ${tool.firstBuild}`);
    }
  }
  return states.filter((s) => !s.where).map((s) => s.tool);
}

const mode = process.argv[2];
if (mode === '--plan') {
  process.exitCode = (await plan(true)).length > 0 ? 10 : 0;
} else if (mode === '--build') {
  const todo = await plan(false); // scripts/test-prerequisites.sh has printed the plan already
  // Every go build below inherits this priority: tests or other work running meanwhile keep theirs.
  try {
    setPriority(osConstants.priority.PRIORITY_LOW);
  } catch {
    // not allowed here: build at normal priority
  }
  const failed: string[] = [];
  for (const [i, tool] of todo.entries()) {
    const started = performance.now();
    const step = `[${i + 1}/${todo.length}] ${tool.name}`;
    console.log(`${step}: building (the first time: ${tool.firstBuild})…`);
    // A line a minute at least: the builder's own progress lines when it prints them, else this one.
    let lastLine = performance.now();
    const ticker = setInterval(() => {
      if (performance.now() - lastLine >= 55_000) console.log(`${step}: still building (${elapsed(started)})…`);
    }, 60_000);
    try {
      const where = await tool.build((line) => {
        lastLine = performance.now();
        console.log(`  ${line}`);
      });
      console.log(`${step}: built in ${elapsed(started)}: ${home(where)}`);
    } catch (e) {
      failed.push(tool.name);
      console.error(`${step}: FAILED after ${elapsed(started)}: ${(e as Error).message}`);
    } finally {
      clearInterval(ticker);
    }
  }
  if (failed.length > 0) {
    console.error(`could not build ${failed.join(', ')}: the tests that use ${failed.length > 1 ? 'them' : 'it'} would fail (see above)`);
    process.exitCode = 1;
  }
} else {
  console.error('usage: tsx scripts/test-tools.ts --plan|--build');
  process.exitCode = 2;
}
