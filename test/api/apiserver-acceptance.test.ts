/**
 * The CRD and manifests checked by the kube-apiserver's own Go code (test/apiserver-check):
 * CRD validation (CEL rules compiled, their cost held to the apiserver's budget), then what a create
 * goes through: defaulting, pruning, object metadata, OpenAPI validation, list-map keys and the CEL
 * x-kubernetes-validations. The agreement with the CLI: every invalid manifest of the table
 * (validation-cases.ts) that the CLI refuses for a rule about the object alone, `kubectl apply` refuses
 * too, at the field the CLI names; the few it cannot refuse are listed below with the reason.
 * Needs Go: without it this file fails with an install hint. The checker is built once per version of
 * its sources and cached outside the repo (test/apiserver-check/checker-binary.ts).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as k8s from '@kubernetes/client-node';
import { stringify } from 'yaml';
import { loadManifests } from '../../src/api/manifests.js';
import { OPENAPI_SCHEMA } from '../../src/api/crd.js';
import type { OpenApiSchema } from '../../src/api/openapi.js';
import { CHECKER_SOURCE, checkerCacheDir, checkerSourceHash, ensureChecker } from '../apiserver-check/checker-binary.js';
import { everyField } from '../support/every-field.js';
import { exampleDoc, exampleText, mutated } from '../support/manifests.js';
import { createNamespace, startKube, type Kube } from '../kube/cluster.js';
import { acceptedCases, cases, updateCases } from './validation-cases.js';

const crdFile = fileURLToPath(new URL('../../crds/jobmatchenvironments.jobmatch.io.yaml', import.meta.url));
const repo = fileURLToPath(new URL('../../', import.meta.url));

interface Report {
  crdErrors: string[];
  celCost: { total: number; totalLimit: number; ruleLimit: number; rules: Record<string, number> };
  manifests: Record<string, string[]>;
  defaulted: Record<string, unknown>;
  pruned: Record<string, string[]>;
  /** Documents of another kind: kubectl sends them to another API. */
  skipped: Record<string, string>;
}

const YAML_1_1 = 'kubectl reads YAML 1.1, where an unquoted yes is the boolean true: the apiserver gets a valid boolean '
  + '(the CLI reads YAML 1.2, where it is the string "yes"); no rule of the CRD is involved';
const KUBECTL_NAMESPACE = 'kubectl puts an object whose namespace is missing, empty or not a string into its context\'s namespace '
  + 'before sending it: the apiserver never sees this value (and the CRD may not describe metadata)';

/**
 * The cases of the table that `kubectl apply` accepts, and why: none is a rule about the object that the
 * CRD could state. Every other case is refused by the apiserver too; a test fails when one of these is refused
 * (then drop it from here) or when another case is accepted.
 */
const APISERVER_ACCEPTS: Record<string, string> = {
  'versioning as a string': YAML_1_1,
  'adoptExisting as a string': YAML_1_1,
  'metadata.namespace empty': KUBECTL_NAMESPACE,
  'metadata.namespace as a list': KUBECTL_NAMESPACE,
  'another kind': 'an apps/v1 Deployment is not a JobMatchEnvironment: kubectl sends it to the Deployment API, never to this CRD',
};

/** A field path in one spelling: spec.labels["managed-by"] (the CLI) and spec.labels[managed-by] (the apiserver) both as spec.labels.managed-by. */
const normalPath = (path: string) => path.replace(/\["([^"]*)"\]/g, '.$1').replace(/\[([^\]]*[^\]0-9][^\]]*)\]/g, '.$1');

/** The fields the apiserver names in its errors of one document (pruned fields included: kubectl --validate=strict refuses them). */
function refusedFields(report: Report, key: string): string[] {
  const errors = (report.manifests[key] ?? []).map((e) => e.slice(0, e.indexOf(': '))).filter((f) => f !== '<nil>');
  return [...(report.pruned[key] ?? []), ...errors].map(normalPath);
}

/** The apiserver's error is at the CLI's field or at one holding it (a rule on a list or a map names the list or the map). */
const covers = (apiField: string, cliField: string) =>
  apiField === cliField || cliField.startsWith(`${apiField}.`) || cliField.startsWith(`${apiField}[`);

function* rules(schema: OpenApiSchema): Generator<string> {
  for (const r of schema['x-kubernetes-validations'] ?? []) yield r.rule;
  for (const child of Object.values(schema.properties ?? {})) yield* rules(child);
  if (schema.items) yield* rules(schema.items);
  if (typeof schema.additionalProperties === 'object') yield* rules(schema.additionalProperties);
}

function runChecker(binary: string, files: string[]): Report {
  const result = spawnSync(binary, [crdFile, ...files], { encoding: 'utf8', maxBuffer: 64 << 20 });
  if (result.status !== 0 && result.status !== 1) throw new Error(`apiserver-check failed (${result.error?.message ?? `exit ${result.status}`}): ${result.stderr}`);
  return JSON.parse(result.stdout) as Report;
}

