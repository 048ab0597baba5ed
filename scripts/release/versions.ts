/**
 * The version a release is made of, read from package.json, and every other place that must say the same
 * (the chart's version and appVersion, the kustomize image tag): a release refuses to start when one differs.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';

export interface VersionMismatch {
  file: string;
  field: string;
  found: unknown;
}

export function packageVersion(root: string): string {
  return (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string }).version;
}

/** Every place whose version differs from package.json's (empty when they all agree). */
export function versionMismatches(root: string, version = packageVersion(root)): VersionMismatch[] {
  const chart = parse(readFileSync(join(root, 'charts/jobmatch-operator/Chart.yaml'), 'utf8')) as { version?: unknown; appVersion?: unknown };
  const kustomization = parse(readFileSync(join(root, 'manifests/install/kustomization.yaml'), 'utf8')) as { images?: { name?: string; newTag?: unknown }[] };
  const tag = kustomization.images?.find((i) => i.name === 'jobmatch-operator')?.newTag;
  const found: VersionMismatch[] = [
    { file: 'charts/jobmatch-operator/Chart.yaml', field: 'version', found: chart.version },
    { file: 'charts/jobmatch-operator/Chart.yaml', field: 'appVersion', found: chart.appVersion },
    { file: 'manifests/install/kustomization.yaml', field: 'images[name=jobmatch-operator].newTag', found: tag },
  ];
  return found.filter((m) => String(m.found) !== version);
}
