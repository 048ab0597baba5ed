/**
 * Executes exactly the plan's steps: resources in parallel, each action's steps in order, IAM after the
 * resource it lives on; one read-modify-write per policy. A failing action does not stop the others.
 */
import type { SecretValue } from '../api/secret-value.js';
import type { Adapters } from '../gcp/adapters.js';
import { GcpError } from '../gcp/gcp-error.js';
import { policyKey } from '../plan/desired.js';
import type { ObservedEnvironment, PolicyObservation } from '../plan/observed.js';
import { editAccess, editBindings } from '../plan/policy-edit.js';
import type { Action, BindingRef, Plan, PolicyTarget, Step } from '../plan/types.js';
import { readPolicy } from './observe.js';
import { PolicyWriter } from './policy-writer.js';
import { generateSecretValue } from './secret-generator.js';

export interface ActionResult {
  outcome: 'ok' | 'error' | 'skipped';
  error?: string;
  durationMs: number;
}

export interface ExecuteOptions {
  generate?: (length: number) => SecretValue;
  /** Shared by every environment of the process (see PolicyWriter). */
  policyWriter?: PolicyWriter;
}

const CONFLICT_ATTEMPTS = 5;
const isConflict = (e: unknown) => e instanceof GcpError && (e.status === 409 || e.status === 412);

/** Runs `write` with a fresh read after each 409/412 (someone changed it between our read and write), after a jittered pause. */
async function withConflictRetry(write: (fresh: boolean) => Promise<void>): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await write(attempt > 1);
    } catch (e) {
      if (attempt >= CONFLICT_ATTEMPTS || !isConflict(e)) throw e;
      await new Promise((resolve) => setTimeout(resolve, Math.floor(Math.random() * 20 * attempt)));
    }
  }
}

export class PlanExecutor {
  private readonly generate: (length: number) => SecretValue;
  private readonly policyWriter: PolicyWriter;

  constructor(private readonly adapters: Adapters, private readonly observed: ObservedEnvironment, options: ExecuteOptions = {}) {
    this.generate = options.generate ?? generateSecretValue;
    this.policyWriter = options.policyWriter ?? new PolicyWriter();
  }

  private async runStep(step: Step): Promise<void> {
    const { buckets, datasets, secrets } = this.adapters;
    switch (step.op) {
      case 'bucket.create': return buckets.create(step.bucket);
      case 'bucket.patch': return withConflictRetry(async (fresh) => {
        const metageneration = fresh ? (await buckets.observe(step.bucket))?.metageneration ?? '' : step.metageneration;
        await buckets.patch(step.bucket, step.patch, metageneration);
      });
      case 'dataset.create': return datasets.create(step.datasetId, step.body);
      case 'dataset.patch': return withConflictRetry(async (fresh) => {
        const etag = fresh ? (await datasets.observe(step.datasetId))?.etag : this.observed.datasets[step.datasetId]?.etag;
        await datasets.patch(step.datasetId, step.patch, etag ?? '');
      });
      case 'secret.create': return secrets.create(step.secretId, step.labels);
      case 'secret.patchLabels': return secrets.patchLabels(step.secretId, step.labels);
      case 'secret.addGeneratedVersion': {
        // The value exists from here to the end of the write, and nowhere else.
        return secrets.addVersion(step.secretId, this.generate(step.length));
      }
      case 'secret.disableVersions':
        for (const v of step.versions) await secrets.disableVersion(step.secretId, v);
        return;
      case 'iam.modify': return this.modifyPolicy(step.target, step.add, step.remove, false);
      default: throw new Error(`unknown step ${(step as Step).op}`);
    }
  }

  /** One read-modify-write with the etag, batched with other environments' edits of the same policy. */
  private modifyPolicy(target: PolicyTarget, add: BindingRef[], remove: BindingRef[], useObserved: boolean): Promise<void> {
    return this.policyWriter.edit(JSON.stringify(target), { add, remove }, (edit, stale) => this.commitPolicy(target, edit.add, edit.remove, useObserved && !stale));
  }

