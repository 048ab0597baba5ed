import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { runReconcile } from '../../src/cli/reconcile-command.js';
import { PLAN_MARKER, renderPlanMarkdown } from '../../src/cli/plan-markdown.js';
import { GITHUB_COMMENT_LIMIT } from '../../src/cli/markdown.js';
import { useSandbox } from '../support/sandbox.js';
import { engine, FAST_RETRY } from '../support/engine.js';
import { exampleText, mutated, NO_VM } from '../support/manifests.js';
import { cellText, detailsProblems, gfmProblems, gfmTables, parsedTables, ruleTables } from '../support/gfm.js';
import { leaks } from '../support/leaks.js';

const s = useSandbox();
const both = (options = {}) => `${exampleText('staging', options)}\n---\n${exampleText('prod', options)}`;

/** The markdown is well-formed GFM: every table rectangular with its delimiter row, every details block balanced. */
function wellFormed(markdown: string): string {
  expect(gfmProblems(markdown)).toEqual([]);
  // An independent parser (markdown-it, GFM tables) reads the same tables, cell for cell.
  expect(parsedTables(markdown)).toEqual(ruleTables(markdown));
  expect(markdown.startsWith(`${PLAN_MARKER}\n`)).toBe(true);
  expect(markdown.length).toBeLessThanOrEqual(GITHUB_COMMENT_LIMIT);
  return markdown;
}

/** The cells of the action row of `kind name` in the comment, as a reader sees them. */
function actionRow(markdown: string, kind: string, name: string): string[] | undefined {
  const rows = gfmTables(markdown).tables.flatMap((t) => t.rows.map((r) => r.map(cellText)));
  return rows.find((r) => r[1] === kind && r[2] === name);
}

