/** The desired state shared by every kind: managed labels and IAM bindings. Pure. */
import type { ResolvedSpec } from '../api/defaults.js';
import { DELETION_POLICY_LABEL, deletionPolicyLabelValue, managedLabels } from '../api/naming.js';
import type { DeletionPolicy } from '../api/types.js';
import type { KindPlanner } from './kind-planner.js';
import type { BindingRef, PolicyTarget } from './types.js';

export interface DesiredBinding extends BindingRef {
  target: PolicyTarget;
  /** spec.iam[].resource as written, e.g. secret/POSTGRES_PASSWORD. */
  resource: string;
  ensure: 'present' | 'absent';
}

/** Labels declared on a resource plus the ones the operator owns: the two ownership labels and the recorded deletion policy. */
export function desiredLabels(spec: ResolvedSpec, declared: Record<string, string>, deletionPolicy: DeletionPolicy): Record<string, string> {
  return { ...declared, ...managedLabels(spec.environment), [DELETION_POLICY_LABEL]: deletionPolicyLabelValue(deletionPolicy) };
}

/** project/P, bucket/NAME, secret/ID, dataset/ID: how policies and their read errors are keyed. */
export function policyKey(target: PolicyTarget): string {
  return target.kind === 'Project' ? `project/${target.project}` : `${target.kind.toLowerCase()}/${target.name}`;
}

/** The action id of the resource a policy lives on; undefined for the project. */
export const resourceIdOf = (target: PolicyTarget): string | undefined => (target.kind === 'Project' ? undefined : `${target.kind}/${target.name}`);

/** Where each spec.iam entry's binding lives, with names resolved by their kind (secret names → Secret Manager ids). */
export function desiredBindings(spec: ResolvedSpec, kinds: readonly KindPlanner[]): DesiredBinding[] {
  const project = spec.gcp.projectId;
  return spec.iam.map((entry) => {
    const [prefix, name = ''] = entry.resource.split('/', 2) as [string, string | undefined];
    const kind = kinds.find((k) => k.iamPrefix === prefix);
    const target: PolicyTarget = kind ? { kind: kind.kind, name: kind.nameFor(spec, name), project } : { kind: 'Project', name: project, project };
    return { target, resource: entry.resource, role: entry.role, member: entry.member, ensure: entry.ensure };
  });
}

/** Every policy the plan needs: one per target that some binding touches. */
export function policyTargets(spec: ResolvedSpec, kinds: readonly KindPlanner[]): PolicyTarget[] {
  const seen = new Map<string, PolicyTarget>();
  for (const b of desiredBindings(spec, kinds)) seen.set(policyKey(b.target), b.target);
  return [...seen.values()];
}
