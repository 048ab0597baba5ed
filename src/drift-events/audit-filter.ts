/**
 * The Log Router filter of the drift-events sink: the project's Admin Activity entries about what the operator
 * manages. Pure: the same project and names give the same filter, so running setup again changes nothing.
 *
 * - Cloud Storage (storage.buckets.*, storage.setIamPermissions) on buckets named `jobmatch-…` or declared;
 * - BigQuery DatasetService methods (and dataset SetIamPolicy) on every dataset of the project: dataset ids
 *   cannot carry the prefix ("-" is not allowed in them) and dataset changes are rare;
 * - Secret Manager on secrets `jobmatch-…` (every secret the operator makes is `jobmatch-<env>-<name>`);
 * - the project's IAM policy (cloudresourcemanager SetIamPolicy);
 * - Compute `v1.compute.instances.setMetadata` on instances named `jobmatch-…` or declared.
 *
 * Reads, Data Access entries (object uploads, secret accesses) and BigQuery jobs never match.
 */

export const NAME_PREFIX = 'jobmatch-';
export const ACTIVITY_LOG_ID = 'cloudaudit.googleapis.com%2Factivity';

export const SERVICES = {
  storage: 'storage.googleapis.com',
  bigquery: 'bigquery.googleapis.com',
  secretmanager: 'secretmanager.googleapis.com',
  resourcemanager: 'cloudresourcemanager.googleapis.com',
  compute: 'compute.googleapis.com',
} as const;

/** Names from manifests (`-f`) that the prefix may not cover. */
export interface DeclaredNames {
  buckets?: string[];
  instances?: string[];
}

const quote = (value: string) => `"${value.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;

/** `field:"a"` for prefixes, plus `field=("x" OR "y")` for exact names. */
function nameClause(prefixes: string[], exact: string[]): string {
  const parts = prefixes.map((p) => `protoPayload.resourceName:${quote(p)}`);
  if (exact.length > 0) parts.push(`protoPayload.resourceName=(${exact.map(quote).join(' OR ')})`);
  return parts.length === 1 ? parts[0]! : `(${parts.join(' OR ')})`;
}

const uniqueSorted = (names: string[] | undefined, covered: (name: string) => boolean) =>
  [...new Set(names ?? [])].filter((n) => !covered(n)).sort();

/** The sink's filter for a project (its id, as in logName) and the declared names. */
export function driftEventsFilter(projectId: string, declared: DeclaredNames = {}): string {
  const buckets = uniqueSorted(declared.buckets, (n) => n.startsWith(NAME_PREFIX)).map((n) => `projects/_/buckets/${n}`);
  // An instance's resourceName holds its zone, which a name alone does not tell: match its "/instances/NAME" part.
  const instances = uniqueSorted(declared.instances, (n) => n.startsWith(NAME_PREFIX));
  const instanceClause = [`/instances/${NAME_PREFIX}`, ...instances.map((n) => `/instances/${n}`)].map((t) => `protoPayload.resourceName:${quote(t)}`);
  const clauses = [
    `(protoPayload.serviceName=${quote(SERVICES.storage)} AND ${nameClause([`projects/_/buckets/${NAME_PREFIX}`], buckets)})`,
    `(protoPayload.serviceName=${quote(SERVICES.bigquery)} AND protoPayload.resourceName:${quote(`projects/${projectId}/datasets/`)}`
      + ` AND (protoPayload.methodName:"DatasetService" OR protoPayload.methodName="google.iam.v1.IAMPolicy.SetIamPolicy"))`,
    `(protoPayload.serviceName=${quote(SERVICES.secretmanager)} AND protoPayload.resourceName:${quote(`/secrets/${NAME_PREFIX}`)})`,
    `(protoPayload.serviceName=${quote(SERVICES.resourcemanager)} AND protoPayload.methodName="SetIamPolicy")`,
    `(protoPayload.serviceName=${quote(SERVICES.compute)} AND protoPayload.methodName="v1.compute.instances.setMetadata" AND ${instanceClause.length === 1 ? instanceClause[0]! : `(${instanceClause.join(' OR ')})`})`,
  ];
  return `logName=${quote(`projects/${projectId}/logs/${ACTIVITY_LOG_ID}`)} AND (${clauses.join(' OR ')})`;
}