describe('plan -o markdown', () => {
  it('renders the examples against GCP as a pull-request comment: marker, summary table, details per environment; exit as plan (1: a VM missing)', async () => {
    const text = await engine('plan', s.url, both());
    const md = await engine('plan', s.url, both(), { output: 'markdown' });
    expect(md.code).toBe(1);
    expect(md.code).toBe(text.code);
    wellFormed(md.stdout);
    const [summary] = gfmTables(md.stdout).tables;
    expect(summary!.header).toEqual(['environment', 'project', 'create', 'update', 'adopt', 'delete', 'conflict', 'pending secrets', 'result']);
    expect(summary!.rows.map((r) => r.map(cellText))).toEqual([
      ['staging', 'job-match-v0', '17', '0', '0', '0', '1', '2', '1 in conflict, changes to apply'],
      ['prod', 'job-match-v0', '17', '0', '0', '0', '1', '2', '1 in conflict, changes to apply'],
    ]);
    expect(md.stdout.match(/<details>/g)).toHaveLength(2);
    await expect(md.stdout).toMatchFileSnapshot('__snapshots__/plan-markdown.examples.md');
  });

  it('exits 2 with changes, 0 once applied, and says so in a comment as stable as the plan', async () => {
    const cold = await engine('plan', s.url, both(NO_VM), { output: 'markdown' });
    expect(cold.code).toBe(2);
    wellFormed(cold.stdout);
    expect((await engine('plan', s.url, both(NO_VM), { output: 'markdown' })).stdout).toBe(cold.stdout);
    expect((await engine('apply', s.url, both(NO_VM))).code).toBe(0);
    const synced = await engine('plan', s.url, both(NO_VM), { output: 'markdown' });
    expect(synced.code).toBe(0);
    wellFormed(synced.stdout);
    await expect(synced.stdout).toMatchFileSnapshot('__snapshots__/plan-markdown.in-sync.md');
  });

  it('shows a value holding | and backticks exactly, in one cell, and names no secret value', async () => {
    const description = 'Silver | `gold` layer ``x`` \\| end';
    const md = await engine('plan', s.url, mutated((d) => {
      d.spec.datasets[0].description = description;
      d.spec.buckets[0].labels.layer = 'silver';
    }, 'staging', NO_VM), { output: 'markdown' });
    expect(md.code).toBe(2);
    wellFormed(md.stdout);
    const row = actionRow(md.stdout, 'Dataset', 'staging_silver');
    expect(row).toEqual(['✏️ update', 'Dataset', 'staging_silver', `description: "Silver layer (staging)" → ${JSON.stringify(description)}`]);
    expect(actionRow(md.stdout, 'Bucket', 'jobmatch-staging-bronze-job-match-v0')?.[3]).toBe('labels.layer: "bronze" → "silver"');
    const values = Object.values(s.sandbox.store.data.projects).flatMap((p) => Object.values(p.secrets)).flatMap((x) => x.versions.map((v) => Buffer.from(v.data, 'base64').toString()));
    expect(values.length).toBeGreaterThan(0);
    expect(leaks(values, md.stdout)).toEqual([]);
  });

  it("is cut between environments at GitHub's 65,536 characters, saying how many were left out", async () => {
    const { reports } = await engine('plan', s.url, mutated((d) => (d.spec.datasets[0].description = 'changed'), 'staging', NO_VM));
    const many = Array.from({ length: 400 }, () => reports[0]!);
    const md = renderPlanMarkdown(many);
    wellFormed(md);
    const omitted = Number(/_Cut here: (\d+) environments omitted to stay within GitHub's 65,536-character comment limit/.exec(md)?.[1]);
    expect(omitted).toBeGreaterThan(0);
    expect(md.match(/<details>/g)).toHaveLength(400 - omitted);
    // The summary still lists every environment.
    expect(gfmTables(md).tables[0]!.rows).toHaveLength(400);
  });

  it('cuts the actions of one environment too large for a comment, saying how many', async () => {
    const { reports } = await engine('plan', s.url, mutated((d) => (d.spec.environment = 'other'), 'staging', NO_VM));
    expect(reports[0]!.plan.summary.create).toBeGreaterThan(5);
    const md = renderPlanMarkdown(reports, { limit: 3000 });
    wellFormed(md);
    expect(md.length).toBeLessThanOrEqual(3000);
    expect(detailsProblems(md)).toEqual([]);
    expect(md).toMatch(/_\d+ more actions of this environment omitted to stay within GitHub's comment limit; run `plan` locally for all of them\._/);
  });

  it('names the missing permission and its fix in the comment when Google refuses a read (403), and exits 1', async () => {
    s.sandbox.faults.update({ faultRate: 1, faultApis: ['storage'], faultStatuses: [403] });
    try {
      const md = await engine('plan', s.url, exampleText('staging', NO_VM), { output: 'markdown' });
      expect(md.code).toBe(1);
      wellFormed(md.stdout);
      const row = actionRow(md.stdout, 'Bucket', 'jobmatch-staging-bronze-job-match-v0');
      expect(row?.[0]).toBe('⛔ error');
      expect(row?.[3]).toContain("the operator's identity lacks storage.buckets.get on projects/_/buckets/jobmatch-staging-bronze-job-match-v0 (buckets.get); grant it a role that includes storage.buckets.get");
      expect(gfmTables(md.stdout).tables[0]!.rows.map((r) => cellText(r[8]!))).toEqual([expect.stringContaining('failed to read')]);
    } finally {
      s.sandbox.faults.update({ faultRate: 0 });
    }
  });

  it('posts a comment even when the run cannot start, and is a plan format only', async () => {
    const io = () => {
      const out = { stdout: '', stderr: '' };
      return { out, io: { stdout: (t: string) => (out.stdout += t), stderr: (t: string) => (out.stderr += t), stdin: Readable.from([exampleText('staging', NO_VM)]), env: {} } };
    };
    const bad = io();
    expect((await runReconcile(bad.io, 'plan', { filename: ['-'], gcpEndpoint: s.url, output: 'markdown', timeout: 'soon', retry: FAST_RETRY })).code).toBe(1);
    expect(bad.out.stdout).toBe(`${PLAN_MARKER}\n\n### jobmatch-operator plan\n\n**The plan could not run:** \\--timeout must be a number of seconds greater than 0, got "soon"\n`);
    const apply = io();
    expect((await runReconcile(apply.io, 'apply', { filename: ['-'], gcpEndpoint: s.url, output: 'markdown', retry: FAST_RETRY })).code).toBe(1);
    expect(apply.out.stderr).toContain('--output markdown is a plan format');
    expect(apply.out.stdout).toBe('');
  });
});
