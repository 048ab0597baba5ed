/**
 * GCP and seed naming rules, shared by the CRD schema (patterns and CEL rules) and the semantic checks (reasons).
 * Every pattern here is read alike by JavaScript and by RE2 (the apiserver's `pattern` and CEL's matches()):
 * no lookaround, no backreferences, and like matches() a pattern finds a match anywhere unless anchored.
 */
import { createHash } from 'node:crypto';
import type { DeletionPolicy } from './types.js';

export const ENVIRONMENT_PATTERN = '^[a-z][a-z0-9-]{0,19}$';
export const PROJECT_ID_PATTERN = '^[a-z][a-z0-9-]{4,28}[a-z0-9]$';
export const LOCATION_PATTERN = '^[A-Za-z][A-Za-z0-9-]*[A-Za-z0-9]$';
export const BUCKET_NAME_PATTERN = '^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$';
export const DATASET_ID_PATTERN = '^[A-Za-z0-9_]+$'; // with maxLength 1024: RE2 (the apiserver) allows repeat counts up to 1000
export const ENV_VAR_PATTERN = '^[A-Z][A-Z0-9_]*$';
export const VM_NAME_PATTERN = '^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$';
export const ZONE_PATTERN = '^[a-z]+-[a-z]+[0-9]+-[a-z]$';
export const ROLE_PATTERN =
  '^(roles/[A-Za-z0-9_.]+|(projects/[a-z][a-z0-9-]{4,28}[a-z0-9]|organizations/[0-9]+)/roles/[A-Za-z0-9_.]+)$';
export const IAM_RESOURCE_PATTERN = '^(project|(bucket|dataset|secret)/[^/\\s]+)$';
export const IAM_MEMBER_PATTERN =
  '^(allUsers|allAuthenticatedUsers|(user|serviceAccount|group):[^@\\s:]+@[^@\\s]+\\.[^@\\s]+|domain:[a-z0-9.-]+\\.[a-z]{2,}|principal(Set)?://\\S+)$';
export const NO_WHITESPACE_PATTERN = '^\\S+$';
export const ABSOLUTE_PATH_PATTERN = '^/\\S*$';
export const HTTP_URL_PATTERN = '^https?://\\S+$';

export const SECRET_ID_MAX_LENGTH = 255;
/** What secretId() adds to the environment and the secret name: "jobmatch-" and "-". */
export const SECRET_ID_OVERHEAD = 'jobmatch--'.length;
const SECRET_ID_PATTERN = /^[A-Za-z0-9_-]{1,255}$/;
export const LABEL_KEY_PATTERN = '^[a-z][a-z0-9_-]{0,62}$';
export const LABEL_VALUE_PATTERN = '^[a-z0-9_-]{0,63}$';
export const LABEL_KEY_RULE = 'must start with a lowercase letter and contain only lowercase letters, digits, "_" and "-" (at most 63)';
export const LABEL_VALUE_RULE = 'may contain only lowercase letters, digits, "_" and "-" (at most 63)';
const LABEL_KEY = new RegExp(LABEL_KEY_PATTERN);
const LABEL_VALUE = new RegExp(LABEL_VALUE_PATTERN);

/** A rule a name must not break: the name must not match `forbid`. */
export interface ForbiddenPattern {
  forbid: string;
  problem: string;
}

/**
 * The Cloud Storage naming rules beyond BUCKET_NAME_PATTERN and the length, in the order they are reported.
 * (A part longer than 63 characters also covers "at most 63 characters unless it contains dots".)
 */
export const BUCKET_NAME_RULES: readonly ForbiddenPattern[] = [
  { forbid: '^\\.|\\.\\.|\\.$|[^.]{64}', problem: 'each dot-separated part must be 1 to 63 characters long' },
  { forbid: '^[0-9]{1,3}(\\.[0-9]{1,3}){3}$', problem: 'must not look like an IP address' },
  { forbid: '^goog', problem: 'must not start with "goog"' },
  { forbid: 'g[o0][o0]gle', problem: 'must not contain "google" or close misspellings' },
];

