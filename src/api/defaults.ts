/**
 * Defaults that depend on other fields (the CRD schema carries the static ones, applied by the validator).
 * The result is the desired state the engine works from: every optional field decided.
 */
import {
  ENV_MODES, type BucketSpec, type DatasetSpec, type EnvMode, type IamBindingSpec, type JobMatchEnvironmentSpec,
  type PolicySpec, type SecretSpec, type StringMap,
} from './types.js';

type Decided<T, K extends keyof T> = Omit<T, K> & Required<Pick<T, K>>;

export type ResolvedBucket = Decided<BucketSpec, 'location' | 'storageClass' | 'versioning' | 'labels' | 'deletionPolicy'>;
export type ResolvedDataset = Decided<
  DatasetSpec, 'location' | 'description' | 'defaultTableExpirationDays' | 'labels' | 'deletionPolicy'
>;
export type ResolvedSecret = Decided<Omit<SecretSpec, 'generate'>, 'deletionPolicy'> & { generate?: { length: number } };
export type ResolvedIamBinding = Decided<IamBindingSpec, 'ensure'>;

export interface ResolvedSpec extends Omit<JobMatchEnvironmentSpec, 'buckets' | 'datasets' | 'secrets' | 'iam' | 'policy'> {
  envMode: EnvMode;
  buckets: ResolvedBucket[];
  datasets: ResolvedDataset[];
  secrets: ResolvedSecret[];
  iam: ResolvedIamBinding[];
  appConfig: StringMap;
  /** resyncSeconds stays unset unless the spec sets it: the controller's default depends on drift events. */
  policy: Required<Omit<PolicySpec, 'resyncSeconds'>> & Pick<PolicySpec, 'resyncSeconds'>;
  /** A token that forces one more rollout of the same config (apply --redeploy, annotation jobmatch.io/redeploy-at). */
  redeploy?: string;
}

export const DEFAULT_SECRET_LENGTH = 32;

/** envMode defaults to the environment's name when that is a known mode, else dev. */
export function defaultEnvMode(environment: string): EnvMode {
  return (ENV_MODES as readonly string[]).includes(environment) ? (environment as EnvMode) : 'dev';
}

/** Decides every optional field of a schema-valid spec. */
export function resolveSpec(spec: JobMatchEnvironmentSpec): ResolvedSpec {
  const location = spec.gcp.location;
  return {
    ...spec,
    envMode: spec.envMode ?? defaultEnvMode(spec.environment),
    buckets: (spec.buckets ?? []).map((b) => ({
      ...b,
      location: b.location ?? location,
      storageClass: b.storageClass ?? 'STANDARD',
      versioning: b.versioning ?? false,
      labels: b.labels ?? {},
      deletionPolicy: b.deletionPolicy ?? 'Retain',
    })),
    datasets: (spec.datasets ?? []).map((d) => ({
      ...d,
      location: d.location ?? location,
      description: d.description ?? '',
      defaultTableExpirationDays: d.defaultTableExpirationDays ?? 0,
      labels: d.labels ?? {},
      deletionPolicy: d.deletionPolicy ?? 'Retain',
    })),
    secrets: (spec.secrets ?? []).map(({ generate, ...rest }) => {
      const s: ResolvedSecret = { ...rest, deletionPolicy: rest.deletionPolicy ?? 'Retain' };
      return s.source === 'generate' ? { ...s, generate: { length: generate?.length ?? DEFAULT_SECRET_LENGTH } } : s;
    }),
    iam: (spec.iam ?? []).map((i) => ({ ...i, ensure: i.ensure ?? 'present' })),
    appConfig: spec.app?.config ?? {},
    policy: {
      drift: spec.policy?.drift ?? 'Heal',
      suspend: spec.policy?.suspend ?? false,
      ...(spec.policy?.resyncSeconds !== undefined ? { resyncSeconds: spec.policy.resyncSeconds } : {}),
      adoptExisting: spec.policy?.adoptExisting ?? false,
    },
  };
}
