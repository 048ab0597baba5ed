/**
 * Observes an environment in one parallel wave: one read per declared object, per IAM policy touched,
 * per secret's version list, one list per API for orphans, and the project's number when buckets are
 * declared. A failed read fails only its resource. `observeResource` reads one resource again, fresh.
 */
import type { ResolvedSpec } from '../api/defaults.js';
import { ENVIRONMENT_LABEL, MANAGED_BY_LABEL, MANAGED_BY_VALUE, secretId } from '../api/naming.js';
import type { Adapters } from '../gcp/adapters.js';
import { unlessNotFound } from '../gcp/gcp-caller.js';
import { GcpError } from '../gcp/gcp-error.js';
import { policyKey, policyTargets } from '../plan/desired.js';
import {
  emptyObservation, PROJECT_NUMBER_READ, type LabelledResource, type ObservedEnvironment, type PolicyObservation,
} from '../plan/observed.js';
import { recordedDeletionPolicy } from '../plan/ownership.js';
import type { PolicyTarget } from '../plan/types.js';

/** The minimal number of reads an observation of this spec costs (the benchmark's denominator). */
export function minimalReads(spec: ResolvedSpec): number {
  const policies = policyTargets(spec).filter((t) => t.type !== 'dataset').length;
  return spec.buckets.length + spec.datasets.length + spec.secrets.length * 2 + policies + 3 + (spec.buckets.length > 0 ? 1 : 0);
}

export function readPolicy(adapters: Adapters, target: PolicyTarget): Promise<PolicyObservation | undefined> {
  switch (target.type) {
    case 'project': return adapters.projectPolicy.getPolicy();
    case 'bucket': return unlessNotFound(adapters.buckets.getPolicy(target.bucket));
    case 'secret': return unlessNotFound(adapters.secrets.getPolicy(target.secretId));
    case 'dataset': return Promise.resolve(undefined); // the access list comes with the dataset itself
  }
}

type Attempt = <T>(key: string, read: () => Promise<T>, store: (value: T) => void) => Promise<void>;

function attempter(observed: ObservedEnvironment): Attempt {
  return async (key, read, store) => {
    try {
      store(await read());
    } catch (e) {
      observed.errors[key] = (e as Error).message;
      if (e instanceof GcpError && e.unreachable) observed.unreachable ??= e.info.message;
    }
  };
}

const declaredIds = (spec: ResolvedSpec) => new Set([
  ...spec.buckets.map((b) => `Bucket/${b.name}`), ...spec.datasets.map((d) => `Dataset/${d.datasetId}`),
  ...spec.secrets.map((s) => `Secret/${secretId(spec.environment, s.name)}`),
]);

/** Only an undeclared resource that is ours and recorded for deletion needs its contents counted. */
const toBeDeleted = (r: LabelledResource, env: string) =>
  r.labels[ENVIRONMENT_LABEL] === env && r.labels[MANAGED_BY_LABEL] === MANAGED_BY_VALUE && recordedDeletionPolicy(r.labels) === 'delete';

async function readContents(r: LabelledResource, adapters: Adapters): Promise<void> {
  if (r.kind === 'Bucket') r.contents = await adapters.buckets.contents(r.name);
  if (r.kind === 'Dataset') {
    const [dataset, contents] = await Promise.all([adapters.datasets.observe(r.name), adapters.datasets.contents(r.name)]);
    r.contents = contents;
    if (dataset) r.version = dataset.etag;
  }
}

