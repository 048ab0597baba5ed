/** IAM bindings, one action each: additive, and removed only when a spec entry says ensure: absent. */
import { sameBinding } from './dataset-access.js';
import { policyKey, type DesiredBinding } from './desired.js';
import type { AccessEntry, ObservedEnvironment } from './observed.js';
import type { Action, PolicyTarget } from './types.js';

/** The action id of the resource a policy lives on; undefined for the project. */
export function resourceIdOf(target: PolicyTarget): string | undefined {
  switch (target.type) {
    case 'bucket': return `Bucket/${target.bucket}`;
    case 'secret': return `Secret/${target.secretId}`;
    case 'dataset': return `Dataset/${target.datasetId}`;
    case 'project': return undefined;
  }
}

/** The bindings currently granted on a target, or undefined when they were not read. */
function grantedOn(b: DesiredBinding, observed: ObservedEnvironment): AccessEntry[] | undefined {
  if (b.target.type === 'dataset') return observed.datasets[b.target.datasetId]?.access;
  const policy = observed.policies[policyKey(b.target)];
  return policy?.bindings.filter((x) => x.condition === undefined || x.condition === null)
    .flatMap((x) => x.members.map((member) => ({ role: x.role, member })));
}

export function diffBinding(b: DesiredBinding, observed: ObservedEnvironment, resourceActions: Map<string, Action>, contested?: string): Action {
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
  const step = (add: boolean) => ({ op: 'iam.modify' as const, target: b.target, add: add ? [{ role: b.role, member: b.member }] : [], remove: add ? [] : [{ role: b.role, member: b.member }] });
  const dependsOn = resource && resource.steps.length > 0 ? { dependsOn: resource.id } : {};
  const change = (present: boolean) => [{ field: 'binding', before: present ? 'absent' : 'present', after: present ? 'present' : 'absent' }];

  if (resource?.verb === 'create') {
    if (b.ensure === 'absent') return { ...base, verb: 'none', changes: [], steps: [] };
    if (b.target.type === 'dataset') {
      return { ...base, verb: 'create', changes: change(true), steps: [], message: `granted in the access list of ${resource.id} as it is created` };
    }
    return { ...base, verb: 'create', changes: change(true), steps: [step(true)], ...dependsOn };
  }
  const granted = grantedOn(b, observed) ?? [];
  const present = granted.some((g) => sameBinding(g, b));
  if (b.ensure === 'present' && !present) return { ...base, verb: 'create', changes: change(true), steps: [step(true)], ...dependsOn };
  if (b.ensure === 'absent' && present) return { ...base, verb: 'delete', changes: change(false), steps: [step(false)], ...dependsOn };
  return { ...base, verb: 'none', changes: [], steps: [] };
}
