/**
 * A saved plan applies only what its manifest still produces. Before any write, every saved action with
 * steps is held to the action a fresh observation plans for the same manifest: the same verb, steps and
 * preconditions, or it is refused. A hand-edited step, a target that changed hands since (an etag is not
 * ownership), or anything GCP moved is refused; so is whatever depends on a refused action. Pure.
 */
import { canonicalJson } from '../api/canonical-json.js';
import type { Action, Plan } from './types.js';

export interface BoundPlan {
  /** The saved plan with every refused action's steps removed. */
  plan: Plan;
  /** Refused action id → why (nothing of it is written). */
  refused: Map<string, string>;
}

const shape = (a: Action) => canonicalJson({ verb: a.verb, steps: a.steps, dependsOn: a.dependsOn ?? null, after: a.after ?? [] });

function refusal(saved: Action, fresh: Action | undefined): string | undefined {
  if (fresh && shape(fresh) === shape(saved)) return undefined;
  if (fresh?.verb === 'conflict' || fresh?.verb === 'error') return `refused: GCP changed since this plan was made: a fresh read says ${fresh.message ?? fresh.verb}; nothing was written`;
  return 'refused: GCP changed since this plan was made, or the plan file was edited: the manifest no longer gives this step against GCP as it is now; nothing was written: plan again';
}

/** The saved plan as far as the fresh one (same manifest, observed now) agrees with it. */
export function bindSavedPlan(saved: Plan, fresh: Plan): BoundPlan {
  const freshById = new Map(fresh.actions.map((a) => [a.id, a]));
  const refused = new Map<string, string>();
  for (const a of saved.actions) {
    if (a.steps.length === 0) continue;
    const why = refusal(a, freshById.get(a.id));
    if (why) refused.set(a.id, why);
  }
  // What waits for a refused action is refused too (a binding on a bucket whose create was refused).
  for (let grew = true; grew;) {
    grew = false;
    for (const a of saved.actions) {
      const blocker = [a.dependsOn, ...(a.after ?? [])].find((id) => id !== undefined && refused.has(id));
      if (a.steps.length > 0 && !refused.has(a.id) && blocker) {
        refused.set(a.id, `refused: ${blocker} was refused first; nothing was written`);
        grew = true;
      }
    }
  }
  return { plan: { ...saved, actions: saved.actions.map((a) => (refused.has(a.id) ? { ...a, steps: [] } : a)) }, refused };
}
