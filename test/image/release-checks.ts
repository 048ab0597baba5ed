/**
 * What a release holds besides the image (image.test.ts builds the release once and runs its image): the
 * checksums, the digest file against the archive, install.yaml applied to the real apiserver, the chart
 * packaged with the digest, the SBOM; and the refusals that stop a release before it builds anything.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { versionMismatches } from '../../scripts/release/versions.js';
import { startKube, type Kube } from '../kube/cluster.js';
import { ensureHelm } from '../support/helm.js';
import { runCommand } from '../support/run-command.js';
import { IMAGE_REPOSITORY, PACKAGE_VERSION, ROOT, runRelease, type Release } from './release-build.js';

type Doc = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string }; [k: string]: any };

const docsOf = (yaml: string): Doc[] => parseAllDocuments(yaml).map((d) => d.toJS() as Doc).filter(Boolean);
const deploymentImage = (docs: Doc[]): string => docs.find((d) => d.kind === 'Deployment')!.spec.template.spec.containers[0].image;

async function must(command: string, args: string[], cwd?: string): Promise<string> {
  const result = await runCommand(command, args, cwd ? { cwd } : {});
  if (result?.code !== 0) throw new Error(`${command} ${args.join(' ')}: exit ${result?.code ?? 'not found'}\n${result?.stderr ?? ''}`);
  return result.stdout;
}

export function releaseTests(release: () => Release): void {
  describe('the release (npm run release)', () => {
    let kube: Kube | undefined;
    let kubeError: unknown;
    beforeAll(async () => {
      kube = await startKube().catch((error: unknown) => {
        kubeError = error;
        return undefined;
      });
    });
    afterAll(async () => kube?.stop());

    it('writes the archive, its digest, install.yaml, the chart, the SBOM and SHA256SUMS over all of them', async () => {
      const { dir, version } = release();
      const files = [`jobmatch-operator-${version}.oci.tar`, 'image.digest', 'install.yaml', `jobmatch-operator-${version}.tgz`, 'sbom.cdx.json'];
      expect(readdirSync(dir).sort()).toEqual([...files, 'SHA256SUMS'].sort());
      expect(readFileSync(join(dir, 'SHA256SUMS'), 'utf8').trim().split('\n').map((l) => l.split('  ')[1]).sort()).toEqual([...files].sort());
      await must('sha256sum', ['--check', '--strict', 'SHA256SUMS'], dir);
    });

    it("records the archived manifest's digest: the one a registry serves after a digest-preserving push", async () => {
      const { archive, digest, version } = release();
      const index = JSON.parse(execFileSync('tar', ['-xOf', archive, 'index.json'], { encoding: 'utf8' })) as { manifests: { digest: string; annotations?: Record<string, string> }[] };
      expect(index.manifests).toHaveLength(1);
      expect(index.manifests[0]!.digest).toBe(digest);
      expect(index.manifests[0]!.annotations?.['org.opencontainers.image.ref.name']).toBe(`${IMAGE_REPOSITORY}:${version}`);
    });

    it('install.yaml: the CRD first, the image by digest; `kubectl apply --server-side` brings both up on the apiserver', async () => {
      const { dir, digest } = release();
      const docs = docsOf(readFileSync(join(dir, 'install.yaml'), 'utf8'));
      expect(docs[0]!.kind).toBe('CustomResourceDefinition');
      expect(docs.map((d) => d.kind)).toEqual(expect.arrayContaining(['Namespace', 'ServiceAccount', 'ClusterRole', 'ConfigMap', 'Deployment', 'Service']));
      expect(deploymentImage(docs)).toBe(`${IMAGE_REPOSITORY}@${digest}`);
      if (!kube) throw kubeError;
      await must('kubectl', ['--kubeconfig', kube.kubeconfigPath, 'apply', '--server-side', '-f', join(dir, 'install.yaml')]);
      await must('kubectl', ['--kubeconfig', kube.kubeconfigPath, 'wait', '--for=condition=Established', '--timeout=30s', 'crd/jobmatchenvironments.jobmatch.io']);
      const live = JSON.parse(await must('kubectl', ['--kubeconfig', kube.kubeconfigPath, 'get', 'deployment', 'jobmatch-operator', '-n', 'jobmatch-system', '-o', 'json'])) as Doc;
      expect(live.spec.template.spec.containers[0].image).toBe(`${IMAGE_REPOSITORY}@${digest}`);
      // Applied again (an upgrade to the same release): nothing conflicts.
      await must('kubectl', ['--kubeconfig', kube.kubeconfigPath, 'apply', '--server-side', '-f', join(dir, 'install.yaml')]);
    }, 60_000);

    it('the chart is packaged with the image pinned by the same digest', async () => {
      const { dir, digest, version } = release();
      const helm = await ensureHelm();
      const chart = join(dir, `jobmatch-operator-${version}.tgz`);
      const values = parse(await must(helm, ['show', 'values', chart])) as { image: { repository: string; digest: string } };
      expect(values.image).toMatchObject({ repository: IMAGE_REPOSITORY, digest });
      const rendered = docsOf(await must(helm, ['template', 'jobmatch-operator', chart, '--namespace', 'jobmatch-system']));
      expect(deploymentImage(rendered)).toBe(`${IMAGE_REPOSITORY}@${digest}`);
      expect((parse(await must(helm, ['show', 'chart', chart])) as { version: string }).version).toBe(version);
    }, 60_000);

    it("the SBOM is CycloneDX and lists the production dependencies, none of the dev ones", () => {
      const { dir } = release();
      const bom = JSON.parse(readFileSync(join(dir, 'sbom.cdx.json'), 'utf8')) as { bomFormat: string; specVersion: string; metadata: { component: { name: string; version: string } }; components: { name: string; group?: string }[] };
      const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string>; devDependencies: Record<string, string> };
      expect(bom.bomFormat).toBe('CycloneDX');
      expect(bom.metadata.component).toMatchObject({ name: 'jobmatch-operator', version: PACKAGE_VERSION });
      const names = new Set(bom.components.map((c) => (c.group ? `${c.group}/${c.name}` : c.name)));
      for (const dependency of Object.keys(pkg.dependencies)) expect(names, dependency).toContain(dependency);
      for (const dev of ['vitest', 'typescript', 'tsx', 'esbuild', 'nock']) expect(names, dev).not.toContain(dev);
    });
  });

  describe('a release refuses before it builds anything', () => {
    it('into a directory that is not empty', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'jobmatch-release-full-'));
      writeFileSync(join(dir, 'keep.txt'), 'mine');
      const result = await runRelease(['--out', dir, '--allow-dirty']);
      expect(result.code).toBe(1);
      expect(result.stderr).toContain(`${dir} is not empty: remove it first`);
      expect(readdirSync(dir)).toEqual(['keep.txt']);
    });

    it('when the chart or the kustomize image tag says another version than package.json', () => {
      const root = mkdtempSync(join(tmpdir(), 'jobmatch-release-versions-'));
      mkdirSync(join(root, 'charts/jobmatch-operator'), { recursive: true });
      mkdirSync(join(root, 'manifests/install'), { recursive: true });
      writeFileSync(join(root, 'package.json'), JSON.stringify({ version: '1.2.0' }));
      writeFileSync(join(root, 'charts/jobmatch-operator/Chart.yaml'), 'version: 1.2.0\nappVersion: "1.1.0"\n');
      writeFileSync(join(root, 'manifests/install/kustomization.yaml'), 'images:\n  - name: jobmatch-operator\n    newTag: 1.2.0\n');
      expect(versionMismatches(root)).toEqual([{ file: 'charts/jobmatch-operator/Chart.yaml', field: 'appVersion', found: '1.1.0' }]);
      // And this checkout agrees with itself.
      expect(versionMismatches(ROOT)).toEqual([]);
    });
  });
}
