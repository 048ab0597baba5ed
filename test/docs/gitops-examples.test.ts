/**
 * The GitOps examples (docs/examples/gitops/) and the install, upgrade and uninstall guides hold together:
 * every example parses and carries what the Argo CD and Flux CRDs require (checked here field by field, without
 * their CRDs), the sync waves and dependsOn order the CRD before the operator before the environments, every
 * repository path an example names exists, the Argo CD health check is docs/argocd-health.lua exactly, every
 * relative link of the guides reaches a file (and heading) that exists, and the project is Apache-2.0 licensed.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, posix, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv } from 'ajv';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';

const root = fileURLToPath(new URL('../../', import.meta.url));
const read = (path: string) => readFileSync(join(root, path), 'utf8');
const examplesDir = 'docs/examples/gitops';

type Obj = { apiVersion?: unknown; kind?: unknown; metadata?: Record<string, any>; spec?: Record<string, any>; [k: string]: any };
interface Doc { file: string; index: number; obj: Obj }

function yamlFiles(dir: string): string[] {
  return readdirSync(join(root, dir)).sort().flatMap((name) => {
    const path = posix.join(dir, name);
    if (statSync(join(root, path)).isDirectory()) return yamlFiles(path);
    return /\.ya?ml$/.test(name) ? [path] : [];
  });
}

const files = yamlFiles(examplesDir);
const docs: Doc[] = files.flatMap((file) =>
  parseAllDocuments(read(file))
    .map((d, index) => ({ file, index, d }))
    .filter(({ d }) => d.contents !== null)
    .map(({ file, index, d }) => ({ file, index, obj: d.toJS() as Obj })));
const label = (d: Doc) => `${d.file}#${d.index} (${String(d.obj.kind)} ${String(d.obj.metadata?.name)})`;
/** The objects of a kind; group '' is the core group (apiVersion v1). */
const ofKind = (kind: string, group: string) =>
  docs.filter((d) => d.obj.kind === kind && (group === '' ? d.obj.apiVersion === 'v1' : String(d.obj.apiVersion).startsWith(`${group}/`)));
const named = (kind: string, group: string, name: string) => {
  const found = ofKind(kind, group).filter((d) => d.obj.metadata?.name === name);
  expect(found, `${kind} ${name} in ${examplesDir}`).toHaveLength(1);
  return found[0]!.obj;
};

const applications = ofKind('Application', 'argoproj.io');
const applicationSets = ofKind('ApplicationSet', 'argoproj.io');
const helmReleases = ofKind('HelmRelease', 'helm.toolkit.fluxcd.io');
const helmRepositories = ofKind('HelmRepository', 'source.toolkit.fluxcd.io');
const gitRepositories = ofKind('GitRepository', 'source.toolkit.fluxcd.io');
const kustomizations = ofKind('Kustomization', 'kustomize.toolkit.fluxcd.io');

const isDir = (path: string) => existsSync(join(root, path)) && statSync(join(root, path)).isDirectory();
const wave = (obj: Obj) => Number(obj.metadata?.annotations?.['argocd.argoproj.io/sync-wave'] ?? 0);
/** The sources of an Application spec (or an ApplicationSet's template spec): `source` or `sources`. */
const sourcesOf = (spec: Record<string, any>): Record<string, any>[] => (spec.sources ?? (spec.source ? [spec.source] : []));

describe('docs/examples/gitops: the files', () => {
  it('holds the Argo CD and Flux examples', () => {
    expect(files.some((f) => f.startsWith(`${examplesDir}/argocd/`))).toBe(true);
    expect(files.some((f) => f.startsWith(`${examplesDir}/flux/`))).toBe(true);
    expect(applications.length).toBeGreaterThanOrEqual(4);
    expect(applicationSets.length).toBeGreaterThanOrEqual(1);
    expect(helmReleases).toHaveLength(1);
    expect(helmRepositories).toHaveLength(1);
    expect(kustomizations.length).toBeGreaterThanOrEqual(2);
  });

  it.each(files)('%s parses as YAML, every document without an error or a warning', (file) => {
    const parsed = parseAllDocuments(read(file));
    for (const d of parsed) {
      expect(d.errors.map((e) => e.message), file).toEqual([]);
      expect(d.warnings.map((e) => e.message), file).toEqual([]);
    }
    expect(parsed.filter((d) => d.contents !== null).length, `${file} holds no object`).toBeGreaterThan(0);
  });

  it.each(docs.map((d) => [label(d), d] as const))('%s has apiVersion, kind and metadata.name', (_, { obj }) => {
    expect(typeof obj.apiVersion === 'string' && /^([a-z0-9.-]+\/)?v\d+((alpha|beta)\d+)?$/.test(obj.apiVersion)).toBe(true);
    expect(typeof obj.kind === 'string' && /^[A-Z][A-Za-z]+$/.test(obj.kind)).toBe(true);
    expect(typeof obj.metadata?.name === 'string' && /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(obj.metadata.name)).toBe(true);
  });

  it('uses the API versions Argo CD and Flux serve', () => {
    for (const d of [...applications, ...applicationSets]) expect(d.obj.apiVersion, label(d)).toBe('argoproj.io/v1alpha1');
    for (const d of helmReleases) expect(d.obj.apiVersion, label(d)).toBe('helm.toolkit.fluxcd.io/v2');
    for (const d of [...helmRepositories, ...gitRepositories]) expect(d.obj.apiVersion, label(d)).toBe('source.toolkit.fluxcd.io/v1');
    for (const d of kustomizations) expect(d.obj.apiVersion, label(d)).toBe('kustomize.toolkit.fluxcd.io/v1');
  });
});

