/**
 * The operator's IAM policy: which roles and members a manifest may ask for, per kind of resource. Pure.
 * One module for every front door (validate, plan, apply, the controller) and for the executor, which
 * asks it again right before each IAM write, so a saved plan or a bug cannot get around it.
 */
import { fieldError, type FieldError } from './field-error.js';
import { ROLE_PATTERN } from './naming.js';

export const POLICY_KINDS = ['project', 'bucket', 'dataset', 'secret'] as const;
export type PolicyKind = (typeof POLICY_KINDS)[number];

export interface IamPolicy {
  /** Roles allowed on each kind of resource, on top of DEFAULT_ALLOWED_ROLES. */
  allowedRoles: Record<PolicyKind, readonly string[]>;
  allowDomainMembers: boolean;
  allowPrincipalSets: boolean;
}

/** The predefined roles an environment's workloads need on its own data, and nothing that administers anything. */
export const DEFAULT_ALLOWED_ROLES: Record<PolicyKind, readonly string[]> = {
  project: [
    'roles/bigquery.jobUser', 'roles/bigquery.readSessionUser', 'roles/logging.logWriter', 'roles/monitoring.metricWriter',
    'roles/cloudtrace.agent', 'roles/cloudprofiler.agent', 'roles/errorreporting.writer',
  ],
  bucket: [
    'roles/storage.objectViewer', 'roles/storage.objectCreator', 'roles/storage.objectUser', 'roles/storage.objectAdmin',
    'roles/storage.legacyBucketReader', 'roles/storage.legacyObjectReader',
  ],
  dataset: ['roles/bigquery.dataViewer', 'roles/bigquery.dataEditor', 'roles/bigquery.metadataViewer'],
  secret: ['roles/secretmanager.secretAccessor', 'roles/secretmanager.secretVersionAdder', 'roles/secretmanager.viewer'],
};

export const DEFAULT_IAM_POLICY: IamPolicy = {
  allowedRoles: { project: [], bucket: [], dataset: [], secret: [] },
  allowDomainMembers: false,
  allowPrincipalSets: false,
};

export interface IamRequest {
  member: string;
  role: string;
  /** spec.iam[].resource: project, bucket/NAME, dataset/ID, secret/NAME. */
  resource: string;
  ensure: 'present' | 'absent';
}

export interface PolicyRefusal {
  /** The rule's name, e.g. iam.basicRole. */
  code: string;
  field: 'member' | 'role';
  message: string;
  fix: string;
}

/** Everyone on the internet, in any spelling or case Google accepts (allUsers, principalSet://goog/public:all, ...). */
const PUBLIC_MEMBER = /^\s*(allusers|allauthenticatedusers|principal(set)?:\/+goog\/+public\b.*)\s*$/i;
/** The same rule for the CRD's CEL (RE2). */
export const PUBLIC_MEMBER_RE2 = '(?i)^\\s*(allusers|allauthenticatedusers|principal(set)?:/+goog/+public\\b.*)\\s*$';

export const PUBLIC_MEMBER_TEXT = 'allUsers, allAuthenticatedUsers and principalSet://goog/public:all';
export const PUBLIC_MEMBER_FIX = 'grant a named member (user:, group:, serviceAccount:) instead';

export const isPublicMember = (member: string): boolean => PUBLIC_MEMBER.test(member);

const BASIC_ROLES = ['roles/owner', 'roles/editor', 'roles/viewer'];
const IDENTITY_ROLES = ['roles/iam.serviceAccountTokenCreator', 'roles/iam.serviceAccountUser', 'roles/iam.workloadIdentityUser'];

/** Why a role is dangerous beyond "not in the list": the rule that refuses it, and what it would give away. */
function dangerOf(role: string): { code: string; why: string } | undefined {
  if (BASIC_ROLES.includes(role)) return { code: 'iam.basicRole', why: `${role} is a basic role: it reaches every resource of the project, far beyond this environment` };
  if (IDENTITY_ROLES.includes(role) || /^roles\/iam\.[A-Za-z]*Admin$/.test(role)) return { code: 'iam.identityRole', why: `${role} administers identities or lets its holder act as another one (privilege escalation)` };
  if (role.startsWith('roles/resourcemanager.')) return { code: 'iam.identityRole', why: `${role} administers the project, folders or organization and their IAM` };
  if (!role.startsWith('roles/')) return { code: 'iam.customRole', why: `${role} is a custom role: its permissions are not known to the operator and can change at any time` };
  return undefined;
}

