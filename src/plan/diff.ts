/**
 * diff(desired, observed, kinds) → Plan. Pure: same inputs, same plan; no clock (the observation carries
 * its time), no I/O, no randomness. Generic over kinds: ownership, adoption, orphans and IAM are decided
 * here, once; each kind only plans its own fields.
 */
import type { ResolvedSpec } from '../api/defaults.js';
import { bindingKey } from './contested-bindings.js';
import { desiredBindings, resourceIdOf, type DesiredBinding } from './desired.js';
import { diffBinding } from './diff-iam.js';
import { diffOrphan } from './diff-orphan.js';
import type { DesiredResource, KindPlanner } from './kind-planner.js';
import { PROJECT_NUMBER_READ, type ObservedEnvironment } from './observed.js';
import { ownershipOf, type OwnershipRule } from './ownership.js';
import type { Action, IamStep, Plan, PlanSummary } from './types.js';

export function summarize(actions: Action[]): PlanSummary {
  const count = (verb: Action['verb']) => actions.filter((a) => a.verb === verb).length;
  return {
    create: count('create'), update: count('update'), adopt: count('adopt'), delete: count('delete'),
    conflict: count('conflict'), pending: actions.filter((a) => a.pending !== undefined).length,
    orphan: count('orphan'), error: count('error'), inSync: count('none'),
  };
}

export function ownershipRule(spec: ResolvedSpec, observed: ObservedEnvironment): OwnershipRule {
  return {
    environment: spec.environment, adoptExisting: spec.policy.adoptExisting,
    ...(observed.projectNumber !== undefined ? { projectNumber: observed.projectNumber } : {}),
  };
}

/** One declared resource: ownership first (generic), then the kind's own diff. */
function planDeclared(
  kind: KindPlanner, d: DesiredResource, spec: ResolvedSpec, observed: ObservedEnvironment, bindings: DesiredBinding[], planned: ReadonlyMap<string, Action>,
): Action {
  const id = `${kind.kind}/${d.name}`;
  const base = { id, kind: kind.kind, name: d.name, changes: [], steps: [] };
  const o = observed.resources[id];
  const error = observed.errors[id] ?? (o && kind.globalNames ? observed.errors[PROJECT_NUMBER_READ] : undefined);
  if (error) return { ...base, verb: 'error', message: `cannot read it: ${error}` };
  const grants = bindings.filter((b) => b.ensure === 'present' && resourceIdOf(b.target) === id).map(({ role, member }) => ({ role, member }));
  const ctx = { project: spec.gcp.projectId, grants, now: Date.parse(observed.observedAt), planned, bindings, observed };
  if (!o || kind.external) return kind.diff(d, o, ctx);
  const owner = ownershipOf(o, ownershipRule(spec, observed));
  if (owner.kind === 'conflict') return { ...base, verb: 'conflict', message: owner.reason };
  const action = kind.diff(d, o, ctx);
  if (owner.kind === 'adopt' && action.verb === 'update') {
    return { ...action, verb: 'adopt', message: `existing unmanaged ${kind.kind.toLowerCase()}${kind.globalNames ? ' of this project' : ''}: adopted (spec.policy.adoptExisting)` };
  }
  return action;
}

/** The action for one resource (Kind/name) from an observation: how the executor re-plans a resource after a fresh read. */
export function planResource(spec: ResolvedSpec, observed: ObservedEnvironment, kinds: readonly KindPlanner[], id: string): Action | undefined {
  const declared = planDeclaredResources(spec, observed, kinds, desiredBindings(spec, kinds)).find((a) => a.id === id);
  if (declared) return declared;
  const labelled = observed.labelled.find((r) => `${r.kind}/${r.name}` === id);
  const kind = kinds.find((k) => k.kind === labelled?.kind);
  return labelled && kind ? diffOrphan(kind, spec.gcp.projectId, ownershipRule(spec, observed), labelled, observed.errors[id]) : undefined;
}

export interface DiffOptions {
  /** Bindings other environments want the other way (see contestedBindings): binding key → why. */
  contested?: Map<string, string>;
  /** The environment is being deleted: retained resources are released (see diffOrphan). */
  release?: boolean;
}

