/**
 * scripts/test-prerequisites.sh (what `npm test` runs first): under a PATH holding only some tools, its --check
 * names exactly the missing ones and the one apt-get command a real run would use, and changes nothing; without
 * apt-get it lists what to install elsewhere and fails. The tools are stand-ins (so the result does not depend on
 * what this machine has installed); apt-cache is a stand-in that knows a fixed set of packages, apt-get one that
 * records any call.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkerSourceHash } from '../apiserver-check/checker-binary.js';
import { ETCD_VERSION, KUBE_VERSION } from '../kube/assets.js';
import { GITOPS_CHECK_SOURCE } from '../support/gitops-check.js';
import { HELM_VERSION } from '../support/helm.js';
import { ACTIONLINT_VERSION } from '../support/actionlint.js';
import { runCommand } from '../support/run-command.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SCRIPT = join(ROOT, 'scripts/test-prerequisites.sh');
/** What the script itself runs, linked to the real ones. */
const SYSTEM = ['sh', 'sed', 'grep', 'id', 'dirname', 'readlink', 'sort', 'env'];
/** The tools it checks for; each scenario puts stand-ins of some of them on PATH. */
const TOOLS = ['go', 'buildah', 'podman', 'runc', 'openssl', 'shellcheck', 'curl', 'git', 'java', 'gcloud', 'kubectl'];
const sudo = process.getuid?.() === 0 ? '' : 'sudo ';

let dir: string;
let sdk: string;
let aptGetCalls: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'jobmatch-prereq-'));
  // A Google Cloud SDK with the Pub/Sub emulator's jar, found through CLOUDSDK_ROOT_DIR.
  sdk = join(dir, 'sdk');
  mkdirSync(join(sdk, 'platform/pubsub-emulator/lib'), { recursive: true });
  writeFileSync(join(sdk, 'platform/pubsub-emulator/lib/cloud-pubsub-emulator-0.9.9-all.jar'), '');
  aptGetCalls = join(dir, 'apt-get-calls');
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

function script(path: string, body: string): void {
  writeFileSync(path, `#!/bin/sh\n${body}\n`);
  chmodSync(path, 0o755);
}

/** A bin directory with the system commands, stand-ins of `tools`, and optionally apt-get/apt-cache stand-ins. */
function binDir(name: string, tools: string[], { apt, golangGo = '2:1.24~2', go = 'go1.26.8', goToolchain = 'auto' }: { apt: boolean; golangGo?: string; go?: string; goToolchain?: string }): string {
  const bin = join(dir, name);
  mkdirSync(bin);
  for (const command of SYSTEM) {
    const real = spawnSync('sh', ['-c', `command -v ${command}`], { encoding: 'utf8' }).stdout.trim();
    if (!real) throw new Error(`${command} not found on this machine's PATH`);
    symlinkSync(real, join(bin, command));
  }
  for (const tool of tools) {
    script(join(bin, tool), tool === 'go'
      ? `case "$2" in GOVERSION) echo ${go} ;; GOTOOLCHAIN) echo ${goToolchain} ;; esac`
      : 'exit 0');
  }
  if (apt) {
    script(join(bin, 'apt-get'), `echo "$*" >> '${aptGetCalls}'; exit 1`);
    // apt-cache policy PKG: a candidate for Debian's packages; Google's (google-cloud-cli...) unknown, as without its repository.
    script(join(bin, 'apt-cache'), [
      'echo "$2:"',
      'case "$2" in',
      `  golang-go) echo "  Candidate: ${golangGo}" ;;`,
      '  google-cloud-cli|google-cloud-cli-pubsub-emulator|kubectl) echo "  Candidate: (none)" ;;',
      '  *) echo "  Candidate: 1.0-1" ;;',
      'esac',
    ].join('\n'));
  }
  return bin;
}