  /** `useObserved` starts from the planned-against policy; a conflict re-reads. */
  private async commitPolicy(target: PolicyTarget, add: BindingRef[], remove: BindingRef[], useObserved: boolean): Promise<void> {
    if (target.type === 'dataset') return this.modifyDatasetAccess(target.datasetId, add, remove, useObserved);
    const write = async (policy: PolicyObservation) => {
      const next = { etag: policy.etag, bindings: editBindings(policy.bindings, add, remove) };
      if (target.type === 'project') await this.adapters.projectPolicy.setPolicy(next);
      else if (target.type === 'bucket') await this.adapters.buckets.setPolicy(target.bucket, next);
      else await this.adapters.secrets.setPolicy(target.secretId, next);
    };
    await withConflictRetry(async (fresh) => {
      const observed = useObserved && !fresh ? this.observed.policies[policyKey(target)] : undefined;
      const policy = observed ?? await readPolicy(this.adapters, target);
      if (!policy) throw new Error(`${policyKey(target)} does not exist`);
      await write(policy);
    });
  }

  private async modifyDatasetAccess(id: string, add: BindingRef[], remove: BindingRef[], useObserved: boolean): Promise<void> {
    await withConflictRetry(async (fresh) => {
      const dataset = useObserved && !fresh ? this.observed.datasets[id] : await this.adapters.datasets.observe(id);
      if (!dataset) throw new Error(`dataset/${id} does not exist`);
      await this.adapters.datasets.patch(id, { access: editAccess(dataset.rawAccess, add, remove) }, dataset.etag);
    });
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

  /** Every resource action at once, its steps in order; `exists` settles as soon as its resource exists (or cannot). */
  private startResources(actions: Action[], results: Map<string, ActionResult>): Map<string, ResourceRun> {
    const runs = new Map<string, ResourceRun>();
    for (const a of actions) {
      let settle!: (exists: boolean) => void;
      const exists = new Promise<boolean>((resolve) => (settle = resolve));
      // After a create's first step (the container) a binding may be added; a dataset's IAM is its access list, patched with its etag, so it waits for the whole action.
      const early = a.verb === 'create' && a.kind !== 'Dataset';
      const done = recordOutcome(results, [a.id], async () => {
        try {
          for (const [i, step] of a.steps.entries()) {
            await this.runStep(step);
            if (i === 0 && early) settle(true);
          }
          settle(true);
        } catch (e) {
          settle(false);
          throw e;
        }
      });
      runs.set(a.id, { exists, done });
    }
    return runs;
  }

  /** One read-modify-write per policy, once the resources its bindings live on exist. */
  private startBindings(actions: Action[], resources: Map<string, ResourceRun>, results: Map<string, ActionResult>): Promise<void>[] {
    const groups = new Map<string, Action[]>();
    for (const a of actions) {
      const key = policyKey(iamStep(a).target);
      groups.set(key, [...(groups.get(key) ?? []), a]);
    }
    return [...groups.values()].map(async (group) => {
      const ids = group.map((a) => a.id);
      const deps = [...new Set(group.map((a) => a.dependsOn).filter((d): d is string => d !== undefined))];
      const ready = await Promise.all(deps.map((d) => resources.get(d)?.exists ?? true));
      const failed = deps.find((_, i) => !ready[i]);
      if (failed) {
        for (const id of ids) results.set(id, { outcome: 'skipped', error: `${failed} failed first`, durationMs: 0 });
        return;
      }
      const steps = group.map(iamStep);
      // With no resource change before it, the policy observed for the plan is still the one to edit.
      await recordOutcome(results, ids, () => this.modifyPolicy(steps[0]!.target, steps.flatMap((x) => x.add), steps.flatMap((x) => x.remove), deps.length === 0));
    });
  }
}

interface ResourceRun {
  exists: Promise<boolean>;
  done: Promise<void>;
}

const iamStep = (a: Action) => a.steps[0] as Extract<Step, { op: 'iam.modify' }>;

async function recordOutcome(results: Map<string, ActionResult>, ids: string[], run: () => Promise<void>): Promise<void> {
  const started = performance.now();
  try {
    await run();
    for (const id of ids) results.set(id, { outcome: 'ok', durationMs: performance.now() - started });
  } catch (e) {
    for (const id of ids) results.set(id, { outcome: 'error', error: (e as Error).message, durationMs: performance.now() - started });
  }
}