describe('docs/examples/gitops: the fields the Argo CD CRDs require', () => {
  const checkAppSpec = (where: string, spec: Record<string, any> | undefined) => {
    expect(spec, `${where}: spec`).toBeTypeOf('object');
    expect(typeof spec!.project === 'string' && spec!.project.length > 0, `${where}: spec.project`).toBe(true);
    const sources = sourcesOf(spec!);
    expect(sources.length, `${where}: spec.source or spec.sources`).toBeGreaterThan(0);
    expect(spec!.source !== undefined && spec!.sources !== undefined, `${where}: both source and sources`).toBe(false);
    for (const source of sources) {
      expect(typeof source.repoURL === 'string' && source.repoURL.length > 0, `${where}: source.repoURL`).toBe(true);
      // A chart from a Helm repository names `chart`; a Git source names `path` (a directory of the repository).
      expect(typeof source.path === 'string' || typeof source.chart === 'string', `${where}: source.path or source.chart`).toBe(true);
      if (source.helm?.valuesObject !== undefined) expect(source.helm.valuesObject, `${where}: helm.valuesObject`).toBeTypeOf('object');
    }
    const destination = spec!.destination;
    expect(destination, `${where}: spec.destination`).toBeTypeOf('object');
    // Argo CD needs the cluster, by server or by name, but not both.
    expect([destination.server, destination.name].filter((v) => typeof v === 'string').length, `${where}: destination.server or .name`).toBe(1);
    for (const option of spec!.syncPolicy?.syncOptions ?? []) expect(option, `${where}: a sync option is Name=value`).toMatch(/^[A-Za-z]+=[A-Za-z0-9]+$/);
  };

  it.each(applications.map((d) => [label(d), d] as const))('%s: spec.project, spec.source(s), spec.destination', (where, { obj }) => {
    expect(obj.metadata?.namespace, `${where}: Applications live in Argo CD's namespace`).toBe('argocd');
    checkAppSpec(where, obj.spec);
  });

  it.each(applicationSets.map((d) => [label(d), d] as const))('%s: generators and a complete template', (where, { obj }) => {
    expect(obj.spec?.generators?.length, `${where}: spec.generators`).toBeGreaterThan(0);
    expect(typeof obj.spec?.template?.metadata?.name, `${where}: template.metadata.name`).toBe('string');
    checkAppSpec(`${where} template`, obj.spec?.template?.spec);
  });
});