function check(bin: string) {
  const run = spawnSync('/bin/sh', [SCRIPT, '--check'], {
    encoding: 'utf8',
    env: { PATH: bin, HOME: process.env.HOME, CLOUDSDK_ROOT_DIR: sdk },
    timeout: 60_000,
  });
  return { code: run.status, stdout: run.stdout, stderr: run.stderr };
}

const missingLine = (out: string) => out.match(/^ {2}missing: ?(.*)$/m)?.[1]?.trim().split(/\s+/);

describe('scripts/test-prerequisites.sh --check', () => {
  it('names exactly the missing tools and the one apt-get command a run would use, and changes nothing', () => {
    const missing = ['go', 'buildah', 'podman', 'shellcheck', 'java'];
    const run = check(binDir('some', TOOLS.filter((t) => !missing.includes(t)), { apt: true }));
    expect(run.stderr).toBe('');
    expect(missingLine(run.stdout)).toEqual(missing);
    for (const tool of missing) expect(run.stdout).toMatch(new RegExp(`^ {4}${tool}: \\S`, 'm'));
    expect(run.stdout).toContain(`  to install: ${sudo}apt-get update && ${sudo}env DEBIAN_FRONTEND=noninteractive `
      + 'apt-get install -y --no-install-recommends golang-go buildah podman catatonit shellcheck openjdk-17-jre-headless\n');
    expect(run.stdout).toMatch(/^Go-built test tools/m);
    expect(run.code).toBe(0);
    expect(existsSync(aptGetCalls)).toBe(false);
  });

  it('says what apt cannot provide (Debian 12\'s Go 1.19, Google\'s packages without their repository) and exits 1', () => {
    const run = check(binDir('debian12', TOOLS.filter((t) => !['go', 'kubectl', 'gcloud'].includes(t)), { apt: true, golangGo: '2:1.19~1' }));
    expect(missingLine(run.stdout)).toEqual(['go', 'gcloud', 'kubectl']);
    expect(run.stdout).not.toContain('to install:');
    expect(run.stdout).toMatch(/^ {2}go: this distribution's golang-go is 1\.19~1, too old .*\n.*https:\/\/go\.dev\/doc\/install/m);
    expect(run.stdout).toMatch(/^ {2}gcloud: apt has no google-cloud-cli: add Google's apt repository/m);
    expect(run.stdout).toMatch(/^ {2}kubectl: apt has no kubectl/m);
    expect(run.code).toBe(1);
    expect(existsSync(aptGetCalls)).toBe(false);
  });

  it('says when the Go there cannot build test/kube (go1.24 with GOTOOLCHAIN=local) and exits 1', () => {
    const run = check(binDir('go124', TOOLS, { apt: true, go: 'go1.24.4', goToolchain: 'local' }));
    expect(run.stdout).toContain('  missing: none\n');
    expect(run.stdout).toContain('  go: go1.24.4 with GOTOOLCHAIN=local cannot build test/kube (its go.mod asks for Go 1.26): go env -w GOTOOLCHAIN=auto');
    expect(run.code).toBe(1);
  });

  it('reports nothing missing when every tool is there', () => {
    const run = check(binDir('all', TOOLS, { apt: true }));
    expect(run.stdout).toContain('  missing: none\n');
    expect(run.stdout).not.toContain('to install:');
    expect(run.code).toBe(0);
  });

  it('without apt-get lists what to install elsewhere, per platform, and exits non-zero', () => {
    const run = check(binDir('no-apt', TOOLS.filter((t) => !['buildah', 'shellcheck'].includes(t)), { apt: false }));
    expect(missingLine(run.stdout)).toEqual(['buildah', 'shellcheck']);
    expect(run.stdout).not.toContain('to install:');
    expect(run.stderr).toContain('error: apt-get not found: install these yourself, then run npm test again:\n'
      + '  buildah: test/image (builds the Dockerfile and runs the image)\n'
      + '  shellcheck: test/vm-agent/shellcheck.test.ts\n');
    expect(run.stderr).toContain('  Fedora/RHEL: sudo dnf install -y buildah ShellCheck\n');
    expect(run.stderr).toContain('  macOS (Homebrew): brew install shellcheck\n');
    expect(run.stderr).toMatch(/buildah, runc: Linux only/);
    expect(run.code).not.toBe(0);
  });
});

describe('scripts/test-prerequisites.sh (a run)', () => {
  it('installs what is missing with apt-get update, then one apt-get install, and builds nothing already cached', () => {
    // The Go-built tools, cached: stand-ins where scripts/test-tools.ts looks, answering --version as the real ones do.
    const cache = join(dir, 'cache');
    const tools = join(cache, 'jobmatch-operator');
    mkdirSync(join(tools, 'kube', KUBE_VERSION), { recursive: true });
    script(join(tools, 'kube', KUBE_VERSION, 'kube-apiserver'), `echo 'Kubernetes ${KUBE_VERSION}'`);
    script(join(tools, 'kube', KUBE_VERSION, 'etcd'), `echo 'etcd Version: ${ETCD_VERSION.replace(/^v/, '')}'`);
    mkdirSync(join(tools, `helm-${HELM_VERSION}`));
    script(join(tools, `helm-${HELM_VERSION}`, 'helm'), `printf '${HELM_VERSION}'`);
    mkdirSync(join(tools, `actionlint-${ACTIONLINT_VERSION}`));
    script(join(tools, `actionlint-${ACTIONLINT_VERSION}`, 'actionlint'), `printf '${ACTIONLINT_VERSION}\\ninstalled by building from source\\n'`);
    script(join(tools, `apiserver-check-${checkerSourceHash().slice(0, 16)}`), 'exit 0');
    script(join(tools, `gitops-check-${checkerSourceHash(GITOPS_CHECK_SOURCE).slice(0, 16)}`), 'exit 0');

    const bin = binDir('run', TOOLS.filter((t) => !['buildah', 'shellcheck'].includes(t)), { apt: true });
    const calls = join(dir, 'run-apt-get-calls');
    // apt-get: records its calls; `install` puts a stand-in of each package on PATH. sudo (when not root): runs its command.
    script(join(bin, 'apt-get'), [
      `echo "\${DEBIAN_FRONTEND:-} $*" >> '${calls}'`,
      'if [ "$1" = install ]; then',
      '  for p in "$@"; do case "$p" in install|-*) ;; *) printf \'#!/bin/sh\\nexit 0\\n\' > "$(dirname "$0")/$p"; chmod +x "$(dirname "$0")/$p" ;; esac; done',
      'fi',
    ].join('\n'));
    script(join(bin, 'sudo'), 'exec "$@"');
    symlinkSync(spawnSync('sh', ['-c', 'command -v chmod'], { encoding: 'utf8' }).stdout.trim(), join(bin, 'chmod'));

    const run = spawnSync('/bin/sh', [SCRIPT], {
      encoding: 'utf8',
      env: { PATH: bin, HOME: process.env.HOME, CLOUDSDK_ROOT_DIR: sdk, XDG_CACHE_HOME: cache },
      timeout: 60_000,
    });
    expect(run.stderr).toBe('');
    expect(missingLine(run.stdout)).toEqual(['buildah', 'shellcheck']);
    expect(run.stdout).toContain('installing with apt-get: buildah shellcheck\n');
    expect(readFileSync(calls, 'utf8').split('\n')).toEqual([' update', 'noninteractive install -y --no-install-recommends buildah shellcheck', '']);
    expect(run.stdout.match(/^ {2}cached: /gm)).toHaveLength(5);
    expect(run.stdout).not.toMatch(/to build|building/);
    expect(run.status).toBe(0);
  });
});

it('scripts/test-prerequisites.sh is POSIX sh that shellcheck finds nothing in', async () => {
  const run = await runCommand('shellcheck', ['-s', 'sh', SCRIPT]);
  if (!run) throw new Error('shellcheck is needed: apt-get install shellcheck (Debian/Ubuntu; npm test installs it)');
  expect(run.stdout + run.stderr).toBe('');
  expect(run.code).toBe(0);
});
