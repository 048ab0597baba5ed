/** What the chart's tests share: running the real Helm on charts/jobmatch-operator, rendering, and kustomize's side. */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse, parseAllDocuments } from 'yaml';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const CHART = join(ROOT, 'charts/jobmatch-operator');
export const NAMESPACE = 'jobmatch-system';
export const RELEASE = 'jobmatch-operator';
export const PACKAGE_VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
export const IMAGE_REPOSITORY = 'ghcr.io/jobmatch/jobmatch-operator';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Doc = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string>; [k: string]: any }; [k: string]: any };

export interface Output {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion; never throws for a non-zero exit (the caller asserts on it). */
export function exec(command: string, args: string[], options: { input?: string; env?: NodeJS.ProcessEnv; cwd?: string } = {}): Promise<Output> {
  return new Promise((resolve, reject) => {
    const child = execFile(command, args, { maxBuffer: 64 << 20, env: options.env ?? process.env, cwd: options.cwd ?? ROOT }, (error, stdout, stderr) => {
      const e = error as (NodeJS.ErrnoException & { code?: number | string }) | null;
      if (e && typeof e.code === 'string') return reject(e.code === 'ENOENT' ? new Error(`${command} not found`) : e);
      resolve({ code: e ? (typeof e.code === 'number' ? e.code : 1) : 0, stdout, stderr });
    });
    if (options.input !== undefined) child.stdin!.end(options.input);
  });
}

/** Helm with its own config, cache and data directories (never the user's ~/.config/helm). */
export class Helm {
  readonly home = mkdtempSync(join(tmpdir(), 'jobmatch-helm-'));
  constructor(readonly binary: string) {}

  private env(): NodeJS.ProcessEnv {
    return {
      PATH: process.env.PATH ?? '',
      HOME: this.home,
      HELM_CONFIG_HOME: join(this.home, 'config'),
      HELM_CACHE_HOME: join(this.home, 'cache'),
      HELM_DATA_HOME: join(this.home, 'data'),
    };
  }

  run(args: string[], input?: string): Promise<Output> {
    return exec(this.binary, args, { env: this.env(), ...(input !== undefined ? { input } : {}) });
  }

  /** Runs helm and returns its stdout; throws with its stderr on a non-zero exit. */
  async ok(args: string[]): Promise<string> {
    const out = await this.run(args);
    if (out.code !== 0) throw new Error(`helm ${args.join(' ')} exited ${out.code}:\n${out.stderr}${out.stdout}`);
    return out.stdout;
  }

  /** A values file in this Helm's temp directory, for -f. */
  valuesFile(values: object): string {
    const file = join(mkdtempSync(join(this.home, 'values-')), 'values.yaml');
    // JSON (which YAML includes): no YAML 1.1 surprises such as an unquoted yes or no read as a boolean by Helm.
    writeFileSync(file, JSON.stringify(values, null, 2));
    return file;
  }

  /** `helm template` of the chart in jobmatch-system with these values (none: the defaults), as objects. */
  async template(values?: object, extra: string[] = []): Promise<Doc[]> {
    const args = ['template', RELEASE, CHART, '--namespace', NAMESPACE, ...(values ? ['-f', this.valuesFile(values)] : []), ...extra];
    return documents(await this.ok(args));
  }

