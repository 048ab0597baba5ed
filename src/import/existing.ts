/**
 * `import`'s read side: what GCP holds for one environment, found by its labels or by the naming convention, read
 * through the kinds' own clients (the same observe code as `plan`). Read-only: never a write, never a secret's value.
 */
import { DEPLOY_KEY_NAME } from '../api/config-hash.js';
import { ENVIRONMENT_LABEL, secretId } from '../api/naming.js';
import type { Connection } from '../engine/connection.js';
import type { BucketObservation } from '../kinds/bucket/bucket-plan.js';
import type { DatasetObservation } from '../kinds/dataset/dataset-plan.js';
import type { DeploymentObservation } from '../kinds/deployment/deployment-plan.js';
import type { SecretObservation } from '../kinds/secret/secret-plan.js';
import type { LabelledResource, PolicyObservation } from '../plan/observed.js';

/** Which rule found a resource: its jobmatch-environment label, its name (the convention), or a --bucket/--dataset flag. */
export type FoundBy = 'label' | 'name' | 'flag';

export interface Found<O> {
  name: string;
  foundBy: FoundBy;
  observation: O;
  /** Buckets and secrets: their IAM policy (a dataset's is its access list, in the observation). */
  policy?: PolicyObservation;
}

export interface ExistingVm {
  name: string;
  zone: string;
  /** undefined: no such instance. */
  observation?: DeploymentObservation;
}

export interface ExistingEnvironment {
  project: string;
  environment: string;
  buckets: Found<BucketObservation>[];
  datasets: Found<DatasetObservation>[];
  secrets: Found<SecretObservation>[];
  /** jobmatch-<env>-deploy-key's IAM policy, when that secret exists. */
  deployKeyPolicy?: PolicyObservation;
  projectPolicy?: PolicyObservation;
  vm?: ExistingVm;
  /** Resources matching the convention but labelled for another environment: never taken. */
  otherEnvironments: { kind: string; name: string; environment: string }[];
  /** Reads that failed: kind/name and why. */
  errors: string[];
}

export interface FindOptions {
  project: string;
  environment: string;
  /** Bucket names and dataset ids to take whatever their names (the seed's prod names carry no environment). */
  buckets?: string[];
  datasets?: string[];
  vm?: { name: string; zone: string };
}

/** The naming convention of an environment's resources: buckets jobmatch-<env>-*, datasets <env>_*, secrets jobmatch-<env>-*. */
export function conventionMatch(kind: 'Bucket' | 'Dataset' | 'Secret', name: string, environment: string): boolean {
  if (kind === 'Dataset') return name.startsWith(`${environment}_`);
  return name.startsWith(`jobmatch-${environment}-`);
}

/** Reads everything `import` needs for one environment; a failed read is recorded, never fatal on its own. */
export async function findExisting(conn: Connection, options: FindOptions): Promise<ExistingEnvironment> {
  const { environment } = options;
  const existing: ExistingEnvironment = { project: options.project, environment, buckets: [], datasets: [], secrets: [], otherEnvironments: [], errors: [] };
  const attempt = async <T>(what: string, read: () => Promise<T>): Promise<T | undefined> => {
    try {
      return await read();
    } catch (e) {
      existing.errors.push(`${what}: ${(e as Error).message}`);
      return undefined;
    }
  };
  const deployKey = secretId(environment, DEPLOY_KEY_NAME);
  const select = (kind: 'Bucket' | 'Dataset' | 'Secret', listed: LabelledResource[], named: string[]): { name: string; foundBy: FoundBy }[] => {
    const out = new Map<string, FoundBy>();
    for (const r of listed) {
      const label = r.labels[ENVIRONMENT_LABEL];
      if (kind === 'Secret' && r.name === deployKey) continue;
      if (label === environment) out.set(r.name, 'label');
      else if (conventionMatch(kind, r.name, environment) || named.includes(r.name)) {
        if (label !== undefined) existing.otherEnvironments.push({ kind, name: r.name, environment: label });
        else out.set(r.name, named.includes(r.name) ? 'flag' : 'name');
      }
    }
    for (const name of named) if (!out.has(name) && !listed.some((r) => r.name === name)) existing.errors.push(`${kind}/${name}: named by a flag, not found in project ${options.project}`);
    return [...out].map(([name, foundBy]) => ({ name, foundBy })).sort((a, b) => a.name.localeCompare(b.name));
  };
  const list = (kind: 'Bucket' | 'Dataset' | 'Secret') => attempt(`${kind} list`, () => conn.client(kind).listAll!()).then((l) => l ?? []);
  const [bucketList, datasetList, secretList, projectPolicy, vm] = await Promise.all([
    list('Bucket'), list('Dataset'), list('Secret'),
    attempt('project IAM policy', () => conn.project.readPolicy()),
    options.vm ? attempt(`VM ${options.vm.zone}/${options.vm.name}`, () => conn.client('Deployment').observe(`${options.vm!.zone}/${options.vm!.name}`)) : undefined,
  ]);
  if (projectPolicy) existing.projectPolicy = projectPolicy;
  if (options.vm && !existing.errors.some((e) => e.startsWith('VM '))) existing.vm = { ...options.vm, ...(vm ? { observation: vm as DeploymentObservation } : {}) };
  const read = async <O>(kind: 'Bucket' | 'Dataset' | 'Secret', picked: { name: string; foundBy: FoundBy }[], withPolicy: boolean): Promise<Found<O>[]> => {
    const client = conn.client(kind);
    const found = await Promise.all(picked.map(async ({ name, foundBy }) => {
      const [observation, policy] = await Promise.all([
        attempt(`${kind}/${name}`, () => client.observe(name)),
        withPolicy ? attempt(`${kind}/${name} IAM policy`, () => client.readPolicy(name)) : undefined,
      ]);
      return observation ? { name, foundBy, observation: observation as O, ...(policy ? { policy } : {}) } : undefined;
    }));
    return found.filter((f) => f !== undefined);
  };
  const hasDeployKey = secretList.some((s) => s.name === deployKey);
  const [buckets, datasets, secrets, deployKeyPolicy] = await Promise.all([
    read<BucketObservation>('Bucket', select('Bucket', bucketList, options.buckets ?? []), true),
    read<DatasetObservation>('Dataset', select('Dataset', datasetList, options.datasets ?? []), false),
    read<SecretObservation>('Secret', select('Secret', secretList, []), true),
    hasDeployKey ? attempt(`Secret/${deployKey} IAM policy`, () => conn.client('Secret').readPolicy(deployKey)) : undefined,
  ]);
  Object.assign(existing, { buckets, datasets, secrets });
  if (deployKeyPolicy) existing.deployKeyPolicy = deployKeyPolicy;
  return existing;
}
