/**
 * The operator's configuration file (kind OperatorConfig): its IAM policy and its tenants. Read with
 * `--policy FILE` by the CLI and `run --config FILE` by the controller (from a ConfigMap); checked against
 * its schema at start-up with a clear error. Pure: text in, config or errors out.
 */
import { Ajv } from 'ajv';
import { DEFAULT_IAM_POLICY, POLICY_KINDS, type IamPolicy, type PolicyKind } from './iam-policy.js';
import { fieldError, splitPath, type FieldError } from './field-error.js';
import { bool, closeObjects, list, obj, str, stringMap, type OpenApiSchema } from './openapi.js';
import { translate } from './schema-validation.js';
import { API_VERSION } from './types.js';
import { parseYamlDocuments } from './yaml-documents.js';

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
  }, ['projects'])),
}, ['apiVersion', 'kind']);

let compiled: ReturnType<Ajv['compile']> | undefined;
const validator = () => (compiled ??= new Ajv({ allErrors: true, verbose: true, strict: false }).compile(closeObjects(OPERATOR_CONFIG_SCHEMA)));

interface RawConfig {
  iamPolicy?: { allowedRoles?: Partial<Record<PolicyKind, string[]>>; allowDomainMembers?: boolean; allowPrincipalSets?: boolean };
  tenants?: Tenant[];
}

/** Rules beyond the schema: a tenant names its namespaces one way or the other. */
function tenantErrors(tenants: Tenant[]): FieldError[] {
  return tenants.flatMap((t, i) => (t.namespaces === undefined) === (t.namespaceSelector === undefined)
    ? [fieldError('config.tenantNamespaces', `tenants[${i}]`, 'a tenant names its namespaces with exactly one of namespaces or namespaceSelector', 'keep one of the two')]
    : []);
}

/** The configuration in a file's text, or every error in it (each with its line and fix). */
export function parseOperatorConfig(text: string, file: string): { config: OperatorConfig } | { errors: FieldError[] } {
  const parsed = parseYamlDocuments(text, file);
  if (parsed.errors.length > 0) return { errors: parsed.errors };
  if (parsed.documents.length !== 1) {
    return { errors: [{ ...fieldError('config.documents', '', `${file} holds ${parsed.documents.length} documents`, `write exactly one ${OPERATOR_CONFIG_KIND} document`), source: { file } }] };
  }
  const doc = parsed.documents[0]!;
  const validate = validator();
  const errors = validate(doc.value) ? tenantErrors((doc.value as RawConfig).tenants ?? []) : (validate.errors ?? []).map(translate);
  if (errors.length > 0) return { errors: errors.map((e) => ({ ...e, source: { file, line: doc.lineOf(splitPath(e.path)) } })) };
  const raw = doc.value as RawConfig;
  const roles = raw.iamPolicy?.allowedRoles ?? {};
  return {
    config: {
      iamPolicy: {
        allowedRoles: { project: roles.project ?? [], bucket: roles.bucket ?? [], dataset: roles.dataset ?? [], secret: roles.secret ?? [] },
        allowDomainMembers: raw.iamPolicy?.allowDomainMembers ?? false,
        allowPrincipalSets: raw.iamPolicy?.allowPrincipalSets ?? false,
      },
      ...(raw.tenants ? { tenants: raw.tenants } : {}),
    },
  };
}
