/**
 * The pure half of a resource kind (src/kinds/<kind>): what the spec declares and how an observation
 * becomes an action. Ownership, labels, deletion policy, orphans and IAM are generic (plan/diff.ts);
 * a kind never re-implements them.
 */
import type { ResolvedSpec } from '../api/defaults.js';
import type { ResourceKind } from '../api/types.js';
import type { DesiredBinding } from './desired.js';
import type { LabelledResource, ObservedEnvironment, Observation, PolicyObservation } from './observed.js';
import type { Action, BindingRef, KindStep } from './types.js';

/** One declared resource: its GCP name and the full labels it should carry (declared + managed). */
export interface DesiredResource {
  name: string;
  labels: Record<string, string>;
}

export interface PlanContext {
  project: string;
  /** Bindings the spec wants present on this resource (granted at create by kinds whose policy is embedded). */
  grants: BindingRef[];
  /** The observation's time, in ms (secret ages are compared with it). */
  now: number;
  /** The actions already planned for the kinds before this one in the registry (a rollout waits for its secrets). */
  planned: ReadonlyMap<string, Action>;
  /** Every binding spec.iam declares, and the whole observation (policies read), for checks across resources. */
  bindings: readonly DesiredBinding[];
  observed: ObservedEnvironment;
}

export interface KindPlanner<D extends DesiredResource = DesiredResource, O extends Observation = Observation> {
  readonly kind: ResourceKind;
  /** The prefix of spec.iam[].resource that names this kind (bucket/NAME). */
  readonly iamPrefix: string;
  /** Names are global (buckets): an existing one must also be in the manifest's project. */
  readonly globalNames?: boolean;
  /** What a delete needs to find empty (objects, tables); undefined: deleted whatever it holds. */
  readonly contentsNoun?: string;
  /** Reads one observation costs (a secret's container and its version list: 2); default 1. */
  readonly readsPerResource?: number;
  /**
   * The operator configures it but does not own it (a VM): no ownership labels, never created, adopted,
   * deleted or listed for orphans; an observation of it is always planned by the kind.
   */
  readonly external?: boolean;
  /** IAM is part of the resource itself (a dataset's access list): read with it, granted at create. */
  readonly embeddedPolicy?: boolean;
  /**
   * Its actions start the apps (a rollout), which read the environment's secrets at once (the VM agent its deploy
   * key): they come after the grants planned on secrets.
   */
  readonly readsSecretsAtStart?: boolean;
  /** Every resource of this kind the spec declares, in spec order. */
  desired(spec: ResolvedSpec): D[];
  /** The GCP name spec.iam's NAME stands for (secret names resolve to Secret Manager ids). */
  nameFor(spec: ResolvedSpec, specName: string): string;
  /**
   * The action for one declared resource: `o` is absent (create) or already known to be ours or
   * adoptable; its steps are this kind's and carry their preconditions.
   */
  diff(d: D, o: O | undefined, ctx: PlanContext): Action;
  /** The step that deletes an orphan, with the precondition it was observed at. */
  deleteStep(r: LabelledResource, project: string): KindStep;
  /** The step that releases a retained resource when its environment is deleted: the operator's labels removed. */
  releaseStep(r: LabelledResource): KindStep;
  /** The IAM policy inside an observation (embeddedPolicy kinds). */
  policyOf?(o: O): PolicyObservation;
  /** The bindings a step of this kind writes into the resource itself (embeddedPolicy kinds): the IAM policy checks them too. */
  grantsOf?(step: KindStep): BindingRef[];
}