  dispose(): void {
    rmSync(this.home, { recursive: true, force: true });
  }
}

export function documents(text: string): Doc[] {
  return parseAllDocuments(text).map((d) => d.toJS() as Doc | null).filter((d): d is Doc => d !== null && typeof d === 'object');
}

/** `kubectl kustomize manifests/install`, as test/image/install-manifests.test.ts renders it. */
export async function kustomizeInstall(): Promise<Doc[]> {
  const out = await exec('kubectl', ['kustomize', join(ROOT, 'manifests/install')]).catch((e: Error) => {
    throw new Error(`${e.message}: install kubectl ≥ 1.27 (it renders manifests/install with its built-in kustomize)`);
  });
  if (out.code !== 0) throw new Error(`kubectl kustomize manifests/install failed: ${out.stderr}`);
  return documents(out.stdout);
}

export const key = (d: Doc) => `${d.kind}/${d.metadata.namespace ? `${d.metadata.namespace}/` : ''}${d.metadata.name}`;

/** Labels each side adds of its own: Helm's (chart, instance, version, managed-by) and kustomize's `labels:` (part-of, managed-by). */
const TOOL_LABELS = ['helm.sh/chart', 'app.kubernetes.io/instance', 'app.kubernetes.io/version', 'app.kubernetes.io/managed-by', 'app.kubernetes.io/part-of'];

/**
 * An object as both tools should agree on it: without the tools' own labels, without the chart's
 * checksum/config pod annotation (the chart rolls the pods on a config change; kustomize's users restart by
 * hand), and with the ConfigMap's config.yaml parsed (comments and layout differ).
 */
export function normalized(doc: Doc): Doc {
  const d = structuredClone(doc);
  const strip = (meta: { labels?: Record<string, string>; annotations?: Record<string, string> } | undefined) => {
    if (!meta) return;
    for (const l of TOOL_LABELS) delete meta.labels?.[l];
    if (meta.labels && Object.keys(meta.labels).length === 0) delete meta.labels;
  };
  strip(d.metadata);
  if (d.kind === 'Deployment') {
    const meta = d.spec.template.metadata;
    strip(meta);
    delete meta.annotations?.['checksum/config'];
    if (meta.annotations && Object.keys(meta.annotations).length === 0) delete meta.annotations;
  }
  if (d.kind === 'ConfigMap' && typeof d.data?.['config.yaml'] === 'string') d.data['config.yaml'] = parse(d.data['config.yaml']);
  return d;
}

export function one(docs: Doc[], kind: string, name?: string): Doc {
  const found = docs.filter((d) => d.kind === kind && (name === undefined || d.metadata.name === name));
  if (found.length !== 1) throw new Error(`expected one ${kind}${name ? ` ${name}` : ''}, found ${found.length}: ${docs.map(key).join(', ')}`);
  return found[0]!;
}

export const DIGEST = `sha256:${'ab'.repeat(32)}`;

/** Every value the chart has, set to something other than its default. */
export const EVERYTHING = {
  image: { repository: 'registry.example.com/ops/jobmatch-operator', tag: '9.9.9', digest: DIGEST, pullPolicy: 'Always' },
  replicaCount: 3,
  config: {
    apiVersion: 'jobmatch.io/v1alpha1', kind: 'OperatorConfig',
    iamPolicy: { allowedRoles: { bucket: ['roles/storage.admin'] }, allowDomainMembers: true },
    tenants: [{ namespaces: ['team-a'], projects: ['project-a'], environments: ['team-a-*'], serviceAccount: 'jm-team-a@project-a.iam.gserviceaccount.com' }],
  },
  driftEvents: { subscription: 'projects/ops/subscriptions/jobmatch-drift', principals: ['jobmatch-operator@ops.iam.gserviceaccount.com', 'jm-team-a@project-a.iam.gserviceaccount.com'] },
  serviceAccount: { create: true, name: 'jm-op', gcpServiceAccount: 'jobmatch-operator@ops.iam.gserviceaccount.com', annotations: { 'example.com/owner': 'platform' } },
  resources: { requests: { cpu: '200m', memory: '1Gi' }, limits: { cpu: '2', memory: '2Gi' } },
  podMonitoring: { enabled: true, interval: '60s' },
  serviceMonitor: { enabled: true, interval: '15s', labels: { release: 'kube-prometheus-stack' } },
  extraArgs: ['--concurrency', '8', '--gcp-qps', '20'],
  extraEnv: [{ name: 'NODE_OPTIONS', value: '--max-old-space-size=768' }],
  podAnnotations: { 'example.com/scrape': 'no' },
  podLabels: { team: 'platform', 'app.kubernetes.io/component': 'not-the-selector' },
  nodeSelector: { 'cloud.google.com/gke-nodepool': 'system' },
  tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'system', effect: 'NoSchedule' }],
  // null removes the default (Helm merges maps of values with the defaults).
  affinity: { podAntiAffinity: null, nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'kubernetes.io/arch', operator: 'In', values: ['amd64'] }] }] } } },
  priorityClassName: 'system-cluster-critical',
  podDisruptionBudget: { enabled: false },
};