/** Every temp directory this file makes, removed at the end. */
const temps: string[] = [];
const tempDir = (label: string) => {
  const dir = mkdtempSync(join(tmpdir(), `jme-${label}-`));
  temps.push(dir);
  return dir;
};
afterAll(() => {
  for (const dir of temps) rmSync(dir, { recursive: true, force: true });
});

describe('the kube-apiserver', () => {
  const files: Record<string, string> = {
    staging: exampleText('staging'),
    prod: exampleText('prod'),
    everyField: stringify(everyField),
    bad: mutated((d) => { d.spec.colour = 'blue'; d.spec.envMode = 'production'; d.spec.gcp.projectId = 'Bad_Project'; }),
    ...Object.fromEntries(cases.map((c, i) => [`case-${i}`, mutated(c.mutate)])),
    ...Object.fromEntries(acceptedCases.map((c, i) => [`accepted-${i}`, mutated(c.mutate)])),
  };
  const paths: Record<string, string> = {};
  // Every test awaits the check, so without Go (or with a failing build) each one fails with the reason, none is skipped.
  let checked: Promise<{ binary: string; report: Report }>;

  beforeAll(async () => {
    const dir = tempDir('apiserver');
    for (const [name, text] of Object.entries(files)) {
      paths[name] = join(dir, `${name}.yaml`);
      writeFileSync(paths[name], text);
    }
    checked = ensureChecker().then((binary) => ({ binary, report: runChecker(binary, Object.values(paths)) }));
    await checked.catch(() => {});
  }, 900_000); // a first build downloads and compiles the apiserver's modules (about five minutes on 2 cores)

  it('accepts the CRD', async () => {
    const { report } = await checked;
    expect(report.crdErrors).toEqual([]);
  });

  it('estimates every CEL rule of the CRD within the cost budget, with room to spare', async () => {
    const { report } = await checked;
    const { total, totalLimit, ruleLimit, rules: costs } = report.celCost;
    expect(Object.keys(costs)).toHaveLength([...rules(OPENAPI_SCHEMA)].length);
    expect(Object.entries(costs).filter(([, cost]) => cost > ruleLimit / 2)).toEqual([]);
    expect(total).toBeLessThan(totalLimit / 4);
  });

  it.each(cases.filter((c) => !(c.name in APISERVER_ACCEPTS)).map((c) => ({ ...c, index: cases.indexOf(c) })))(
    'refuses, like the CLI, $name (at $path)',
    async ({ index, path }) => {
      const { report } = await checked;
      const fields = refusedFields(report, `${paths[`case-${index}`]}#1`);
      expect(fields.some((f) => covers(f, normalPath(path))), JSON.stringify(report.manifests[`${paths[`case-${index}`]}#1`], null, 2)).toBe(true);
    },
  );

  it.each(Object.entries(APISERVER_ACCEPTS))('accepts %s, which the CLI refuses: %s', async (name) => {
    const { report } = await checked;
    const index = cases.findIndex((c) => c.name === name);
    expect(index, `no case named "${name}"`).toBeGreaterThanOrEqual(0);
    const key = `${paths[`case-${index}`]}#1`;
    expect(loadManifests([{ file: 'm.yaml', text: files[`case-${index}`]! }]).errors).not.toEqual([]);
    expect([...(report.manifests[key] ?? []), ...(report.pruned[key] ?? [])]).toEqual([]);
  });

  it('refuses all but those few of the table', async () => {
    const { report } = await checked;
    const refused = cases.filter((_, i) => refusedFields(report, `${paths[`case-${i}`]}#1`).length > 0);
    expect(refused).toHaveLength(cases.length - Object.keys(APISERVER_ACCEPTS).length);
  });

  it.each(acceptedCases.map((c, i) => ({ ...c, index: i })))('accepts, like the CLI, $name', async ({ index }) => {
    const { report } = await checked;
    const key = `${paths[`accepted-${index}`]}#1`;
    expect(report.manifests[key]).toEqual([]);
    expect(report.pruned[key]).toEqual([]);
  });

  it.each(['staging', 'prod', 'everyField'])('accepts the %s manifest with no field pruned', async (name) => {
    const { report } = await checked;
    expect(report.manifests[`${paths[name]}#1`]).toEqual([]);
    expect(report.pruned[`${paths[name]}#1`]).toEqual([]);
  });

  it.each(['staging', 'prod', 'everyField'])('defaults the %s manifest exactly as our validator does', async (name) => {
    const { report } = await checked;
    const ours = loadManifests([{ file: name, text: files[name]! }]);
    expect(ours.errors).toEqual([]);
    expect(report.defaulted[`${paths[name]}#1`]).toEqual(JSON.parse(JSON.stringify(ours.environments[0]!.manifest)));
  });

  it('rejects what our validator rejects: unknown fields, enums, patterns', async () => {
    const { report } = await checked;
    const key = `${paths.bad}#1`;
    expect(report.pruned[key]).toEqual(['spec.colour']);
    expect(report.manifests[key]!.join('\n')).toMatch(/spec.envMode: Unsupported value: "production"/);
    expect(report.manifests[key]!.join('\n')).toMatch(/spec.gcp.projectId in body should match/);
    const ours = loadManifests([{ file: 'bad', text: files.bad! }]).errors.map((e) => e.path).sort();
    expect(ours).toEqual(['spec.colour', 'spec.envMode', 'spec.gcp.projectId']);
  });

  it('keeps the checker outside the repo, named by the sha256 of its sources, and reuses it without Go', async () => {
    const { binary } = await checked;
    expect(binary).toBe(join(checkerCacheDir(), `apiserver-check-${checkerSourceHash().slice(0, 16)}`));
    expect(binary.startsWith(repo)).toBe(false);
    expect(await ensureChecker({ go: join(tempDir('no-go'), 'go') })).toBe(binary);
  });
});

