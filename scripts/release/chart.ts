/**
 * The Helm chart packaged with the image's digest as the default (values.yaml's image.digest), so
 * `helm install` of the release runs exactly the archived image; packaged by the real Helm.
 */
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseDocument } from 'yaml';
import { run } from './run.js';

export interface ChartPackage {
  root: string;
  digest: string;
  repository: string;
  outDir: string;
  helm: string;
}

/** values.yaml with image.repository and image.digest set, its comments kept. */
export function pinValues(values: string, repository: string, digest: string): string {
  const doc = parseDocument(values);
  if (!doc.hasIn(['image', 'repository']) || !doc.hasIn(['image', 'digest'])) {
    throw new Error('charts/jobmatch-operator/values.yaml has no image.repository or image.digest to pin');
  }
  doc.setIn(['image', 'repository'], repository);
  doc.setIn(['image', 'digest'], digest);
  return doc.toString();
}

/** The packaged chart's path. */
export async function packageChart(chart: ChartPackage): Promise<string> {
  const scratch = mkdtempSync(join(tmpdir(), 'jobmatch-release-chart-'));
  try {
    const copy = join(scratch, 'jobmatch-operator');
    cpSync(join(chart.root, 'charts/jobmatch-operator'), copy, { recursive: true });
    const valuesPath = join(copy, 'values.yaml');
    writeFileSync(valuesPath, pinValues(readFileSync(valuesPath, 'utf8'), chart.repository, chart.digest));
    const out = await run(chart.helm, ['package', copy, '--destination', chart.outDir]);
    const path = /saved it to: (\S+)/.exec(out)?.[1];
    if (!path) throw new Error(`helm package said: ${out}`);
    return path;
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}