/** Every declared resource's action, kind after kind in registry order: a kind sees the actions planned before it. */
function planDeclaredResources(spec: ResolvedSpec, observed: ObservedEnvironment, kinds: readonly KindPlanner[], bindings: DesiredBinding[]): Action[] {
  const planned = new Map<string, Action>();
  for (const kind of kinds) {
    for (const d of kind.desired(spec)) {
      const action = planDeclared(kind, d, spec, observed, bindings, planned);
      planned.set(action.id, action);
    }
  }
  return [...planned.values()];
}

/**
 * A binding whose resource the spec no longer declares (a revocation from the inventory) is written only on a
 * resource that is still this environment's by the full ownership rule: why not, or undefined when it is.
 */
function undeclaredTargetProblem(b: DesiredBinding, observed: ObservedEnvironment, declared: Map<string, Action>, rule: OwnershipRule): string | undefined {
  const id = resourceIdOf(b.target);
  if (!id || declared.has(id)) return undefined;
  const listError = observed.errors[`labelled/${b.target.kind}`];
  if (listError) return `${id} is no longer declared and whether it is still ours cannot be read (${listError}): nothing is written to it`;
  const labelled = observed.labelled.find((r) => `${r.kind}/${r.name}` === id);
  const owner = labelled ? ownershipOf(labelled, { ...rule, adoptExisting: false }) : undefined;
  if (owner?.kind === 'own') return undefined;
  return `${id} is no longer declared and is not this environment's any more (${owner?.kind === 'conflict' ? owner.reason : 'not labelled for it'}): the binding is not revoked there, nothing is written to it`;
}

/** The plan that brings `observed` to `spec`; a suspended environment plans nothing. */
export function diff(spec: ResolvedSpec, observed: ObservedEnvironment, kinds: readonly KindPlanner[], options: DiffOptions = {}): Plan {
  const base = { environment: spec.environment, project: spec.gcp.projectId, reportOnly: spec.policy.drift === 'Report', suspended: spec.policy.suspend };
  if (spec.policy.suspend) return { ...base, actions: [], summary: summarize([]) };
  const bindings = desiredBindings(spec, kinds);
  const resources = planDeclaredResources(spec, observed, kinds, bindings);
  const byId = new Map(resources.map((a) => [a.id, a]));
  const rule = ownershipRule(spec, observed);
  const iam = bindings.map((b) => {
    const action = diffBinding(b, observed, byId, kinds.find((k) => k.kind === b.target.kind), options.contested?.get(bindingKey(b)));
    const notOurs = action.steps.length > 0 ? undeclaredTargetProblem(b, observed, byId, rule) : undefined;
    return notOurs ? { ...action, verb: 'conflict' as const, changes: [], steps: [], message: notOurs } : action;
  });
  const orphans = observed.labelled
    .filter((r) => !byId.has(`${r.kind}/${r.name}`))
    .flatMap((r) => {
      const kind = kinds.find((k) => k.kind === r.kind);
      return kind ? [diffOrphan(kind, spec.gcp.projectId, rule, r, observed.errors[`${r.kind}/${r.name}`], options.release)] : [];
    });
  const actions = [...afterSecretGrants(resources, iam, kinds), ...iam, ...orphans];
  return { ...base, actions, summary: summarize(actions) };
}

/** Actions of a kind that reads secrets at start wait for every grant this plan makes on a secret. */
function afterSecretGrants(resources: Action[], iam: Action[], kinds: readonly KindPlanner[]): Action[] {
  const grants = iam.filter((a) => a.steps.some((step) => step.kind === 'IAM' && (step as IamStep).target.kind === 'Secret' && (step as IamStep).add.length > 0)).map((a) => a.id);
  if (grants.length === 0) return resources;
  const waiting = new Set(kinds.filter((k) => k.readsSecretsAtStart).map((k) => k.kind));
  return resources.map((a) => (waiting.has(a.kind) && a.steps.length > 0 ? { ...a, after: [...(a.after ?? []), ...grants] } : a));
}
