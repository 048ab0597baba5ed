/** diff(desired, observed) → Plan. Pure: same inputs, same plan; no clock (the observation carries its time), no I/O, no randomness. */
import type { ResolvedSpec } from '../api/defaults.js';
import { secretId } from '../api/naming.js';
import { toAccessEntry } from './dataset-access.js';
import { desiredBindings, desiredLabels } from './desired.js';
import { desiredBucket, diffBucket } from './diff-bucket.js';
import { diffDataset } from './diff-dataset.js';
import { diffBinding } from './diff-iam.js';
import { diffSecret } from './diff-secret.js';
import type { ObservedEnvironment } from './observed.js';
import type { Action, Plan, PlanSummary } from './types.js';

export function summarize(actions: Action[]): PlanSummary {
  const count = (verb: Action['verb']) => actions.filter((a) => a.verb === verb).length;
  return {
    create: count('create'), update: count('update'), adopt: count('adopt'), delete: count('delete'),
    conflict: count('conflict'), pending: actions.filter((a) => a.pending !== undefined).length,
    orphan: count('orphan'), error: count('error'), inSync: count('none'),
  };
}

const errorAction = (id: string, kind: Action['kind'], name: string, reason: string): Action =>
  ({ id, kind, name, verb: 'error', changes: [], steps: [], message: `cannot read it: ${reason}` });

/** The plan that brings `observed` to `spec`; a suspended environment plans nothing. */
export function diff(spec: ResolvedSpec, observed: ObservedEnvironment): Plan {
  const project = spec.gcp.projectId;
  const env = spec.environment;
  const base = { environment: env, project, reportOnly: spec.policy.drift === 'Report', suspended: spec.policy.suspend };
  if (spec.policy.suspend) return { ...base, actions: [], summary: summarize([]) };
  const now = Date.parse(observed.observedAt);
  const bindings = desiredBindings(spec);
  const resources: Action[] = [];

  for (const b of spec.buckets) {
    const id = `Bucket/${b.name}`;
    const error = observed.errors[id];
    resources.push(error ? errorAction(id, 'Bucket', b.name, error)
      : diffBucket(project, env, desiredBucket(b, desiredLabels(spec, b.labels)), observed.buckets[b.name]));
  }
  for (const d of spec.datasets) {
    const id = `Dataset/${d.datasetId}`;
    const error = observed.errors[id];
    const access = bindings
      .filter((x) => x.ensure === 'present' && x.target.type === 'dataset' && x.target.datasetId === d.datasetId)
      .map((x) => toAccessEntry(x.role, x.member));
    resources.push(error ? errorAction(id, 'Dataset', d.datasetId, error)
      : diffDataset(project, env, d, desiredLabels(spec, d.labels), access, observed.datasets[d.datasetId]));
  }
  for (const s of spec.secrets) {
    const sid = secretId(env, s.name);
    const error = observed.errors[`Secret/${sid}`];
    resources.push(error ? errorAction(`Secret/${sid}`, 'Secret', sid, error)
      : diffSecret(project, env, sid, s, desiredLabels(spec, {}), observed.secrets[sid], now));
  }
  const byId = new Map(resources.map((a) => [a.id, a]));
  const iam = bindings.map((b) => diffBinding(b, observed, byId));

  const declared = new Set(resources.map((a) => a.id));
  const orphans: Action[] = observed.labelled
    .filter((r) => !declared.has(`${r.kind}/${r.name}`))
    .map((r) => ({
      id: `${r.kind}/${r.name}`, kind: r.kind, name: r.name, verb: 'orphan', changes: [], steps: [],
      message: `labelled for environment ${env} but not declared: retained, never deleted by plan or apply`,
    }));
  const actions = [...resources, ...iam, ...orphans];
  return { ...base, actions, summary: summarize(actions) };
}
