/**
 * Saved plans (Terraform's contract): `plan -o json > p.json` holds each environment's manifest and the
 * exact steps with the preconditions they rely on; `apply --plan p.json` executes exactly those steps,
 * and refuses any whose precondition no longer holds (GCP moved since the plan was made).
 */
import { readFile } from 'node:fs/promises';
import { digestOf } from '../api/canonical-json.js';
import { loadManifests, type LoadedEnvironment, type LoadOptions } from '../api/manifests.js';
import { summarize } from '../plan/diff.js';
import type { Action, Plan } from '../plan/types.js';
import { PLAN_JSON_KIND } from './plan-output.js';

export interface SavedEnvironment {
  env: LoadedEnvironment;
  plan: Plan;
}

interface SavedJson {
  kind?: unknown;
  environments?: { manifest?: unknown; manifestDigest?: unknown; environment?: string; project?: string; reportOnly?: boolean; suspended?: boolean; actions?: (Action & { id?: string })[] }[];
}

/** The environments and plans of a saved plan file, or a message saying what is wrong with it. */
export async function readSavedPlan(path: string, options: LoadOptions = {}): Promise<SavedEnvironment[] | string> {
  let saved: SavedJson;
  try {
    saved = JSON.parse(await readFile(path, 'utf8')) as SavedJson;
  } catch (e) {
    return `--plan ${path}: cannot read it as JSON (${(e as Error).message.split('\n')[0]}); pass the output of plan -o json`;
  }
  if (saved.kind !== PLAN_JSON_KIND || !Array.isArray(saved.environments)) return `--plan ${path}: not a ${PLAN_JSON_KIND} document; pass the output of plan -o json`;
  const out: SavedEnvironment[] = [];
  for (const [i, e] of saved.environments.entries()) {
    if (!e.manifest || !Array.isArray(e.actions) || e.actions.some((a) => !a.id || !Array.isArray(a.steps))) {
      return `--plan ${path}: environments[${i}] has no manifest or steps: it was not written by plan -o json of this version; plan again`;
    }
    if (e.manifestDigest !== digestOf(e.manifest)) {
      return `--plan ${path}: environments[${i}].manifest does not match its manifestDigest: the file was edited after plan -o json wrote it; nothing was changed: plan again`;
    }
    const loaded = loadManifests([{ file: `${path}#environments[${i}].manifest`, text: JSON.stringify(e.manifest) }], options);
    if (loaded.errors.length > 0 || loaded.environments.length !== 1) {
      const first = loaded.errors[0];
      return `--plan ${path}: environments[${i}].manifest is not a valid manifest${first ? `: ${first.path ? `${first.path}: ` : ''}${first.message} — fix: ${first.fix}` : ''}; nothing was changed`;
    }
    const actions = e.actions.map(({ outcome: _o, error: _e, ...a }: Action & { outcome?: unknown; error?: unknown }) => a as Action);
    out.push({
      env: loaded.environments[0]!,
      plan: { environment: e.environment ?? '', project: e.project ?? '', reportOnly: e.reportOnly === true, suspended: e.suspended === true, actions, summary: summarize(actions) },
    });
  }
  return out.length > 0 ? out : `--plan ${path}: it plans no environment`;
}
