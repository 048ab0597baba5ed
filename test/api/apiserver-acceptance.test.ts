/**
 * The CRD and manifests checked by the kube-apiserver's own Go code (test/apiserver-check):
 * CRD validation, structural schema, defaulting, pruning, OpenAPI validation. Needs Go; the
 * project's machines and CI have it (a machine without Go reports this file as skipped).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { loadManifests } from '../../src/api/manifests.js';
import { everyField } from '../support/every-field.js';
import { exampleText, mutated } from '../support/manifests.js';

const checker = fileURLToPath(new URL('../apiserver-check/', import.meta.url));
const crdFile = fileURLToPath(new URL('../../crds/jobmatchenvironments.jobmatch.io.yaml', import.meta.url));
const hasGo = spawnSync('go', ['version']).status === 0;

interface Report {
  crdErrors: string[];
  manifests: Record<string, string[]>;
  defaulted: Record<string, unknown>;
  pruned: Record<string, string[]>;
}

function runChecker(binary: string, files: string[]): Report {
  const result = spawnSync(binary, [crdFile, ...files], { encoding: 'utf8', maxBuffer: 64 << 20 });
  if (result.status !== 0 && result.status !== 1) throw new Error(`apiserver-check failed: ${result.stderr}`);
  return JSON.parse(result.stdout) as Report;
}

describe.skipIf(!hasGo)('the kube-apiserver', () => {
  const dir = mkdtempSync(join(tmpdir(), 'jme-apiserver-'));
  const files: Record<string, string> = {
    staging: exampleText('staging'),
    prod: exampleText('prod'),
    everyField: stringify(everyField),
    bad: mutated((d) => { d.spec.colour = 'blue'; d.spec.envMode = 'production'; d.spec.gcp.projectId = 'Bad_Project'; }),
  };
  const paths = Object.fromEntries(Object.entries(files).map(([name, text]) => {
    const path = join(dir, `${name}.yaml`);
    writeFileSync(path, text);
    return [name, path];
  }));
  let report: Report;

  beforeAll(() => {
    const binary = join(dir, 'apiserver-check');
    execFileSync('go', ['build', '-o', binary, '.'], { cwd: checker, stdio: 'ignore' });
    report = runChecker(binary, Object.values(paths));
  }, 600_000);

  it('accepts the CRD', () => expect(report.crdErrors).toEqual([]));

  it.each(['staging', 'prod', 'everyField'])('accepts the %s manifest with no field pruned', (name) => {
    expect(report.manifests[`${paths[name]}#1`]).toEqual([]);
    expect(report.pruned[`${paths[name]}#1`]).toEqual([]);
  });

  it.each(['staging', 'prod', 'everyField'])('defaults the %s manifest exactly as our validator does', (name) => {
    const ours = loadManifests([{ file: name, text: files[name]! }]);
    expect(ours.errors).toEqual([]);
    expect(report.defaulted[`${paths[name]}#1`]).toEqual(JSON.parse(JSON.stringify(ours.environments[0]!.manifest)));
  });

  it('rejects what our validator rejects: unknown fields, enums, patterns', () => {
    const key = `${paths.bad}#1`;
    expect(report.pruned[key]).toEqual(['spec.colour']);
    expect(report.manifests[key]!.join('\n')).toMatch(/spec.envMode: Unsupported value: "production"/);
    expect(report.manifests[key]!.join('\n')).toMatch(/spec.gcp.projectId in body should match/);
    const ours = loadManifests([{ file: 'bad', text: files.bad! }]).errors.map((e) => e.path).sort();
    expect(ours).toEqual(['spec.colour', 'spec.envMode', 'spec.gcp.projectId']);
  });
});
