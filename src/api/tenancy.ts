/**
 * Tenancy: which namespace may drive which GCP project and environment names, and as which Google
 * identity (the operator's own, or a tenant service account it impersonates). Pure.
 */
import type { ResolvedSpec } from './defaults.js';
import type { Tenant } from './operator-config.js';

export interface NamespaceInfo {
  name: string;
  labels?: Record<string, string>;
}

/** What tenancy decides on: where and under which name an environment acts, and what it asks beyond its own resources. */
export interface TenancyRequest {
  project: string;
  environment: string;
  /** spec.policy.adoptExisting. */
  adopts?: boolean;
  /** Indexes of spec.iam entries removing a binding of the project itself (ensure: absent, resource: project). */
  projectRemovals?: readonly number[];
}

export function tenancyRequest(spec: ResolvedSpec): TenancyRequest {
  const projectRemovals = spec.iam.flatMap((b, i) => (b.resource === 'project' && b.ensure === 'absent' ? [i] : []));
  return {
    project: spec.gcp.projectId, environment: spec.environment,
    ...(spec.policy.adoptExisting ? { adopts: true } : {}), ...(projectRemovals.length > 0 ? { projectRemovals } : {}),
  };
}

export type TenancyDecision =
  | { allowed: true; /** The service account to act as; undefined: the operator's own identity. */ serviceAccount?: string }
  | { allowed: false; reason: 'ProjectNotAllowed' | 'EnvironmentNotAllowed' | 'AdoptionNotAllowed' | 'PolicyViolation'; message: string };

const globToRegExp = (glob: string) => new RegExp(`^${glob.replace(/[.+^${}()|[\]\\]/g, '\\$&').replaceAll('*', '.*').replaceAll('?', '.')}$`);

/** Whether `name` is one of `patterns` (exact names or globs with * and ?). */
export const matchesName = (name: string, patterns: readonly string[]): boolean => patterns.some((p) => globToRegExp(p).test(name));

function selects(t: Tenant, ns: NamespaceInfo): boolean {
  if (t.namespaces) return t.namespaces.includes(ns.name);
  const labels = ns.labels ?? {};
  return Object.entries(t.namespaceSelector?.matchLabels ?? {}).every(([k, v]) => labels[k] === v);
}

/**
 * May an environment of namespace `ns` use its project under its environment name (adopting existing resources, or
 * removing the project's own bindings, when it asks to)? With no tenants configured, every namespace may, as the
 * operator. The first tenant entry that allows it decides the identity.
 */
export function decideTenancy(tenants: readonly Tenant[] | undefined, ns: NamespaceInfo, request: TenancyRequest): TenancyDecision {
  if (!tenants) return { allowed: true };
  const { project, environment, adopts = false, projectRemovals = [] } = request;
  const mine = tenants.filter((t) => selects(t, ns));
  const withProject = mine.filter((t) => t.projects.includes(project));
  if (withProject.length === 0) {
    const may = [...new Set(mine.flatMap((t) => t.projects))];
    return {
      allowed: false, reason: 'ProjectNotAllowed',
      message: mine.length === 0
        ? `namespace ${ns.name} is not a tenant of this operator: no entry of its configuration's tenants selects it; ask its administrator to add one`
        : `namespace ${ns.name} may not use project ${project} (it may use: ${may.join(', ')}); use one of those, or ask the operator's administrator to add ${project} to its tenant`,
    };
  }
  const named = withProject.filter((t) => !t.environments || matchesName(environment, t.environments));
  const tenant = adopts ? named.find((t) => t.adoptExisting) : named[0];
  if (named.length > 0 && !tenant) {
    return {
      allowed: false, reason: 'AdoptionNotAllowed',
      message: `namespace ${ns.name} may not adopt existing resources (spec.policy.adoptExisting) in project ${project}: its tenant does not allow it; set it to false (create new resources), or ask the operator's administrator to set adoptExisting: true on its tenant`,
    };
  }
  if (!tenant) {
    const names = [...new Set(withProject.flatMap((t) => t.environments ?? []))];
    return {
      allowed: false, reason: 'EnvironmentNotAllowed',
      message: `namespace ${ns.name} may not declare environment "${environment}" in project ${project} (it may declare: ${names.join(', ')}); rename it, or ask the operator's administrator to allow it`,
    };
  }
  if (projectRemovals.length > 0) {
    // A project is shared by every tenant using it: a tenant removes grants only on its own buckets, datasets and secrets.
    return {
      allowed: false, reason: 'PolicyViolation',
      message: projectRemovals.map((i) => `spec.iam[${i}].ensure: with tenants, a manifest may not remove a binding of the project itself (ensure: absent on resource project): the project is shared by every environment using it — fix: remove the entry (a binding this environment granted is revoked when it leaves the spec), or ask the project's administrator`).join('\n'),
    };
  }
  return { allowed: true, ...(tenant.serviceAccount ? { serviceAccount: tenant.serviceAccount } : {}) };
}

/** Whether any tenant selects namespaces by label (then the controller must read namespaces' labels). */
export const needsNamespaceLabels = (tenants: readonly Tenant[] | undefined): boolean => (tenants ?? []).some((t) => t.namespaceSelector !== undefined);
