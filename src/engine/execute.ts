/**
 * Executes exactly the plan's steps, for any kind: resources in parallel, each action's steps in order,
 * IAM after the resource it lives on, one read-modify-write per policy. A 409/412 re-reads the resource
 * and re-plans it (ownership checked again) before any further write; with no re-plan (a saved plan),
 * it refuses instead. A failing action does not stop the others.
 */
import { ConflictOutcome } from '../kinds/conflict-outcome.js';
import { GcpError, type ErrorInfo } from '../gcp/gcp-error.js';
import { resourceIdOf } from '../plan/desired.js';
import type { Action, IamStep, Plan } from '../plan/types.js';
import type { Connection } from './connection.js';
import { PolicyWriter } from './policy-writer.js';

export interface ActionResult {
  outcome: 'ok' | 'error' | 'skipped' | 'conflict' | 'cancelled';
  error?: string;
  /** What Google said, when the failure came from a call. */
  cause?: ErrorInfo;
  durationMs: number;
}

export interface ExecuteOptions {
  /** Shared by every environment of the process (see PolicyWriter). */
  policyWriter?: PolicyWriter;
  /** Base of the jittered pause before re-reading after a conflict; at least 100 ms across processes. */
  conflictBackoffMs?: number;
  /** The run's cancellation: an aborted run records what it did not do as cancelled. */
  signal?: AbortSignal;
}

/**
 * Re-reads one resource and plans it again from that fresh observation; undefined when it is gone and
 * not declared. Absent for a saved plan: it applies exactly what was reviewed, or refuses.
 */
export type Replan = (id: string) => Promise<Action | undefined>;

const CONFLICT_ATTEMPTS = 5;
const CONFLICT_STATUSES = ['ABORTED', 'FAILED_PRECONDITION', 'ALREADY_EXISTS'];
const isConflict = (e: unknown) => e instanceof ConflictOutcome
  || (e instanceof GcpError && (e.status === 409 || e.status === 412 || CONFLICT_STATUSES.includes(e.info.status ?? '')));
const stop = (a: Action | undefined) => a?.verb === 'conflict' || a?.verb === 'error';
const MOVED = 'GCP changed since this plan was made (a precondition failed); plan again';

export class PlanExecutor {
  private readonly policyWriter: PolicyWriter;
  private readonly backoffMs: number;

  constructor(private readonly conn: Connection, private readonly replan: Replan | undefined, private readonly options: ExecuteOptions = {}) {
    this.policyWriter = options.policyWriter ?? new PolicyWriter();
    this.backoffMs = options.conflictBackoffMs ?? 100;
  }

  /** Full jitter over an exponential ceiling: processes that lost the same race spread out. */
  private async pause(attempt: number): Promise<void> {
    const ms = Math.floor(Math.random() * this.backoffMs * 2 ** (attempt - 1));
    await new Promise((resolve) => setTimeout(resolve, ms));
  }

  /** The action's steps; on a 409/412, a fresh read and a new plan of that resource, then its remaining steps. */
  private async runAction(planned: Action, onExists: () => void): Promise<void> {
    let action = planned;
    for (let attempt = 1; ; attempt++) {
      try {
        for (const [i, step] of action.steps.entries()) {
          if (step.kind === 'IAM') throw new Error('IAM edits run through the policy writer');
          await this.conn.execute(step);
          if (i === 0 && existsAfterFirstStep(action, this.conn)) onExists();
        }
        return;
      } catch (e) {
        if (!isConflict(e)) throw e;
        if (!this.replan) throw new ConflictOutcome(`${MOVED}: ${(e as Error).message}`);
        if (attempt >= CONFLICT_ATTEMPTS) throw e;
        await this.pause(attempt);
        const fresh = await this.replan(planned.id);
        if (!fresh) return; // an undeclared resource that is gone: nothing left to delete
        if (stop(fresh)) throw new ConflictOutcome(fresh.message ?? `${planned.id} is no longer ours`);
        action = fresh;
      }
    }
  }

  /** One read-modify-write with the etag, batched with other environments' edits of the same policy. */
  private modifyPolicy(step: IamStep): Promise<void> {
    const { target } = step;
    return this.policyWriter.edit(JSON.stringify(target), { add: step.add, remove: step.remove }, (merged, stale) => this.commitPolicy(step, merged, stale));
  }

  /**
   * Starts from the policy the step was planned against (unless the writer already changed it); a
   * conflict re-checks ownership of the resource, then re-reads the policy — or, for a saved plan, refuses.
   */
  private async commitPolicy(step: IamStep, edit: { add: IamStep['add']; remove: IamStep['remove'] }, stale: boolean): Promise<void> {
    const resourceId = resourceIdOf(step.target);
    for (let attempt = 1; ; attempt++) {
      const fresh = attempt > 1 || stale || step.base === undefined;
      try {
        if (attempt > 1 && resourceId && this.replan) {
          const resource = await this.replan(resourceId);
          if (!resource || stop(resource)) throw new ConflictOutcome(resource?.message ?? `${resourceId} is gone`);
        }
        const policy = fresh ? await this.conn.readPolicy(step.target) : step.base;
        if (!policy) throw new Error(`${resourceId ?? 'the project'} does not exist`);
        await this.conn.commitPolicy(step.target, policy, edit.add, edit.remove);
        return;
      } catch (e) {
        if (!isConflict(e) || e instanceof ConflictOutcome) throw e;
        if (!this.replan) throw new ConflictOutcome(`${MOVED}: ${(e as Error).message}`);
        if (attempt >= CONFLICT_ATTEMPTS) throw e;
        await this.pause(attempt);
      }
    }
  }

