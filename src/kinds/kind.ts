/**
 * A resource kind, after Crossplane's managed resources: the pure planner (plan/kind-planner.ts) plus
 * its client over the official Google library — observe, execute its own steps (wire bodies live in
 * the kind), list what is labelled for an environment, and its IAM policy. The engine iterates the
 * registry (registry.ts) and names no kind.
 */
import type { SecretValue } from '../api/secret-value.js';
import type { GcpClients } from '../gcp/clients.js';
import type { RolloutPolling } from './deployment/deployment-client.js';
import type { GcpCaller } from '../gcp/gcp-caller.js';
import type { DesiredResource, KindPlanner } from '../plan/kind-planner.js';
import type { LabelledResource, Observation, PolicyObservation, ResourceContents } from '../plan/observed.js';
import type { BindingRef, KindStep } from '../plan/types.js';

/** What every call of a reconcile shares: the caller (limits, retries, counts) and the run's cancellation. */
export interface CallContext {
  caller: GcpCaller;
  project: string;
  signal?: AbortSignal;
  /** Where generated secret values come from (tests pin it); the CSPRNG by default. */
  generateSecret?: (length: number) => SecretValue;
  /** How often a rollout reads the VM agent's report while waiting; DEFAULT_ROLLOUT_POLLING by default. */
  rolloutPolling?: RolloutPolling;
}

export interface KindClient<O extends Observation = Observation, S extends KindStep = KindStep> {
  /** undefined: it does not exist. */
  observe(name: string): Promise<O | undefined>;
  execute(step: S): Promise<void>;
  /** Everything of this kind in the project labelled for the environment. */
  listLabelled(environment: string): Promise<LabelledResource[]>;
  /** Everything of this kind in the project, labelled or not (read-only; `import` finds unlabelled resources by name). */
  listAll?(): Promise<LabelledResource[]>;
  /** What it holds (kinds with contentsNoun). */
  contents?(name: string): Promise<ResourceContents>;
  readPolicy(name: string): Promise<PolicyObservation | undefined>;
  /** Writes `base` edited by add/remove, with base's etag: a concurrent change is refused, never overwritten. */
  commitPolicy(name: string, base: PolicyObservation, add: BindingRef[], remove: BindingRef[]): Promise<void>;
}

export interface Kind<D extends DesiredResource = DesiredResource, O extends Observation = Observation, S extends KindStep = KindStep> extends KindPlanner<D, O> {
  connect(clients: GcpClients, ctx: CallContext): KindClient<O, S>;
}
