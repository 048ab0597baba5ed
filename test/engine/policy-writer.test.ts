import { describe, expect, it } from 'vitest';
import { PolicyWriter, type PolicyEdit } from '../../src/engine/policy-writer.js';

const grant = (member: string): PolicyEdit => ({ add: [{ role: 'roles/viewer', member }], remove: [] });

describe('policy writer', () => {
  it("re-commits the others alone when a batch is refused, so one environment's bad binding fails only itself", async () => {
    const writer = new PolicyWriter();
    const commits: string[][] = [];
    let release!: () => void;
    const first = new Promise<void>((resolve) => (release = resolve));
    const commit = async (edit: PolicyEdit) => {
      const members = edit.add.map((a) => a.member);
      commits.push(members);
      if (commits.length === 1) await first; // hold the first write so the next three queue into one batch
      if (members.includes('user:bad')) throw new Error('invalid member user:bad');
    };
    const results = Promise.allSettled([
      writer.edit('p', grant('user:a'), commit),
      writer.edit('p', grant('user:b'), commit),
      writer.edit('p', grant('user:bad'), commit),
      writer.edit('p', grant('user:c'), commit),
    ]);
    release();
    expect((await results).map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'fulfilled']);
    expect(commits).toEqual([['user:a'], ['user:b', 'user:bad', 'user:c'], ['user:b'], ['user:bad'], ['user:c']]);
  });
});
