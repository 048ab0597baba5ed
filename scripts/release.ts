/**
 * npm run release [-- options]: builds the release of package.json's version into release/<version>/:
 *   jobmatch-operator-<version>.oci.tar   the image (OCI archive, built with buildah from the Dockerfile)
 *   image.digest                          its manifest digest (sha256:…)
 *   install.yaml                          the CRD, then the operator, the image pinned by that digest
 *   jobmatch-operator-<version>.tgz       the Helm chart, its default image pinned by that digest
 *   sbom.cdx.json                         CycloneDX SBOM of the production dependencies
 *   SHA256SUMS                            over all of the above (sha256sum -c SHA256SUMS)
 * Needs buildah, kubectl, npm, git, and Go (the real Helm is built once and cached, like the tests' tools).
 */
import { Command } from 'commander';
import { existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureHelm } from '../test/support/helm.js';
import { packageChart } from './release/chart.js';
import { CHECKSUMS_FILE, writeChecksums } from './release/checksums.js';
import { buildImage } from './release/image.js';
import { renderInstallYaml } from './release/install-yaml.js';
import { run } from './release/run.js';
import { writeSbom } from './release/sbom.js';
import { packageVersion, versionMismatches } from './release/versions.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const log = (line: string) => process.stderr.write(`release: ${line}\n`);

interface Options {
  out?: string;
  imageRepository: string;
  baseImage?: string;
  runtimeImage?: string;
  allowDirty?: boolean;
}

async function gitState(): Promise<{ revision: string; timestamp: number; dirty: boolean }> {
  const revision = (await run('git', ['rev-parse', 'HEAD'], { cwd: root })).trim();
  const timestamp = Number((await run('git', ['log', '-1', '--format=%ct'], { cwd: root })).trim());
  const dirty = (await run('git', ['status', '--porcelain'], { cwd: root })).trim() !== '';
  return { revision, timestamp, dirty };
}

async function release(options: Options): Promise<void> {
  const version = packageVersion(root);
  const mismatches = versionMismatches(root, version);
  if (mismatches.length > 0) {
    throw new Error(`package.json says ${version}, but ${mismatches.map((m) => `${m.file} ${m.field} says ${String(m.found)}`).join('; ')}: set them all to ${version}`);
  }
  const git = await gitState();
  if (git.dirty && !options.allowDirty) throw new Error('the checkout has uncommitted changes: commit them (a release names its commit), or pass --allow-dirty for a trial');
  const revision = git.dirty ? `${git.revision}-dirty` : git.revision;
  const outDir = options.out ? (isAbsolute(options.out) ? options.out : resolve(options.out)) : join(root, 'release', version);
  if (existsSync(outDir) && readdirSync(outDir).length > 0) throw new Error(`${outDir} is not empty: remove it first (a release never overwrites one)`);
  mkdirSync(outDir, { recursive: true });
  log(`jobmatch-operator ${version}, commit ${revision}, into ${outDir}`);

  // Helm is built from Go modules on first use (minutes): start it while the image builds.
  const helm = ensureHelm(log);
  helm.catch(() => undefined);
  const archive = join(outDir, `jobmatch-operator-${version}.oci.tar`);
  const digest = await buildImage({
    root, version, revision, timestamp: git.timestamp, archive, log,
    reference: `${options.imageRepository}:${version}`,
    ...(options.baseImage ? { baseImage: options.baseImage } : {}),
    ...(options.runtimeImage ? { runtimeImage: options.runtimeImage } : {}),
  });
  writeFileSync(join(outDir, 'image.digest'), `${digest}\n`);
  log(`image ${options.imageRepository}@${digest}`);

  writeFileSync(join(outDir, 'install.yaml'), await renderInstallYaml({ root, version, revision, repository: options.imageRepository, digest }));
  await packageChart({ root, digest, repository: options.imageRepository, outDir, helm: await helm });
  const components = await writeSbom(root, join(outDir, 'sbom.cdx.json'));
  log(`SBOM: ${components} production components`);
  const files = await writeChecksums(outDir);
  for (const file of [...files, CHECKSUMS_FILE]) process.stdout.write(`${join(outDir, file)}\t${statSync(join(outDir, file)).size} bytes\n`);
}

const program = new Command('release')
  .description("Builds the release of package.json's version: image archive, install.yaml, Helm chart, SBOM, SHA256SUMS")
  .option('--out <dir>', 'where to write it (default: release/<version>); must be empty or missing')
  .option('--image-repository <repository>', 'where the image will be pushed: install.yaml and the chart pin <repository>@<digest>', 'ghcr.io/jobmatch/jobmatch-operator')
  .option('--base-image <image>', "the Dockerfile's build-stage base instead of its pinned one (a mirror, pinned by digest too)")
  .option('--runtime-image <image>', "the Dockerfile's runtime base instead of its pinned one")
  .option('--allow-dirty', 'build from a checkout with uncommitted changes (the commit is then recorded as <commit>-dirty)')
  .action(async (options: Options) => release(options));

program.parseAsync(process.argv).catch((error: unknown) => {
  process.stderr.write(`release: error: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