  /** Executes every action with steps; the result of each by action id. */
  async execute(plan: Plan): Promise<Map<string, ActionResult>> {
    const results = new Map<string, ActionResult>();
    const withSteps = plan.actions.filter((a) => a.steps.length > 0);
    if (plan.reportOnly || plan.suspended) {
      for (const a of withSteps) results.set(a.id, { outcome: 'skipped', error: plan.suspended ? 'suspended' : 'policy.drift is Report', durationMs: 0 });
      return results;
    }
    const bindings = new Map<string, Promise<void>>();
    const resources = this.startResources(withSteps.filter((a) => a.kind !== 'IAMBinding'), results, bindings);
    for (const [id, done] of this.startBindings(withSteps.filter((a) => a.kind === 'IAMBinding'), resources, results)) bindings.set(id, done);
    await Promise.all([...[...resources.values()].map((r) => r.done), ...bindings.values()]);
    return results;
  }

  /** Every resource action at once, its steps in order; `settled` says, as soon as it is known, whether its resource exists and is ours. */
  private startResources(actions: Action[], results: Map<string, ActionResult>, bindings: ReadonlyMap<string, Promise<void>>): Map<string, ResourceRun> {
    const runs = new Map<string, ResourceRun>();
    for (const a of actions) {
      let settle!: (state: ResourceState) => void;
      const settled = new Promise<ResourceState>((resolve) => (settle = resolve));
      const done = this.record(results, a.id, async () => {
        try {
          await this.prerequisites(a, runs, bindings, results);
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

  /** Waits for the actions `a` must come after (resources, or IAM grants, started in the same loop); one that did not succeed skips `a`. */
  private async prerequisites(a: Action, runs: Map<string, ResourceRun>, bindings: ReadonlyMap<string, Promise<void>>, results: Map<string, ActionResult>): Promise<void> {
    if (!a.after?.length) return;
    await null; // every run of the loop, and every binding's, exists by now
    await Promise.all(a.after.map((id) => runs.get(id)?.done ?? bindings.get(id)));
    const failed = a.after.filter((id) => (runs.has(id) || bindings.has(id)) && results.get(id)?.outcome !== 'ok');
    if (failed.length > 0) throw new Skipped(`${failed.join(', ')} did not succeed first`);
  }

  /** Each binding's edit once the resource it lives on exists; edits of one policy are committed together by the PolicyWriter. */
  private startBindings(actions: Action[], resources: Map<string, ResourceRun>, results: Map<string, ActionResult>): [string, Promise<void>][] {
    return actions.map((a) => [a.id, (async () => {
      const state = a.dependsOn ? await (resources.get(a.dependsOn)?.settled ?? 'exists') : 'exists';
      if (state === 'conflict') return void results.set(a.id, { outcome: 'conflict', error: `${a.dependsOn} is in conflict: nothing is written to it`, durationMs: 0 });
      if (state === 'failed') return void results.set(a.id, { outcome: 'skipped', error: `${a.dependsOn} failed first`, durationMs: 0 });
      await this.record(results, a.id, () => this.modifyPolicy(a.steps[0] as IamStep));
    })()]);
  }

  private async record(results: Map<string, ActionResult>, id: string, run: () => Promise<void>): Promise<void> {
    const started = performance.now();
    try {
      await run();
      results.set(id, { outcome: 'ok', durationMs: performance.now() - started });
    } catch (e) {
      const durationMs = performance.now() - started;
      if (e instanceof ConflictOutcome) results.set(id, { outcome: 'conflict', error: e.message, durationMs });
      else if (e instanceof Skipped) results.set(id, { outcome: 'skipped', error: e.message, durationMs: 0 });
      else if (this.options.signal?.aborted) results.set(id, { outcome: 'cancelled', error: `not finished: ${(e as Error).message}`, durationMs });
      else results.set(id, { outcome: 'error', error: (e as Error).message, ...(e instanceof GcpError ? { cause: e.info } : {}), durationMs });
    }
  }
}

type ResourceState = 'exists' | 'conflict' | 'failed';

class Skipped extends Error {}

interface ResourceRun {
  settled: Promise<ResourceState>;
  done: Promise<void>;
}

/** After a create's first step (the container) a binding may be added — unless the kind's IAM is embedded in the resource, edited with its etag, which waits for the whole action. */
function existsAfterFirstStep(a: Action, conn: Connection): boolean {
  return a.verb === 'create' && !conn.kinds.find((k) => k.kind === a.kind)?.embeddedPolicy;
}