describe('docs/examples/gitops: the fields the Flux CRDs require', () => {
  const duration = /^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$/;

  it.each(helmReleases.map((d) => [label(d), d] as const))('%s: interval, chart (or chartRef), the CRD policy', (where, { obj }) => {
    const spec = obj.spec!;
    expect(spec.interval, `${where}: spec.interval`).toMatch(duration);
    expect((spec.chart === undefined) !== (spec.chartRef === undefined), `${where}: exactly one of spec.chart and spec.chartRef`).toBe(true);
    if (spec.chart) {
      expect(typeof spec.chart.spec?.chart, `${where}: chart.spec.chart`).toBe('string');
      const ref = spec.chart.spec?.sourceRef;
      expect(['HelmRepository', 'GitRepository', 'Bucket']).toContain(ref?.kind);
      expect(typeof ref?.name, `${where}: chart.spec.sourceRef.name`).toBe('string');
      // The source it names is one of the examples, in the same namespace unless it says otherwise.
      const sources = docs.filter((d) => d.obj.kind === ref.kind && d.obj.metadata?.name === ref.name);
      expect(sources.map((d) => d.obj.metadata?.namespace), `${where}: the ${ref.kind} ${ref.name}`).toContain(ref.namespace ?? obj.metadata?.namespace);
    }
    // docs/install-gitops.md explains the choice: the CRD is created on install and replaced before every upgrade.
    expect(spec.install?.crds).toBe('CreateReplace');
    expect(spec.upgrade?.crds).toBe('CreateReplace');
  });

  it.each(helmRepositories.map((d) => [label(d), d] as const))('%s: an OCI repository with url and interval', (where, { obj }) => {
    expect(obj.spec?.type, where).toBe('oci');
    expect(obj.spec?.url, where).toBe('oci://ghcr.io/jobmatch/charts');
    expect(obj.spec?.interval, where).toMatch(duration);
  });

  it.each(gitRepositories.map((d) => [label(d), d] as const))('%s: url, ref and interval', (where, { obj }) => {
    expect(obj.spec?.url, where).toMatch(/^(https|ssh):\/\//);
    expect(obj.spec?.interval, where).toMatch(duration);
    expect(obj.spec?.ref, where).toBeTypeOf('object');
  });

  it.each(kustomizations.map((d) => [label(d), d] as const))('%s: sourceRef, path, interval, prune', (where, { obj }) => {
    const spec = obj.spec!;
    expect(spec.interval, `${where}: spec.interval`).toMatch(duration);
    expect(typeof spec.prune, `${where}: spec.prune is required`).toBe('boolean');
    expect(typeof spec.path, `${where}: spec.path`).toBe('string');
    expect(['GitRepository', 'OCIRepository', 'Bucket']).toContain(spec.sourceRef?.kind);
    const sources = docs.filter((d) => d.obj.kind === spec.sourceRef.kind && d.obj.metadata?.name === spec.sourceRef.name);
    expect(sources.length, `${where}: the ${spec.sourceRef.kind} ${spec.sourceRef.name} is one of the examples`).toBe(1);
    // With wait: true Flux ignores healthChecks: a file with both would mislead.
    expect(spec.wait === true && spec.healthChecks !== undefined, `${where}: wait and healthChecks together`).toBe(false);
    if (spec.timeout !== undefined) expect(spec.timeout).toMatch(duration);
  });
});

describe('docs/examples/gitops: the order — the CRD, then the operator, then the environments', () => {
  it('Argo CD: the sync waves put the CRD (-1) before the operator (0) before the environments (1)', () => {
    const crd = named('Application', 'argoproj.io', 'jobmatch-crd');
    const operator = named('Application', 'argoproj.io', 'jobmatch-operator');
    const environments = named('Application', 'argoproj.io', 'jobmatch-environments');
    expect(wave(crd)).toBe(-1);
    expect(wave(crd)).toBeLessThan(wave(operator));
    expect(wave(operator)).toBeLessThan(wave(environments));
    for (const set of applicationSets) expect(wave(set.obj), label(set)).toBe(wave(environments));
  });

  it('Argo CD: the three Applications are children of one parent, so that the waves apply', () => {
    const parent = named('Application', 'argoproj.io', 'jobmatch');
    const path = sourcesOf(parent.spec!)[0]!.path as string;
    const children = docs.filter((d) => d.file.startsWith(`${path}/`)).map((d) => d.obj.metadata?.name).sort();
    expect(children).toEqual(['jobmatch-crd', 'jobmatch-environments', 'jobmatch-operator']);
  });

  it('Argo CD: the CRD is applied server-side and never pruned nor deleted; the operator skips the chart\'s CRD', () => {
    const crd = named('Application', 'argoproj.io', 'jobmatch-crd');
    expect(crd.spec!.syncPolicy.syncOptions).toEqual(expect.arrayContaining(['ServerSideApply=true', 'Prune=false']));
    expect(crd.spec!.syncPolicy.automated.prune).toBe(false);
    expect(crd.metadata!.finalizers ?? []).toEqual([]);
    const annotation = String(crd.spec!.source.kustomize.commonAnnotations['argocd.argoproj.io/sync-options']).split(',');
    expect(annotation).toEqual(expect.arrayContaining(['Prune=false', 'Delete=false', 'ServerSideApply=true']));
    // The annotation replaces the CRD's own: it must keep every option the CRD carries.
    const shipped = parseAllDocuments(read('manifests/install/crd/jobmatchenvironments.jobmatch.io.yaml'))[0]!.toJS();
    expect(annotation).toEqual(expect.arrayContaining(String(shipped.metadata.annotations['argocd.argoproj.io/sync-options']).split(',')));

    const operator = named('Application', 'argoproj.io', 'jobmatch-operator');
    expect(operator.spec!.source.helm.skipCrds).toBe(true);
    for (const name of ['jobmatch', 'jobmatch-environments']) expect(named('Application', 'argoproj.io', name).metadata!.finalizers ?? [], name).toEqual([]);
  });

  it('Flux: the environments depend on the operator, which installs the CRD, and both wait for health', () => {
    const operator = named('Kustomization', 'kustomize.toolkit.fluxcd.io', 'jobmatch-operator');
    const environments = named('Kustomization', 'kustomize.toolkit.fluxcd.io', 'jobmatch-environments');
    expect(environments.spec!.dependsOn).toEqual([{ name: 'jobmatch-operator' }]);
    expect(operator.spec!.dependsOn ?? []).toEqual([]);
    expect(operator.spec!.wait).toBe(true);
    expect(environments.spec!.wait === true || (environments.spec!.healthChecks?.length ?? 0) > 0).toBe(true);
    // The HelmRelease is applied by the operator's Kustomization (its folder), so dependsOn covers it.
    const release = helmReleases[0]!;
    expect(release.file.startsWith(`${operator.spec!.path.replace(/^\.\//, '')}/`)).toBe(true);
  });

  it('Flux: the environments\' namespace is never pruned', () => {
    const namespaces = docs.filter((d) => d.obj.kind === 'Namespace' && d.obj.metadata?.name === 'jobmatch');
    expect(namespaces).toHaveLength(1);
    expect(namespaces[0]!.obj.metadata!.annotations?.['kustomize.toolkit.fluxcd.io/prune']).toBe('disabled');
  });
});

describe('docs/examples/gitops: the repository paths they name exist', () => {
  const thisRepo = (url: unknown) => typeof url === 'string' && /github\.com\/jobmatch\/jobmatch-operator(\.git)?$/.test(url);
  const paths: { where: string; path: string }[] = [];
  for (const d of applications) for (const s of sourcesOf(d.obj.spec!)) if (thisRepo(s.repoURL) && s.path) paths.push({ where: label(d), path: s.path });
  for (const d of applicationSets) {
    for (const g of d.obj.spec!.generators) for (const dir of g.git?.directories ?? []) if (thisRepo(g.git.repoURL)) paths.push({ where: label(d), path: dir.path });
  }
  for (const d of kustomizations) paths.push({ where: label(d), path: d.obj.spec!.path.replace(/^\.\//, '') });

  it('names the chart, the CRD kustomization and a folder of environments', () => {
    expect(paths.map((p) => p.path)).toEqual(expect.arrayContaining(['charts/jobmatch-operator', 'manifests/install/crd', 'manifests/examples']));
  });

  it.each(paths.map((p) => [p.path, p.where] as const))('%s (%s) is a directory of the repository', (path) => {
    expect(isDir(path), `${path} does not exist in the repository`).toBe(true);
  });

  it('the chart the examples install is a chart, with the CRD in crds/', () => {
    expect(existsSync(join(root, 'charts/jobmatch-operator/Chart.yaml'))).toBe(true);
    expect(readdirSync(join(root, 'charts/jobmatch-operator/crds')).some((f) => f.endsWith('.yaml'))).toBe(true);
  });

  it('the environments folder holds JobMatchEnvironments', () => {
    const kinds = readdirSync(join(root, 'manifests/examples')).filter((f) => f.endsWith('.yaml'))
      .flatMap((f) => parseAllDocuments(read(`manifests/examples/${f}`)).map((d) => d.toJS()?.kind));
    expect(kinds.length).toBeGreaterThan(0);
    expect(new Set(kinds)).toEqual(new Set(['JobMatchEnvironment']));
  });

  it('the Helm values the examples set pass the chart\'s values.schema.json, merged over its defaults as Helm does', () => {
    const schema = JSON.parse(read('charts/jobmatch-operator/values.schema.json'));
    const defaults = parseAllDocuments(read('charts/jobmatch-operator/values.yaml'))[0]!.toJS();
    const isMap = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
    const merge = (base: unknown, over: unknown): unknown =>
      isMap(base) && isMap(over) ? Object.fromEntries([...new Set([...Object.keys(base), ...Object.keys(over)])].map((k) => [k, k in over ? merge(base[k], over[k]) : base[k]])) : over;
    const validate = new Ajv({ strict: false, allErrors: true }).compile(schema);
    const given = {
      'the Argo CD Application': named('Application', 'argoproj.io', 'jobmatch-operator').spec!.source.helm.valuesObject,
      'the Flux HelmRelease': helmReleases[0]!.obj.spec!.values,
    };
    for (const [where, values] of Object.entries(given)) {
      expect(validate(merge(defaults, values)), `${where}: ${JSON.stringify(validate.errors)}`).toBe(true);
      expect(values.config.kind, where).toBe('OperatorConfig');
      expect(values.serviceAccount.gcpServiceAccount, where).toMatch(/@[a-z0-9-]+\.iam\.gserviceaccount\.com$/);
    }
  });
});

describe('the Argo CD health checks', () => {
  const cm = () => named('ConfigMap', '', 'argocd-cm') as Obj & { data: Record<string, string> };

  it('registers docs/argocd-health.lua, exactly, under the key docs/gitops.md names', () => {
    expect(cm().data['resource.customizations.health.jobmatch.io_JobMatchEnvironment']).toBe(read('docs/argocd-health.lua'));
    expect(read('docs/gitops.md')).toContain('resource.customizations.health.jobmatch.io_JobMatchEnvironment');
  });

  it('restores the health of Applications, which the sync waves between Applications need', () => {
    const lua = cm().data['resource.customizations.health.argoproj.io_Application']!;
    expect(lua).toContain('obj.status.health.status');
    expect(lua.trim().endsWith('return hs')).toBe(true);
  });
});

/** GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens. */
const slug = (heading: string) => heading.trim().toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, '').replace(/\s/g, '-');
function anchors(file: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  let fenced = false;
  for (const line of read(file).split('\n')) {
    if (/^\s*```/.test(line)) fenced = !fenced;
    const m = !fenced && /^#{1,6}\s+(.*)$/.exec(line);
    if (!m) continue;
    const base = slug(m[1]!);
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.add(n === 0 ? base : `${base}-${n}`);
  }
  return out;
}

describe('the guides\' relative links', () => {
  const pages = ['docs/install-gitops.md', 'docs/upgrade.md', 'docs/uninstall.md', 'CHANGELOG.md'];
  const links = pages.flatMap((page) => {
    let fenced = false;
    return read(page).split('\n').flatMap((line) => {
      if (/^\s*```/.test(line)) fenced = !fenced;
      if (fenced) return [];
      return [...line.replace(/`[^`]*`/g, '').matchAll(/\]\(([^)\s]+)\)/g)].map((m) => ({ page, target: m[1]! }));
    });
  }).filter((l) => !/^[a-z]+:/.test(l.target));

  it('finds links to check', () => expect(links.length).toBeGreaterThan(20));

  it.each(links.map((l) => [l.page, l.target] as const))('%s → %s exists', (page, target) => {
    const [path, anchor] = target.split('#') as [string, string | undefined];
    const resolved = path === '' ? page : relative(root, join(root, dirname(page), path));
    expect(existsSync(join(root, resolved)), `${page}: ${target} → ${resolved} does not exist`).toBe(true);
    if (anchor !== undefined && resolved.endsWith('.md')) expect([...anchors(resolved)], `${page}: #${anchor} in ${resolved}`).toContain(anchor);
  });
});

describe('the licence', () => {
  it('LICENSE is the Apache License 2.0, whole', () => {
    const text = read('LICENSE');
    const lines = text.split('\n').map((l) => l.trim()).filter((l) => l !== '');
    expect(lines[0]).toBe('Apache License');
    expect(lines[1]).toBe('Version 2.0, January 2004');
    expect(text).toContain('TERMS AND CONDITIONS FOR USE, REPRODUCTION, AND DISTRIBUTION');
    expect(text).toContain('END OF TERMS AND CONDITIONS');
    for (let section = 1; section <= 9; section++) expect(text, `section ${section}`).toMatch(new RegExp(`^\\s*${section}\\. [A-Z]`, 'm'));
    expect(text).toContain('APPENDIX: How to apply the Apache License to your work.');
  });

  it('package.json says Apache-2.0 and ships LICENSE and CHANGELOG.md', () => {
    const pkg = JSON.parse(read('package.json'));
    expect(pkg.license).toBe('Apache-2.0');
    expect(pkg.files).toEqual(expect.arrayContaining(['LICENSE', 'CHANGELOG.md']));
  });

  it('CHANGELOG.md follows Keep a Changelog, with Unreleased above 0.1.0', () => {
    const text = read('CHANGELOG.md');
    const versions = [...text.matchAll(/^## \[([^\]]+)\]/gm)].map((m) => m[1]);
    expect(versions.slice(0, 2)).toEqual(['Unreleased', '0.1.0']);
    expect(text).toContain('## [0.1.0] - 2026-12-04');
    expect(versions).toContain(JSON.parse(read('package.json')).version);
  });
});
