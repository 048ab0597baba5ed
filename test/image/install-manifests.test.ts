/**
 * manifests/install (kustomize) rendered by kubectl, and held to least privilege: the RBAC is compared
 * rule by rule with the exact set the operator needs, and the Deployment's security settings are pinned, so
 * an edit that widens a permission or loosens the pod fails here until this test is changed on purpose.
 */
import { DEFAULT_OPERATOR_CONFIG } from '../../src/api/operator-config.js';
import { parseOperatorConfig } from '../../src/api/operator-config-validation.js';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';

const run = promisify(execFile);
const root = new URL('../../', import.meta.url);
const NAMESPACE = 'jobmatch-system';
const SA = 'jobmatch-operator';

type Doc = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> }; [k: string]: any };
type Rule = { apiGroups?: string[]; resources?: string[]; verbs: string[]; resourceNames?: string[]; nonResourceURLs?: string[] };

let docs: Doc[] = [];
let crdDocs: Doc[] = [];
let renderError: unknown;
/** The rendered objects; every test fails with the reason when rendering failed (a throwing beforeAll would skip them). */
function rendered(): Doc[] {
  if (renderError) throw renderError;
  return docs;
}
/** manifests/install/crd rendered: the CRD's own step. */
function renderedCrd(): Doc[] {
  if (renderError) throw renderError;
  return crdDocs;
}

async function render(dir: string): Promise<Doc[]> {
  try {
    const { stdout } = await run('kubectl', ['kustomize', new URL(dir, root).pathname], { maxBuffer: 64 << 20 });
    return parseAllDocuments(stdout).map((d) => d.toJS() as Doc).filter(Boolean);
  } catch (error) {
    const e = error as NodeJS.ErrnoException & { stderr?: string };
    throw e.code === 'ENOENT'
      ? new Error('kubectl not found: install kubectl ≥ 1.27 (it renders manifests/install with its built-in kustomize)')
      : new Error(`kubectl kustomize ${dir} failed: ${e.stderr ?? e.message}`);
  }
}
const find = (kind: string, name?: string): Doc[] => {
  return rendered().filter((d) => d.kind === kind && (name === undefined || d.metadata.name === name));
};
const one = (kind: string, name?: string): Doc => {
  const found = find(kind, name);
  expect(found, `${kind} ${name ?? ''}`).toHaveLength(1);
  return found[0]!;
};

/** One line per (group, resource, verb): rules written any way compare as the permissions they grant. */
function grants(rules: Rule[]): string[] {
  const out = new Set<string>();
  for (const r of rules) {
    expect(r.resourceNames, 'resourceNames').toBeUndefined();
    expect(r.nonResourceURLs, 'nonResourceURLs').toBeUndefined();
    for (const g of r.apiGroups ?? []) for (const res of r.resources ?? []) for (const v of r.verbs) out.add(`${g === '' ? 'core' : g} ${res} ${v}`);
  }
  return [...out].sort();
}

beforeAll(async () => {
  try {
    docs = await render('manifests/install');
    crdDocs = await render('manifests/install/crd');
  } catch (error) {
    renderError = error;
  }
});

describe('manifests/install', () => {
  it('renders exactly the install objects', () => {
    const names = rendered().map((d) => `${d.kind}/${d.metadata.namespace ? `${d.metadata.namespace}/` : ''}${d.metadata.name}`).sort();
    expect(names).toEqual([
      'ClusterRole/jobmatch-operator',
      'ClusterRoleBinding/jobmatch-operator',
      `ConfigMap/${NAMESPACE}/jobmatch-operator-config`,
      `Deployment/${NAMESPACE}/jobmatch-operator`,
      `Namespace/${NAMESPACE}`,
      `PodDisruptionBudget/${NAMESPACE}/jobmatch-operator`,
      `Role/${NAMESPACE}/jobmatch-operator-leader-election`,
      `RoleBinding/${NAMESPACE}/jobmatch-operator-leader-election`,
      `Service/${NAMESPACE}/jobmatch-operator-metrics`,
      `ServiceAccount/${NAMESPACE}/jobmatch-operator`,
    ]);
  });

  it('does not hold the CRD: removing the operator (kubectl delete -k, a GitOps prune) never deletes the JobMatchEnvironments', () => {
    expect(find('CustomResourceDefinition')).toEqual([]);
  });
});

