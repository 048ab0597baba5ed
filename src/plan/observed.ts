/** What the adapters saw in GCP, reduced to the fields the diff compares. Undefined = does not exist. */

/** The bucket fields the operator declares, whether wanted or seen. */
export interface BucketFields {
  name: string;
  location: string;
  storageClass: string;
  versioning: boolean;
  labels: Record<string, string>;
  /** The age of the single Delete rule the operator manages, if the bucket has exactly that. */
  lifecycleDeleteAfterDays?: number;
}

export interface BucketObservation extends BucketFields {
  lifecycleRuleCount: number;
  uniformAccess: boolean;
  publicAccessPrevention: string;
  metageneration: string;
  /** The number of the project the bucket lives in (bucket names are global). */
  projectNumber?: string;
}

export interface AccessEntry {
  role: string;
  member: string;
}

export interface DatasetObservation {
  datasetId: string;
  location: string;
  description: string;
  /** undefined: tables never expire. */
  defaultTableExpirationMs?: number;
  labels: Record<string, string>;
  /** Access entries as IAM role + member (userByEmail → user:/serviceAccount:, etc.); entries of other shapes kept raw. */
  access: AccessEntry[];
  rawAccess: Record<string, unknown>[];
  etag: string;
}

export interface SecretVersionObservation {
  /** The version number, as in .../versions/N. */
  number: string;
  state: 'ENABLED' | 'DISABLED' | 'DESTROYED';
  createTime: string;
}

export interface SecretObservation {
  secretId: string;
  labels: Record<string, string>;
  etag: string;
  /** Newest first. */
  versions: SecretVersionObservation[];
}

export interface PolicyBinding {
  role: string;
  members: string[];
  condition?: unknown;
}

export interface PolicyObservation {
  etag: string;
  bindings: PolicyBinding[];
}

/** A resource an API list found labelled for this environment. */
export interface LabelledResource {
  kind: 'Bucket' | 'Dataset' | 'Secret';
  name: string;
  labels: Record<string, string>;
  projectNumber?: string;
  /** The precondition a delete relies on: a bucket's metageneration, a secret's or dataset's etag. */
  version?: string;
  /** Objects or tables it holds, read only for an undeclared resource whose policy is delete. */
  contents?: ResourceContents;
}

export interface ResourceContents {
  count: number;
  /** true when there are more than `count` (only the first page was read). */
  more: boolean;
}

export interface ObservedEnvironment {
  /** When observed (the plan compares secret ages with it; the diff itself reads no clock). */
  observedAt: string;
  buckets: Record<string, BucketObservation | undefined>;
  datasets: Record<string, DatasetObservation | undefined>;
  /** By Secret Manager id. */
  secrets: Record<string, SecretObservation | undefined>;
  /** By policy key (see policyKey); absent when not read (the resource is missing or in conflict). */
  policies: Record<string, PolicyObservation | undefined>;
  /** Everything labelled for this environment, from one list per API. */
  labelled: LabelledResource[];
  /** The manifest project's number (buckets are checked against it); undefined when not needed or not read. */
  projectNumber?: string;
  /** Reads that failed (after retries), by action id (Bucket/x, Secret/y, ...) or policy key: the reason. */
  errors: Record<string, string>;
  /** Set when the endpoint itself could not be reached (refused, unknown host): one reason for the whole run. */
  unreachable?: string;
}

/** The key in `errors` when the manifest project's number could not be read. */
export const PROJECT_NUMBER_READ = 'project/number';

/** An observation of nothing at `now`: where an observation starts, and what a suspended environment plans from. */
export function emptyObservation(now: Date): ObservedEnvironment {
  return { observedAt: now.toISOString(), buckets: {}, datasets: {}, secrets: {}, policies: {}, labelled: [], errors: {} };
}
