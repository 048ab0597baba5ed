/**
 * Executes exactly the plan's steps: resources in parallel, each action's steps in order, IAM after the
 * resource it lives on; one read-modify-write per policy. A 409/412 re-reads the resource and re-plans it
 * (ownership checked again) before any further write. A failing action does not stop the others.
 */
import type { SecretValue } from '../api/secret-value.js';
import type { Adapters } from '../gcp/adapters.js';
import { GcpError, type ErrorInfo } from '../gcp/gcp-error.js';
import { policyKey } from '../plan/desired.js';
import type { ObservedEnvironment, PolicyObservation } from '../plan/observed.js';
import { resourceIdOf } from '../plan/diff-iam.js';
import { editAccess, editBindings } from '../plan/policy-edit.js';
import type { Action, BindingRef, Plan, PolicyTarget, Step } from '../plan/types.js';
import { readPolicy } from './observe.js';
import { PolicyWriter } from './policy-writer.js';
import { generateSecretValue } from './secret-generator.js';

export interface ActionResult {
  outcome: 'ok' | 'error' | 'skipped' | 'conflict' | 'cancelled';
  error?: string;
  /** What Google said, when the failure came from a call. */
  cause?: ErrorInfo;
  durationMs: number;
}

export interface ExecuteOptions {
  generate?: (length: number) => SecretValue;
  /** Shared by every environment of the process (see PolicyWriter). */
  policyWriter?: PolicyWriter;
  /** Base of the jittered pause before re-reading after a conflict; at least 100 ms across processes. */
  conflictBackoffMs?: number;
  /** The run's cancellation: an aborted run records what it did not do as cancelled. */
  signal?: AbortSignal;
}

/** Re-reads one resource and plans it again from that fresh observation; undefined when it is gone and not declared. */
export type Replan = (id: string) => Promise<Action | undefined>;

/** A fresh read showed the resource is not ours (or cannot be written): zero writes to it, and nothing that depends on it runs. */
export class ConflictOutcome extends Error {}

const CONFLICT_ATTEMPTS = 5;
const CONFLICT_STATUSES = ['ABORTED', 'FAILED_PRECONDITION', 'ALREADY_EXISTS'];
const isConflict = (e: unknown) => e instanceof GcpError && (e.status === 409 || e.status === 412 || CONFLICT_STATUSES.includes(e.info.status ?? ''));
const stop = (a: Action | undefined) => a?.verb === 'conflict' || a?.verb === 'error';

export class PlanExecutor {
  private readonly generate: (length: number) => SecretValue;
  private readonly policyWriter: PolicyWriter;
  private readonly backoffMs: number;

  constructor(
    private readonly adapters: Adapters, private readonly observed: ObservedEnvironment, private readonly replan: Replan,
    private readonly options: ExecuteOptions = {},
  ) {
    this.generate = options.generate ?? generateSecretValue;
    this.policyWriter = options.policyWriter ?? new PolicyWriter();
    this.backoffMs = options.conflictBackoffMs ?? 100;
  }

  /** Full jitter over an exponential ceiling: processes that lost the same race spread out. */
  private async pause(attempt: number): Promise<void> {
    const ms = Math.floor(Math.random() * this.backoffMs * 2 ** (attempt - 1));
    await new Promise((resolve) => setTimeout(resolve, ms));
  }

