/**
 * The Helm chart (charts/jobmatch-operator) rendered by the real Helm (v4.3.2, built from Go modules by
 * test/support/helm.ts): it lints strictly, its schema refuses unknown and wrong values, with the defaults it renders
 * exactly the objects of `kubectl kustomize manifests/install` (minus the Namespace), and each value renders what it
 * says. install.test.ts installs it on a real apiserver.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { renderCrdYaml } from '../../src/api/crd-yaml.js';
import { DEFAULT_OPERATOR_CONFIG, OPERATOR_CONFIG_SCHEMA } from '../../src/api/operator-config.js';
import { parseOperatorConfig } from '../../src/api/operator-config-validation.js';
import { ensureHelm, HELM_VERSION } from '../support/helm.js';
import { CHART, DIGEST, documents, EVERYTHING, exec, Helm, IMAGE_REPOSITORY, key, kustomizeInstall, NAMESPACE, normalized, one, PACKAGE_VERSION, RELEASE, ROOT, type Doc } from './chart-support.js';

let helm: Helm | undefined;
let setupError: unknown;
/** The Helm runner; every test fails with the reason when Helm could not be built (a throwing beforeAll would skip them). */
const h = (): Helm => {
  if (setupError) throw setupError;
  return helm!;
};

beforeAll(async () => {
  try {
    helm = new Helm(await ensureHelm());
  } catch (error) {
    setupError = error;
  }
}, 30 * 60_000);

afterAll(() => helm?.dispose());

const chartYaml = () => parse(readFileSync(join(CHART, 'Chart.yaml'), 'utf8')) as Record<string, any>;