/**
 * What the checker cannot show: updates (CEL transition rules compare with the object stored) and the printer
 * columns, on a real kube-apiserver and etcd (test/kube) with the CRD installed, through kubectl and the client.
 */
describe('a real kube-apiserver with the CRD', () => {
  const G = { group: 'jobmatch.io', version: 'v1alpha1', plural: 'jobmatchenvironments' };
  let kube: Kube;
  let api: k8s.CustomObjectsApi;
  let ns: string;
  const kubectl = (...args: string[]) => execFileSync('kubectl', ['--kubeconfig', kube.kubeconfigPath, ...args], { encoding: 'utf8' });

  beforeAll(async () => {
    kube = await startKube();
    // kubectl, not test/kube's applyCrd: @kubernetes/client-node serializes a parsed YAML CRD through its typed model,
    // which knows x-kubernetes-validations only as xKubernetesValidations and drops every CEL rule.
    kubectl('apply', '--server-side', '-f', crdFile);
    kubectl('wait', '--for=condition=Established', '--timeout=60s', 'crd/jobmatchenvironments.jobmatch.io');
    const served = JSON.parse(kubectl('get', 'crd', 'jobmatchenvironments.jobmatch.io', '-o', 'json'));
    expect(JSON.stringify(served.spec.versions[0].schema), 'the apiserver holds the CEL rules').toContain('oldSelf');
    api = kube.kubeconfig.makeApiClient(k8s.CustomObjectsApi);
    ns = await createNamespace(kube, 'acceptance');
  }, 30 * 60_000);
  afterAll(async () => { await kube?.stop(); }, 60_000);

  const create = async (name: string) => {
    const body = { ...exampleDoc('staging'), metadata: { name, namespace: ns } };
    return api.createNamespacedCustomObject({ ...G, namespace: ns, body }) as Promise<{ metadata: { resourceVersion: string } } & Record<string, any>>;
  };
  const apiMessage = (e: unknown) => {
    const body = (e as { body?: unknown }).body;
    return typeof body === 'string' ? body : JSON.stringify(body ?? (e as Error).message);
  };

  it.each(updateCases.map((c, i) => ({ ...c, index: i })))('on update, $name: refused only when identity changes', async ({ index, mutate, refused }) => {
    const stored = await create(`update-${index}`);
    const edited = structuredClone(stored);
    mutate(edited);
    const update = api.replaceNamespacedCustomObject({ ...G, namespace: ns, name: `update-${index}`, body: edited });
    if (!refused) {
      await expect(update).resolves.toMatchObject({ spec: edited.spec });
      return;
    }
    const error = await update.then(() => undefined, (e: unknown) => e);
    expect(error, 'the update was accepted').toBeDefined();
    const message = apiMessage(error);
    expect(message).toContain(refused.path);
    expect(message).toMatch(refused.says);
  });

  it('prints the Ready condition\'s reason, and the deployed config hash with -o wide', async () => {
    await create('columns');
    const conditions = [
      ['Ready', 'False', 'SecretsMissing'], ['Synced', 'True', 'Synced'], ['Deployed', 'False', 'SecretsMissing'], ['DriftDetected', 'False', 'NoDrift'],
    ].map(([type, status, reason]) => ({ type, status, reason, message: 'm', lastTransitionTime: '2026-01-01T00:00:00Z' }));
    await api.patchNamespacedCustomObjectStatus(
      { ...G, namespace: ns, name: 'columns', body: { status: { conditions, configHash: 'sha256:new', deployedConfigHash: 'sha256:abc123' } } },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
    );
    const table = (out: string) => {
      const [header, ...rows] = out.trim().split('\n').map((l) => l.trim().split(/\s+/));
      return rows.map((r) => Object.fromEntries(header!.map((h, i) => [h, r[i]])));
    };
    const plain = table(kubectl('get', 'jme', '-n', ns, 'columns'));
    expect(plain).toEqual([{ NAME: 'columns', ENVIRONMENT: 'staging', PROJECT: 'job-match-v0', READY: 'False', REASON: 'SecretsMissing', SYNCED: 'True', DEPLOYED: 'False', AGE: expect.any(String) }]);
    const wide = table(kubectl('get', 'jme', '-n', ns, 'columns', '-o', 'wide'));
    expect(wide).toEqual([{ ...plain[0], AGE: expect.any(String), 'DEPLOYED-HASH': 'sha256:abc123' }]);
    expect(Object.keys(wide[0]!).at(-1)).toBe('DEPLOYED-HASH');
  });
});

