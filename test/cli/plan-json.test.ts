import { Ajv } from 'ajv';
import { describe, expect, it } from 'vitest';
import { PLAN_JSON_SCHEMA } from '../../src/cli/plan-json-schema.js';
import { useSandbox } from '../support/sandbox.js';
import { engine } from '../support/engine.js';
import { exampleText, mutated, NO_VM } from '../support/manifests.js';

const s = useSandbox();
const validate = new Ajv({ allErrors: true, strict: false }).compile(PLAN_JSON_SCHEMA);
const conforms = (text: string) => {
  const doc = JSON.parse(text) as unknown;
  expect(validate(doc), JSON.stringify(validate.errors)).toBe(true);
  return doc as { inSync: boolean; environments: { after?: unknown; actions: { outcome?: string }[] }[] };
};

describe('plan and apply JSON output', () => {
  it('holds to its published schema: plan, apply, in sync, Report, suspended', async () => {
    const both = `${exampleText('staging', NO_VM)}\n---\n${exampleText('prod', NO_VM)}`;
    const cold = conforms((await engine('plan', s.url, both, { output: 'json' })).stdout);
    expect(cold.inSync).toBe(false);
    const applied = conforms((await engine('apply', s.url, both, { output: 'json' })).stdout);
    expect(applied.environments[0]!.after).toEqual({ inSync: true, ready: false, summary: expect.any(Object) });
    expect(applied.environments[0]!.actions.some((a) => a.outcome === 'ok')).toBe(true);
    expect(conforms((await engine('plan', s.url, both, { output: 'json' })).stdout).inSync).toBe(true);
    conforms((await engine('apply', s.url, mutated((d) => (d.spec.policy.drift = 'Report'), 'staging', NO_VM), { output: 'json' })).stdout);
    conforms((await engine('plan', s.url, mutated((d) => (d.spec.policy.suspend = true), 'staging', NO_VM), { output: 'json' })).stdout);
  });

  it('is refused by the schema when it changes shape (the schema is not a formality)', () => {
    expect(validate({ apiVersion: 'jobmatch.io/v1alpha1', kind: 'JobMatchPlan', inSync: true, environments: [{ environment: 'x' }] })).toBe(false);
  });
});
