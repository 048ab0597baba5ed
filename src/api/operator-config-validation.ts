/** The OperatorConfig file checked against its schema (ajv) and its own rules: the config, or every error with its line and fix. Pure. */
import { Ajv } from 'ajv';
import { fieldError, splitPath, type FieldError } from './field-error.js';
import type { PolicyKind } from './iam-policy.js';
import { closeObjects } from './openapi.js';
import { OPERATOR_CONFIG_KIND, OPERATOR_CONFIG_SCHEMA, type OperatorConfig, type Tenant } from './operator-config.js';
import { translate } from './schema-validation.js';
import { parseYamlDocuments } from './yaml-documents.js';

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
