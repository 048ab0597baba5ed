/**
 * examples/github/jobmatch-plan.yml: linted by the real actionlint (built from Go modules, test/github), and held to
 * what issue 18 asks of it: keyless, read-only, never applies, one comment per pull request found by the plan's
 * marker, the check failing when plan exits 1. Its plan script and comment script are run here too.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { PLAN_MARKER } from '../../src/cli/plan-markdown.js';
import { ACTIONLINT_VERSION, actionlint, ensureActionlint } from '../support/actionlint.js';

const WORKFLOW = new URL('../../examples/github/jobmatch-plan.yml', import.meta.url);
const text = readFileSync(WORKFLOW, 'utf8');
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const workflow = parse(text) as any;
interface Step { name?: string; id?: string; uses?: string; run?: string; if?: string; with?: Record<string, string>; env?: Record<string, string> }
const steps: Step[] = workflow.jobs.plan.steps;
const step = (test: (s: Step) => boolean) => {
  const found = steps.find(test);
  expect(found).toBeDefined();
  return found!;
};
const planStep = () => step((s) => s.id === 'plan');
const commentStep = () => step((s) => s.uses?.startsWith('actions/github-script@') === true);

let binary: string;
let scratch: string;
beforeAll(async () => {
  binary = await ensureActionlint();
  scratch = mkdtempSync(join(tmpdir(), 'jobmatch-workflow-'));
}, 600_000);
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('the example workflow, linted by actionlint', () => {
  it('builds the actionlint that test/github/go.mod pins', () => {
    expect(readFileSync(new URL('go.mod', new URL('./', import.meta.url)), 'utf8')).toMatch(new RegExp(`github\\.com/rhysd/actionlint ${ACTIONLINT_VERSION.replaceAll('.', '\\.')}\\b`));
  });

  it('passes actionlint (expressions, permissions, action inputs, shellcheck on its scripts when shellcheck is installed)', async () => {
    expect(await actionlint(binary, WORKFLOW.pathname)).toEqual({ code: 0, findings: [] });
  });

  it('and actionlint is not a formality: a misspelt permission fails it', async () => {
    const broken = join(scratch, 'broken.yml');
    writeFileSync(broken, text.replace('id-token: write', 'id-token: writ'));
    const result = await actionlint(binary, broken);
    expect(result.code).toBe(1);
    expect(result.findings.join('\n')).toMatch(/writ/);
  });
});

describe('the example workflow does what the issue asks', () => {
  it('runs on pull requests touching the manifests, one plan per pull request at a time', () => {
    expect(workflow.on.pull_request.paths).toContain('manifests/**');
    expect(Object.keys(workflow.on)).toEqual(['pull_request']);
    expect(workflow.concurrency).toMatchObject({ 'cancel-in-progress': true });
  });

  it('asks for exactly: read the code, an OIDC token, write pull-request comments', () => {
    expect(workflow.permissions).toEqual({ contents: 'read', 'id-token': 'write', 'pull-requests': 'write' });
    expect(workflow.jobs.plan.permissions).toBeUndefined();
  });

  it('authenticates with Workload Identity Federation, never a key', () => {
    const auth = step((s) => s.uses?.startsWith('google-github-actions/auth@') === true);
    expect(Object.keys(auth.with ?? {}).sort()).toEqual(['service_account', 'workload_identity_provider']);
    expect(text).not.toMatch(/credentials_json|GOOGLE_APPLICATION_CREDENTIALS|secrets\./);
  });

  it('pins every action by a full commit SHA, its version in a comment', () => {
    const uses = [...text.matchAll(/uses: (\S+)(.*)/g)];
    expect(uses.length).toBe(4);
    for (const [, ref, comment] of uses) {
      expect(ref, ref).toMatch(/^[\w-]+\/[\w-]+@[0-9a-f]{40}$/);
      expect(comment, ref).toMatch(/ # v\d+\.\d+\.\d+$/);
    }
  });

  it('sets up Node 24, validates, then plans to markdown; never applies', () => {
    expect(step((s) => s.uses?.startsWith('actions/setup-node@') === true).with?.['node-version']).toBe(24);
    const validate = steps.findIndex((s) => /jobmatch-operator validate -f "\$MANIFESTS"/.test(s.run ?? ''));
    expect(validate).toBeGreaterThan(-1);
    expect(steps.indexOf(planStep())).toBeGreaterThan(validate);
    expect(planStep().run).toMatch(/jobmatch-operator plan -f "\$MANIFESTS" -o markdown > plan\.md/);
    for (const s of steps) expect(`${s.run ?? ''}${s.with?.script ?? ''}`).not.toMatch(/\bapply\b/);
  });

  it('finds its comment by the marker plan -o markdown starts with', () => {
    const script = commentStep().with!.script!;
    expect(script).toContain(`const marker = '${PLAN_MARKER}';`);
    expect(commentStep().if).toBe("always() && steps.plan.outputs.exit-code != ''");
  });

  it('fails the check when plan exits 1, and only then', () => {
    const fail = step((s) => /exit 1/.test(s.run ?? '') && s !== planStep());
    expect(fail.if).toBe("steps.plan.outputs.exit-code == '1'");
    expect(steps.indexOf(fail)).toBeGreaterThan(steps.indexOf(commentStep()));
  });
});

describe("the workflow's scripts, run", () => {
  /** Runs the plan step's script as Actions does (bash -eo pipefail) with a stand-in npx exiting `code`. */
  function runPlanStep(code: number) {
    const bin = join(scratch, `bin-${code}`);
    spawnSync('mkdir', ['-p', bin]);
    writeFileSync(join(bin, 'npx'), `#!/bin/sh\nprintf '%s\\n' '${PLAN_MARKER}' "args: $*"\nexit ${code}\n`);
    chmodSync(join(bin, 'npx'), 0o755);
    const cwd = mkdtempSync(join(scratch, 'run-'));
    const output = join(cwd, 'github-output');
    writeFileSync(output, '');
    const result = spawnSync('bash', ['--noprofile', '--norc', '-eo', 'pipefail', '-c', planStep().run!], {
      cwd, encoding: 'utf8', env: { PATH: `${bin}:${process.env.PATH}`, GITHUB_OUTPUT: output, JOBMATCH_OPERATOR: 'jobmatch-operator@0.1.0', MANIFESTS: 'manifests/' },
    });
    return { status: result.status, output: readFileSync(output, 'utf8'), plan: readFileSync(join(cwd, 'plan.md'), 'utf8') };
  }

  it.each([0, 1, 2])('keeps plan exit %i as the step output and lets the comment be posted', (code) => {
    const run = runPlanStep(code);
    expect(run.status).toBe(0);
    expect(run.output).toBe(`exit-code=${code}\n`);
    expect(run.plan).toBe(`${PLAN_MARKER}\nargs: --yes --package jobmatch-operator@0.1.0 jobmatch-operator plan -f manifests/ -o markdown\n`);
  });

  it('fails the step on any other exit (plan crashed), still recording it', () => {
    const run = runPlanStep(134);
    expect(run.status).toBe(134);
    expect(run.output).toBe('exit-code=134\n');
  });

  /** Runs the github-script body against a stand-in of the REST API holding `existing` comments. */
  async function runCommentScript(existing: { id: number; body: string; user: { type: string } }[], planFile: string | undefined) {
    const cwd = mkdtempSync(join(scratch, 'comment-'));
    if (planFile !== undefined) writeFileSync(join(cwd, 'plan.md'), planFile);
    const calls: { op: string; args: Record<string, unknown> }[] = [];
    const listComments = async () => ({ data: existing });
    const github = {
      paginate: async (fn: typeof listComments) => (await fn()).data,
      rest: {
        issues: {
          listComments,
          updateComment: async (args: Record<string, unknown>) => { calls.push({ op: 'update', args }); return { data: { html_url: 'u' } }; },
          createComment: async (args: Record<string, unknown>) => { calls.push({ op: 'create', args }); return { data: { html_url: 'c' } }; },
        },
      },
    };
    const context = { repo: { owner: 'jobmatch', repo: 'infra' }, issue: { number: 7 } };
    const core = { info: () => undefined };
    const fs = await import('node:fs');
    const require = (name: string) => (name === 'fs' ? { existsSync: (p: string) => fs.existsSync(join(cwd, p)), readFileSync: (p: string, e: BufferEncoding) => fs.readFileSync(join(cwd, p), e) } : undefined);
    const AsyncFunction = Object.getPrototypeOf(async () => undefined).constructor as new (...args: string[]) => (...a: unknown[]) => Promise<void>;
    const previous = process.env.PLAN_EXIT;
    process.env.PLAN_EXIT = '1';
    try {
      await new AsyncFunction('require', 'github', 'context', 'core', commentStep().with!.script!)(require, github, context, core);
    } finally {
      if (previous === undefined) delete process.env.PLAN_EXIT;
      else process.env.PLAN_EXIT = previous;
    }
    return calls;
  }

  it('updates its own comment instead of adding one per push', async () => {
    const plan = `${PLAN_MARKER}\n\n### jobmatch-operator plan\n\nnew\n`;
    const calls = await runCommentScript([
      { id: 1, body: 'LGTM', user: { type: 'User' } },
      { id: 2, body: `quoting ${PLAN_MARKER}`, user: { type: 'User' } },
      { id: 3, body: `${PLAN_MARKER}\n\nold`, user: { type: 'Bot' } },
    ], plan);
    expect(calls).toEqual([{ op: 'update', args: { owner: 'jobmatch', repo: 'infra', comment_id: 3, body: plan } }]);
  });

  it('posts a first comment, and says the plan printed none when it crashed', async () => {
    expect(await runCommentScript([{ id: 1, body: 'LGTM', user: { type: 'User' } }], `${PLAN_MARKER}\n\nplan`)).toEqual([
      { op: 'create', args: { owner: 'jobmatch', repo: 'infra', issue_number: 7, body: `${PLAN_MARKER}\n\nplan` } },
    ]);
    const [crashed] = await runCommentScript([], undefined);
    expect(crashed!.args.body).toBe(`${PLAN_MARKER}\n\n### jobmatch-operator plan\n\nThe plan printed no comment (exit 1): see the job's log.\n`);
  });
});