describe('manifests/install/crd (the CRD, its own step)', () => {
  const crd = () => {
    const found = renderedCrd();
    expect(found.map((d) => `${d.kind}/${d.metadata.name}`)).toEqual(['CustomResourceDefinition/jobmatchenvironments.jobmatch.io']);
    return found[0]!;
  };

  it('installs the CRD of crds/ unchanged (the copy kustomize needs has not drifted)', () => {
    const [expected] = parseAllDocuments(readFileSync(new URL('crds/jobmatchenvironments.jobmatch.io.yaml', root), 'utf8')).map((d) => d.toJS());
    const installed = structuredClone(crd());
    // kustomize adds the common labels; everything else must be the generated CRD.
    delete installed.metadata.labels;
    expect(installed, 'manifests/install/crd/ differs from crds/: npm run crd (or cp crds/jobmatchenvironments.jobmatch.io.yaml manifests/install/crd/)').toEqual(expected);
  });

  it('carries the annotations that keep Argo CD and Flux from pruning it and Helm from deleting it, in both copies', () => {
    const keep = {
      'argocd.argoproj.io/sync-options': 'Prune=false,ServerSideApply=true',
      'kustomize.toolkit.fluxcd.io/prune': 'disabled',
      'helm.sh/resource-policy': 'keep',
    };
    expect(crd().metadata.annotations).toEqual(keep);
    const [shipped] = parseAllDocuments(readFileSync(new URL('crds/jobmatchenvironments.jobmatch.io.yaml', root), 'utf8')).map((d) => d.toJS() as Doc);
    expect(shipped!.metadata.annotations).toEqual(keep);
  });
});

