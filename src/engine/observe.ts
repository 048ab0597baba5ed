/**
 * Observes an environment in one parallel wave: one read per declared object, per IAM policy touched,
 * per secret's version list, and one list per API for orphans. A failed read fails only its resource.
 */
import type { ResolvedSpec } from '../api/defaults.js';
import { secretId } from '../api/naming.js';
import type { Adapters } from '../gcp/adapters.js';
import { unlessNotFound } from '../gcp/gcp-caller.js';
import { policyKey, policyTargets } from '../plan/desired.js';
import { emptyObservation, type LabelledResource, type ObservedEnvironment, type PolicyObservation } from '../plan/observed.js';
import type { PolicyTarget } from '../plan/types.js';

/** The minimal number of reads an observation of this spec costs (the benchmark's denominator). */
export function minimalReads(spec: ResolvedSpec): number {
  const policies = policyTargets(spec).filter((t) => t.type !== 'dataset').length;
  return spec.buckets.length + spec.datasets.length + spec.secrets.length * 2 + policies + 3;
}

export function readPolicy(adapters: Adapters, target: PolicyTarget): Promise<PolicyObservation | undefined> {
  switch (target.type) {
    case 'project': return adapters.projectPolicy.getPolicy();
    case 'bucket': return unlessNotFound(adapters.buckets.getPolicy(target.bucket));
    case 'secret': return unlessNotFound(adapters.secrets.getPolicy(target.secretId));
    case 'dataset': return Promise.resolve(undefined); // the access list comes with the dataset itself
  }
}

export async function observeEnvironment(spec: ResolvedSpec, adapters: Adapters, now: Date): Promise<ObservedEnvironment> {
  const observed = emptyObservation(now);
  const attempt = async <T>(key: string, read: () => Promise<T>, store: (value: T) => void) => {
    try {
      store(await read());
    } catch (e) {
      observed.errors[key] = (e as Error).message;
    }
  };
  const env = spec.environment;
  const labelled = (kind: LabelledResource['kind']) => (names: string[]) => observed.labelled.push(...names.map((name) => ({ kind, name })));
  await Promise.all([
    ...spec.buckets.map((b) => attempt(`Bucket/${b.name}`, () => adapters.buckets.observe(b.name), (o) => (observed.buckets[b.name] = o))),
    ...spec.datasets.map((d) => attempt(`Dataset/${d.datasetId}`, () => adapters.datasets.observe(d.datasetId), (o) => (observed.datasets[d.datasetId] = o))),
    ...spec.secrets.map((s) => {
      const id = secretId(env, s.name);
      return attempt(`Secret/${id}`, () => adapters.secrets.observe(id), (o) => (observed.secrets[id] = o));
    }),
    ...policyTargets(spec).filter((t) => t.type !== 'dataset').map((t) =>
      attempt(policyKey(t), () => readPolicy(adapters, t), (p) => (observed.policies[policyKey(t)] = p))),
    attempt('labelled/Bucket', () => adapters.buckets.listLabelled(spec.gcp.projectId, env), labelled('Bucket')),
    attempt('labelled/Dataset', () => adapters.datasets.listLabelled(env), labelled('Dataset')),
    attempt('labelled/Secret', () => adapters.secrets.listLabelled(env), labelled('Secret')),
  ]);
  observed.labelled.sort((a, b) => `${a.kind}/${a.name}`.localeCompare(`${b.kind}/${b.name}`));
  return observed;
}
