/** The desired state of an environment, in the terms the diff and the adapters use. Pure. */
import type { ResolvedSpec } from '../api/defaults.js';
import { DELETION_POLICY_LABEL, deletionPolicyLabelValue, managedLabels, secretId } from '../api/naming.js';
import type { DeletionPolicy } from '../api/types.js';
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

export function policyKey(target: PolicyTarget): string {
  switch (target.type) {
    case 'project': return `project/${target.project}`;
    case 'bucket': return `bucket/${target.bucket}`;
    case 'secret': return `secret/${target.secretId}`;
    case 'dataset': return `dataset/${target.datasetId}`;
  }
}

/** Where each spec.iam entry's binding lives, with secret names resolved to Secret Manager ids. */
export function desiredBindings(spec: ResolvedSpec): DesiredBinding[] {
  const project = spec.gcp.projectId;
  return spec.iam.map((entry) => {
    const [kind, name = ''] = entry.resource.split('/', 2) as [string, string | undefined];
    const target: PolicyTarget = kind === 'bucket' ? { type: 'bucket', bucket: name }
      : kind === 'dataset' ? { type: 'dataset', project, datasetId: name }
        : kind === 'secret' ? { type: 'secret', project, secretId: secretId(spec.environment, name) }
          : { type: 'project', project };
    return { target, resource: entry.resource, role: entry.role, member: entry.member, ensure: entry.ensure };
  });
}

/** Every policy the plan needs to read: one per target that some binding touches. */
export function policyTargets(spec: ResolvedSpec): PolicyTarget[] {
  const seen = new Map<string, PolicyTarget>();
  for (const b of desiredBindings(spec)) seen.set(policyKey(b.target), b.target);
  return [...seen.values()];
}