describe('manifests/install (the operator)', () => {
  it('annotates the ServiceAccount for GKE Workload Identity', () => {
    const sa = one('ServiceAccount', SA);
    expect(sa.metadata.annotations?.['iam.gke.io/gcp-service-account']).toMatch(/^jobmatch-operator@[A-Za-z0-9_-]+\.iam\.gserviceaccount\.com$/);
    expect(sa.automountServiceAccountToken).toBe(true);
  });

  it('ships an OperatorConfig the operator accepts: the safe defaults, no tenants', () => {
    const config = parseOperatorConfig(one('ConfigMap', 'jobmatch-operator-config').data['config.yaml'], 'config.yaml');
    expect(config).toEqual({ config: DEFAULT_OPERATOR_CONFIG });
  });

  it('grants the ClusterRole exactly: JobMatchEnvironments, their status and finalizers, events, and reading namespaces (tenant selectors)', () => {
    const role = one('ClusterRole', 'jobmatch-operator');
    expect(role.aggregationRule).toBeUndefined();
    expect(grants(role.rules)).toEqual(
      [
        ...['get', 'list', 'watch', 'update', 'patch'].map((v) => `jobmatch.io jobmatchenvironments ${v}`),
        ...['get', 'update', 'patch'].map((v) => `jobmatch.io jobmatchenvironments/status ${v}`),
        'jobmatch.io jobmatchenvironments/finalizers update',
        'core events create',
        'core events patch',
        'events.k8s.io events create',
        'events.k8s.io events patch',
        ...['get', 'list', 'watch'].map((v) => `core namespaces ${v}`),
      ].sort(),
    );
  });

  it('grants the leader-election Role exactly: get, create, update, list and delete of Leases in the operator namespace (the calls leader-election.ts and shard-ownership.ts make)', () => {
    const role = one('Role', 'jobmatch-operator-leader-election');
    expect(role.metadata.namespace).toBe(NAMESPACE);
    expect(grants(role.rules)).toEqual(['get', 'create', 'update', 'list', 'delete'].map((v) => `coordination.k8s.io leases ${v}`).sort());
  });

  it('binds each role to the operator ServiceAccount only, and binds nothing else', () => {
    const subjects = [{ kind: 'ServiceAccount', name: SA, namespace: NAMESPACE }];
    const crb = one('ClusterRoleBinding');
    expect(crb.roleRef).toEqual({ apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'jobmatch-operator' });
    expect(crb.subjects).toEqual(subjects);
    const rb = one('RoleBinding');
    expect(rb.metadata.namespace).toBe(NAMESPACE);
    expect(rb.roleRef).toEqual({ apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'jobmatch-operator-leader-election' });
    expect(rb.subjects).toEqual(subjects);
    expect(find('ClusterRole')).toHaveLength(1);
    expect(find('Role')).toHaveLength(1);
  });

  describe('the Deployment', () => {
    const deployment = () => one('Deployment', 'jobmatch-operator');
    const pod = () => deployment().spec.template.spec;
    const container = () => {
      expect(pod().containers).toHaveLength(1);
      return pod().containers[0];
    };

    it('runs two replicas of `run` as the operator ServiceAccount, with its token mounted', () => {
      expect(deployment().metadata.namespace).toBe(NAMESPACE);
      expect(deployment().spec.replicas).toBe(2);
      expect(container().args).toEqual(['run', '--config', '/etc/jobmatch-operator/config.yaml']);
      expect(container().command).toBeUndefined();
      expect(pod().serviceAccountName).toBe(SA);
      expect(pod().automountServiceAccountToken).toBe(true);
      expect(pod().initContainers).toBeUndefined();
    });

    it('is non-root, read-only, with no privilege escalation, no capability and the runtime seccomp profile', () => {
      const p = pod();
      expect(p.hostNetwork ?? false).toBe(false);
      expect(p.hostPID ?? false).toBe(false);
      expect(p.hostIPC ?? false).toBe(false);
      expect(p.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 65532, runAsGroup: 65532, seccompProfile: { type: 'RuntimeDefault' } });
      expect(container().securityContext).toEqual({
        runAsNonRoot: true,
        runAsUser: 65532,
        runAsGroup: 65532,
        readOnlyRootFilesystem: true,
        allowPrivilegeEscalation: false,
        privileged: false,
        capabilities: { drop: ['ALL'] },
        seccompProfile: { type: 'RuntimeDefault' },
      });
    });

    it('writes only to an emptyDir at /tmp', () => {
      expect(container().volumeMounts).toEqual([{ name: 'tmp', mountPath: '/tmp' }, { name: 'config', mountPath: '/etc/jobmatch-operator', readOnly: true }]);
      expect(pod().volumes).toEqual([{ name: 'tmp', emptyDir: expect.any(Object) }, { name: 'config', configMap: { name: 'jobmatch-operator-config' } }]);
    });

    it('probes /healthz and /readyz on port 8080 and has requests and limits', () => {
      expect(container().ports).toEqual([{ name: 'metrics', containerPort: 8080, protocol: 'TCP' }]);
      expect(container().livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'metrics' });
      expect(container().readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'metrics' });
      // From the controller bench: ~630 MB at rest with 1,000 environments (docs/install-gke.md, Resources).
      expect(container().resources).toEqual({ requests: { cpu: '100m', memory: '512Mi' }, limits: { cpu: '1', memory: '1Gi' } });
    });

    it('is told its namespace through the downward API', () => {
      expect(container().env).toContainEqual({ name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } });
    });
  });

  it('keeps one pod available through voluntary disruptions, and selects the operator pods', () => {
    const pdb = one('PodDisruptionBudget');
    expect(pdb.spec.minAvailable).toBe(1);
    const labels = one('Deployment').spec.template.metadata.labels;
    expect(labels).toMatchObject(pdb.spec.selector.matchLabels);
    expect(one('Deployment').spec.selector.matchLabels).toEqual(pdb.spec.selector.matchLabels);
  });

  it('exposes the metrics port through a Service named metrics', () => {
    const svc = one('Service', 'jobmatch-operator-metrics');
    expect(svc.spec.ports).toEqual([{ name: 'metrics', port: 8080, targetPort: 'metrics', protocol: 'TCP' }]);
    expect(one('Deployment').spec.template.metadata.labels).toMatchObject(svc.spec.selector);
  });
});