  private async runStep(step: Step): Promise<void> {
    const { buckets, datasets, secrets } = this.adapters;
    switch (step.op) {
      case 'bucket.create': return buckets.create(step.bucket);
      case 'bucket.patch': return buckets.patch(step.bucket, step.patch, step.metageneration);
      case 'bucket.delete': return buckets.delete(step.bucket, step.metageneration);
      case 'dataset.create': return datasets.create(step.datasetId, step.body);
      case 'dataset.patch': return datasets.patch(step.datasetId, step.patch, step.etag);
      case 'dataset.delete': {
        // BigQuery's delete takes no etag: compare it on a fresh read just before.
        const fresh = await datasets.observe(step.datasetId);
        if (!fresh) return;
        if (fresh.etag !== step.etag) throw new ConflictOutcome(`dataset ${step.datasetId} changed since it was planned; plan again`);
        return datasets.delete(step.datasetId);
      }
      case 'secret.create': return secrets.create(step.secretId, step.labels);
      case 'secret.patchLabels': return secrets.patchLabels(step.secretId, step.labels, step.etag);
      case 'secret.delete': return secrets.delete(step.secretId, step.etag);
      case 'secret.addGeneratedVersion': {
        // The value exists from here to the end of the write, and nowhere else.
        return secrets.addVersion(step.secretId, this.generate(step.length));
      }
      case 'secret.disableVersions':
        for (const v of step.versions) await secrets.disableVersion(step.secretId, v);
        return;
      case 'iam.modify': throw new Error('IAM edits run through modifyPolicy');
    }
  }

  /** The action's steps; on a 409/412, a fresh read and a new plan of that resource, then its remaining steps. */
  private async runAction(planned: Action, onExists: () => void): Promise<void> {
    let action = planned;
    for (let attempt = 1; ; attempt++) {
      try {
        for (const [i, step] of action.steps.entries()) {
          await this.runStep(step);
          if (i === 0 && existsAfterFirstStep(action)) onExists();
        }
        return;
      } catch (e) {
        if (!(isConflict(e) || e instanceof ConflictOutcome) || attempt >= CONFLICT_ATTEMPTS) throw e;
        await this.pause(attempt);
        const fresh = await this.replan(planned.id);
        if (!fresh) return; // an undeclared resource that is gone: nothing left to delete
        if (stop(fresh)) throw new ConflictOutcome(fresh.message ?? `${planned.id} is no longer ours`);
        action = fresh;
      }
    }
  }

  /** One read-modify-write with the etag, batched with other environments' edits of the same policy. */
  private modifyPolicy(target: PolicyTarget, edit: { add: BindingRef[]; remove: BindingRef[] }, resourceId: string | undefined, useObserved: boolean): Promise<void> {
    return this.policyWriter.edit(JSON.stringify(target), edit, (merged, stale) => this.commitPolicy(target, merged.add, merged.remove, resourceId, useObserved && !stale));
  }

