/**
 * The read-only role of docs/ci-github.md (jobmatchPlanReader) is exactly what `plan` needs: every GCP call plan
 * makes — cold, in sync, with a VM, with orphans to delete — is recorded with the permission it needs, and the
 * documented list must hold them all, hold nothing else, and hold no write and no secret value.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { GcpCaller } from '../../src/gcp/gcp-caller.js';
import type { CallMeta } from '../../src/gcp/gcp-error.js';
import { engine } from '../support/engine.js';
import { mutated, type Doc } from '../support/manifests.js';
import { PROJECT, ZONE, useSandbox } from '../support/sandbox.js';

const VM = 'jobmatch-staging-vm';
const SA = `${VM}@${PROJECT}.iam.gserviceaccount.com`;
const s = useSandbox({ seed: { projects: [{ projectId: PROJECT, projectNumber: '123456789012', instances: [{ name: VM, zone: ZONE, serviceAccount: SA }] }] } });

const doc = readFileSync(new URL('../../docs/ci-github.md', import.meta.url), 'utf8');
const documented = /--permissions=(\S+)/.exec(doc)![1]!.split(',');
const tabled = [...doc.matchAll(/^\| `([a-z]+\.[a-zA-Z]+\.[a-zA-Z]+)` \|/gm)].map((m) => m[1]!);

const used = new Map<string, CallMeta>();
let recording = false;
beforeAll(() => {
  const original = GcpCaller.prototype.call;
  vi.spyOn(GcpCaller.prototype, 'call').mockImplementation(function (this: GcpCaller, meta, fn, signal) {
    if (recording) used.set(meta.permission, meta);
    return original.call(this, meta, fn, signal) as never;
  });
});
afterAll(() => vi.restoreAllMocks());

async function plan(manifest: string) {
  recording = true;
  try {
    return await engine('plan', s.url, manifest);
  } finally {
    recording = false;
  }
}

/** Staging with a bucket and a dataset more, both deletionPolicy Delete, so dropping them makes orphans plan must count. */
const withExtras = (d: Doc) => {
  d.spec.buckets.push({ name: 'jobmatch-staging-extra-job-match-v0', deletionPolicy: 'Delete' });
  d.spec.datasets.push({ datasetId: 'staging_extra', deletionPolicy: 'Delete' });
};

describe('the read-only role plan needs (docs/ci-github.md)', () => {
  it('lists each permission once, in the gcloud command and in the table alike', () => {
    expect(new Set(documented).size).toBe(documented.length);
    expect([...tabled].sort()).toEqual([...documented].sort());
  });

  it('holds every permission plan uses: cold, with a VM, in sync, with orphans to delete', async () => {
    expect((await plan(mutated(withExtras))).code).toBe(2);
    expect((await engine('apply', s.url, mutated(withExtras))).reports[0]!.plan.summary.create).toBeGreaterThan(0);
    await plan(mutated(withExtras));
    expect((await plan(mutated(() => undefined))).reports[0]!.plan.actions.filter((a) => a.verb === 'delete' || a.verb === 'orphan').map((a) => a.name))
      .toEqual(expect.arrayContaining(['jobmatch-staging-extra-job-match-v0', 'staging_extra']));
    expect([...used.keys()].filter((p) => !documented.includes(p))).toEqual([]);
    // And the list has nothing plan does not use: it is exactly plan's.
    expect([...used.keys()].sort()).toEqual([...documented].sort());
  });

  it('holds no write and no secret value', () => {
    expect([...used.values()].filter((m) => m.kind !== 'read')).toEqual([]);
    for (const p of documented) expect(p).not.toMatch(/\.(create|update|delete|set[A-Z]\w*|add|access|disable|enable|destroy)$/);
    expect(documented).not.toContain('secretmanager.versions.access');
  });
});
