/** The project itself (Resource Manager v3): its number, and its IAM policy. */
import type { ProjectsClient } from '@google-cloud/resource-manager';
import type { PolicyObservation } from '../plan/observed.js';
import { editBindings } from '../plan/policy-edit.js';
import type { BindingRef } from '../plan/types.js';
import { fromPolicyObservation, toPolicyObservation } from './gax-policy.js';
import type { GcpCaller } from './gcp-caller.js';
import type { CallMeta } from './gcp-error.js';

const meta = (operation: string, kind: 'read' | 'write', project: string, permission: string): CallMeta =>
  ({ api: 'resourcemanager', operation, kind, resource: `projects/${project}`, permission });

export class ProjectClient {
  constructor(private readonly projects: ProjectsClient, private readonly project: string, private readonly caller: GcpCaller, private readonly signal?: AbortSignal) {}

  /** The project's number (projects/NUMBER): what a bucket's projectNumber is compared with. */
  async projectNumber(): Promise<string> {
    const [project] = await this.caller.call(meta('projects.get', 'read', this.project, 'resourcemanager.projects.get'),
      () => this.projects.getProject({ name: `projects/${this.project}` }), this.signal);
    return String(project.name ?? '').split('/').pop() ?? '';
  }

  async readPolicy(): Promise<PolicyObservation> {
    const [policy] = await this.caller.call(meta('projects.getIamPolicy', 'read', this.project, 'resourcemanager.projects.getIamPolicy'),
      () => this.projects.getIamPolicy({ resource: `projects/${this.project}`, options: { requestedPolicyVersion: 3 } }), this.signal);
    return toPolicyObservation(policy as Record<string, unknown>);
  }

  async commitPolicy(base: PolicyObservation, add: BindingRef[], remove: BindingRef[]): Promise<void> {
    const next = { etag: base.etag, bindings: editBindings(base.bindings, add, remove) };
    await this.caller.call(meta('projects.setIamPolicy', 'write', this.project, 'resourcemanager.projects.setIamPolicy'),
      () => this.projects.setIamPolicy({ resource: `projects/${this.project}`, policy: fromPolicyObservation(next), updateMask: { paths: ['bindings', 'etag'] } }), this.signal);
  }
}
