/**
 * install.yaml: the CRD first, then manifests/install as kustomize renders it with the image pinned by digest,
 * so one `kubectl apply --server-side -f install.yaml` installs the release. Rendered by kubectl's kustomize
 * from an overlay of manifests/install, the same rendering users get from `kubectl apply -k`.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { stringify } from 'yaml';
import { run } from './run.js';

export const KUBECTL_HINT = 'install kubectl ≥ 1.27 (https://kubernetes.io/docs/tasks/tools/): its built-in kustomize renders manifests/install';

export interface InstallYaml {
  root: string;
  version: string;
  revision: string;
  /** e.g. ghcr.io/jobmatch/jobmatch-operator */
  repository: string;
  digest: string;
}

export async function renderInstallYaml(release: InstallYaml): Promise<string> {
  const overlay = mkdtempSync(join(tmpdir(), 'jobmatch-release-overlay-'));
  try {
    // The base names the image ghcr.io/jobmatch/jobmatch-operator:<version> (its own images: entry).
    const kustomization = {
      apiVersion: 'kustomize.config.k8s.io/v1beta1',
      kind: 'Kustomization',
      // kustomize takes a base's path relative to the overlay only.
      resources: [relative(overlay, join(release.root, 'manifests/install'))],
      images: [{ name: 'ghcr.io/jobmatch/jobmatch-operator', newName: release.repository, digest: release.digest }],
    };
    writeFileSync(join(overlay, 'kustomization.yaml'), stringify(kustomization));
    const operator = await run('kubectl', ['kustomize', overlay], { installHint: KUBECTL_HINT });
    if (!operator.includes(`image: ${release.repository}@${release.digest}`)) {
      throw new Error(`kubectl kustomize did not pin the image to ${release.repository}@${release.digest}: is manifests/install/kustomization.yaml's images entry still named ghcr.io/jobmatch/jobmatch-operator?`);
    }
    const crd = readFileSync(join(release.root, 'crds/jobmatchenvironments.jobmatch.io.yaml'), 'utf8');
    const header = [
      `# jobmatch-operator ${release.version} (commit ${release.revision}): the CRD, then the operator in namespace jobmatch-system.`,
      '# Install or upgrade: kubectl apply --server-side -f install.yaml',
      '# Before: set the Workload Identity annotation of the ServiceAccount jobmatch-operator (docs/install-gke.md).',
      `# Image: ${release.repository}@${release.digest}`,
      '',
    ].join('\n');
    return `${header}${crd.trimEnd()}\n---\n${operator}`;
  } finally {
    rmSync(overlay, { recursive: true, force: true });
  }
}