/** Set it (to a time, or any new value) to roll the same config out again: the agent redeploys once per value. */
export const REDEPLOY_AT_ANNOTATION = 'jobmatch.io/redeploy-at';

/** The token a redeploy request becomes in the rollout id (sha256:…#token): short, and safe whatever the annotation says. */
export function redeployToken(request: string): string {
  return `redeploy-${createHash('sha256').update(request).digest('hex').slice(0, 12)}`;
}

/**
 * The compose coordinates the VM agent uses as a git ref and as paths on the VM, read as data and never
 * as options or shell: each rule names what it forbids, and the agent checks the same again.
 */
const COMPOSE_CHARS: ForbiddenPattern = { forbid: '[^A-Za-z0-9._/-]', problem: 'may contain only letters, digits, ".", "_", "/" and "-"' };
export const COMPOSE_REF_RULES: readonly ForbiddenPattern[] = [
  { forbid: '^-', problem: 'must not start with "-" (git would read it as an option)' },
  COMPOSE_CHARS,
  { forbid: '^[^A-Za-z0-9]', problem: 'must start with a letter or a digit' },
  { forbid: '[.][.]|//|/[.]|/$|[.]$|[.]lock$', problem: 'is not a valid git ref name (no "..", "//" or "/." inside, no "/", "." or ".lock" at the end)' },
];
export const COMPOSE_FILE_RULES: readonly ForbiddenPattern[] = [
  { forbid: '^/', problem: 'must be relative to spec.app.compose.directory' },
  COMPOSE_CHARS,
  { forbid: '(^|/)[.][.]?(/|$)|//|/$', problem: 'must stay inside the checkout: no ".." or "." part and no empty part' },
];
export const SYSTEM_DIRECTORIES = ['bin', 'boot', 'dev', 'etc', 'lib', 'lib32', 'lib64', 'libx32', 'proc', 'root', 'run', 'sbin', 'sys', 'usr'] as const;
export const COMPOSE_DIRECTORY_RULES: readonly ForbiddenPattern[] = [
  COMPOSE_CHARS,
  { forbid: '(^|/)[.][.]?(/|$)|//|./$', problem: 'must be a plain path: no ".." or "." part, no empty part, no "/" at the end' },
  { forbid: '^/$', problem: 'must not be "/"' },
  { forbid: `^/(${SYSTEM_DIRECTORIES.join('|')})(/|$)`, problem: `must not be a system directory (/${SYSTEM_DIRECTORIES.join(', /')}) or inside one` },
];
export const COMPOSE_FIX = {
  ref: 'use a branch, tag or commit id, e.g. staging or v1.4.2',
  file: 'use a path inside the checkout, e.g. docker-compose.yml or deploy/compose.yaml',
  directory: "use the absolute path of the app's checkout on the VM, e.g. /opt/jobmatch",
} as const;

/** The first rule `value` breaks, or undefined. */
export function brokenRule(value: string, rules: readonly ForbiddenPattern[]): string | undefined {
  return rules.find((rule) => new RegExp(rule.forbid).test(value))?.problem;
}

export const MANAGED_BY_LABEL = 'managed-by';
export const MANAGED_BY_VALUE = 'jobmatch-operator';
export const ENVIRONMENT_LABEL = 'jobmatch-environment';
export const DELETION_POLICY_LABEL = 'jobmatch-deletion-policy';
/** Label keys only the operator writes; a spec may not set them. */
export const RESERVED_LABEL_KEYS = [ENVIRONMENT_LABEL, MANAGED_BY_LABEL, DELETION_POLICY_LABEL] as const;
/** What to do instead of setting a reserved label. */
export const reservedLabelFix = (key: string): string =>
  key === DELETION_POLICY_LABEL ? 'remove it; set deletionPolicy instead' : 'remove it; the operator sets it';

/** The jobmatch-deletion-policy label value a resource carries, so its policy survives leaving the spec. */
export function deletionPolicyLabelValue(p: DeletionPolicy): 'retain' | 'delete' {
  return p === 'Delete' ? 'delete' : 'retain';
}

