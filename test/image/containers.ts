/**
 * buildah and podman for the image test, on a machine with no container registry: the tools (whose absence
 * is a failure with the install hint, never a skip), a containers.conf this kind of machine needs, and two
 * local base images assembled from the Node 24 running the tests — one shaped like node:24-bookworm-slim
 * (node, npm, sh) for the Dockerfile's build stage, one like distroless nodejs24 (node and its libraries,
 * no shell) for its runtime stage. Both are cached by a tag with the Node version and the recipe version.
 */
import { execFile, spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, cpSync, existsSync, mkdirSync, realpathSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';

const execFileP = promisify(execFile);

export const INSTALL_HINT =
  'the image test needs buildah, podman and runc: apt-get install -y buildah podman runc (Debian/Ubuntu; about 30 s)';

/** Bump when the base images' contents change, so cached ones are rebuilt. */
const RECIPE = 1;

/**
 * podman's default ulimits are refused on these machines ("setrlimit RLIMIT_NOFILE: Operation not permitted"),
 * and crun fails with "cgroups in hybrid mode not supported": cap the ulimits and use runc, for buildah and podman.
 */
function containersConf(): string {
  const file = join(tmpdir(), 'jobmatch-operator-containers.conf');
  writeFileSync(file, '[containers]\ndefault_ulimits=["nofile=20000:20000","nproc=32768:32768"]\n[engine]\nruntime="runc"\n');
  return file;
}

export const containerEnv: NodeJS.ProcessEnv = { ...process.env, CONTAINERS_CONF: process.env.CONTAINERS_CONF ?? containersConf() };

/** Throws (with the install hint) unless buildah, podman and runc all run. */
export function requireContainerTools(): void {
  const missing = ['buildah', 'podman', 'runc'].filter((tool) => spawnSync(tool, ['--version'], { stdio: 'ignore' }).status !== 0);
  if (missing.length > 0) throw new Error(`${missing.join(', ')} not found: ${INSTALL_HINT}`);
}

export interface Result {
  stdout: string;
  stderr: string;
}

/** Runs buildah/podman with the containers.conf above; rejects with the command's stderr on a non-zero exit. */
export async function tool(command: 'buildah' | 'podman', args: string[], { timeoutMs = 120_000 } = {}): Promise<Result> {
  try {
    const { stdout, stderr } = await execFileP(command, args, { env: containerEnv, maxBuffer: 64 << 20, timeout: timeoutMs });
    return { stdout, stderr };
  } catch (error) {
    const e = error as Error & { stderr?: string; stdout?: string; code?: number | string };
    throw new Error(`${command} ${args.join(' ')} failed (${e.code}): ${(e.stderr || e.stdout || e.message).slice(-4000)}`);
  }
}

export async function imageExists(ref: string): Promise<boolean> {
  return spawnSync('podman', ['image', 'exists', ref], { env: containerEnv }).status === 0;
}

/** The shared libraries a binary loads, as ldd lists them (absolute paths on this machine). */
function libraries(binary: string): string[] {
  const ldd = spawnSync('ldd', [binary], { encoding: 'utf8' });
  if (ldd.status !== 0) throw new Error(`ldd ${binary} failed: ${ldd.stderr}`);
  return [...ldd.stdout.matchAll(/(\/\S+)/g)].map((m) => m[1]!);
}

/** Copies a file into the image's root at the same path, following symlinks (the image gets the real file). */
function copyIn(root: string, path: string, to = path): void {
  mkdirSync(dirname(join(root, to)), { recursive: true });
  copyFileSync(realpathSync(path), join(root, to));
  chmodSync(join(root, to), 0o755);
}

/** The files every base gets: Node's libraries, name resolution, CA certificates, users, /tmp. */
function commonFiles(root: string, nodeBinary: string, { shell }: { shell: boolean }): void {
  const nss = ['/lib/x86_64-linux-gnu/libnss_files.so.2', '/lib/x86_64-linux-gnu/libnss_dns.so.2'].filter(existsSync);
  for (const lib of new Set([...libraries(nodeBinary), ...nss])) copyIn(root, lib);
  mkdirSync(join(root, 'etc/ssl/certs'), { recursive: true });
  // This machine's CA bundle (which may hold the CA of a proxy in front of the npm registry).
  copyFileSync(realpathSync('/etc/ssl/certs/ca-certificates.crt'), join(root, 'etc/ssl/certs/ca-certificates.crt'));
  const login = shell ? '/bin/sh' : '/sbin/nologin';
  writeFileSync(join(root, 'etc/passwd'), `root:x:0:0:root:/root:${login}\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n`);
  writeFileSync(join(root, 'etc/group'), 'root:x:0:\nnonroot:x:65532:\n');
  writeFileSync(join(root, 'etc/nsswitch.conf'), 'passwd: files\ngroup: files\nhosts: files dns\n');
  for (const dir of ['tmp', 'root', 'home/nonroot']) mkdirSync(join(root, dir), { recursive: true });
  chmodSync(join(root, 'tmp'), 0o1777);
}

/** A base image from scratch: fill(root) writes its files, config sets its metadata, then commit as tag. */
async function assemble(tag: string, fill: (root: string) => void, config: string[]): Promise<void> {
  const { stdout } = await tool('buildah', ['from', 'scratch']);
  const container = stdout.trim();
  try {
    const root = (await tool('buildah', ['mount', container])).stdout.trim();
    try {
      fill(root);
    } finally {
      await tool('buildah', ['umount', container]);
    }
    await tool('buildah', ['config', ...config, container]);
    await tool('buildah', ['commit', '--rm', '--quiet', container, tag]);
  } catch (error) {
    spawnSync('buildah', ['rm', container], { env: containerEnv, stdio: 'ignore' });
    throw error;
  }
}

export interface LocalBases {
  /** Like node:24-bookworm-slim: /usr/local/bin/node, npm, /bin/sh, /usr/bin/env. */
  build: string;
  /** Like gcr.io/distroless/nodejs24-debian12:nonroot: /nodejs/bin/node, no shell, user 65532. */
  runtime: string;
  /** The images this call created (the rest were cached). */
  created: string[];
}

/**
 * The two local bases, built from nodeBinary (a Node 24 for x86-64 Linux) unless an image with the same tag
 * exists. The build base trusts this machine's CA bundle (NODE_EXTRA_CA_CERTS) so that `npm ci` in the
 * Dockerfile reaches the registry here; the Dockerfile itself sets nothing of the kind.
 */
export async function localBases(nodeBinary: string): Promise<LocalBases> {
  const version = spawnSync(nodeBinary, ['--version'], { encoding: 'utf8' }).stdout.trim().replace(/^v/, '');
  if (!/^24\./.test(version)) throw new Error(`the image's local base needs a Node 24 binary; ${nodeBinary} is ${version || 'not runnable'}`);
  const npmRoot = ['/usr/lib/node_modules/npm', '/usr/local/lib/node_modules/npm', join(dirname(realpathSync(nodeBinary)), '../lib/node_modules/npm')].find((d) =>
    existsSync(join(d, 'bin/npm-cli.js')),
  );
  if (!npmRoot) throw new Error('npm not found on this machine (looked in /usr/lib/node_modules/npm and /usr/local/lib/node_modules/npm)');
  const npmVersion = spawnSync(nodeBinary, [join(npmRoot, 'bin/npm-cli.js'), '--version'], { encoding: 'utf8' }).stdout.trim();

  const bases: LocalBases = {
    build: `localhost/jobmatch-test-node-build:${version}-npm${npmVersion}-r${RECIPE}`,
    runtime: `localhost/jobmatch-test-node-runtime:${version}-r${RECIPE}`,
    created: [],
  };
  const path = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

  if (!(await imageExists(bases.build))) {
    await assemble(
      bases.build,
      (root) => {
        commonFiles(root, nodeBinary, { shell: true });
        copyIn(root, nodeBinary, '/usr/local/bin/node');
        copyIn(root, '/bin/dash', '/bin/sh');
        for (const lib of libraries('/bin/dash')) copyIn(root, lib);
        copyIn(root, '/usr/bin/env');
        cpSync(npmRoot, join(root, 'usr/local/lib/node_modules/npm'), { recursive: true, dereference: true });
        symlinkSync('../lib/node_modules/npm/bin/npm-cli.js', join(root, 'usr/local/bin/npm'));
        symlinkSync('../lib/node_modules/npm/bin/npx-cli.js', join(root, 'usr/local/bin/npx'));
      },
      ['--env', path, '--env', 'NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt', '--env', 'npm_config_update_notifier=false', '--cmd', 'node'],
    );
    bases.created.push(bases.build);
  }
  if (!(await imageExists(bases.runtime))) {
    await assemble(
      bases.runtime,
      (root) => {
        commonFiles(root, nodeBinary, { shell: false });
        copyIn(root, nodeBinary, '/nodejs/bin/node');
      },
      ['--env', path, '--user', '65532:65532', '--workingdir', '/home/nonroot', '--entrypoint', '["/nodejs/bin/node"]'],
    );
    bases.created.push(bases.runtime);
  }
  return bases;
}
