/** The JobMatchEnvironment v1alpha1 API as users write it (API.md). Defaults are applied in defaults.ts. */

export const GROUP = 'jobmatch.io';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;
export const KIND = 'JobMatchEnvironment';
export const PLURAL = 'jobmatchenvironments';

export const ENV_MODES = ['local', 'dev', 'staging', 'prod'] as const;
export type EnvMode = (typeof ENV_MODES)[number];

export const STORAGE_CLASSES = ['STANDARD', 'NEARLINE', 'COLDLINE', 'ARCHIVE'] as const;
export type StorageClass = (typeof STORAGE_CLASSES)[number];

export const DELETION_POLICIES = ['Retain', 'Delete'] as const;
export type DeletionPolicy = (typeof DELETION_POLICIES)[number];

export const SECRET_SOURCES = ['generate', 'external'] as const;
export type SecretSource = (typeof SECRET_SOURCES)[number];

export const IAM_ENSURE = ['present', 'absent'] as const;
export type IamEnsure = (typeof IAM_ENSURE)[number];

export const DRIFT_POLICIES = ['Heal', 'Report'] as const;
export type DriftPolicy = (typeof DRIFT_POLICIES)[number];

export const RESOURCE_KINDS = ['Bucket', 'Dataset', 'Secret', 'IAMBinding', 'Deployment'] as const;
export type ResourceKind = (typeof RESOURCE_KINDS)[number];

export const RESOURCE_STATES = [
  'InSync', 'Created', 'Updated', 'Adopted', 'Drifted', 'Conflict', 'Pending', 'Orphaned', 'Error',
] as const;
export type ResourceState = (typeof RESOURCE_STATES)[number];

export const CONDITION_TYPES = ['Ready', 'Synced', 'Deployed', 'DriftDetected', 'DriftEvents', 'Stalled', 'Reconciling', 'ParityDrift'] as const;
export type ConditionType = (typeof CONDITION_TYPES)[number];

export const CONDITION_STATUSES = ['True', 'False', 'Unknown'] as const;
export type ConditionStatus = (typeof CONDITION_STATUSES)[number];

export type StringMap = Record<string, string>;

export interface GcpSpec {
  projectId: string;
  location: string;
}

export interface Lifecycle {
  deleteAfterDays: number;
}

export interface BucketSpec {
  name: string;
  env?: string;
  location?: string;
  storageClass?: StorageClass;
  versioning?: boolean;
  labels?: StringMap;
  lifecycle?: Lifecycle;
  deletionPolicy?: DeletionPolicy;
}

export interface DatasetSpec {
  datasetId: string;
  env?: string;
  location?: string;
  description?: string;
  defaultTableExpirationDays?: number;
  labels?: StringMap;
  deletionPolicy?: DeletionPolicy;
}

export interface SecretGenerate {
  length?: number;
}

export interface SecretSpec {
  name: string;
  source: SecretSource;
  generate?: SecretGenerate;
  rotationDays?: number;
  deletionPolicy?: DeletionPolicy;
}

export interface IamBindingSpec {
  member: string;
  role: string;
  resource: string;
  ensure?: IamEnsure;
}

export interface VmSpec {
  name: string;
  zone: string;
}

export interface ComposeSpec {
  ref: string;
  file?: string;
  directory?: string;
}

export interface HealthCheckSpec {
  url: string;
  timeoutSeconds?: number;
}

export interface AppSpec {
  config?: StringMap;
  /** Keys of config exempt from the secret-looking checks (false positives). */
  notSecret?: string[];
  compose?: ComposeSpec;
  healthCheck?: HealthCheckSpec;
}

export interface PolicySpec {
  drift?: DriftPolicy;
  suspend?: boolean;
  resyncSeconds?: number;
  adoptExisting?: boolean;
}

/** An intended difference between an environment and its parity reference (diff-env's path, "*" a wildcard). */
export interface ExpectedDifference {
  path: string;
  reason: string;
}

/** Dev/prod parity: the environment this one must match in shape, and the differences that are intended. */
export interface ParitySpec {
  reference?: string;
  expectedDifferences?: ExpectedDifference[];
}

export interface JobMatchEnvironmentSpec {
  environment: string;
  envMode?: EnvMode;
  gcp: GcpSpec;
  buckets?: BucketSpec[];
  datasets?: DatasetSpec[];
  secrets?: SecretSpec[];
  iam?: IamBindingSpec[];
  vm?: VmSpec;
  app?: AppSpec;
  policy?: PolicySpec;
  parity?: ParitySpec;
}

export interface Condition {
  type: ConditionType;
  status: ConditionStatus;
  reason: string;
  message: string;
  lastTransitionTime: string;
  observedGeneration?: number;
}

export interface ResourceStatus {
  kind: ResourceKind;
  name: string;
  state: ResourceState;
  message?: string;
}

/** What the controller created, adopted and granted: names only, never a value. */
export interface Inventory {
  resources: { kind: ResourceKind; name: string }[];
  /** Granted by this operator (or adopted with spec.policy.adoptExisting): the only bindings it ever revokes. */
  bindings: { resource: string; role: string; member: string }[];
  /** Declared bindings that already existed (someone else's grants): never revoked, reported once when they leave the spec. */
  preexisting?: { resource: string; role: string; member: string }[];
}

export interface JobMatchEnvironmentStatus {
  observedGeneration?: number;
  inventory?: Inventory;
  conditions?: Condition[];
  resources?: ResourceStatus[];
  exports?: StringMap;
  configHash?: string;
  deployedConfigHash?: string;
  lastReconcileTime?: string;
  lastDriftTime?: string;
}

export interface ObjectMeta {
  name: string;
  namespace?: string;
  labels?: StringMap;
  annotations?: StringMap;
  generation?: number;
  resourceVersion?: string;
  uid?: string;
  [key: string]: unknown;
}

export interface JobMatchEnvironment {
  apiVersion: typeof API_VERSION;
  kind: typeof KIND;
  metadata: ObjectMeta;
  spec: JobMatchEnvironmentSpec;
  status?: JobMatchEnvironmentStatus;
}
