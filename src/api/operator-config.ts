/**
 * The operator's configuration file (kind OperatorConfig): its IAM policy and its tenants. Read with
 * `--policy FILE` by the CLI and `run --config FILE` by the controller (from a ConfigMap); checked against
 * its schema at start-up (operator-config-validation.ts). Pure.
 */
import { DEFAULT_IAM_POLICY, POLICY_KINDS, type IamPolicy, type PolicyKind } from './iam-policy.js';
import { bool, list, obj, str, stringMap, type OpenApiSchema } from './openapi.js';
import { API_VERSION } from './types.js';

export const OPERATOR_CONFIG_KIND = 'OperatorConfig';

export interface NamespaceSelector {
  matchLabels?: Record<string, string>;
}

/** Which namespaces may drive which projects and environment names, and as whom. */
export interface Tenant {
  namespaces?: string[];
  namespaceSelector?: NamespaceSelector;
  projects: string[];
  /** Exact names or globs (*, ?); absent: any. */
  environments?: string[];
  /** A Google service account the operator impersonates for these namespaces; absent: the operator's own identity. */
  serviceAccount?: string;
  /** May these namespaces' environments adopt existing resources (spec.policy.adoptExisting)? Default false. */
  adoptExisting?: boolean;
}

export interface OperatorConfig {
  iamPolicy: IamPolicy;
  /** Absent: every namespace may use every project, as the operator. */
  tenants?: Tenant[];
}

export const DEFAULT_OPERATOR_CONFIG: OperatorConfig = { iamPolicy: DEFAULT_IAM_POLICY };

const roleList = (kind: PolicyKind) => list(`Roles a manifest may grant on a ${kind}, on top of the defaults.`, str('An IAM role.', { pattern: '^(roles/[A-Za-z0-9_.]+|(projects/[a-z][a-z0-9-]{4,28}[a-z0-9]|organizations/[0-9]+)/roles/[A-Za-z0-9_.]+)$' }));

export const OPERATOR_CONFIG_SCHEMA: OpenApiSchema = obj('The jobmatch-operator configuration.', {
  apiVersion: str(`Always ${API_VERSION}.`, { enum: [API_VERSION] }),
  kind: str(`Always ${OPERATOR_CONFIG_KIND}.`, { enum: [OPERATOR_CONFIG_KIND] }),
  iamPolicy: obj('What IAM a JobMatchEnvironment may ask for.', {
    allowedRoles: obj('Roles allowed per kind of resource, added to the defaults.', Object.fromEntries(POLICY_KINDS.map((k) => [k, roleList(k)]))),
    allowDomainMembers: bool('Allow domain: members (every account of a domain). Default false.'),
    allowPrincipalSets: bool('Allow principalSet:// members (sets of federated identities). Default false.'),
  }),
  tenants: list('Namespaces and the projects, environment names and identity they may use. Absent: every namespace, every project, the operator\'s identity.', obj('A tenant.', {
    namespaces: list('Namespace names.', str('A namespace name.', { pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$', maxLength: 63 })),
    namespaceSelector: obj('Namespaces by label.', {
      matchLabels: stringMap('Labels every selected namespace carries.', 'A label value.'),
    }),
    projects: list('GCP project ids these namespaces may use.', str('A project id.', { pattern: '^[a-z][a-z0-9-]{4,28}[a-z0-9]$' }), { minItems: 1 }),
    environments: list('spec.environment names they may declare: exact names or globs (* and ?). Absent: any.', str('A name or a glob.', { pattern: '^[a-z0-9*?-]{1,40}$' })),
    serviceAccount: str('The Google service account the operator impersonates for these namespaces.', { pattern: '^[a-z][a-z0-9-]{4,29}@[a-z][a-z0-9-]{4,28}[a-z0-9]\\.iam\\.gserviceaccount\\.com$' }),
    adoptExisting: bool('Let these namespaces\' environments adopt existing resources this operator does not manage (spec.policy.adoptExisting). Default false: else a tenant could take over an unmanaged bucket or dataset of a shared project, and grant itself access to it.'),
  }, ['projects'])),
}, ['apiVersion', 'kind']);

