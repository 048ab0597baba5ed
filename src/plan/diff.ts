/** diff(desired, observed) → Plan. Pure: same inputs, same plan; no clock (the observation carries its time), no I/O, no randomness. */
import type { ResolvedSpec } from '../api/defaults.js';
import { secretId } from '../api/naming.js';
import { bindingKey } from './contested-bindings.js';
import { toAccessEntry } from './dataset-access.js';
import { desiredBindings, desiredLabels } from './desired.js';
import { desiredBucket, diffBucket } from './diff-bucket.js';
import { diffDataset } from './diff-dataset.js';
import { diffBinding } from './diff-iam.js';
import { diffOrphan } from './diff-orphan.js';
import { diffSecret } from './diff-secret.js';
import { PROJECT_NUMBER_READ, type ObservedEnvironment } from './observed.js';
import type { OwnershipRule } from './ownership.js';
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

export function ownershipRule(spec: ResolvedSpec, observed: ObservedEnvironment): OwnershipRule {
  return {
    environment: spec.environment, adoptExisting: spec.policy.adoptExisting,
    ...(observed.projectNumber !== undefined ? { projectNumber: observed.projectNumber } : {}),
  };
}

/** Every declared bucket, dataset and secret: its action id and how to plan it from an observation. */
function declaredResources(spec: ResolvedSpec): { id: string; plan: (observed: ObservedEnvironment) => Action }[] {
  const project = spec.gcp.projectId;
  const env = spec.environment;
  const bindings = desiredBindings(spec);
  const buckets = spec.buckets.map((b) => ({
    id: `Bucket/${b.name}`,
    plan: (observed: ObservedEnvironment) => {
      const id = `Bucket/${b.name}`;
      const o = observed.buckets[b.name];
      const error = observed.errors[id] ?? (o ? observed.errors[PROJECT_NUMBER_READ] : undefined);
      return error ? errorAction(id, 'Bucket', b.name, error)
        : diffBucket(project, ownershipRule(spec, observed), desiredBucket(b, desiredLabels(spec, b.labels, b.deletionPolicy)), o);
    },
  }));
  const datasets = spec.datasets.map((d) => ({
    id: `Dataset/${d.datasetId}`,
    plan: (observed: ObservedEnvironment) => {
      const id = `Dataset/${d.datasetId}`;
      const access = bindings
        .filter((x) => x.ensure === 'present' && x.target.type === 'dataset' && x.target.datasetId === d.datasetId)
        .map((x) => toAccessEntry(x.role, x.member));
      const error = observed.errors[id];
      return error ? errorAction(id, 'Dataset', d.datasetId, error)
        : diffDataset(project, ownershipRule(spec, observed), d, desiredLabels(spec, d.labels, d.deletionPolicy), access, observed.datasets[d.datasetId]);
    },
  }));
  const secrets = spec.secrets.map((s) => {
    const sid = secretId(env, s.name);
    return {
      id: `Secret/${sid}`,
      plan: (observed: ObservedEnvironment) => {
        const error = observed.errors[`Secret/${sid}`];
        return error ? errorAction(`Secret/${sid}`, 'Secret', sid, error)
          : diffSecret(project, ownershipRule(spec, observed), sid, s, desiredLabels(spec, {}, s.deletionPolicy), observed.secrets[sid], Date.parse(observed.observedAt));
      },
    };
  });
  return [...buckets, ...datasets, ...secrets];
}

/**
 * The action for one resource (Bucket/x, Dataset/y, Secret/z) from an observation: how the executor
 * re-plans a resource after a fresh read. Undeclared ones are planned as orphans.
 */
export function planResource(spec: ResolvedSpec, observed: ObservedEnvironment, id: string): Action | undefined {
  const declared = declaredResources(spec).find((r) => r.id === id);
  if (declared) return declared.plan(observed);
  const labelled = observed.labelled.find((r) => `${r.kind}/${r.name}` === id);
  return labelled ? diffOrphan(spec.gcp.projectId, ownershipRule(spec, observed), labelled, observed.errors[id]) : undefined;
}

export interface DiffOptions {
  /** Bindings other environments want the other way (see contestedBindings): binding key → why. */
  contested?: Map<string, string>;
}

/** The plan that brings `observed` to `spec`; a suspended environment plans nothing. */
export function diff(spec: ResolvedSpec, observed: ObservedEnvironment, options: DiffOptions = {}): Plan {
  const base = { environment: spec.environment, project: spec.gcp.projectId, reportOnly: spec.policy.drift === 'Report', suspended: spec.policy.suspend };
  if (spec.policy.suspend) return { ...base, actions: [], summary: summarize([]) };
  const declared = declaredResources(spec);
  const resources = declared.map((r) => r.plan(observed));
  const byId = new Map(resources.map((a) => [a.id, a]));
  const iam = desiredBindings(spec).map((b) => diffBinding(b, observed, byId, options.contested?.get(bindingKey(b))));
  const ids = new Set(declared.map((r) => r.id));
  const orphans = observed.labelled
    .filter((r) => !ids.has(`${r.kind}/${r.name}`))
    .map((r) => diffOrphan(spec.gcp.projectId, ownershipRule(spec, observed), r, observed.errors[`${r.kind}/${r.name}`]));
  const actions = [...resources, ...iam, ...orphans];
  return { ...base, actions, summary: summarize(actions) };
}