/** The Secret Manager id the apps' get_secret() computes: jobmatch-<env>-<name lower-cased, _ → ->. */
export function secretId(environment: string, name: string): string {
  return `jobmatch-${environment}-${name.toLowerCase().replaceAll('_', '-')}`;
}

/** Labels every resource the operator creates or adopts carries. */
export function managedLabels(environment: string): Record<string, string> {
  return { [ENVIRONMENT_LABEL]: environment, [MANAGED_BY_LABEL]: MANAGED_BY_VALUE };
}

/** Why a bucket name breaks GCS naming rules, or undefined when it is valid. */
export function bucketNameProblem(name: string): string | undefined {
  if (name.length < 3 || name.length > 222) return 'must be 3 to 222 characters long';
  if (!new RegExp(BUCKET_NAME_PATTERN).test(name)) {
    return 'may contain only lowercase letters, digits, "-", "_" and ".", and must start and end with a letter or digit';
  }
  return BUCKET_NAME_RULES.find((rule) => new RegExp(rule.forbid).test(name))?.problem;
}

/** Why a BigQuery dataset id is invalid, or undefined. */
export function datasetIdProblem(id: string): string | undefined {
  if (id.length === 0 || id.length > 1024) return 'must be 1 to 1024 characters long';
  if (!new RegExp(DATASET_ID_PATTERN).test(id)) return 'may contain only letters, digits and underscores';
  return undefined;
}

/** Why a Secret Manager secret id is invalid, or undefined. */
export function secretIdProblem(id: string): string | undefined {
  if (id.length > SECRET_ID_MAX_LENGTH) return `is ${id.length} characters long; Secret Manager allows at most ${SECRET_ID_MAX_LENGTH}`;
  if (!SECRET_ID_PATTERN.test(id)) return 'may contain only letters, digits, "-" and "_"';
  return undefined;
}

/** Why a GCP label key or value is invalid, or undefined. */
export function labelProblem(key: string, value: string): string | undefined {
  if (!LABEL_KEY.test(key)) return `label key "${key}" ${LABEL_KEY_RULE}`;
  if (!LABEL_VALUE.test(value)) return `label value "${value}" ${LABEL_VALUE_RULE}`;
  return undefined;
}

const DNS_LABEL = '[a-z0-9]([-a-z0-9]*[a-z0-9])?';
const DNS_1123_LABEL = new RegExp(`^${DNS_LABEL}$`);
const DNS_1123_SUBDOMAIN = new RegExp(`^${DNS_LABEL}(\\.${DNS_LABEL})*$`);

/** Why a Kubernetes object name (metadata.name) is not a DNS-1123 subdomain, or undefined. */
export function objectNameProblem(name: string): string | undefined {
  if (name.length === 0 || name.length > 253) return 'must be 1 to 253 characters long';
  if (!DNS_1123_SUBDOMAIN.test(name)) {
    return 'must consist of lowercase letters, digits, "-" and ".", and start and end each dot-separated part with a letter or digit';
  }
  return undefined;
}

/** Why a Kubernetes namespace is not a DNS-1123 label, or undefined. */
export function namespaceProblem(namespace: string): string | undefined {
  if (namespace.length === 0 || namespace.length > 63) return 'must be 1 to 63 characters long';
  if (!DNS_1123_LABEL.test(namespace)) return 'must consist of lowercase letters, digits and "-", and start and end with a letter or digit';
  return undefined;
}

/** Why an IAM member is malformed, or undefined. */
export function iamMemberProblem(member: string): string | undefined {
  if (new RegExp(IAM_MEMBER_PATTERN).test(member)) return undefined;
  const kind = member.split(':', 1)[0];
  if (member.includes(':') && ['user', 'serviceAccount', 'group'].includes(kind ?? '')) {
    return `"${member}" must be ${kind}:<email address>`;
  }
  return `"${member}" is not an IAM member; use user:EMAIL, serviceAccount:EMAIL, group:EMAIL, domain:DOMAIN, allUsers or allAuthenticatedUsers`;
}
