/** How plans and apply results read: Terraform-like text (colour only on a TTY) or a stable JSON document. */
import type { ReconcileReport } from '../engine/reconcile.js';
import { hasChanges, isInSync, type Action, type Plan } from '../plan/types.js';

export const PLAN_JSON_KIND = 'JobMatchPlan';

const SYMBOL: Record<Action['verb'], string> = {
  create: '+', update: '~', adopt: '~', delete: '-', none: ' ', conflict: '!', pending: '!', orphan: '?', error: '!',
};
const COLOUR: Record<string, string> = { '+': '32', '~': '33', '-': '31', '!': '35', '?': '36' };

const show = (v: unknown) => (v === null || v === undefined ? '(none)' : typeof v === 'string' ? JSON.stringify(v) : String(v));

function actionLines(a: Action, paint: (symbol: string, text: string) => string): string[] {
  const symbol = SYMBOL[a.verb];
  const tag = a.verb === 'update' || a.verb === 'create' ? '' : ` (${a.verb === 'orphan' ? 'orphaned, retained' : a.verb})`;
  const lines = [`  ${paint(symbol, `${symbol} ${a.kind} ${a.name}${tag}`)}`];
  const width = Math.max(0, ...a.changes.map((c) => c.field.length));
  for (const c of a.changes) lines.push(`      ${c.field.padEnd(width)}  ${show(c.before)} → ${show(c.after)}`);
  if (a.message) lines.push(`      ${a.message}`);
  if (a.pending) lines.push(`      no enabled version: a person adds one with: ${a.pending}`);
  return lines;
}

export function summaryLine(plan: Plan): string {
  const s = plan.summary;
  const extra = [
    s.pending ? `${s.pending} pending` : '', s.conflict ? `${s.conflict} in conflict` : '', s.orphan ? `${s.orphan} orphaned` : '', s.error ? `${s.error} failed to read` : '',
  ].filter(Boolean);
  return `Plan: ${s.create} to create, ${s.update} to update, ${s.adopt} to adopt, ${s.delete} to delete; ${s.inSync} in sync${extra.length ? `; ${extra.join(', ')}` : ''}.`;
}

export function renderPlanText(report: ReconcileReport, color: boolean): string {
  const paint = (symbol: string, text: string) => (color && COLOUR[symbol] ? `\u001b[${COLOUR[symbol]}m${text}\u001b[0m` : text);
  const { plan } = report;
  const head = `Environment ${report.environment} (${report.namespace}/${report.name}, project ${report.project})`;
  if (plan.suspended) return `${head}\n  suspended (policy.suspend): nothing observed, nothing changed.\n`;
  const shown = plan.actions.filter((a) => a.verb !== 'none');
  const lines = [head, ...(shown.length === 0 ? ['  No changes: the environment matches its manifest.'] : shown.flatMap((a) => actionLines(a, paint)))];
  if (plan.reportOnly && hasChanges(plan)) lines.push('  policy.drift is Report: drift is reported, never healed.');
  for (const [what, why] of Object.entries(report.observeErrors).filter(([k]) => k.startsWith('labelled/'))) {
    lines.push(`  warning: could not list ${what.slice('labelled/'.length)}s for orphans: ${why}`);
  }
  lines.push('', `  ${summaryLine(plan)}`);
  return `${lines.join('\n')}\n`;
}

export function renderApplyText(report: ReconcileReport, color: boolean): string {
  const lines = [renderPlanText(report, color).trimEnd()];
  const results = report.results ?? {};
  if (Object.keys(results).length > 0) lines.push('', '  Applying:');
  for (const a of report.plan.actions) {
    const r = results[a.id];
    if (!r) continue;
    const mark = r.outcome === 'ok' ? '✓' : r.outcome === 'skipped' ? '-' : '✗';
    lines.push(`    ${mark} ${a.verb} ${a.kind} ${a.name}${r.outcome === 'ok' ? ` (${Math.round(r.durationMs)} ms)` : `: ${r.outcome}${r.error ? `: ${r.error}` : ''}`}`);
  }
  if (report.after) {
    lines.push('', isInSync(report.after)
      ? '  Apply complete: the environment now matches its manifest.'
      : `  Apply finished with work left: ${summaryLine(report.after)}`);
  }
  return `${lines.join('\n')}\n`;
}

function actionJson(a: Action, report: ReconcileReport) {
  const r = report.results?.[a.id];
  return {
    kind: a.kind, name: a.name, verb: a.verb, changes: a.changes,
    ...(a.message ? { message: a.message } : {}), ...(a.pending ? { pending: a.pending } : {}),
    ...(r ? { outcome: r.outcome, ...(r.error ? { error: r.error } : {}) } : {}),
  };
}

/** The documented, stable JSON of plan/apply (see README "Plan JSON"). */
export function renderJson(reports: ReconcileReport[]): string {
  const environments = reports.map((r) => ({
    environment: r.environment, namespace: r.namespace, name: r.name, project: r.project, dryRun: r.dryRun,
    reportOnly: r.plan.reportOnly, suspended: r.plan.suspended, inSync: isInSync(r.plan),
    summary: r.plan.summary, actions: r.plan.actions.map((a) => actionJson(a, r)), observeErrors: r.observeErrors,
    ...(r.after ? { after: { inSync: isInSync(r.after), summary: r.after.summary } } : {}),
  }));
  return `${JSON.stringify({ apiVersion: 'jobmatch.io/v1alpha1', kind: PLAN_JSON_KIND, inSync: environments.every((e) => e.inSync), environments }, null, 2)}\n`;
}