export async function observeEnvironment(spec: ResolvedSpec, adapters: Adapters, now: Date): Promise<ObservedEnvironment> {
  const observed = emptyObservation(now);
  const attempt = attempter(observed);
  const env = spec.environment;
  const labelled = (found: LabelledResource[]) => observed.labelled.push(...found);
  const projectNumber = () => attempt(PROJECT_NUMBER_READ, () => adapters.projectNumber(), (n) => (observed.projectNumber = n));
  await Promise.all([
    ...(spec.buckets.length > 0 ? [projectNumber()] : []),
    ...spec.buckets.map((b) => attempt(`Bucket/${b.name}`, () => adapters.buckets.observe(b.name), (o) => (observed.buckets[b.name] = o))),
    ...spec.datasets.map((d) => attempt(`Dataset/${d.datasetId}`, () => adapters.datasets.observe(d.datasetId), (o) => (observed.datasets[d.datasetId] = o))),
    ...spec.secrets.map((s) => {
      const id = secretId(env, s.name);
      return attempt(`Secret/${id}`, () => adapters.secrets.observe(id), (o) => (observed.secrets[id] = o));
    }),
    ...policyTargets(spec).filter((t) => t.type !== 'dataset').map((t) =>
      attempt(policyKey(t), () => readPolicy(adapters, t), (p) => (observed.policies[policyKey(t)] = p))),
    attempt('labelled/Bucket', () => adapters.buckets.listLabelled(spec.gcp.projectId, env), labelled),
    attempt('labelled/Dataset', () => adapters.datasets.listLabelled(env), labelled),
    attempt('labelled/Secret', () => adapters.secrets.listLabelled(env), labelled),
  ]);
  observed.labelled.sort((a, b) => `${a.kind}/${a.name}`.localeCompare(`${b.kind}/${b.name}`));
  // Rare second wave: only when something undeclared is recorded for deletion.
  const declared = declaredIds(spec);
  const deletable = observed.labelled.filter((r) => !declared.has(`${r.kind}/${r.name}`) && toBeDeleted(r, env));
  await Promise.all([
    ...(deletable.some((r) => r.kind === 'Bucket') && observed.projectNumber === undefined ? [projectNumber()] : []),
    ...deletable.map((r) => attempt(`${r.kind}/${r.name}`, () => readContents(r, adapters), () => undefined)),
  ]);
  return observed;
}

/** A fresh read of one undeclared resource, as a list would have found it; undefined when it is gone. */
async function observeLabelled(kind: LabelledResource['kind'], name: string, adapters: Adapters): Promise<LabelledResource | undefined> {
  const found = kind === 'Bucket' ? await adapters.buckets.observe(name)
    : kind === 'Dataset' ? await adapters.datasets.observe(name) : await adapters.secrets.observe(name);
  if (!found) return undefined;
  const r: LabelledResource = {
    kind, name, labels: found.labels,
    ...('projectNumber' in found && found.projectNumber !== undefined ? { projectNumber: found.projectNumber } : {}),
    version: 'metageneration' in found ? found.metageneration : found.etag,
  };
  if (kind !== 'Secret') await readContents(r, adapters);
  return r;
}

/** The observation with resource `id` (Bucket/x, Dataset/y, Secret/z) read again: what the executor re-plans from after a 409/412. */
export async function observeResource(spec: ResolvedSpec, adapters: Adapters, observed: ObservedEnvironment, id: string): Promise<ObservedEnvironment> {
  const [kind, name] = id.split(/\/(.*)/s) as [LabelledResource['kind'], string];
  const fresh: ObservedEnvironment = {
    ...observed, buckets: { ...observed.buckets }, datasets: { ...observed.datasets }, secrets: { ...observed.secrets }, errors: { ...observed.errors },
  };
  delete fresh.errors[id];
  const attempt = attempter(fresh);
  if (!declaredIds(spec).has(id)) {
    await attempt(id, () => observeLabelled(kind, name, adapters), (r) => {
      fresh.labelled = [...observed.labelled.filter((x) => `${x.kind}/${x.name}` !== id), ...(r ? [r] : [])];
    });
    return fresh;
  }
  if (kind === 'Bucket') await attempt(id, () => adapters.buckets.observe(name), (o) => (fresh.buckets[name] = o));
  if (kind === 'Dataset') await attempt(id, () => adapters.datasets.observe(name), (o) => (fresh.datasets[name] = o));
  if (kind === 'Secret') await attempt(id, () => adapters.secrets.observe(name), (o) => (fresh.secrets[name] = o));
  return fresh;
}
