/** What the kinds saw in GCP, reduced to what the diff compares. Undefined = does not exist. */
import type { ResourceKind } from '../api/types.js';

/** What every kind's observation carries: ownership is decided from it, generically. */
export interface Observation {
  labels: Record<string, string>;
  /** A bucket's project number (bucket names are global); undefined for kinds named inside a project. */
  projectNumber?: string;
  /** The precondition a write relies on: a metageneration or an etag. */
  version: string;
}

export interface PolicyBinding {
  role: string;
  members: string[];
  condition?: unknown;
}

export interface PolicyObservation {
  etag: string;
  bindings: PolicyBinding[];
  /** The kind's own form of it, where the policy is embedded in the resource (a dataset's access list). */
  raw?: unknown;
}

/** A resource an API list found labelled for this environment. */
export interface LabelledResource {
  kind: ResourceKind;
  name: string;
  labels: Record<string, string>;
  projectNumber?: string;
  /** The precondition a delete relies on. */
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
  /** Every declared resource by action id (Bucket/x, Secret/y). */
  resources: Record<string, Observation | undefined>;
  /** By policy key (see policyKey); absent when not read (the resource is missing or in conflict). */
  policies: Record<string, PolicyObservation | undefined>;
  /** Everything labelled for this environment, from one list per kind. */
  labelled: LabelledResource[];
  /** The manifest project's number (global names are checked against it); undefined when not needed or not read. */
  projectNumber?: string;
  /** Reads that failed (after retries), by action id or policy key: the reason. */
  errors: Record<string, string>;
  /** Set when the endpoint itself could not be reached (refused, unknown host): one reason for the whole run. */
  unreachable?: string;
}

/** The key in `errors` when the manifest project's number could not be read. */
export const PROJECT_NUMBER_READ = 'project/number';

/** An observation of nothing at `now`: where an observation starts, and what a suspended environment plans from. */
export function emptyObservation(now: Date): ObservedEnvironment {
  return { observedAt: now.toISOString(), resources: {}, policies: {}, labelled: [], errors: {} };
}