describe('building the apiserver checker', () => {
  /** A tiny Go module standing in for test/apiserver-check (no modules to download). */
  const module = (main: string) => {
    const dir = tempDir('go-module');
    writeFileSync(join(dir, 'go.mod'), 'module example.com/tiny\n\ngo 1.21\n');
    writeFileSync(join(dir, 'main.go'), main);
    return dir;
  };

  it('builds once with a start and a done line, into the cache dir, and then reuses the binary', async () => {
    const source = module('package main\n\nfunc main() { println("ok") }\n');
    const cacheDir = join(tempDir('cache'), 'jobmatch-operator');
    const lines: string[] = [];
    const built = await ensureChecker({ source, cacheDir, log: (l) => lines.push(l) });
    expect(lines).toEqual([
      expect.stringMatching(/^building the apiserver checker with go version go1\.\d+.* \(a first build downloads ~300 MB of Go modules and compiles them: about five minutes on 2 cores\)…$/),
      expect.stringMatching(/^built the apiserver checker in \d+\.\d s: /),
    ]);
    expect(readdirSync(cacheDir)).toEqual([`apiserver-check-${checkerSourceHash(source).slice(0, 16)}`]); // no partial file left
    expect(spawnSync(built, { encoding: 'utf8' }).stderr).toBe('ok\n');
    expect(await ensureChecker({ source, cacheDir, log: (l) => lines.push(l) })).toBe(built);
    expect(lines).toHaveLength(2);
    writeFileSync(join(source, 'main.go'), 'package main\n\nfunc main() { println("changed") }\n');
    expect(await ensureChecker({ source, cacheDir, log: () => {} })).not.toBe(built); // new sources, new binary
  });

  it('fails with an install hint when Go is missing', async () => {
    const source = module('package main\n\nfunc main() {}\n');
    await expect(ensureChecker({ source, cacheDir: tempDir('cache'), go: join(tempDir('no-go'), 'go'), log: () => {} }))
      .rejects.toThrow(/Go is not installed .*install Go ≥1\.22: apt-get install golang-go.*https:\/\/go\.dev\/doc\/install/);
  });

  it('fails showing Go\'s own error when the build fails, and leaves no half-built binary', async () => {
    const source = module('package main\n\nfunc main() { undefinedThing() }\n');
    const cacheDir = join(tempDir('cache'), 'jobmatch-operator');
    await expect(ensureChecker({ source, cacheDir, log: () => {} })).rejects.toThrow(/failed with exit 1:\n[\s\S]*undefined: undefinedThing/);
    expect(readdirSync(cacheDir)).toEqual([]);
  });

  it('names the cache dir after XDG_CACHE_HOME when it is absolute, else ~/.cache', () => {
    expect(checkerCacheDir({ XDG_CACHE_HOME: '/var/cache/me' })).toBe('/var/cache/me/jobmatch-operator');
    expect(checkerCacheDir({ XDG_CACHE_HOME: 'relative' })).toMatch(/\/\.cache\/jobmatch-operator$/);
    expect(checkerCacheDir({})).toMatch(/\/\.cache\/jobmatch-operator$/);
  });

  it('keys the cache by go.mod, go.sum and the .go sources', () => {
    const source = module('package main\n\nfunc main() {}\n');
    const before = checkerSourceHash(source);
    writeFileSync(join(source, 'go.sum'), 'example.com/x v1.0.0 h1:abc=\n');
    const withSum = checkerSourceHash(source);
    mkdirSync(join(source, 'testdata'));
    writeFileSync(join(source, 'README'), 'not a source');
    expect([before === withSum, checkerSourceHash(source) === withSum]).toEqual([false, true]);
    expect(checkerSourceHash(CHECKER_SOURCE)).toMatch(/^[0-9a-f]{64}$/);
  });
});