describe('the chart', () => {
  it(`is built and run with Helm ${HELM_VERSION}`, async () => {
    expect((await h().ok(['version', '--template', '{{.Version}}'])).trim()).toBe(HELM_VERSION);
  });

  it("has package.json's version as its version and appVersion, and says what it is", () => {
    const chart = chartYaml();
    expect(chart).toMatchObject({
      apiVersion: 'v2', name: 'jobmatch-operator', type: 'application', version: PACKAGE_VERSION, appVersion: PACKAGE_VERSION,
      home: 'https://github.com/jobmatch/jobmatch-operator', sources: ['https://github.com/jobmatch/jobmatch-operator'],
      annotations: { 'artifacthub.io/license': 'Apache-2.0' },
    });
    expect(chart.kubeVersion).toBe('>=1.27.0-0');
    expect(chart.description).toMatch(/JobMatchEnvironment/);
  });

  it('ships the generated CRD in crds/ (npm run crd writes it) and the OperatorConfig schema in values.schema.json', () => {
    const fix = 'run `npm run crd`';
    expect(readFileSync(join(CHART, 'crds/jobmatchenvironments.jobmatch.io.yaml'), 'utf8'), fix).toBe(renderCrdYaml());
    expect(readFileSync(join(CHART, 'crds/jobmatchenvironments.jobmatch.io.yaml'), 'utf8'), fix).toBe(readFileSync(join(ROOT, 'crds/jobmatchenvironments.jobmatch.io.yaml'), 'utf8'));
    const schema = JSON.parse(readFileSync(join(CHART, 'values.schema.json'), 'utf8'));
    expect(schema.definitions.operatorConfig, fix).toEqual(OPERATOR_CONFIG_SCHEMA);
  });

  it('passes helm lint --strict, with the defaults and with every option set', async () => {
    const lint = await h().run(['lint', '--strict', CHART]);
    expect(lint.code, lint.stdout + lint.stderr).toBe(0);
    expect(lint.stdout).toContain('1 chart(s) linted, 0 chart(s) failed');
    const all = h().valuesFile(EVERYTHING);
    const lintAll = await h().run(['lint', '--strict', CHART, '-f', all]);
    expect(lintAll.code, lintAll.stdout + lintAll.stderr).toBe(0);
  });

  it('requires Kubernetes ≥ 1.27, prerelease-suffixed versions (GKE\'s) included', async () => {
    const at = (version: string) => h().run(['template', 'x', CHART, '--kube-version', version]);
    const old = await at('1.26.15');
    expect(old.code).not.toBe(0);
    expect(old.stderr).toMatch(/chart requires kubeVersion: >=1\.27\.0-0 which is incompatible with Kubernetes v1\.26\.15/);
    for (const ok of ['1.27.0', '1.33.5-gke.1201000', '1.37.2']) expect((await at(ok)).code, ok).toBe(0);
  });

  it('packages into jobmatch-operator-<version>.tgz with its CRD, schema, README and NOTES', async () => {
    const dest = mkdtempSync(join(h().home, 'package-'));
    const out = await h().ok(['package', CHART, '--destination', dest]);
    const archive = join(dest, `jobmatch-operator-${PACKAGE_VERSION}.tgz`);
    expect(out).toContain(archive);
    const list = await exec('tar', ['-tzf', archive]);
    expect(list.stdout.split('\n').filter(Boolean).sort()).toEqual([
      'jobmatch-operator/.helmignore', 'jobmatch-operator/Chart.yaml', 'jobmatch-operator/README.md',
      'jobmatch-operator/crds/jobmatchenvironments.jobmatch.io.yaml',
      ...['NOTES.txt', '_helpers.tpl', 'configmap.yaml', 'deployment.yaml', 'poddisruptionbudget.yaml', 'podmonitoring.yaml', 'rbac.yaml', 'service.yaml', 'serviceaccount.yaml', 'servicemonitor.yaml'].map((f) => `jobmatch-operator/templates/${f}`),
      'jobmatch-operator/values.schema.json', 'jobmatch-operator/values.yaml',
    ].sort());
    // The archive renders as the directory does.
    expect(documents(await h().ok(['template', RELEASE, archive, '--namespace', NAMESPACE]))).toEqual(await h().template());
  });

  describe('values.schema.json', () => {
    const refused = async (values: object) => {
      const out = await h().run(['template', 'x', CHART, '-f', h().valuesFile(values)]);
      expect(out.code, `accepted ${JSON.stringify(values)}`).not.toBe(0);
      return out.stderr;
    };

    it('refuses an unknown top-level key, naming it', async () => {
      expect(await refused({ replicas: 3 })).toMatch(/values don't meet the specifications of the schema[\s\S]*additional properties 'replicas' not allowed/);
    });

    it('refuses unknown keys in the chart\'s own objects and values of the wrong type', async () => {
      expect(await refused({ image: { tagg: 'x' } })).toMatch(/additional properties 'tagg' not allowed/);
      expect(await refused({ replicaCount: 'two' })).toMatch(/replicaCount[\s\S]*got string, want integer/);
      expect(await refused({ image: { digest: 'abc' } })).toMatch(/digest/);
      expect(await refused({ driftEvents: { subscription: 'my-subscription' } })).toMatch(/subscription/);
      expect(await refused({ podMonitoring: { enabled: 'yes' } })).toMatch(/enabled[\s\S]*want boolean/);
    });

    it('refuses a config the operator would refuse, by the operator\'s own schema of its file', async () => {
      expect(await refused({ config: { kind: 'Config' } })).toMatch(/config\/kind/);
      expect(await refused({ config: { iamPolicy: { allowDomainMembers: 'yes' } } })).toMatch(/allowDomainMembers[\s\S]*want boolean/);
      expect(await refused({ config: { tenants: [{ namespaces: ['a'] }] } })).toMatch(/missing propert(y|ies) 'projects'/);
      expect(await refused({ config: { iamPolicy: { allowedRoles: { bucket: ['owner'] } } } })).toMatch(/allowedRoles\/bucket\/0/);
    });

    it('accepts every option set at once', async () => {
      const out = await h().run(['template', 'x', CHART, '-f', h().valuesFile(EVERYTHING)]);
      expect(out.code, out.stderr).toBe(0);
    });
  });
});


describe('with the default values: the objects of `kubectl kustomize manifests/install`, minus the Namespace', () => {
  let chart: Doc[] = [];
  let kustomize: Doc[] = [];
  let renderError: unknown;
  beforeAll(async () => {
    try {
      if (setupError) throw setupError;
      [chart, kustomize] = await Promise.all([h().template(), kustomizeInstall()]);
    } catch (error) {
      renderError = error;
    }
  });
  const rendered = () => {
    if (renderError) throw renderError;
    return { chart, kustomize: kustomize.filter((d) => d.kind !== 'Namespace') };
  };

  it('renders the same objects (kind, namespace, name)', () => {
    const { chart, kustomize } = rendered();
    expect(chart.map(key).sort()).toEqual(kustomize.map(key).sort());
    expect(chart.map(key).sort()).toEqual([
      'ClusterRole/jobmatch-operator',
      'ClusterRoleBinding/jobmatch-operator',
      `ConfigMap/${NAMESPACE}/jobmatch-operator-config`,
      `Deployment/${NAMESPACE}/jobmatch-operator`,
      `PodDisruptionBudget/${NAMESPACE}/jobmatch-operator`,
      `Role/${NAMESPACE}/jobmatch-operator-leader-election`,
      `RoleBinding/${NAMESPACE}/jobmatch-operator-leader-election`,
      `Service/${NAMESPACE}/jobmatch-operator-metrics`,
      `ServiceAccount/${NAMESPACE}/jobmatch-operator`,
    ]);
  });

  it('renders each object equal to kustomize\'s, but for the tools\' own labels (and the ConfigMap\'s comments)', () => {
    const { chart, kustomize } = rendered();
    for (const k of kustomize) {
      const c = chart.find((d) => key(d) === key(k));
      expect(c && normalized(c), key(k)).toEqual(normalized(k));
    }
  });

  it(`runs the image ${IMAGE_REPOSITORY}:<package.json's version>, as kustomize's images entry says`, () => {
    const { chart, kustomize } = rendered();
    const image = (docs: Doc[]) => one(docs, 'Deployment').spec.template.spec.containers[0].image;
    expect(image(chart)).toBe(`${IMAGE_REPOSITORY}:${PACKAGE_VERSION}`);
    expect(image(kustomize), 'manifests/install/kustomization.yaml lacks its images: entry').toBe(`${IMAGE_REPOSITORY}:${PACKAGE_VERSION}`);
  });

  it('labels every object with Helm\'s labels, and selects pods by the two labels kustomize uses (no instance label)', () => {
    const { chart } = rendered();
    for (const d of chart) {
      expect(d.metadata.labels, key(d)).toMatchObject({
        'app.kubernetes.io/name': 'jobmatch-operator', 'app.kubernetes.io/instance': 'jobmatch-operator', 'app.kubernetes.io/managed-by': 'Helm',
        'app.kubernetes.io/version': PACKAGE_VERSION, 'helm.sh/chart': `jobmatch-operator-${PACKAGE_VERSION}`,
      });
    }
    const selector = { 'app.kubernetes.io/name': 'jobmatch-operator', 'app.kubernetes.io/component': 'controller' };
    expect(one(chart, 'Deployment').spec.selector.matchLabels).toEqual(selector);
    expect(one(chart, 'Deployment').spec.template.metadata.labels).toEqual(selector);
    expect(one(chart, 'Service').spec.selector).toEqual(selector);
    expect(one(chart, 'PodDisruptionBudget').spec.selector.matchLabels).toEqual(selector);
  });

  it('ships the OperatorConfig the operator accepts: the safe defaults, no tenants', () => {
    const { chart } = rendered();
    expect(parseOperatorConfig(one(chart, 'ConfigMap').data['config.yaml'], 'config.yaml')).toEqual({ config: DEFAULT_OPERATOR_CONFIG });
  });

  it('rolls the pods when the config changes: the pod template carries its checksum', async () => {
    const { chart } = rendered();
    const checksum = (docs: Doc[]) => one(docs, 'Deployment').spec.template.metadata.annotations['checksum/config'];
    expect(checksum(chart)).toMatch(/^[0-9a-f]{64}$/);
    const changed = await h().template({ config: { apiVersion: 'jobmatch.io/v1alpha1', kind: 'OperatorConfig', iamPolicy: { allowDomainMembers: true } } });
    expect(checksum(changed)).toMatch(/^[0-9a-f]{64}$/);
    expect(checksum(changed)).not.toBe(checksum(chart));
    expect(await h().template({ replicaCount: 1 }).then(checksum)).toBe(checksum(chart));
  });
});

describe('values render what they say', () => {
  const deployment = (docs: Doc[]) => one(docs, 'Deployment');
  const pod = (docs: Doc[]) => deployment(docs).spec.template.spec;
  const container = (docs: Doc[]) => pod(docs).containers[0];
  const sa = (docs: Doc[]) => one(docs, 'ServiceAccount');

  it('serviceAccount.gcpServiceAccount: the Workload Identity annotation, beside serviceAccount.annotations; empty: none', async () => {
    const docs = await h().template({ serviceAccount: { gcpServiceAccount: 'op@my-project.iam.gserviceaccount.com', annotations: { 'example.com/team': 'platform' } } });
    expect(sa(docs).metadata.annotations).toEqual({ 'iam.gke.io/gcp-service-account': 'op@my-project.iam.gserviceaccount.com', 'example.com/team': 'platform' });
    expect(sa(await h().template({ serviceAccount: { gcpServiceAccount: '' } })).metadata.annotations).toBeUndefined();
  });

  it('serviceAccount.name and create: the pods and both bindings use that name; create false renders no ServiceAccount', async () => {
    const docs = await h().template({ serviceAccount: { name: 'jm-op' } });
    expect(sa(docs).metadata.name).toBe('jm-op');
    expect(pod(docs).serviceAccountName).toBe('jm-op');
    for (const kind of ['ClusterRoleBinding', 'RoleBinding']) expect(one(docs, kind).subjects).toEqual([{ kind: 'ServiceAccount', name: 'jm-op', namespace: NAMESPACE }]);
    const existing = await h().template({ serviceAccount: { create: false, name: 'theirs' } });
    expect(existing.filter((d) => d.kind === 'ServiceAccount')).toEqual([]);
    expect(pod(existing).serviceAccountName).toBe('theirs');
  });

  it('driftEvents and extraArgs: --drift-events, one --drift-events-principal per principal, then extraArgs, after the chart\'s own', async () => {
    const docs = await h().template({ driftEvents: EVERYTHING.driftEvents, extraArgs: EVERYTHING.extraArgs });
    expect(container(docs).args).toEqual([
      'run', '--config', '/etc/jobmatch-operator/config.yaml',
      '--drift-events', 'projects/ops/subscriptions/jobmatch-drift',
      '--drift-events-principal', 'jobmatch-operator@ops.iam.gserviceaccount.com',
      '--drift-events-principal', 'jm-team-a@project-a.iam.gserviceaccount.com',
      '--concurrency', '8', '--gcp-qps', '20',
    ]);
    expect(container(await h().template({ extraArgs: ['--log-level', 'debug'] })).args).toEqual(['run', '--config', '/etc/jobmatch-operator/config.yaml', '--log-level', 'debug']);
  });

  it('renders only flags `jobmatch-operator run` has (its --help, from the bundle)', async () => {
    const help = await exec(process.execPath, [join(ROOT, 'bin/jobmatch-operator.js'), 'run', '--help']);
    expect(help.code, help.stderr).toBe(0);
    const chartFlags = (container(await h().template({ driftEvents: EVERYTHING.driftEvents })).args as string[]).filter((a) => a.startsWith('--'));
    expect(chartFlags).toEqual(['--config', '--drift-events', '--drift-events-principal', '--drift-events-principal']);
    for (const flag of new Set(chartFlags)) expect(help.stdout).toMatch(new RegExp(`^\\s+${flag} <`, 'm'));
  });

  it('image: repository:tag, tag defaulting to appVersion; repository@digest when a digest is set (it wins over the tag)', async () => {
    expect(container(await h().template({ image: { tag: '0.2.0-rc.1' } })).image).toBe(`${IMAGE_REPOSITORY}:0.2.0-rc.1`);
    expect(container(await h().template({ image: { digest: DIGEST } })).image).toBe(`${IMAGE_REPOSITORY}@${DIGEST}`);
    const docs = await h().template({ image: { repository: 'registry.example.com/jm', tag: '1.0.0', digest: DIGEST, pullPolicy: 'Always' } });
    expect(container(docs).image).toBe(`registry.example.com/jm@${DIGEST}`);
    expect(container(docs).imagePullPolicy).toBe('Always');
  });

  it('podMonitoring and serviceMonitor: present only when enabled, scraping the metrics port of the operator pods', async () => {
    const monitors = (docs: Doc[]) => docs.filter((d) => d.kind === 'PodMonitoring' || d.kind === 'ServiceMonitor');
    expect(monitors(await h().template())).toEqual([]);
    const docs = await h().template({ podMonitoring: EVERYTHING.podMonitoring, serviceMonitor: EVERYTHING.serviceMonitor });
    const selector = { 'app.kubernetes.io/name': 'jobmatch-operator', 'app.kubernetes.io/component': 'controller' };
    const pm = one(docs, 'PodMonitoring');
    expect(pm.apiVersion).toBe('monitoring.googleapis.com/v1');
    expect(pm.metadata).toMatchObject({ name: 'jobmatch-operator', namespace: NAMESPACE });
    expect(pm.spec).toEqual({ selector: { matchLabels: selector }, endpoints: [{ port: 'metrics', path: '/metrics', interval: '60s' }] });
    const sm = one(docs, 'ServiceMonitor');
    expect(sm.apiVersion).toBe('monitoring.coreos.com/v1');
    expect(sm.metadata.labels).toMatchObject({ release: 'kube-prometheus-stack', 'app.kubernetes.io/name': 'jobmatch-operator' });
    expect(sm.spec).toEqual({ selector: { matchLabels: selector }, namespaceSelector: { matchNames: [NAMESPACE] }, endpoints: [{ port: 'metrics', path: '/metrics', interval: '15s' }] });
    // The Service it selects, and its port.
    const svc = one(docs, 'Service');
    expect(svc.metadata.labels).toMatchObject(sm.spec.selector.matchLabels);
    expect(svc.spec.ports.map((p: { name: string }) => p.name)).toContain('metrics');
    expect(monitors(await h().template({ podMonitoring: { enabled: true } })).map((d) => d.kind)).toEqual(['PodMonitoring']);
  });

  it('everything else: replicas, resources, config, env, pod annotations and labels (never the selector\'s), scheduling, no PodDisruptionBudget', async () => {
    const docs = await h().template(EVERYTHING);
    expect(deployment(docs).spec.replicas).toBe(3);
    expect(container(docs).resources).toEqual(EVERYTHING.resources);
    expect(parse(one(docs, 'ConfigMap').data['config.yaml'])).toEqual(EVERYTHING.config);
    expect(parseOperatorConfig(one(docs, 'ConfigMap').data['config.yaml'], 'config.yaml')).toHaveProperty('config.tenants');
    expect(container(docs).env.map((e: { name: string }) => e.name)).toEqual(['POD_NAMESPACE', 'POD_NAME', 'NODE_OPTIONS']);
    expect(container(docs).env[2]).toEqual({ name: 'NODE_OPTIONS', value: '--max-old-space-size=768' });
    const template = deployment(docs).spec.template;
    expect(template.metadata.annotations).toMatchObject({ 'example.com/scrape': 'no' });
    expect(template.metadata.labels).toEqual({ team: 'platform', 'app.kubernetes.io/name': 'jobmatch-operator', 'app.kubernetes.io/component': 'controller' });
    expect(pod(docs).nodeSelector).toEqual(EVERYTHING.nodeSelector);
    expect(pod(docs).tolerations).toEqual(EVERYTHING.tolerations);
    expect(pod(docs).affinity).toEqual({ nodeAffinity: EVERYTHING.affinity.nodeAffinity });
    // Without the null, Helm merges a map with the default: the anti-affinity stays beside the node affinity.
    const merged = pod(await h().template({ affinity: { nodeAffinity: EVERYTHING.affinity.nodeAffinity } })).affinity;
    expect(merged).toEqual({ nodeAffinity: EVERYTHING.affinity.nodeAffinity, podAntiAffinity: pod(await h().template()).affinity.podAntiAffinity });
    expect(pod(docs).priorityClassName).toBe('system-cluster-critical');
    expect(docs.filter((d) => d.kind === 'PodDisruptionBudget')).toEqual([]);
    // The security settings are not values: the same as manifests/install's whatever is set.
    const defaults = await h().template();
    expect(pod(docs).securityContext).toEqual(pod(defaults).securityContext);
    expect(container(docs).securityContext).toEqual(container(defaults).securityContext);
    expect(container(docs).volumeMounts).toEqual(container(defaults).volumeMounts);
    expect(pod(docs).volumes).toEqual(pod(defaults).volumes);
  });

  it('templates use the release namespace', async () => {
    const out = await h().ok(['template', 'other', CHART, '--namespace', 'ops']);
    const docs = documents(out);
    for (const d of docs) if (!d.kind.startsWith('Cluster')) expect(d.metadata.namespace, key(d)).toBe('ops');
    expect(one(docs, 'ClusterRoleBinding').subjects[0].namespace).toBe('ops');
  });
});
