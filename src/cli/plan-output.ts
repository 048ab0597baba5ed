/** How plans and apply results read: Terraform-like text (colour and wrapping only on a TTY) or a stable JSON document. */
import type { ReconcileReport } from '../engine/reconcile.js';
import { hasChanges, isInSync, isReady, type Action, type Plan } from '../plan/types.js';

import { digestOf } from '../api/canonical-json.js';

export const PLAN_JSON_KIND = 'JobMatchPlan';

export interface TextStyle {
  color: boolean;
  /** Terminal width: long lines wrap under their indentation. */
  columns?: number;
}

const SYMBOL: Record<Action['verb'], string> = {
  create: '+', update: '~', adopt: '~', delete: '-', none: ' ', conflict: '!', pending: '!', orphan: '?', error: '!',
};
const COLOUR: Record<string, string> = { '+': '32', '~': '33', '-': '31', '!': '35', '?': '36' };

const show = (v: unknown) => (v === null || v === undefined ? '(none)' : typeof v === 'string' ? JSON.stringify(v) : String(v));

/** Wraps at word boundaries to the terminal width, continuing under the same indentation. */
function wrap(line: string, columns: number | undefined): string[] {
  if (!columns || line.length <= columns) return [line];
  const indent = /^\s*/.exec(line)![0];
  const out: string[] = [];
  let current = indent;
  for (const word of line.slice(indent.length).split(' ')) {
    if (current.trim() && current.length + word.length + 1 > columns) {
      out.push(current);
      current = `${indent}  ${word}`;
    } else current = current.trim() ? `${current} ${word}` : `${current}${word}`;
  }
  out.push(current);
  return out;
}

function tag(a: Action): string {
  if (a.verb === 'orphan') return ' (orphan, retained)';
  if (a.verb === 'delete' && a.kind !== 'IAMBinding') return ' (orphan, deletionPolicy delete)';
  return a.verb === 'update' || a.verb === 'create' || a.verb === 'delete' ? '' : ` (${a.verb})`;
}

function actionLines(a: Action, paint: (symbol: string, text: string) => string): string[] {
  const symbol = SYMBOL[a.verb];
  const lines = [`  ${paint(symbol, `${symbol} ${a.kind} ${a.name}${tag(a)}`)}`];
  const width = Math.max(0, ...a.changes.map((c) => c.field.length));
  for (const c of a.changes) lines.push(`      ${c.field.padEnd(width)}  ${show(c.before)} → ${show(c.after)}`);
  if (a.message) lines.push(`      ${a.message}`);
  if (a.pending) lines.push(`      no enabled version: a person adds one with: ${a.pending}`);
  for (const w of a.warnings ?? []) lines.push(`      warning: ${w}`);
  return lines;
}

export function summaryLine(plan: Plan): string {
  const s = plan.summary;
  const extra = [
    s.pending ? `${s.pending} pending` : '', s.conflict ? `${s.conflict} in conflict` : '', s.orphan ? `${s.orphan} orphaned` : '', s.error ? `${s.error} failed to read` : '',
  ].filter(Boolean);
  return `Plan: ${s.create} to create, ${s.update} to update, ${s.adopt} to adopt, ${s.delete} to delete; ${s.inSync} in sync${extra.length ? `; ${extra.join(', ')}` : ''}.`;
}

/** The last line of an environment: whether its apps can run, and if not, why. */
export function readyLine(plan: Plan): string {
  if (plan.suspended) return 'Ready: unknown (suspended).';
  if (isReady(plan)) return 'Ready: yes.';
  const s = plan.summary;
  const why = [
    hasChanges(plan) ? 'changes to apply' : '', s.conflict ? `${s.conflict} in conflict` : '', s.error ? `${s.error} failed` : '',
    s.pending ? `${s.pending} secret${s.pending === 1 ? '' : 's'} still need${s.pending === 1 ? 's' : ''} a value (the apps cannot start until then)` : '',
    ...plan.actions.filter((a) => a.verb === 'pending' && a.pending === undefined).map((a) => `${a.kind} ${a.name} waiting`),
  ].filter(Boolean);
  return `Ready: no (${why.join(', ')}).`;
}

const painter = (style: TextStyle) => (symbol: string, text: string) => (style.color && COLOUR[symbol] ? `\u001b[${COLOUR[symbol]}m${text}\u001b[0m` : text);

