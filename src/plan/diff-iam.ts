/** IAM bindings, one action each, the same for every kind: additive, and removed only when a spec entry says ensure: absent. */
import { policyKey, resourceIdOf, type DesiredBinding } from './desired.js';
import type { KindPlanner } from './kind-planner.js';
import type { ObservedEnvironment } from './observed.js';
import type { Action, BindingRef, IamStep } from './types.js';

const sameBinding = (a: BindingRef, b: BindingRef) => a.role === b.role && a.member === b.member;

/** The bindings currently granted on a target, or undefined when they were not read. */
function grantedOn(b: DesiredBinding, observed: ObservedEnvironment): BindingRef[] | undefined {
  const policy = observed.policies[policyKey(b.target)];
  return policy?.bindings.filter((x) => x.condition === undefined || x.condition === null)
    .flatMap((x) => x.members.map((member) => ({ role: x.role, member })));
}

export function diffBinding(
  b: DesiredBinding, observed: ObservedEnvironment, resourceActions: Map<string, Action>, kind: KindPlanner | undefined, contested?: string,
): Action {
  const name = `${b.resource} ${b.role} ${b.member}`;
  const base = { id: `IAMBinding/${name}`, kind: 'IAMBinding' as const, name };
  if (contested) return { ...base, verb: 'conflict', changes: [], steps: [], message: contested };
  const resourceId = resourceIdOf(b.target);
  const resource = resourceId ? resourceActions.get(resourceId) : undefined;
  const readError = observed.errors[policyKey(b.target)] ?? (resourceId ? observed.errors[resourceId] : undefined);
  if (resource?.verb === 'conflict') {
    return { ...base, verb: 'conflict', changes: [], steps: [], message: `${resource.id} is in conflict: nothing is written to it` };
  }
  if (readError) return { ...base, verb: 'error', changes: [], steps: [], message: `cannot read the policy: ${readError}` };
  const changesResource = resource !== undefined && resource.steps.length > 0;
  const policy = observed.policies[policyKey(b.target)];
  const step = (add: boolean): IamStep => ({
    kind: 'IAM', op: 'modify', target: b.target, add: add ? [{ role: b.role, member: b.member }] : [], remove: add ? [] : [{ role: b.role, member: b.member }],
    // With nothing written to its resource first, the policy read for this plan is the one to edit.
    ...(!changesResource && policy ? { base: policy } : {}),
  });
  const dependsOn = changesResource ? { dependsOn: resource.id } : {};
  const change = (present: boolean) => [{ field: 'binding', before: present ? 'absent' : 'present', after: present ? 'present' : 'absent' }];

  if (resource?.verb === 'create') {
    if (b.ensure === 'absent') return { ...base, verb: 'none', changes: [], steps: [] };
    if (kind?.embeddedPolicy) return { ...base, verb: 'create', changes: change(true), steps: [], dependsOn: resource.id, message: `granted as ${resource.id} is created` };
    return { ...base, verb: 'create', changes: change(true), steps: [step(true)], ...dependsOn };
  }
  const present = (grantedOn(b, observed) ?? []).some((g) => sameBinding(g, b));
  if (b.ensure === 'present' && !present) return { ...base, verb: 'create', changes: change(true), steps: [step(true)], ...dependsOn };
  if (b.ensure === 'absent' && present) return { ...base, verb: 'delete', changes: change(false), steps: [step(false)], ...dependsOn };
  return { ...base, verb: 'none', changes: [], steps: [] };
}
