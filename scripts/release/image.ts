/**
 * The image: the Dockerfile built with buildah (its pinned bases unless others are given, e.g. a mirror), then
 * written as an OCI archive whose manifest digest is the one a registry will serve after
 * `skopeo copy --preserve-digests oci-archive:<archive> docker://<repository>:<version>`.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from './run.js';

export const BUILDAH_HINT = 'install buildah (Debian/Ubuntu: apt-get install -y buildah; elsewhere see https://github.com/containers/buildah/blob/main/install.md)';

export interface ImageBuild {
  root: string;
  version: string;
  revision: string;
  /** Seconds since the epoch for the image's created time and its files' times: the commit's time, so a rebuild is identical. */
  timestamp: number;
  /** Override the Dockerfile's BASE_IMAGE / RUNTIME_IMAGE (a mirror, or local images on a machine without a registry). */
  baseImage?: string;
  runtimeImage?: string;
  archive: string;
  /** The name recorded in the archive (org.opencontainers.image.ref.name) and podman's name after `podman load`. */
  reference: string;
  log: (line: string) => void;
}

/** Builds, archives, removes the local image, and returns the archived manifest's digest (sha256:…). */
export async function buildImage(build: ImageBuild): Promise<string> {
  const tag = `localhost/jobmatch-operator-release:${build.version}-${process.pid}`;
  // No --layers: a release leaves no intermediate images behind in the builder's storage.
  const args = [
    'bud', '--identity-label=false', `--timestamp=${build.timestamp}`,
    '--build-arg', `VERSION=${build.version}`, '--build-arg', `REVISION=${build.revision}`,
  ];
  if (build.baseImage) args.push('--build-arg', `BASE_IMAGE=${build.baseImage}`);
  if (build.runtimeImage) args.push('--build-arg', `RUNTIME_IMAGE=${build.runtimeImage}`);
  // Local bases (localhost/…) are never pulled; the pinned ones are pulled once, when missing.
  args.push(`--pull=${build.baseImage?.startsWith('localhost/') ? 'never' : 'missing'}`);
  args.push('--quiet', '-t', tag, '-f', join(build.root, 'Dockerfile'), build.root);
  build.log(`image: buildah ${args.slice(0, -5).join(' ')} … (1–3 min)`);
  await run('buildah', args, { installHint: BUILDAH_HINT, timeoutMs: 1_800_000 });
  const scratch = mkdtempSync(join(tmpdir(), 'jobmatch-release-digest-'));
  try {
    const digestFile = join(scratch, 'digest');
    rmSync(build.archive, { force: true });
    await run('buildah', ['push', '--quiet', '--format', 'oci', '--digestfile', digestFile, tag, `oci-archive:${build.archive}:${build.reference}`], { installHint: BUILDAH_HINT });
    const digest = readFileSync(digestFile, 'utf8').trim();
    if (!/^sha256:[0-9a-f]{64}$/.test(digest)) throw new Error(`buildah wrote an unexpected digest: ${JSON.stringify(digest)}`);
    return digest;
  } finally {
    rmSync(scratch, { recursive: true, force: true });
    await run('buildah', ['rmi', tag]).catch(() => undefined);
  }
}
