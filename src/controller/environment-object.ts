/** A JobMatchEnvironment as a source holds it (the API server, or a watched directory), and how the controller reads it. */
import { isPolicyError } from '../api/iam-policy.js';
import { loadValue, type LoadedEnvironment, type LoadOptions } from '../api/manifests.js';
import { formatFieldError } from '../api/field-error.js';
import type { JobMatchEnvironment, ObjectMeta } from '../api/types.js';
import type { EnvironmentStatus } from './inventory.js';
import type { EnvironmentSummary } from './environment-summary.js';

export const FINALIZER = 'jobmatch.io/cleanup';
export const PAUSED_ANNOTATION = 'jobmatch.io/paused';
export const RECONCILE_AT_ANNOTATION = 'jobmatch.io/reconcile-at';
export const ORPHAN_ON_DELETE_ANNOTATION = 'jobmatch.io/orphan-on-delete';

export interface EnvironmentObject {
  manifest: JobMatchEnvironment & { metadata: ObjectMeta & { finalizers?: string[]; deletionTimestamp?: string; creationTimestamp?: string; uid?: string } };
  status?: EnvironmentStatus;
  /**
   * Set only on an object of a shard this replica does not own: the store kept its summary and dropped its spec and
   * status (read it whole with the store's fetch). Nothing reconciles such an object here.
   */
  summary?: EnvironmentSummary;
}

export const objectKey = (o: { manifest: { metadata: { namespace?: string; name: string } } }) => `${o.manifest.metadata.namespace ?? 'default'}/${o.manifest.metadata.name}`;

/** Validates and defaults one object exactly as the CLI does a file; the API server's own metadata and the status are not the user's. */
export function loadObject(o: EnvironmentObject, options: LoadOptions = {}): { env: LoadedEnvironment } | { errors: string[]; policyViolation: boolean } {
  const { name, namespace, labels, annotations } = o.manifest.metadata;
  const manifest = {
    apiVersion: o.manifest.apiVersion, kind: o.manifest.kind,
    metadata: { name, ...(namespace ? { namespace } : {}), ...(labels ? { labels } : {}), ...(annotations ? { annotations } : {}) },
    spec: o.manifest.spec,
  };
  // The same checks as a file's document, on the object as it is (a JSON round trip gives it plain, unshared values).
  const loaded = loadValue(objectKey(o), JSON.parse(JSON.stringify(manifest)), options);
  if (loaded.errors.length > 0) {
    // Only the IAM policy refused it: the spec is well formed, but asks for what the operator may not grant (Stalled, PolicyViolation).
    return { errors: loaded.errors.map(({ source: _, ...e }) => formatFieldError(e)), policyViolation: loaded.errors.every(isPolicyError) };
  }
  return { env: loaded.environments[0]! };
}

export const annotation = (o: EnvironmentObject, key: string) => o.manifest.metadata.annotations?.[key];