function planLines(report: ReconcileReport, style: TextStyle): string[] {
  const { plan } = report;
  const head = `Environment ${report.environment} (${report.namespace}/${report.name}, project ${report.project})`;
  if (plan.suspended) return [head, '  suspended (policy.suspend): nothing observed, nothing changed.'];
  const shown = plan.actions.filter((a) => a.verb !== 'none');
  const lines = [head, ...(shown.length === 0 ? ['  No changes: the environment matches its manifest.'] : shown.flatMap((a) => actionLines(a, painter(style))))];
  if (plan.reportOnly && hasChanges(plan)) lines.push('  policy.drift is Report: drift is reported, never healed.');
  for (const [what, why] of Object.entries(report.observeErrors).filter(([k]) => k.startsWith('labelled/'))) {
    lines.push(`  warning: could not list ${what.slice('labelled/'.length)}s for orphans: ${why}`);
  }
  lines.push('', `  ${summaryLine(plan)}`);
  return lines;
}

const finish = (lines: string[], style: TextStyle) => `${lines.flatMap((l) => wrap(l, style.columns)).join('\n')}\n`;

export function renderPlanText(report: ReconcileReport, style: TextStyle): string {
  return finish([...planLines(report, style), `  ${readyLine(report.plan)}`], style);
}

const MARK: Record<string, string> = { ok: '✓', skipped: '-', cancelled: '-', conflict: '!', error: '✗' };

export function renderApplyText(report: ReconcileReport, style: TextStyle): string {
  const lines = planLines(report, style);
  const results = report.results ?? {};
  if (Object.keys(results).length > 0) lines.push('', '  Applying:');
  for (const a of report.plan.actions) {
    const r = results[a.id];
    if (!r) continue;
    lines.push(`    ${MARK[r.outcome]} ${a.verb} ${a.kind} ${a.name}${r.outcome === 'ok' ? ` (${Math.round(r.durationMs)} ms)` : `: ${r.outcome}${r.error ? `: ${r.error}` : ''}`}`);
  }
  const final = report.after ?? report.plan;
  const failed = Object.values(results).filter((r) => r.outcome !== 'ok' && r.outcome !== 'skipped').length;
  if (report.after || failed > 0) {
    lines.push('');
    if (failed > 0) lines.push(`  Apply failed: ${failed} action${failed === 1 ? '' : 's'} did not succeed; ${summaryLine(final)}`);
    else if (!isInSync(final)) lines.push(`  Apply finished with work left: ${summaryLine(final)}`);
    else if (final.summary.pending > 0) lines.push(`  Apply complete, but ${final.summary.pending} secret${final.summary.pending === 1 ? '' : 's'} still need a value: the apps cannot start until then.`);
    else lines.push('  Apply complete: the environment now matches its manifest.');
  }
  lines.push(`  ${readyLine(final)}`);
  return finish(lines, style);
}

function actionJson(a: Action, report: ReconcileReport) {
  const r = report.results?.[a.id];
  return {
    id: a.id, kind: a.kind, name: a.name, verb: a.verb, changes: a.changes,
    ...(a.message ? { message: a.message } : {}), ...(a.pending ? { pending: a.pending } : {}),
    steps: a.steps, ...(a.dependsOn ? { dependsOn: a.dependsOn } : {}), ...(a.after ? { after: a.after } : {}), ...(a.warnings ? { warnings: a.warnings } : {}),
    ...(r ? { outcome: r.outcome, ...(r.error ? { error: { message: r.error, ...r.cause } } : {}) } : {}),
  };
}

/** The documented, stable JSON of plan/apply (see README "Plan JSON"). */
export function renderJson(reports: ReconcileReport[], deadline?: { timeoutSeconds: number }): string {
  const environments = reports.map((r) => {
    const final = r.after ?? r.plan;
    return {
      environment: r.environment, namespace: r.namespace, name: r.name, project: r.project, dryRun: r.dryRun,
      reportOnly: r.plan.reportOnly, suspended: r.plan.suspended, inSync: isInSync(r.plan), ready: isReady(final) && !r.cancelled,
      summary: r.plan.summary, actions: r.plan.actions.map((a) => actionJson(a, r)), observeErrors: r.observeErrors, manifest: r.manifest, manifestDigest: digestOf(r.manifest),
      ...(r.cancelled ? { cancelled: true } : {}),
      ...(r.after ? { after: { inSync: isInSync(r.after), ready: isReady(r.after), summary: r.after.summary } } : {}),
    };
  });
  return `${JSON.stringify({
    apiVersion: 'jobmatch.io/v1alpha1', kind: PLAN_JSON_KIND, inSync: environments.every((e) => e.inSync), ready: environments.every((e) => e.ready),
    ...(deadline ? { error: { message: `the run's deadline (--timeout ${deadline.timeoutSeconds}s) passed before it finished` } } : {}),
    environments,
  }, null, 2)}\n`;
}

/** The JSON document of a run that could not start (bad flags, no credentials, endpoint unreachable). */
export function renderRunError(message: string): string {
  return `${JSON.stringify({ apiVersion: 'jobmatch.io/v1alpha1', kind: PLAN_JSON_KIND, inSync: false, ready: false, error: { message }, environments: [] }, null, 2)}\n`;
}