  /** `useObserved` starts from the planned-against policy; a conflict re-checks ownership of the resource, then re-reads the policy. */
  private async commitPolicy(target: PolicyTarget, add: BindingRef[], remove: BindingRef[], resourceId: string | undefined, useObserved: boolean): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const fresh = attempt > 1;
      try {
        if (fresh && resourceId) {
          const resource = await this.replan(resourceId);
          if (!resource || stop(resource)) throw new ConflictOutcome(resource?.message ?? `${resourceId} is gone`);
        }
        if (target.type === 'dataset') {
          const dataset = useObserved && !fresh ? this.observed.datasets[target.datasetId] : await this.adapters.datasets.observe(target.datasetId);
          if (!dataset) throw new Error(`dataset/${target.datasetId} does not exist`);
          await this.adapters.datasets.patch(target.datasetId, { access: editAccess(dataset.rawAccess, add, remove) }, dataset.etag);
          return;
        }
        const observed = useObserved && !fresh ? this.observed.policies[policyKey(target)] : undefined;
        const policy = observed ?? await readPolicy(this.adapters, target);
        if (!policy) throw new Error(`${policyKey(target)} does not exist`);
        await this.writePolicy(target, { etag: policy.etag, bindings: editBindings(policy.bindings, add, remove) });
        return;
      } catch (e) {
        if (!isConflict(e) || attempt >= CONFLICT_ATTEMPTS) throw e;
        await this.pause(attempt);
      }
    }
  }

  private async writePolicy(target: PolicyTarget, next: PolicyObservation): Promise<void> {
    if (target.type === 'project') await this.adapters.projectPolicy.setPolicy(next);
    else if (target.type === 'bucket') await this.adapters.buckets.setPolicy(target.bucket, next);
    else if (target.type === 'secret') await this.adapters.secrets.setPolicy(target.secretId, next);
  }

  /** Executes every action with steps; the result of each by action id. */
  async execute(plan: Plan): Promise<Map<string, ActionResult>> {
    const results = new Map<string, ActionResult>();
    const withSteps = plan.actions.filter((a) => a.steps.length > 0);
    if (plan.reportOnly || plan.suspended) {
      for (const a of withSteps) results.set(a.id, { outcome: 'skipped', error: plan.suspended ? 'suspended' : 'policy.drift is Report', durationMs: 0 });
      return results;
    }
    const resources = this.startResources(withSteps.filter((a) => a.kind !== 'IAMBinding'), results);
    const bindings = this.startBindings(withSteps.filter((a) => a.kind === 'IAMBinding'), resources, results);
    await Promise.all([...[...resources.values()].map((r) => r.done), ...bindings]);
    return results;
  }

  /** Every resource action at once, its steps in order; `settled` says, as soon as it is known, whether its resource exists and is ours. */
  private startResources(actions: Action[], results: Map<string, ActionResult>): Map<string, ResourceRun> {
    const runs = new Map<string, ResourceRun>();
    for (const a of actions) {
      let settle!: (state: ResourceState) => void;
      const settled = new Promise<ResourceState>((resolve) => (settle = resolve));
      const done = this.record(results, a.id, async () => {
        try {
          await this.runAction(a, () => settle('exists'));
          settle('exists');
        } catch (e) {
          settle(e instanceof ConflictOutcome ? 'conflict' : 'failed');
          throw e;
        }
      });
      runs.set(a.id, { settled, done });
    }
    return runs;
  }

  /** Each binding's edit once the resource it lives on exists; edits of one policy are committed together by the PolicyWriter. */
  private startBindings(actions: Action[], resources: Map<string, ResourceRun>, results: Map<string, ActionResult>): Promise<void>[] {
    return actions.map(async (a) => {
      const step = a.steps[0] as Extract<Step, { op: 'iam.modify' }>;
      const state = a.dependsOn ? await (resources.get(a.dependsOn)?.settled ?? 'exists') : 'exists';
      if (state === 'conflict') return void results.set(a.id, { outcome: 'conflict', error: `${a.dependsOn} is in conflict: nothing is written to it`, durationMs: 0 });
      if (state === 'failed') return void results.set(a.id, { outcome: 'skipped', error: `${a.dependsOn} failed first`, durationMs: 0 });
      // With no resource change before it, the policy observed for the plan is still the one to edit.
      await this.record(results, a.id, () => this.modifyPolicy(step.target, { add: step.add, remove: step.remove }, resourceIdOf(step.target), a.dependsOn === undefined));
    });
  }

  private async record(results: Map<string, ActionResult>, id: string, run: () => Promise<void>): Promise<void> {
    const started = performance.now();
    try {
      await run();
      results.set(id, { outcome: 'ok', durationMs: performance.now() - started });
    } catch (e) {
      const durationMs = performance.now() - started;
      if (e instanceof ConflictOutcome) results.set(id, { outcome: 'conflict', error: e.message, durationMs });
      else if (this.options.signal?.aborted) results.set(id, { outcome: 'cancelled', error: `not finished: ${(e as Error).message}`, durationMs });
      else results.set(id, { outcome: 'error', error: (e as Error).message, ...(e instanceof GcpError ? { cause: e.info } : {}), durationMs });
    }
  }
}

type ResourceState = 'exists' | 'conflict' | 'failed';

interface ResourceRun {
  settled: Promise<ResourceState>;
  done: Promise<void>;
}

/** After a create's first step (the container) a binding may be added; a dataset's IAM is its access list, patched with its etag, so it waits for the whole action. */
const existsAfterFirstStep = (a: Action) => a.verb === 'create' && a.kind !== 'Dataset';
