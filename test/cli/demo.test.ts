import { describe, expect, it } from 'vitest';
import { cli } from '../support/cli.js';

describe('jobmatch-operator demo (npm start)', () => {
  it('plans, applies, catches out-of-band drift and heals it, against an in-process sandbox', async () => {
    const run = await cli(['demo']);
    expect(run.code, run.stdout).toBe(0);
    const exits = [...run.stdout.matchAll(/exit (\d) · (\d+) GCP reads, (\d+) writes/g)].map((m) => [Number(m[1]), Number(m[3])]);
    // plan (cold), apply, plan (in sync), plan (drift), apply (heal), plan (in sync)
    expect(exits.map(([code]) => code)).toEqual([2, 0, 0, 2, 0, 0]);
    expect(exits[0]![1]).toBe(0);
    expect(exits[2]![1]).toBe(0);
    expect(exits[3]![1]).toBe(0);
    expect(run.stdout).toMatch(/~ Bucket jobmatch-staging-bronze-job-match-v0[\s\S]*versioning\s+false → true/);
    expect(run.stdout).toMatch(/"event":"action"/);
  }, 30_000);
});