const allowed = (policy: IamPolicy, kind: PolicyKind, role: string) =>
  DEFAULT_ALLOWED_ROLES[kind].includes(role) || policy.allowedRoles[kind].includes(role);

/** The rule a binding breaks, or undefined when the policy allows it. `kind` is where it lives. */
export function policyRefusal(b: Pick<IamRequest, 'member' | 'role' | 'ensure'>, kind: PolicyKind, policy: IamPolicy): PolicyRefusal | undefined {
  const allowIt = `an administrator of the operator can allow it in the OperatorConfig (--policy FILE; in a cluster the operator's ConfigMap): iamPolicy.allowedRoles.${kind}: [${b.role}]`;
  if (!allowed(policy, kind, b.role)) {
    const danger = dangerOf(b.role);
    const defaults = DEFAULT_ALLOWED_ROLES[kind].join(', ');
    if (danger) return { code: danger.code, field: 'role', message: `${danger.why}; the operator's IAM policy refuses it`, fix: `grant a predefined role on this environment's own data (on a ${kind}: ${defaults}); only if it is truly needed, ${allowIt}` };
    return { code: 'iam.roleNotAllowed', field: 'role', message: `${b.role} is not allowed on a ${kind} by the operator's IAM policy`, fix: `use one of ${defaults}, or ${allowIt}` };
  }
  if (b.ensure === 'absent') return undefined;
  if (isPublicMember(b.member)) {
    return { code: 'iam.public', field: 'member', message: `${b.member.trim()} is everyone on the internet: it may not be granted on a ${kind}`, fix: PUBLIC_MEMBER_FIX };
  }
  if (/^domain:/i.test(b.member) && !policy.allowDomainMembers) {
    return { code: 'iam.domainMember', field: 'member', message: `${b.member} is every account of a domain: the operator's IAM policy refuses domain members`, fix: 'grant a group: instead, or an administrator of the operator sets iamPolicy.allowDomainMembers: true in the OperatorConfig' };
  }
  if (/^principalSet:/i.test(b.member) && !policy.allowPrincipalSets) {
    return { code: 'iam.principalSet', field: 'member', message: `${b.member} is a set of federated identities: the operator's IAM policy refuses principal sets`, fix: 'grant a single principal:// or a serviceAccount:, or an administrator of the operator sets iamPolicy.allowPrincipalSets: true in the OperatorConfig' };
  }
  return undefined;
}

/** The policy kind of spec.iam[].resource (project, bucket/..., ...); undefined for one the schema refuses anyway. */
export function policyKindOf(resource: string): PolicyKind | undefined {
  const prefix = resource.split('/', 1)[0];
  return (POLICY_KINDS as readonly string[]).includes(prefix ?? '') ? (prefix as PolicyKind) : undefined;
}

const ROLE = new RegExp(ROLE_PATTERN);

/** Every spec.iam entry the policy refuses, as field errors at spec.iam[i].role or .member. */
export function checkIamPolicy(iam: readonly Partial<IamRequest>[], policy: IamPolicy): FieldError[] {
  return iam.flatMap((b, i) => {
    // A malformed role is the schema's to report (ROLE_PATTERN): the policy judges only real role names.
    if (typeof b.member !== 'string' || typeof b.role !== 'string' || typeof b.resource !== 'string' || !ROLE.test(b.role)) return [];
    const kind = policyKindOf(b.resource);
    const refusal = kind ? policyRefusal({ member: b.member, role: b.role, ensure: b.ensure === 'absent' ? 'absent' : 'present' }, kind, policy) : undefined;
    return refusal ? [fieldError(`policy.${refusal.code}`, `spec.iam[${i}].${refusal.field}`, refusal.message, refusal.fix)] : [];
  });
}

/** A policy refusal's field errors are PolicyViolation in a cluster: the controller reports them apart from other validation errors. */
export const isPolicyError = (e: Pick<FieldError, 'code'>): boolean => e.code.startsWith('policy.');
